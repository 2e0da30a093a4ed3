-- Revenue is summed in shop currency: an order whose shop-money currency is not its shop's (the shop changed
-- its currency, or an ingest read presentment money) would be added as if it were.
select orders.shop, orders.order_id, orders.currency_code, shops.currency_code as shop_currency_code
from {{ ref('stg_shopify__orders') }} as orders
inner join {{ ref('stg_shopify__shops') }} as shops on shops.shop = orders.shop
where orders.currency_code is distinct from shops.currency_code
