{#- Planner overrides of quantities, checked: the seed
    forecast_quantity_overrides and, when the var quantity_overrides_table
    names one, that table of the warehouse (e.g. written by a BI app). A row
    that names no forecast series of this run, a period outside the run's
    horizon, no or a negative quantity, no reason or author, or a series and
    period another row already set stops the run with one line naming the
    file (or table) and row. -#}
{%- set table = var('quantity_overrides_table') -%}
{%- if execute and table and not main_table_exists(table) -%}
    {{ exceptions.raise_compiler_error(
        "var 'quantity_overrides_table' names " ~ table
        ~ ", which is no table of the warehouse " ~ target.path) }}
{%- endif %}

{%- set sources = [
    ('seeds/forecast_quantity_overrides.csv', 2,
        ref('forecast_quantity_overrides'))
] -%}
{%- if table -%}
    {%- do sources.append(
        ('table ' ~ table, 1, 'main.' ~ adapter.quote(table))
    ) -%}
{%- endif %}

with

overrides as (

    {% for label, first_row, relation in sources -%}
        {%- if not loop.first %}
            union all
        {% endif -%}
        select
            {{ sql_string(label) }} as source_file,
            rowid + {{ first_row }} as source_row,
            trim(cast(plant_id as varchar)) as plant_id,
            trim(cast(product_id as varchar)) as product_id,
            cast(period_start as varchar) as period_text,
            cast(quantity as varchar) as quantity_text,
            cast(reason as varchar) as reason,
            cast(set_by as varchar) as set_by
        from {{ relation }}
    {%- endfor %}

),

series as (

    select * from {{ ref('int_series__profiled') }}

),

context as (

    select * from {{ ref('int_run__context') }}

),

parsed as (

    select
        overrides.*,
        series.series_id,
        series.lifecycle,
        try_cast(overrides.period_text as date) as period_start,
        try_cast(overrides.quantity_text as double) as quantity,
        context.forecast_start,
        cast(
            context.forecast_start
            + {{ period_interval('context.horizon - 1') }} as date
        ) as forecast_end
    from overrides
    cross join context
    left join series
        on
            overrides.plant_id = series.plant_id
            and overrides.product_id = series.product_id

),

checked as (

    select
        *,
        case
            when series_id is null
                then format(
                    'plant_id {} and product_id {} name no series of this run',
                    coalesce(plant_id, 'null'), coalesce(product_id, 'null')
                )
            when lifecycle = 'discontinued'
                then format(
                    'series {} is discontinued: it has no forecast', series_id
                )
            when
                period_start is null
                or period_start <> {{ period_start('period_start') }}
                or period_start not between forecast_start and forecast_end
                then format(
                    'period_start {} is not a forecast period of this run'
                    || ' ({} to {}, one {} apart)',
                    coalesce(period_text, 'null'), forecast_start,
                    forecast_end, '{{ frequency() }}'
                )
            when quantity is null
                then format(
                    'quantity {} is not a number',
                    coalesce(quantity_text, 'null')
                )
            when quantity < 0
                then format('quantity {} is negative', quantity_text)
            when nullif(trim(reason), '') is null
                then 'the override has no reason'
            when nullif(trim(set_by), '') is null
                then 'the override has no set_by (who set it)'
            when
                count(*) over (partition by series_id, period_start) > 1
                then format(
                    'series {}, period {} is overridden more than once',
                    series_id, period_start
                )
        end as problem
    from parsed

),

final as (

    select
        series_id,
        plant_id,
        product_id,
        period_start,
        case
            when problem is null then quantity
            else error(format(
                'demandcast: {}, row {}: {}', source_file, source_row, problem
            ))
        end as override_quantity,
        trim(reason) as override_reason,
        trim(set_by) as override_set_by,
        source_file,
        source_row
    from checked

)

select * from final
