-- KPIs per shop, day, product and variant (docs/architecture.md, "KPIs"): one row per variant and day with
-- any activity. Orders and revenue follow the line's variant; jobs, sends and conversions the notified one.
{{ kpis_per_day_and(['product_id', 'variant_id']) }}
