-- Last-touch attribution at line level (docs/architecture.md, "Attribution"): one row per order line
-- credited to a notification job, with the line's net revenue in shop currency.
select * exclude (attribution_view)
from {{ ref('int_order_lines_attributed') }}
where attribution_view = 'last_touch'
