"""Alerts: which conditions open one, that they resolve when the condition clears, and that each open alert
reaches the webhook once (again on the next tick when the webhook failed)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from backinstock.store.alerts import open_alerts
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from orchestration import alerting

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_a_lane_paused_briefly_is_routine_a_long_pause_is_an_alert():
    lanes = [
        {
            "name": "short",
            "paused_until": NOW + timedelta(seconds=30),
            "stopped_at": None,
            "pause_reason": "429",
        },
        {"name": "long", "paused_until": NOW + timedelta(hours=1), "stopped_at": None, "pause_reason": "429"},
        {"name": "open", "paused_until": None, "stopped_at": None},
        {"name": "stopped", "paused_until": NOW + timedelta(hours=1), "stopped_at": NOW, "pause_reason": "x"},
    ]
    found = alerting.lane_conditions(lanes, NOW, timedelta(minutes=5))
    assert [(c.kind, c.subject) for c in found] == [("lane_paused", "long")]


def test_dead_letters_over_the_threshold_and_stale_inputs():
    assert alerting.dead_letter_conditions({"dead_letter": 10}, 10) == []
    (over,) = alerting.dead_letter_conditions({"dead_letter": 11, "sent": 500}, 10)
    assert "11 jobs" in over.message
    stale = alerting.stale_conditions(
        {"fresh": NOW - timedelta(minutes=10), "old": NOW - timedelta(hours=2), "never": None},
        NOW,
        timedelta(minutes=30),
    )
    assert [c.subject for c in stale] == ["old", "never"]


@pytest.fixture
def store(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    return engine


def test_conditions_open_alerts_once_and_resolve_when_they_clear(store):
    condition = alerting.Condition("dead_letters", "notification_jobs", "12 jobs")
    with store.begin() as connection:
        alerting.reconcile(connection, [condition], NOW)
        alerting.reconcile(connection, [condition], NOW + timedelta(minutes=1))
        assert [(a["kind"], a["subject"]) for a in open_alerts(connection)] == [
            ("dead_letters", "notification_jobs")
        ]
        alerting.raise_run_failure(connection, job_name="analytics", run_id="r1", error="boom", now=NOW)
        alerting.reconcile(connection, [], NOW + timedelta(minutes=2))
        assert [a["kind"] for a in open_alerts(connection)] == ["run_failed"], (
            "a run failure waits for a success"
        )
        alerting.resolve_run_failure(connection, job_name="analytics", run_id="r2", now=NOW)
        assert open_alerts(connection) == []


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []
    fail_next = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Receiver.fail_next:
            _Receiver.fail_next -= 1
            self.send_response(503)
        else:
            _Receiver.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.received, _Receiver.fail_next = [], 0
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_each_open_alert_is_sent_once_and_a_failed_send_is_tried_again(store, receiver):
    with store.begin() as connection:
        alerting.raise_run_failure(connection, job_name="analytics", run_id="r1", error="dbt failed", now=NOW)
        current = open_alerts(connection)
    _Receiver.fail_next = 1
    with httpx.Client() as http:
        sent, errors = alerting.send_new(current, set(), receiver, http)
        assert (sent, len(errors)) == (set(), 1)
        sent, errors = alerting.send_new(current, sent, receiver, http)
        assert (sent, errors) == ({current[0]["id"]}, [])
        again, _ = alerting.send_new(current, sent, receiver, http)
    assert again == sent
    assert len(_Receiver.received) == 1
    alert = _Receiver.received[0]
    assert (alert["kind"], alert["subject"]) == ("run_failed", "analytics")
    assert alert["text"].startswith(
        "[back_in_stock] run_failed analytics: run r1 of analytics failed: dbt failed"
    )
