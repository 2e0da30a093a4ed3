"""Sign-in, sessions, CSRF and security headers of the console, against a real server (and Chromium)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import ADMIN, PASSWORD, csrf_token, sign_in
from seed_rows import NOW

from backinstock.store import audit
from dashboards.auth import SESSION_COOKIE, SIGN_IN_COOKIE

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


@pytest.mark.browser
def test_sign_in_and_out_in_the_browser(console, page):
    page.goto(console.url + "/")
    assert page.url.startswith(console.url + "/sign-in")  # a page asks who you are first
    page.fill("input[name=name]", ADMIN)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text().startswith("That name and password do not match")
    sign_in(page, console)
    assert page.locator(".who").inner_text() == ADMIN
    assert page.locator("h1").inner_text() == "Console"
    page.click("text=Sign out")
    page.wait_for_url(console.url + "/sign-in")
    page.goto(console.url + "/")
    assert page.url.startswith(console.url + "/sign-in")
    assert page.blocked == []  # nothing the Content-Security-Policy had to block
    with console.engine.connect() as connection:
        signed = audit.entries(connection, action="user.sign_in")
    assert [(row["actor"], row["details"]["source"]) for row in signed] == [(ADMIN, "127.0.0.1")]


@pytest.mark.browser
def test_a_session_token_planted_before_sign_in_is_never_signed_in(console, page):
    """Session fixation: whatever cookies the browser held before, signing in issues a new token, and the
    planted values give their holder nothing."""
    planted = {"name": SESSION_COOKIE, "value": "planted-by-mallory", "url": console.url}
    page.context.add_cookies([planted, {**planted, "name": SIGN_IN_COOKIE, "value": "m" * 43}])
    sign_in(page, console)
    issued = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert issued[SESSION_COOKIE]["value"] not in ("planted-by-mallory", "m" * 43)
    assert issued[SESSION_COOKIE]["httpOnly"] and issued[SESSION_COOKIE]["sameSite"] == "Strict"
    with console.client() as mallory:
        mallory.cookies.set(SESSION_COOKIE, "planted-by-mallory")
        mallory.cookies.set(SIGN_IN_COOKIE, "m" * 43)
        assert mallory.get("/").status_code == 303  # still sent to the sign-in form


def test_signing_in_again_rotates_the_session_and_ends_the_old_one(console):
    with console.signed_in(ADMIN) as browser:
        first = browser.cookies[SESSION_COOKIE]
        token = csrf_token(browser.get("/").text)
        again = browser.post("/sign-in", data={"name": ADMIN, "password": PASSWORD, "csrf_token": token})
        assert again.status_code == 303
        second = browser.cookies[SESSION_COOKIE]
        assert second != first and browser.get("/").status_code == 200
    with console.client() as stale:
        stale.cookies.set(SESSION_COOKIE, first)
        assert stale.get("/").status_code == 303


def test_forms_without_this_sessions_csrf_token_are_refused(console):
    with console.signed_in(ADMIN) as browser:
        token = csrf_token(browser.get("/").text)
        assert browser.post("/sign-out", data={}).status_code == 403
        assert browser.post("/sign-out", data={"csrf_token": "0" * 43}).status_code == 403
        cross_site = browser.post(
            "/sign-out", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        assert "did not come from this console" in cross_site.text
        assert browser.get("/").status_code == 200  # none of those signed anyone out
        with console.signed_in(ADMIN) as other_session:  # a token is bound to its own session
            assert other_session.post("/sign-out", data={"csrf_token": token}).status_code == 403
        assert browser.post("/sign-out", data={"csrf_token": token}).status_code == 303
        assert browser.get("/").status_code == 303


def test_the_sign_in_form_needs_its_own_cookie_bound_token(console):
    with console.client() as first, console.client() as second:
        token = csrf_token(first.get("/sign-in").text)
        second.get("/sign-in")  # a cookie of its own, so its token differs
        form = {"name": ADMIN, "password": PASSWORD, "csrf_token": token}
        assert second.post("/sign-in", data=form).status_code == 403
        with console.client() as stranger:
            assert stranger.post("/sign-in", data=form).status_code == 403
        assert first.post("/sign-in", data=form).status_code == 303


def test_every_page_carries_security_headers_and_no_inline_script(console):
    with console.signed_in(ADMIN) as browser:
        for path in ("/", "/sign-in", "/no-such-page"):
            answer = browser.get(path)
            assert "script-src 'self';" in answer.headers["content-security-policy"]
            assert (
                "'unsafe-inline'"
                not in answer.headers["content-security-policy"].split("script-src")[1].split(";")[0]
            )
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "SAMEORIGIN"
            assert answer.headers["cache-control"] == "no-store"
            assert not INLINE_SCRIPT.search(answer.text), path


def test_bad_sign_in_input_is_a_400_with_a_reason(console):
    with console.client() as browser:
        token = csrf_token(browser.get("/sign-in").text)
        answer = browser.post("/sign-in", data={"name": ADMIN, "csrf_token": token})
        assert answer.status_code == 400 and "password: Field required" in answer.text
        long_name = browser.post(
            "/sign-in", data={"name": "a" * 300, "password": PASSWORD, "csrf_token": token}
        )
        assert long_name.status_code == 400


def test_repeated_failed_sign_ins_are_refused_for_a_while(console):
    with console.client() as guesser:
        token = csrf_token(guesser.get("/sign-in").text)
        for attempt in range(5):
            form = {"name": ADMIN, "password": f"guess {attempt}", "csrf_token": token}
            assert guesser.post("/sign-in", data=form).status_code == 400
        right = {"name": ADMIN, "password": PASSWORD, "csrf_token": token}
        refused = guesser.post("/sign-in", data=right)
        assert refused.status_code == 429 and "too many failed sign-ins" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
        console.clock.set(NOW + timedelta(minutes=16))
        assert guesser.post("/sign-in", data=right).status_code == 303


def test_a_body_too_large_or_of_unknown_length_is_refused_before_it_is_read(console):
    with console.signed_in(ADMIN) as browser:
        token = csrf_token(browser.get("/").text)
        huge = browser.post("/sign-out", data={"csrf_token": token, "pad": "x" * 1_100_000})
        assert huge.status_code == 413
        chunked = browser.post("/sign-out", content=iter([f"csrf_token={token}".encode()]))
        assert chunked.status_code == 411
        assert browser.get("/").status_code == 200  # still signed in
