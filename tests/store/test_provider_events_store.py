from seed_rows import NOW, signup, target_for

from backinstock.store import jobs, provider_events, suppressions


def event(job_id, kind, key, permanent=False):
    return provider_events.ProviderEvent(
        lane="email",
        provider="sendgrid",
        event_type=kind,
        job_id=job_id,
        provider_message_id="m1",
        recipient="ada@example.com",
        occurred_at=NOW,
        detail=None,
        dedupe_key=key,
        payload="{}",
        permanent=permanent,
    )


def test_events_are_kept_once_and_hard_bounces_and_complaints_suppress(store_engine):
    with store_engine.begin() as connection:
        ids = [
            signup(connection, email) for email in ("ada@example.com", "bob@example.com", "cy@example.com")
        ]
        jobs.enqueue_targets(connection, [target_for(connection, sid, rank=1) for sid in ids], NOW)
        first, second, third = (row["id"] for row in (jobs.get_job(connection, n) for n in (1, 2, 3)))
        new = provider_events.record(
            connection,
            [
                event(first, "bounced", "e1", permanent=True),
                event(second, "complained", "e2"),
                event(third, "bounced", "e3"),  # a soft bounce: no suppression
                event(third, "delivered", "e4"),
            ],
            NOW,
        )
        again = provider_events.record(connection, [event(first, "bounced", "e1", permanent=True)], NOW)
        reasons = [
            suppressions.suppression_reason(
                connection, shop="test-shop.myshopify.com", channel="email", contact=c
            )
            for c in ("ada@example.com", "bob@example.com", "cy@example.com")
        ]
        kept = provider_events.events_for_job(connection, third)
    assert (new, again) == (4, 0)
    assert reasons == ["hard_bounce", "complaint", None]
    assert [row["event_type"] for row in kept] == ["bounced", "delivered"]
    assert kept[0]["dedupe_key"] == "sendgrid:e3"
