"""Console users and sessions in the store (both dialects): argon2 hashes, permissions checked, every change
audited, sessions that rotate, expire and end when a user is disabled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from seed_rows import NOW

from backinstock.store import audit, users
from backinstock.store.tables import user_sessions

PASSWORD = "correct horse battery staple"
HOUR = timedelta(hours=1)


def _add(connection, name="ops", permissions=("view_queue", "replay")):
    return users.add_user(
        connection, name=name, password=PASSWORD, permissions=permissions, actor="cli:root", now=NOW
    )


def test_a_user_is_stored_with_an_argon2_hash_and_audited(store_engine):
    with store_engine.begin() as connection:
        _add(connection, permissions=["replay", "view_queue", "replay"])
        stored = users.get_user(connection, "ops")
        logged = audit.entries(connection, action="user.add")
    assert stored["password_hash"].startswith("$argon2id$") and PASSWORD not in stored["password_hash"]
    assert stored["permissions"] == ["replay", "view_queue"]
    assert [(row["actor"], row["target_id"]) for row in logged] == [("cli:root", "ops")]
    assert logged[0]["details"]["after"] == {"permissions": ["replay", "view_queue"]}


@pytest.mark.parametrize(
    ("name", "password", "permissions", "reason"),
    [
        ("ops", "short", ["replay"], "12 to 1024 characters"),
        ("", PASSWORD, ["replay"], "a user name is"),
        ("<script>", PASSWORD, ["replay"], "a user name is"),
        ("ops", PASSWORD, ["root"], "unknown permission root"),
    ],
)
def test_bad_users_are_refused_with_a_reason_and_nothing_stored(
    store_engine, name, password, permissions, reason
):
    with store_engine.begin() as connection, pytest.raises(users.UserError, match=reason):
        users.add_user(
            connection, name=name, password=password, permissions=permissions, actor="cli:root", now=NOW
        )
    with store_engine.connect() as connection:
        assert users.all_users(connection) == [] and audit.entries(connection) == []


def test_a_second_user_of_the_same_name_is_refused(store_engine):
    with store_engine.begin() as connection:
        _add(connection)
    with store_engine.begin() as connection, pytest.raises(users.UserError, match="exists"):
        _add(connection)


def test_authenticate_needs_the_right_password_and_an_enabled_user(store_engine):
    with store_engine.begin() as connection:
        _add(connection)
        assert users.authenticate(connection, "ops", PASSWORD)["name"] == "ops"
        assert users.authenticate(connection, "ops", PASSWORD + "!") is None
        assert users.authenticate(connection, "nobody", PASSWORD) is None
        assert users.authenticate(connection, "ops", "x" * 5000) is None
        users.set_disabled(
            connection, name="ops", disabled=True, actor="admin", now=NOW, source="203.0.113.9"
        )
        assert users.authenticate(connection, "ops", PASSWORD) is None


def test_permissions_are_replaced_with_before_and_after_in_the_audit_log(store_engine):
    with store_engine.begin() as connection:
        _add(connection)
        granted = users.set_permissions(
            connection, name="ops", permissions=["edit_rules"], actor="admin", now=NOW, reason="moved team"
        )
        changed = audit.entries(connection, action="user.permissions")[0]
    assert granted == ["edit_rules"]
    assert changed["details"]["before"] == {"permissions": ["replay", "view_queue"]}
    assert changed["details"]["after"] == {"permissions": ["edit_rules"]}
    assert changed["details"]["reason"] == "moved team"


def test_sessions_rotate_expire_and_end_when_the_user_is_disabled(store_engine):
    with store_engine.begin() as connection:
        user_id = _add(connection)
        first = users.start_session(connection, user_id, now=NOW, lifetime=HOUR, ip="203.0.113.9")
        seen = users.session_user(connection, first, NOW)
        assert seen["name"] == "ops" and seen["permissions"] == ["replay", "view_queue"]
        assert len(seen["csrf_token"]) >= 32
        # The token itself is never stored, only its digest.
        assert first not in {row.token_hash for row in connection.execute(user_sessions.select())}
        second = users.start_session(connection, user_id, now=NOW, lifetime=HOUR, replacing=first)
        assert second != first
        assert users.session_user(connection, first, NOW) is None
        assert users.session_user(connection, second, NOW)["csrf_token"] != seen["csrf_token"]
        assert users.session_user(connection, second, NOW + HOUR) is None
        assert users.session_user(connection, "planted-by-someone", NOW) is None
        users.set_disabled(connection, name="ops", disabled=True, actor="admin", now=NOW)
        assert users.session_user(connection, second, NOW) is None
        users.set_disabled(connection, name="ops", disabled=False, actor="admin", now=NOW)
        assert users.session_user(connection, second, NOW) is None  # ended, not only hidden
