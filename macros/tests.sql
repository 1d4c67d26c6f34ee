{#- Generic data tests written here because the dbt hub (dbt_utils) is out
    of reach. -#}

{#- The combination of columns is unique. -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{#- The model holds exactly one row. -#}
{% test single_row(model) %}
    select n_rows
    from (select count(*) as n_rows from {{ model }})
    where n_rows != 1
{% endtest %}

{#- A model's column rules, checked in one scan (a generic test per column
    and rule is a dbt node and a scan each, most of a small build's test
    time): `not_null` columns hold no null; `between` maps a column to its
    min_value and/or max_value; `accepted_values` maps a column to its
    values. Nulls pass `between` and `accepted_values`, as in dbt's own
    tests. A row per broken rule: the column, the rule, how many rows. -#}
{% test column_values(model, not_null=[], between={}, accepted_values={}) %}
    {%- set checks = [] %}
    {%- for column in not_null %}
        {%- do checks.append((column, 'not null', column ~ ' is null')) %}
    {%- endfor %}
    {%- for column, bounds in between.items() %}
        {%- set low, high = bounds.get('min_value'), bounds.get('max_value') %}
        {%- set rule = (['>= ' ~ low] if low is not none else [])
            + (['<= ' ~ high] if high is not none else []) %}
        {%- set sql = ([column ~ ' < ' ~ low] if low is not none else [])
            + ([column ~ ' > ' ~ high] if high is not none else []) %}
        {%- do checks.append((column, rule | join(' and '), sql | join(' or '))) %}
    {%- endfor %}
    {%- for column, values in accepted_values.items() %}
        {%- set literals = [] %}
        {%- for value in values %}
            {%- do literals.append("'" ~ value ~ "'" if value is string else value) %}
        {%- endfor %}
        {%- do checks.append((column, 'in (' ~ values | join(', ') ~ ')',
            column ~ ' not in (' ~ literals | join(', ') ~ ')')) %}
    {%- endfor %}
    select
        split_part(check_name, ' | ', 1) as column_name,
        split_part(check_name, ' | ', 2) as rule,
        failing_rows
    from (
        unpivot (
            select
                {%- for column, rule, failing in checks %}
                    count(*) filter (where {{ failing }})
                    as "{{ column }} | {{ rule }}"{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ model }}
        )
        on columns(*) into name check_name value failing_rows
    )
    where failing_rows > 0
{% endtest %}
