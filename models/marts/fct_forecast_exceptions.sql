{#- Series a planner should look at, and why: discontinued, cold_start,
    fallback, member_left_out, inactive, candidate_failed, launch, runner_up
    (the report and BI app flag it; not where the windows held no demand),
    unknown_product (its orders name a product the products file does not
    list: no name or group, forecast as usual). -#}
-- depends_on: {{ ref('gate_forecast') }}

with

series as (

    select * from {{ ref('int_series__profiled') }}

),

predictions as (

    select * from {{ ref('int_forecast__predictions') }}

),

metrics as (

    select * from {{ ref('int_forecast__backtest') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

champions as (

    select * from {{ ref('int_forecast__champions') }}

),

master as (

    select * from {{ ref('stg_erp__products') }}

),

master_size as (

    select count(*) as n_products from master

),

unlisted_lines as (

    -- order lines of products the products file does not list (none when
    -- there is no products file: then no product has a name)
    select
        ordered.product_id,
        count(*) as n_lines,
        arg_min(ordered.source_file, ordered.order_line_id) as first_file,
        arg_min(ordered.source_row, ordered.order_line_id) as first_row
    from {{ ref('int_orders__screened') }} as ordered
    anti join master
        on ordered.product_id = master.product_id
    cross join master_size
    where master_size.n_products > 0
    group by all

),

discontinued as (

    select
        series_id,
        cast(null as varchar) as model_name,
        'discontinued' as exception_type,
        'no forecast: the product is discontinued' as detail
    from series
    where lifecycle = 'discontinued'

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
        || if(
            series.product_id in (
                select unlisted_lines.product_id from unlisted_lines
            ),
            '; the product master does not list it',
            '; the product master does not discontinue it'
        ) as detail
    from series
    left join forecast_models
        on series.series_id = forecast_models.series_id
    where series.is_inactive

),

unknown_product as (

    select
        series.series_id,
        forecast_models.model_name,
        'unknown_product' as exception_type,
        printf(
            'product %s is not in the products file (%d order line(s), the'
            || ' first %s row %d): no name or group; forecast as usual, add it'
            || ' to the product master or correct the id',
            series.product_id,
            unlisted_lines.n_lines,
            unlisted_lines.first_file,
            unlisted_lines.first_row
        ) as detail
    from series
    inner join unlisted_lines
        on series.product_id = unlisted_lines.product_id
    left join forecast_models
        on series.series_id = forecast_models.series_id

),

not_champion as (

    select distinct
        series_id,
        model_name,
        if(method = 'champion', 'member_left_out', method) as exception_type,
        fallback_reason as detail
    from predictions
    where
        method != 'champion'
        or starts_with(fallback_reason, 'member(s) left out')

),

failed_candidates as (

    select
        series_id,
        model_name,
        'candidate_failed' as exception_type,
        error_message as detail
    from metrics
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
    from champions
    where
        champion_score > 0
        and runner_up_score
        <= {{ var('runner_up_flag_ratio') }} * champion_score
        and series_id not in (  -- no demand in its windows: a 0 scores best
            select quiet.series_id from metrics as quiet
            where quiet.wape is null and quiet.mae > 0
        )

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
    union all
    select * from unknown_product

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
    cross join context

),

launched as (

    select distinct
        launches.series_id,
        planned.plant_id,
        planned.product_id,
        'launch' as exception_type,
        launches.model_name,
        launches.fallback_reason as detail,
        'launch' as lifecycle,
        context.run_id,
        context.forecast_origin
    from {{ ref('int_forecast__launches') }} as launches
    inner join {{ ref('stg_erp__launches') }} as planned
        on launches.series_id = planned.series_id
    cross join context

)

-- by name: the launches leave the series' columns null
select * from final  -- noqa: AM07
union all by name
select * from launched
