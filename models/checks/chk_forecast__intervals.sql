{#- One row per forecast row (launches too) and adjacent pair of bounds in
    the chain
    lo_<widest> <= ... <= forecast <= ... <= hi_<widest> (var levels): the
    suite forecast__intervals holds lower <= upper, so a crossed pair (a sign
    or level mix-up) is named with its series and step. -#}

{%- set levels = interval_levels() %}
{%- set chain = [] %}
{%- for level in levels | reverse %}
    {%- do chain.append('lo_' ~ level) %}
{%- endfor %}
{%- do chain.append('forecast') %}
{%- for level in levels %}
    {%- do chain.append('hi_' ~ level) %}
{%- endfor %}

with

predictions as (

    select * from {{ ref('int_forecast__predictions') }}
    union all by name
    select * from {{ ref('int_forecast__launches') }}

),

final as (

    {% for i in range(chain | length - 1) %}
        {% if not loop.first %}union all{% endif %}
        select
            series_id,
            step,
            '{{ chain[i] }} <= {{ chain[i + 1] }}' as bounds,
            cast("{{ chain[i] }}" as double) as lower,
            cast("{{ chain[i + 1] }}" as double) as upper
        from predictions
    {% endfor %}

)

select * from final
