{#- Period arithmetic for the var `frequency` (day | week | month).
    Weeks start on Monday (ISO), months on the 1st. -#}

{% macro frequency() -%}
    {%- set freq = var('frequency') | string | lower -%}
    {%- if freq not in ['day', 'week', 'month'] -%}
        {{ exceptions.raise_compiler_error(
            "var 'frequency' must be one of day, week, month; got '"
            ~ var('frequency') ~ "'") }}
    {%- endif -%}
    {{ return(freq) }}
{%- endmacro %}

{#- The var season_length, or where it is null the frequency's own cycle:
    52 weeks, 12 months, 7 days (config.SEASONS says the same). -#}
{% macro season_length() -%}
    {%- set given = var('season_length') -%}
    {{ return(given if given is not none
        else {'day': 7, 'week': 52, 'month': 12}[frequency()]) }}
{%- endmacro %}

{% macro period_start(expr) -%}
    cast(date_trunc('{{ frequency() }}', {{ expr }}) as date)
{%- endmacro %}

{% macro period_interval(n=1) -%}
    interval ({{ n }}) {{ frequency() }}
{%- endmacro %}

{#- How often order dates fall, from the distinct dates of `dates` (a
    relation with a column order_date of type date): 'month' when 90 % or more
    of them are the first or the last day of a month, 'week' when 90 % or more
    fall on one weekday, else 'day'; null under 6 distinct dates. A scalar
    subquery. (cli.past_build_vars renders this macro too.) -#}
{% macro date_cadence(dates) -%}
    (
        select
            case
                when count(*) < 6 then null
                when
                    avg(case
                        when day(d) = 1 or d = last_day(d) then 1.0 else 0.0
                    end) >= 0.9
                    then 'month'
                when max(n_on_weekday) >= 0.9 * count(*) then 'week'
                else 'day'
            end
        from (
            select
                d,
                count(*) over (partition by isodow(d)) as n_on_weekday
            from (
                select order_date as d from {{ dates }} group by order_date
            ) as distinct_dates
            where d is not null
        ) as by_weekday
    )
{%- endmacro %}

{#- Whether the orders of `dates` (as date_cadence reads them) are dated
    less often than var frequency (monthly totals forecast weekly): most
    periods are then empty, which the run gate names. A boolean expression. -#}
{% macro coarser_than_frequency(dates) -%}
    case coalesce({{ date_cadence(dates) }}, 'day')
        when 'month' then 3 when 'week' then 2 else 1
    end > {{ {'day': 1, 'week': 2, 'month': 3}[frequency()] }}
{%- endmacro %}

{#- The latest ISO weekday (1 Monday .. 7 Sunday) holding at least 1/14 of
    the order lines of `dates` (a relation with a column order_date): the
    last working day of the data's week (5 for a plant that ships Monday to
    Friday, 7 for one that ships every day). A scalar subquery. -#}
{% macro last_workday(dates) -%}
    (
        select max(weekday)
        from (
            select
                isodow(order_date) as weekday,
                count(*) as n_lines,
                sum(count(*)) over () as n_all
            from {{ dates }}
            where order_date is not null
            group by 1
        ) as by_weekday
        where n_lines >= n_all / 14.0
    )
{%- endmacro %}

{#- The forecast origin for a history ending on the date `data_end`: the var
    forecast_origin's period, else the last complete period: the one holding
    data_end when data_end is its last day, or at a weekly frequency its
    last working day or later (`workday`, from last_workday: a plant shut at
    weekends completes its week on Friday), or when the orders are dated
    once a period (`cadence`, from date_cadence, equal to var frequency:
    monthly totals dated on the 1st), else the one before. -#}
{% macro origin_period(data_end, cadence='null', workday='7') -%}
    {%- if var('forecast_origin') -%}
        {{ period_start("cast(" ~ sql_string(var('forecast_origin')) ~ " as date)") }}
    {%- else -%}
        case
            when
                {{ period_start(data_end ~ ' + 1') }}
                > {{ period_start(data_end) }}
                or {{ cadence }} = '{{ frequency() }}'
                {%- if frequency() == 'week' %}
                    or isodow({{ data_end }}) >= coalesce({{ workday }}, 7)
                {%- endif %}
                then {{ period_start(data_end) }}
            else
                cast(
                    {{ period_start(data_end) }}
                    - {{ period_interval() }} as date
                )
        end
    {%- endif -%}
{%- endmacro %}
