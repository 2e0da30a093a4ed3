-- KPIs per shop, day and product (docs/architecture.md, "KPIs"): one row per product and day with any
-- activity. Orders and revenue follow the line's product; jobs, sends and conversions the notified product.
{{ kpis_per_day_and(['product_id']) }}
