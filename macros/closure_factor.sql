{#- fct_demand_forecast.closure_factor: the plant's closure factor of the
    week (int_forecast__closures, joined as `closures`) on a row the closure
    scaled, whose reason says so (not a row of zeros, as a launch's before
    its date; a reused forecast says what scaled it in the run that made
    it). -#}
{% macro closure_factor(reason) -%}
    case
        when contains({{ reason }}, 'plant closure: ')
            then closures.closure_factor
    end as closure_factor
{%- endmacro %}
