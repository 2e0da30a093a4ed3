from pathlib import Path

import pytest
from pydantic import ValidationError

from backinstock.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("BACKINSTOCK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_put_every_file_under_data(tmp_path):
    settings = load_settings()
    assert settings.warehouse == tmp_path / "data" / "warehouse.duckdb"
    assert settings.operational_store_url == f"sqlite:///{tmp_path / 'data' / 'backinstock.db'}"
    assert settings.marts == tmp_path / "data" / "marts"


def test_toml_file_then_environment_then_arguments(tmp_path, monkeypatch):
    config = tmp_path / "settings.toml"
    config.write_text(
        'storefront_url = "https://from-toml"\n[detection]\ncooldown_hours = 12\n'
        '[[shops]]\ndomain = "Shop-One.myshopify.com"\naccess_token = "shpat_1"\n'
    )
    monkeypatch.setenv("BACKINSTOCK_DETECTION__COOLDOWN_HOURS", "6")
    settings = load_settings(config)
    assert settings.storefront_url == "https://from-toml"
    assert settings.detection.cooldown_hours == 6
    assert settings.shop("shop-one.myshopify.com").access_token.get_secret_value() == "shpat_1"
    assert load_settings(config, storefront_url="https://argument").storefront_url == "https://argument"


def test_config_file_named_by_environment(tmp_path, monkeypatch):
    config = tmp_path / "elsewhere.toml"
    config.write_text('data_dir = "/srv/bis"\n')
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(config))
    assert load_settings().data_dir == Path("/srv/bis")


def test_graphql_url_is_versioned_and_overridable():
    other = {"domain": "b.myshopify.com", "admin_api_url": "http://127.0.0.1:9/", "api_version": "2026-07"}
    settings = load_settings(shops=[{"domain": "a.myshopify.com"}, other])
    assert (
        settings.shop("a.myshopify.com").graphql_url
        == "https://a.myshopify.com/admin/api/2026-10/graphql.json"
    )
    assert settings.shop("b.myshopify.com").graphql_url == "http://127.0.0.1:9/admin/api/2026-07/graphql.json"


def test_invalid_values_are_refused_with_the_field_named():
    with pytest.raises(ValidationError, match="threshold"):
        load_settings(detection={"threshold": 0})


def test_signing_key_is_generated_once_and_kept(tmp_path):
    first = load_settings().signing_key
    assert first == load_settings().signing_key
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
