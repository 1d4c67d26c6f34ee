{#- The orders gate's table-wide check: lines, exact duplicates and their
    share (validated by the suite orders__lines), and the file holding the
    most duplicates: a file loaded twice (orders/ with a copy of a month)
    shows as a file whose lines all repeat earlier ones. -#}

with

orders as (

    select * from {{ ref('int_orders__screened') }}

),

by_file as (

    select
        source_file,
        count(*) as n_lines,
        count(*) filter (where is_duplicate) as n_duplicates
    from orders
    group by all

),

worst_file as (

    select
        source_file as duplicate_file,
        n_duplicates as duplicate_file_duplicates,
        n_lines as duplicate_file_lines
    from by_file
    where n_duplicates > 0
    qualify row_number() over (order by n_duplicates desc, source_file asc) = 1

),

totals as (

    select
        count(*) as n_lines,
        count(*) filter (where is_duplicate) as n_duplicates,
        coalesce(
            count(*) filter (where is_duplicate) / nullif(count(*), 0), 0
        ) as duplicate_share
    from orders

),

final as (

    select
        totals.n_lines,
        totals.n_duplicates,
        totals.duplicate_share,
        worst_file.duplicate_file,
        worst_file.duplicate_file_duplicates,
        worst_file.duplicate_file_lines
    from totals
    left join worst_file on true

)

select * from final
