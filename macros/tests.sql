{#- Generic data tests written here because the dbt hub (dbt_utils) is out
    of reach. -#}

{#- The combination of columns is unique. -#}
{% test unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{#- Every value lies in [min_value, max_value] (either bound optional). -#}
{% test between(model, column_name, min_value=none, max_value=none) %}
    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            false
            {% if min_value is not none %}
                or {{ column_name }} < {{ min_value }}
            {% endif %}
            {% if max_value is not none %}
                or {{ column_name }} > {{ max_value }}
            {% endif %}
        )
{% endtest %}

{#- The model holds exactly one row. -#}
{% test single_row(model) %}
    select n_rows
    from (select count(*) as n_rows from {{ model }})
    where n_rows != 1
{% endtest %}

{#- None of the columns holds a null: one scan of the model for all of them
    (a not_null test per column is a node and a scan each), and a row per
    column that has nulls, naming it, with how many. -#}
{% test not_null_columns(model, columns) %}
    select
        column_name,
        null_rows
    from (
        unpivot (
            select
                {%- for column in columns %}
                    count(*) filter (where {{ column }} is null)
                    as {{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ model }}
        )
        on columns(*) into name column_name value null_rows
    )
    where null_rows > 0
{% endtest %}
