{#- Planned launches, typed and checked: one row per plant and product to
    forecast from its launch date until its first orders (python model
    int_forecast__launches). Empty when no launches file is given. A row
    naming a product that is not in the products file, a plant in neither
    the plants file nor the orders, an analog product without orders, a
    date that does not parse or is missing, or a plant and product listed
    twice stops the build in one line naming the file, row and column. -#}

{{ config(materialized='table') }}

with

source as (

    select * from {{ source('erp', 'launches') }}

),

products as (

    select * from {{ ref('stg_erp__products') }}

),

plants as (

    select plant_id from {{ ref('stg_erp__plants') }}
    union
    select plant_id from {{ ref('stg_erp__orders') }}

),

ordered as (

    select distinct product_id from {{ ref('stg_erp__orders') }}

),

renamed as (

    select
        -- lineage
        source_file,
        source_row,

        -- ids (trimmed: 'P1 ' and 'P1' are one product)
        nullif(trim(cast(plant_id as varchar)), '') as plant_id,
        nullif(trim(cast(product_id as varchar)), '') as product_id,
        nullif(trim(cast(analog_product_id as varchar)), '')
            as analog_product_id,

        -- dates
        {{ parse_or_fail('launch_date', 'date') }} as launch_date

    from source

),

judged as (

    select
        *,
        case
            when
                not coalesce(
                    plant_id in (select plants.plant_id from plants),
                    false
                )
                then format(
                    'column plant_id holds ''{}'', which is a plant of neither'
                    || ' the plants file nor the orders',
                    coalesce(plant_id, '')
                )
            when
                not coalesce(
                    product_id in (
                        select products.product_id from products
                    ),
                    false
                )
                then format(
                    'column product_id holds ''{}'', which is not a product'
                    || ' of the products file (a launch names a product of'
                    || ' the master)',
                    coalesce(product_id, '')
                )
            when launch_date is null
                then 'column launch_date is empty: a launch needs its date'
            when
                analog_product_id is not null
                and not coalesce(
                    analog_product_id in (
                        select ordered.product_id from ordered
                    ),
                    false
                )
                then format(
                    'column analog_product_id holds ''{}'', which is no'
                    || ' product with orders to take a launch curve from',
                    analog_product_id
                )
            when
                count(*) over (
                    partition by plant_id, product_id
                ) > 1
                then format(
                    'column product_id: plant ''{}'' and product ''{}'' are'
                    || ' listed more than once; keep one launch per plant'
                    || ' and product',
                    plant_id, product_id
                )
        end as problem
    from renamed

),

final as (

    select
        source_file,
        source_row,
        {{ series_id('plant_id', 'product_id') }} as series_id,
        plant_id,
        product_id,
        launch_date,
        case
            when problem is not null
                then error(format(
                    'demandcast: {}, row {}: {}', source_file, source_row,
                    problem
                ))
            else analog_product_id
        end as analog_product_id
    from judged

)

select * from final
