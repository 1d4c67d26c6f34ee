{#- Cast a raw column, or stop the build with a message that names the file,
    the row and the column. Null stays null (the gates judge nulls). -#}
{% macro parse_or_fail(column, type) -%}
    {%- if type == 'date' -%}
        {%- set parsed -%}
        coalesce(
            try_cast({{ column }} as date),
            cast(try_cast({{ column }} as timestamp) as date)
        )
        {%- endset -%}
    {%- else -%}
        {%- set parsed = 'try_cast(' ~ column ~ ' as ' ~ type ~ ')' -%}
    {%- endif -%}
    {%- set expected = {
        'date': 'date (expected YYYY-MM-DD, or a date or timestamp column)',
        'double': 'number (expected digits with a decimal point, e.g. 12.5)',
    }.get(type, type) %}
    case
        when {{ column }} is not null and {{ parsed }} is null
            then error(format(
                '{}, row {}: column {} holds ''{}'', which is not a valid {}',
                source_file, source_row, '{{ column }}',
                cast({{ column }} as varchar), '{{ expected }}'
            ))
        else {{ parsed }}
    end
{%- endmacro %}
