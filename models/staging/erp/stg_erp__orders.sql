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

flagged as (

    select
        row_number() over (order by source_file, source_row) as order_line_id,
        source_file,
        source_row,
        order_date,
        product_id,
        plant_id,
        quantity,
        quantity < 0 as is_return,
        -- an exact duplicate: the same line once ids are trimmed and the
        -- date and quantity parsed ('P1 ' is 'P1'), extra columns alike
        row_number() over (
            partition by
                raw_row_hash, order_date, product_id, plant_id, quantity
            order by source_file, source_row
        ) > 1 as is_duplicate

    from renamed

),

final as (

    select * from flagged

)

select * from final
