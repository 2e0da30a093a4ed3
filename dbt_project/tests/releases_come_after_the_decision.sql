{{ config(meta={'dagster': {'ref': {'name': 'target_releases'}}}) }}
-- A target is never released before its restock was decided.
select releases.*
from {{ ref('target_releases') }} as releases
inner join {{ ref('restock_events') }} as restocks on restocks.restock_event_id = releases.restock_event_id
where releases.released_at < restocks.decided_at
