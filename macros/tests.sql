{#- Generic data tests written here because the dbt hub (dbt_utils) is out
    of reach. -#}

{#- The model holds exactly one row. -#}
{% test single_row(model) %}
    select n_rows
    from (select count(*) as n_rows from {{ model }})
    where n_rows != 1
{% endtest %}

{#- A model's key and column rules, checked in one node (a generic test per
    column and rule is a dbt node each, and a node's overhead, not its query,
    was most of a small build's test time): `unique` lists the key's columns
    (their combination is unique); `not_null` columns hold no null; `between`
    maps a column to its min_value and/or max_value; `accepted_values` maps a
    column to its values. Nulls pass `between` and `accepted_values`, as in
    dbt's own tests. A row per broken rule: the column(s), the rule, how many
    rows (for the key: how many duplicated keys, and the first of them). -#}
{% test column_values(model, unique=[], not_null=[], between={}, accepted_values={}) %}
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
    {%- if unique %}
        {%- set keys = [] %}
        {%- for column in unique %}
            {%- do keys.append("coalesce(cast(" ~ column ~ " as varchar), 'null')") %}
        {%- endfor %}
    select
        '{{ unique | join(", ") }}' as column_name,
        'unique' as rule,
        count(*) as failing_rows,
        min(duplicated_key) as duplicated_key
    from (
        select concat_ws(', ', {{ keys | join(', ') }}) as duplicated_key
        from {{ model }}
        group by {{ unique | join(', ') }}
        having count(*) > 1
    )
    having count(*) > 0
    {%- endif %}
    {%- if unique and checks %}
    union all
    {%- endif %}
    {%- if checks %}
    select
        split_part(check_name, ' | ', 1) as column_name,
        split_part(check_name, ' | ', 2) as rule,
        failing_rows,
        null as duplicated_key
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
    {%- endif %}
{% endtest %}
