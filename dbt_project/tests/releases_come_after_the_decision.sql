{{ config(meta={'dagster': {'ref': {'name': 'target_releases'}}}) }}
-- A target is never released before its restock was decided (checked on the restocks decided in
-- the cycle: macros/checks.sql).
select releases.*
from {{ ref('target_releases') }} as releases
inner join {{ ref('restock_events') }} as restocks on restocks.restock_event_id = releases.restock_event_id
where releases.released_at < restocks.decided_at
    and restocks.decided_at > {{ checked_since() }}
