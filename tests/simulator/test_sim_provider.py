"""The fake SendGrid over HTTP: authentication, validation, acceptance and forced failures."""

from __future__ import annotations

import httpx
import pytest
from sim_harness import SENDGRID_KEY

from simulator.providers.sendgrid import validation_errors

AUTH = {"Authorization": f"Bearer {SENDGRID_KEY}"}


def message(**changes) -> dict:
    body = {
        "personalizations": [{"to": [{"email": "shopper-0001@example.com"}]}],
        "from": {"email": "alerts@demo-outfitters.example"},
        "subject": "Back in stock",
        "content": [{"type": "text/plain", "value": "hi"}, {"type": "text/html", "value": "<p>hi</p>"}],
        "custom_args": {"job_id": "1", "shop": "demo-outfitters.myshopify.com", "variant_id": "gid://x/1"},
    }
    return {**body, **changes}


def test_an_accepted_message_is_202_with_a_message_id_and_logged(
    simulator_url: str, http: httpx.Client
) -> None:
    answer = http.post(f"{simulator_url}/v3/mail/send", json=message(), headers=AUTH)
    assert answer.status_code == 202 and answer.headers["X-Message-Id"]
    (send,) = http.get(f"{simulator_url}/_sim/log", params={"kind": "send"}).json()["events"]
    assert send["status"] == 202 and send["job_id"] == "1" and send["email"] == "shopper-0001@example.com"
    assert send["at"] == "2026-11-02T00:00:00Z" and send["message_id"] == answer.headers["X-Message-Id"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", SENDGRID_KEY])
def test_a_missing_or_wrong_key_is_401(simulator_url: str, http: httpx.Client, authorization) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = http.post(f"{simulator_url}/v3/mail/send", json=message(), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["message"]


def test_a_bad_body_is_400_naming_the_fields(simulator_url: str, http: httpx.Client) -> None:
    body = message(personalizations=[{"to": [{"email": "not-an-address"}]}], subject="")
    answer = http.post(f"{simulator_url}/v3/mail/send", json=body, headers=AUTH)
    assert answer.status_code == 400
    assert [error["field"] for error in answer.json()["errors"]] == [
        "personalizations.0.to.0.email",
        "subject",
    ]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"personalizations": []}, ["personalizations"]),
        ({"personalizations": [{"cc": []}]}, ["personalizations.0.to"]),
        ({"from": None}, ["from"]),
        ({"from": {"email": "nobody"}}, ["from.email"]),
        ({"content": []}, ["content"]),
        ({"content": [{"type": "text/markdown", "value": "x"}]}, ["content.0.type"]),
        ({"content": [{"type": "text/plain", "value": ""}]}, ["content.0.value"]),
        (
            {"content": [{"type": "text/html", "value": "x"}, {"type": "text/plain", "value": "x"}]},
            ["content"],
        ),
        ({}, []),
    ],
)
def test_validation_rules(changes: dict, fields: list) -> None:
    assert [error["field"] for error in validation_errors(message(**changes))] == fields


def test_forced_responses_answer_matching_calls_then_run_out(simulator_url: str, http: httpx.Client) -> None:
    forced = f"{simulator_url}/_sim/provider/forced"
    assert http.post(forced, json={"status": 429, "calls": 2, "retry_after_seconds": 30}).status_code == 201
    assert http.post(
        forced, json={"status": 400, "recipient": "shopper-0002@example.com", "calls": None}
    ).is_success
    send = f"{simulator_url}/v3/mail/send"
    first, second, third = (http.post(send, json=message(), headers=AUTH) for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 202]
    assert int(first.headers["X-RateLimit-Reset"]) == 1793577600 + 30  # simulated now + 30 s, epoch seconds
    other = message(personalizations=[{"to": [{"email": "Shopper-0002@example.com"}]}])
    for _ in range(2):
        refused = http.post(send, json=other, headers=AUTH)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "personalizations.0.to.0.email"
    assert http.delete(forced).status_code == 204
    assert http.post(send, json=other, headers=AUTH).status_code == 202
    statuses = [
        e["status"] for e in http.get(f"{simulator_url}/_sim/log", params={"kind": "send"}).json()["events"]
    ]
    assert statuses == [429, 429, 202, 400, 400, 202]
