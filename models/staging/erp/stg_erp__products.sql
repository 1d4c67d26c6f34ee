with

source as (

    select * from {{ source('erp', 'products') }}

),

renamed as (

    select
        -- lineage
        source_file,
        source_row,

        -- ids (trimmed: 'P1 ' and 'P1' are one product)
        nullif(trim(cast(product_id as varchar)), '') as product_id,

        -- text
        cast(product_name as varchar) as product_name,
        cast(product_group as varchar) as product_group,

        -- dates
        {{ parse_or_fail('launch_date', 'date') }} as launch_date,
        {{ parse_or_fail('discontinued_date', 'date') }} as discontinued_date

    from source

),

final as (

    select * from renamed

)

select * from final
