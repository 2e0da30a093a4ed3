"""Role x action matrix: for each permission, a user holding every other one gets 403 on every page and
action that needs it, and nothing is stored; a user holding only that permission gets through."""

from __future__ import annotations

import pytest
from conftest import csrf_token
from seed_rows import SHOP

from backinstock.store.tables import PERMISSIONS, metadata

PAGES = {
    "/queue": "view_queue",
    "/audit": "view_queue",
    "/trace": "view_queue",
    "/rules": "view_queue",
    "/templates": "edit_templates",
    "/users": "manage_users",
    "/kpis": "view_kpis",
    "/waiting-demand": "view_kpis",
}
ACTIONS = [
    ("/queue/replay", "replay", {"everything": "yes", "reason": "matrix"}),
    ("/lanes/email/resume", "replay", {"reason": "matrix"}),
    ("/rules/set", "edit_rules", {"shop": SHOP, "name": "threshold", "value": "3"}),
    ("/rules/clear", "edit_rules", {"shop": SHOP, "name": "threshold"}),
    ("/releases", "edit_rules", {"shop": SHOP, "product_id": "1001"}),
    ("/templates/preview", "edit_templates", {"channel": "sms", "body_text": "{{ product_title }}"}),
    (
        "/templates/save",
        "edit_templates",
        {"shop": SHOP, "channel": "sms", "locale": "en", "body_text": "{{ product_title }} is back"},
    ),
    (
        "/templates/publish",
        "edit_templates",
        {"shop": SHOP, "channel": "sms", "locale": "en", "version": "1"},
    ),
    ("/users", "manage_users", {"name": "newbie", "password": "a long enough password"}),
    ("/users/admin/permissions", "manage_users", {"permission": "view_kpis"}),
    ("/users/admin/disabled", "manage_users", {"disabled": "yes"}),
]


def _stored(engine) -> dict[str, list]:
    """Every row of the store but sessions and sign-ins (the matrix signs its users in)."""
    with engine.connect() as connection:
        rows = {table.name: connection.execute(table.select()).all() for table in metadata.sorted_tables}
    rows.pop("user_sessions")
    rows["audit_log"] = [row for row in rows["audit_log"] if row.action != "user.sign_in"]
    return rows


def test_every_permission_is_needed_for_what_it_guards(console):
    needed = {permission for permission in PAGES.values()} | {action[1] for action in ACTIONS}
    for permission in needed:
        console.add_user(f"without-{permission}", [other for other in PERMISSIONS if other != permission])
        console.add_user(f"only-{permission}", [permission])
    before = _stored(console.engine)
    for permission in sorted(needed):
        with console.signed_in(f"without-{permission}") as lacking:
            token = csrf_token(lacking.get("/").text)
            for path, guard in PAGES.items():
                if guard == permission:
                    answer = lacking.get(path)
                    assert answer.status_code == 403, (permission, path)
                    assert f"does not have the {permission} permission" in answer.text
            for path, guard, form in ACTIONS:
                if guard == permission:
                    answer = lacking.post(path, data={**form, "csrf_token": token})
                    assert answer.status_code == 403, (permission, path)
    assert _stored(console.engine) == before  # refused actions stored nothing
    for permission in sorted(needed):
        with console.signed_in(f"only-{permission}") as holder:
            token = csrf_token(holder.get("/").text)
            for path, guard in PAGES.items():
                if guard == permission:
                    assert holder.get(path).status_code == 200, (permission, path)
            for path, guard, form in ACTIONS:
                if guard == permission:
                    answer = holder.post(path, data={**form, "csrf_token": token})
                    assert answer.status_code in (200, 303, 400, 404), (permission, path, answer.status_code)


@pytest.mark.parametrize("path", [*PAGES, "/"])
def test_pages_send_strangers_to_the_sign_in_form(console, path):
    with console.client() as stranger:
        answer = stranger.get(path)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in?next=")


def test_the_navigation_shows_only_the_pages_a_user_may_open(console):
    console.add_user("marketing", ["view_kpis"])
    console.add_user("operator", ["view_queue", "replay"])
    with console.signed_in("operator") as operator:
        home = operator.get("/").text
    assert 'href="/queue"' in home and 'href="/audit"' in home and 'href="/rules"' in home
    assert 'href="/templates"' not in home and 'href="/users"' not in home
    with console.signed_in("marketing") as marketing:
        home = marketing.get("/").text
    assert 'href="/queue"' not in home and 'href="/users"' not in home
