{#- The staged order lines, each judged against its own series' history: a
    line above var('outlier_ratio') x the median of the series' positive
    lines is implausible (series with 5 or more positive lines are judged;
    the median, unlike the maximum, is not raised by the outlier itself).
    The orders gate stops the build on one; with var('outlier_action') = cap
    its quantity is cut to the threshold and original_quantity keeps it. -#}

with

orders as (

    select * from {{ ref('stg_erp__orders') }}

),

history as (

    select
        plant_id,
        product_id,
        median(quantity) as median_line_quantity,
        count(*) as n_positive_lines
    from orders
    where not is_duplicate and quantity > 0
    group by all

),

judged as (

    select
        orders.order_line_id,
        orders.source_file,
        orders.source_row,
        orders.order_date,
        orders.product_id,
        orders.plant_id,
        orders.quantity as original_quantity,
        orders.is_return,
        orders.is_duplicate,
        history.median_line_quantity,
        case
            when history.n_positive_lines >= 5
                then
                    {{ var('outlier_ratio') }}
                    * history.median_line_quantity
        end as plausible_max
    from orders
    left join history
        on
            orders.plant_id = history.plant_id
            and orders.product_id = history.product_id

),

final as (

    select
        order_line_id,
        source_file,
        source_row,
        order_date,
        product_id,
        plant_id,
        {% if var('outlier_action') == 'cap' -%}
            least(original_quantity, coalesce(plausible_max, original_quantity))
        {%- else -%}
            original_quantity
        {%- endif %} as quantity,
        original_quantity,
        coalesce(original_quantity > plausible_max, false) as is_implausible,
        median_line_quantity,
        plausible_max,
        is_return,
        is_duplicate
    from judged

)

select * from final
