-- The strict view beside last touch: lines credited only to clicks (by contact or by click token).
select * exclude (attribution_view)
from {{ ref('int_order_lines_attributed') }}
where attribution_view = 'click_only'
