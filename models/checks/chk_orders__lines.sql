{#- The orders gate's table-wide check: lines, exact duplicates and their
    share (validated by the suite orders__lines). -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

final as (

    select
        count(*) as n_lines,
        count(*) filter (where is_duplicate) as n_duplicates,
        coalesce(
            count(*) filter (where is_duplicate) / nullif(count(*), 0), 0
        ) as duplicate_share
    from orders

)

select * from final
