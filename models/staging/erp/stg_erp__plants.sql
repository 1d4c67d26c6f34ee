with

source as (

    select * from {{ source('erp', 'plants') }}

),

renamed as (

    select
        -- ids
        cast(plant_id as varchar) as plant_id,

        -- text
        cast(plant_name as varchar) as plant_name

    from source

),

final as (

    select * from renamed

)

select * from final
