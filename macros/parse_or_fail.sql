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
    case
        when {{ column }} is not null and {{ parsed }} is null
            then error(format(
                '{}, row {}: column {} holds ''{}'', which is not a valid {}',
                source_file, source_row, '{{ column }}',
                cast({{ column }} as varchar), '{{ type }}'
            ))
        else {{ parsed }}
    end
{%- endmacro %}
