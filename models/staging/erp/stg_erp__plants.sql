with

source as (

    select * from {{ source('erp', 'plants') }}

),

renamed as (

    select
        -- lineage
        source_file,
        source_row,

        -- ids (trimmed: 'P1 ' and 'P1' are one product)
        nullif(trim(cast(plant_id as varchar)), '') as plant_id,

        -- text
        cast(plant_name as varchar) as plant_name

    from source

),

final as (

    select * from renamed

)

select * from final
