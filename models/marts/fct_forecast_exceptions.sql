{#- Series a planner should look at, and why: discontinued (or in the
    horizon: 0 after), cold_start, fallback, member_left_out, inactive,
    candidate_failed, runner_up (not where the windows held (almost) no
    demand); launch, unknown_product (from the inputs). -#}
-- depends_on: {{ ref('gate_forecast') }}

with

series as (

    select * from {{ ref('int_series__profiled') }}

),

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

inputs as (

    -- unknown_product and launch rows
    select * from {{ ref('int_forecast__input_exceptions') }}

),

discontinued as (

    select
        series_id,
        cast(null as varchar) as model_name,
        'discontinued' as exception_type,
        if(
            lifecycle = 'discontinued',
            'no forecast: the product is discontinued' || if(
                last_demand_period > discontinued_date,
                ' (on ' || discontinued_date || '), yet it has demand after it,'
                || ' the last in the period starting ' || last_demand_period,
                ''
            ),
            'forecast 0 after ' || discontinued_date
            || ', the product master''s discontinued_date'
        ) as detail
    from series
    where
        lifecycle = 'discontinued' or discontinued_date
        < (select max(f.period_start) from predictions as f)

),

forecast_models as (

    select
        series_id,
        min(model_name) as model_name
    from predictions
    group by all

),

inactive as (

    select
        series.series_id,
        forecast_models.model_name,
        'inactive' as exception_type,
        case
            when series.last_demand_period is null
                then
                    'forecast as usual: no demand in its '
                    || series.n_periods
                    || ' periods of history'
            else
                'forecast as usual: no demand in the last '
                || series.trailing_zero_periods
                || ' periods (the last in the period starting '
                || cast(series.last_demand_period as varchar)
                || ')'
        end
        || '; the product master does not '
        || if(unlisted.series_id is null, 'discontinue', 'list')
        || ' it' as detail
    from series
    left join forecast_models
        on series.series_id = forecast_models.series_id
    left join inputs as unlisted
        on
            series.series_id = unlisted.series_id
            and unlisted.exception_type = 'unknown_product'
    where series.is_inactive

),

not_champion as (

    -- the first step's reason (a later week's may add a plant closure's)
    select
        series_id,
        model_name,
        if(method = 'champion', 'member_left_out', method) as exception_type,
        arg_min(fallback_reason, step) as detail
    from predictions
    where
        method != 'champion'
        or starts_with(fallback_reason, 'member(s) left out')
    group by all

),

failed_candidates as (

    select
        series_id,
        model_name,
        'candidate_failed' as exception_type,
        error_message as detail
    from {{ ref('int_forecast__backtest') }}
    where status = 'failed'

),

runner_up as (

    select
        series_id,
        runner_up as model_name,
        'runner_up' as exception_type,
        printf(
            'the backtest scored the runner-up %s %d %% better than'
            || ' the champion %s (%s %.3f against %.3f), which the'
            || ' selection kept: a series leaves its class''s method only'
            || ' for one scoring under %d %% of it (vars selection_margin,'
            || ' single_margin), as a few backtest windows cannot tell skill'
            || ' from luck (fct_model_registry.reason has the details)',
            runner_up,
            cast(
                round(100 * (1 - runner_up_score / champion_score)) as integer
            ),
            champion,
            selection_metric,
            runner_up_score,
            champion_score,
            cast(round(100 * (1 - {{ var('single_margin') }})) as integer)
        ) as detail
    from {{ ref('int_forecast__champions') }}
    where
        champion_score > 0
        and runner_up_score
        <= {{ var('runner_up_flag_ratio') }} * champion_score
        -- windows with (almost) no demand, where a 0 scores best: the selection
        -- kept the class's method for that reason, not for the margins
        and coalesce(reason, '') not like '%(almost) no demand in its%'

),

unioned as (

    select * from discontinued  -- noqa: AM07
    union all
    select * from inactive
    union all
    select * from not_champion
    union all
    select * from failed_candidates
    union all
    select * from runner_up

),

final as (

    select
        unioned.series_id,
        series.plant_id,
        series.product_id,
        unioned.exception_type,
        unioned.model_name,
        unioned.detail,
        series.lifecycle,
        series.demand_class,
        context.run_id,
        context.forecast_origin
    from unioned
    inner join series
        on unioned.series_id = series.series_id
    cross join {{ ref('int_run__context') }} as context

)

-- by name: the inputs' rows carry their own lifecycle and class
select * from final  -- noqa: AM07
union all by name
select
    inputs.*,  -- noqa: AM04
    context.run_id,
    context.forecast_origin
from inputs
cross join {{ ref('int_run__context') }} as context
