{#- Post-hook of every gate model: fail the node with the gate's own report
    when a blocking expectation failed. The gate has already committed its
    results to gate_results; raising here, in SQL, puts the readable report
    first instead of a Python traceback. -#}
{% macro gate_verdict() %}
    select error(any_value(report))
    from {{ this }}
    where blocking
    having count(*) > 0
{% endmacro %}
