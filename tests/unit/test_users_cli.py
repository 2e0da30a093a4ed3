"""`backinstock user` against a SQLite store: add with a password from stdin, list, permissions, disable;
refusals exit 2 with the reason."""

from __future__ import annotations

import io

from backinstock.cli import main
from backinstock.store import audit, users
from backinstock.store.engine import create_store_engine

PASSWORD = "correct horse battery staple"


def test_user_add_list_permissions_and_disable(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKINSTOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "ops", "--permission", "view_queue", "--permission", "replay",
                 "--password-stdin", "--actor", "cli:root"]) == 0  # fmt: skip
    assert "added ops: replay, view_queue" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "weak", "--all-permissions", "--password-stdin"]) == 2
    assert "a password has 12 to 1024 characters" in capsys.readouterr().err
    assert main(["user", "permissions", "ops", "--permission", "edit_rules", "--reason", "moved"]) == 0
    assert main(["user", "disable", "nobody"]) == 2
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert main(["user", "disable", "ops"]) == 0
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    assert "ops" in (listed := capsys.readouterr().out) and "edit_rules (disabled)" in listed
    engine = create_store_engine(f"sqlite:///{(tmp_path / 'data' / 'backinstock.db').resolve()}")
    with engine.connect() as connection:
        assert users.authenticate(connection, "ops", PASSWORD) is None  # disabled
        actions = [row["action"] for row in audit.entries(connection)]
        assert [row["actor"] for row in audit.entries(connection)][-1] == "cli:root"
    assert actions == ["user.disable", "user.permissions", "user.add"]
