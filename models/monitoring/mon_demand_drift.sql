{#- Has a series' demand changed? Its last drift_window periods up to the
    origin against all its history before them: the level shift (in standard
    deviations of the prior history), the recent window's standard deviation
    against the typical one of a window as long before it, and the change in
    the share of periods without demand, each flagged past its var
    (drift_level_threshold, drift_sd_ratio, drift_zero_share_change). A
    spread is flagged only when it is also outside the range of every window
    as long before it: a sparse series' windows swing between none and one
    order, and a quiet quarter like others it had is not a change. A series
    with less prior history than the window is not judged. -#}

with

actuals as (

    select * from {{ ref('fct_demand_history') }}

),

series as (

    select * from {{ ref('dim_series') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

numbered as (

    select
        series_id,
        demand,
        row_number() over (
            partition by series_id order by period_start desc
        ) <= {{ var('drift_window') }} as is_recent,
        -- the variance of each window of drift_window periods: the typical
        -- one before the recent window is what its variance is held to (the
        -- sd of the whole prior history would count seasons and trends)
        var_samp(demand) over by_window as window_variance,
        count(*) over by_window as window_periods
    from actuals
    window by_window as (
        partition by series_id
        order by period_start
        rows between {{ var('drift_window') - 1 }} preceding and current row
    )

),

windows as (

    select
        series_id,
        count(*) filter (where is_recent) as n_recent,
        count(*) filter (where not is_recent) as n_prior,
        avg(demand) filter (where is_recent) as recent_mean,
        avg(demand) filter (where not is_recent) as prior_mean,
        coalesce(stddev_samp(demand) filter (where is_recent), 0)
            as recent_sd,
        coalesce(stddev_samp(demand) filter (where not is_recent), 0)
            as prior_sd,
        avg(window_variance) filter (
            where not is_recent and window_periods = {{ var('drift_window') }}
        ) as prior_window_variance,
        min(window_variance) filter (
            where not is_recent and window_periods = {{ var('drift_window') }}
        ) as prior_window_variance_min,
        max(window_variance) filter (
            where not is_recent and window_periods = {{ var('drift_window') }}
        ) as prior_window_variance_max,
        avg(cast(demand = 0 as double)) filter (
            where is_recent
        ) as recent_zero_share,
        avg(cast(demand = 0 as double)) filter (
            where not is_recent
        ) as prior_zero_share
    from numbered
    group by all

),

measured as (

    select
        *,
        n_prior >= {{ var('drift_window') }} as is_judged,
        coalesce(sqrt(prior_window_variance), 0) as prior_window_sd,
        coalesce(sqrt(prior_window_variance_min), 0) as prior_window_sd_min,
        coalesce(sqrt(prior_window_variance_max), 0) as prior_window_sd_max,
        (recent_mean - prior_mean) / nullif(prior_sd, 0) as level_shift,
        recent_sd / nullif(sqrt(prior_window_variance), 0) as sd_ratio,
        recent_zero_share - prior_zero_share as zero_share_change
    from windows

),

flagged as (

    select
        *,
        is_judged and coalesce(
            abs(level_shift) > {{ var('drift_level_threshold') }},
            recent_mean != prior_mean
        ) as is_level_shift,
        is_judged and coalesce(
            sd_ratio > {{ var('drift_sd_ratio') }}
            or sd_ratio < 1.0 / {{ var('drift_sd_ratio') }},
            recent_sd > 0
        ) and (
            recent_sd > prior_window_sd_max or recent_sd < prior_window_sd_min
        ) as is_variance_shift,
        is_judged and abs(zero_share_change)
        >= {{ var('drift_zero_share_change') }} as is_zero_share_shift
    from measured

),

final as (

    select
        -- keys
        flagged.series_id,

        -- the run and the series
        context.run_id,
        context.frequency,
        context.forecast_origin,
        series.plant_id,
        series.product_id,
        series.product_group,
        series.demand_class,
        series.lifecycle,

        -- the two windows
        flagged.n_recent,
        flagged.n_prior,
        flagged.recent_mean,
        flagged.prior_mean,
        flagged.recent_sd,
        flagged.prior_sd,
        flagged.prior_window_sd,
        flagged.prior_window_sd_min,
        flagged.prior_window_sd_max,
        flagged.recent_zero_share,
        flagged.prior_zero_share,

        -- the shifts and their flags
        flagged.level_shift,
        flagged.sd_ratio,
        flagged.zero_share_change,
        flagged.is_judged,
        flagged.is_level_shift,
        flagged.is_variance_shift,
        flagged.is_zero_share_shift,
        -- a discontinued product's demand is meant to fall: not drifted
        (
            flagged.is_level_shift
            or flagged.is_variance_shift
            or flagged.is_zero_share_shift
        )
        and coalesce(series.lifecycle, '') != 'discontinued' as is_drifted
    from flagged
    inner join series
        on flagged.series_id = series.series_id
    cross join context

)

select * from final
