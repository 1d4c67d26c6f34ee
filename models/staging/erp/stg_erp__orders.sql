{{ config(materialized='table') }}

with

source as (

    select * from {{ source('erp', 'orders') }}

),

renamed as (

    select
        -- lineage
        source_file,
        source_row,
        raw_row_hash,

        -- ids (trimmed: 'P1 ' and 'P1' are one product)
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        nullif(trim(cast(plant_id as varchar)), '') as plant_id,

        -- dates
        {{ parse_or_fail('order_date', 'date') }} as order_date,

        -- numerics
        {{ parse_or_fail('quantity', 'double') }} as quantity

    from source

),

day_lines as (

    -- a file's lines of one date, in the file's order
    select
        *,
        row_number() over (
            partition by source_file, order_date order by source_row
        ) as day_line,
        count(*) over (partition by source_file, order_date) as n_day_lines,
        hash(product_id, plant_id, quantity) as line_key
    from renamed

),

repeated_days as (

    -- a date whose lines in a file of the four columns alone are one
    -- sequence twice over (a day exported twice: line k of the second half
    -- is line k of the first), two different lines at least in each half
    -- (four equal lines are four orders)
    select
        first_half.source_file,
        first_half.order_date
    from day_lines as first_half
    inner join day_lines as second_half
        on
            first_half.source_file = second_half.source_file
            and first_half.order_date = second_half.order_date
            and second_half.day_line
            = first_half.day_line + first_half.n_day_lines // 2
    where
        first_half.raw_row_hash is null
        and first_half.n_day_lines >= 4
        and first_half.n_day_lines % 2 = 0
    group by all
    having
        count(*) = any_value(first_half.n_day_lines) // 2
        and count(distinct first_half.line_key) >= 2
        and bool_and(
            first_half.product_id is not distinct from second_half.product_id
            and first_half.plant_id is not distinct from second_half.plant_id
            and first_half.quantity is not distinct from second_half.quantity
        )

),

flagged as (

    select
        row_number() over (
            order by day_lines.source_file, day_lines.source_row
        ) as order_line_id,
        day_lines.source_file,
        day_lines.source_row,
        day_lines.order_date,
        day_lines.product_id,
        day_lines.plant_id,
        day_lines.quantity,
        day_lines.quantity < 0 as is_return,
        -- an exact duplicate: the same line as an earlier one once ids are
        -- trimmed and the date and quantity parsed ('P1 ' is 'P1'), extra
        -- columns alike. Within one file where it has extra columns (an
        -- order number tells its lines apart); in a file of the four
        -- columns alone, two equal lines are two orders of one size on one
        -- day, and only a day exported twice repeats. A line an earlier
        -- file holds too is a file loaded twice.
        row_number() over same_line > 1
        and (
            day_lines.raw_row_hash is not null
            or min(day_lines.source_file) over same_line < day_lines.source_file
            or (
                repeated_days.order_date is not null
                and day_lines.day_line > day_lines.n_day_lines // 2
            )
        ) as is_duplicate

    from day_lines
    left join repeated_days
        on
            day_lines.source_file = repeated_days.source_file
            and day_lines.order_date = repeated_days.order_date
    window same_line as (
        partition by
            day_lines.raw_row_hash,
            day_lines.order_date,
            day_lines.product_id,
            day_lines.plant_id,
            day_lines.quantity
        order by day_lines.source_file, day_lines.source_row
    )

),

final as (

    select * from flagged

)

select * from final
