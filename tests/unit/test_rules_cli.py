"""`backinstock rules` and `backinstock targets release` against a SQLite store: what an operator types,
what is stored, what is printed, and a refused value with its reason and exit code 2."""

from __future__ import annotations

import sqlalchemy as sa

from backinstock.cli import main
from backinstock.store import audit
from backinstock.store import releases as stored_releases
from backinstock.store import rules as stored
from backinstock.store.engine import create_store_engine

SHOP = "demo.myshopify.com"


def _store(tmp_path) -> sa.Engine:
    return create_store_engine(f"sqlite:///{(tmp_path / 'data' / 'backinstock.db').resolve()}")


def test_set_list_clear_and_release_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKINSTOCK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BACKINSTOCK_DETECTION__COOLDOWN_HOURS", "36")
    assert main(["rules", "set", "--shop", SHOP, "threshold", "3", "--actor", "ops"]) == 0
    assert (
        main(["rules", "set", "--shop", SHOP, "--scope", "product", "--id", "501", "release", "manual"]) == 0
    )
    assert main(["rules", "set", "--shop", SHOP, "--scope", "variant", "--id", "601", "counted_locations",
                 '["gid://shopify/Location/7"]', "--reason", "POS stock is for walk-ins"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["rules", "list", "--shop", SHOP, "--product", "501", "--variant", "601"]) == 0
    effective = capsys.readouterr().out
    assert "threshold               3" in effective and "(shop)" in effective
    assert "release                 manual" in effective and "(product)" in effective
    assert "cooldown_hours          36" in effective and "(default)" in effective
    assert '["gid://shopify/Location/7"]' in effective

    assert main(["rules", "set", "--shop", SHOP, "debounce_minutes", "-4"]) == 2
    assert "debounce_minutes must be a whole number from 0 to 1440" in capsys.readouterr().err

    assert main(["rules", "clear", "--shop", SHOP, "threshold"]) == 0
    assert main(["targets", "release", "--shop", SHOP, "--product", "501", "--reason", "counted"]) == 0
    assert "release 1" in capsys.readouterr().out

    with _store(tmp_path).connect() as connection:
        left = {(row["scope"], row["name"]): row["value"] for row in stored.list_rules(connection)}
        history = stored.rule_history(connection)
        released = stored_releases.list_releases(connection)
        logged = audit.entries(connection)
    assert left == {
        ("product", "release"): "manual",
        ("variant", "counted_locations"): ["gid://shopify/Location/7"],
    }
    assert [change["name"] for change in history] == [
        "threshold",
        "release",
        "counted_locations",
        "threshold",
    ]
    assert history[0]["changed_by"] == "ops" and history[-1]["value"] is None
    assert released[0]["product_id"] == "gid://shopify/Product/501"
    assert {entry["details"]["source"] for entry in logged} == {"cli"}
    assert [entry["action"] for entry in logged] == [
        "targets.release", "rule.clear", "rule.set", "rule.set", "rule.set",
    ]  # fmt: skip
