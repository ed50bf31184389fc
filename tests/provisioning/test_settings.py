"""Settings: defaults, environment parsing and validation (provisioning/settings.py)."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest

from provisioning.errors import SettingsError
from provisioning.settings import Settings, settings_table


def test_defaults_match_the_documented_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.domain == "stores.localhost"
    assert settings.max_stores_per_user == 10
    assert settings.max_concurrent_provisioning == 3
    assert settings.provisioning_timeout_seconds == 900
    assert settings.setup_deadline_seconds == 1800
    assert settings.storage_class == ""
    assert settings.ingress_class == "nginx"
    assert settings.database_url == f"sqlite:///{tmp_path / 'store_platform.db'}"
    assert settings.is_sqlite
    assert settings.tls_enabled is False
    assert settings.run_reconciler is True
    assert settings.url_scheme == "http"


def test_from_env_does_not_read_os_environ_when_given_a_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAIN", "from-os-environ.example")
    assert Settings.from_env({}).domain == "stores.localhost"
    assert Settings.from_env().domain == "from-os-environ.example"


def test_store_url() -> None:
    settings = Settings.from_env({"DOMAIN": "shops.example.com", "STORE_URL_SCHEME": "https"})
    assert settings.store_url("my-shop") == "https://my-shop.shops.example.com"


def test_env_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env(
        {
            "MAX_STORES_PER_USER": "4",
            "MAX_CONCURRENT_PROVISIONING": " 7 ",
            "PROVISIONING_TIMEOUT_SECONDS": "900",
            "RECONCILE_INTERVAL_SECONDS": "0.5",
            "TLS_ENABLED": "true",
            "RUN_RECONCILER": "off",
            "STORAGE_CLASS": "local-path",
            "INGRESS_CLASS": "traefik",
            "DATABASE_URL": "postgresql://u:p@db/store",
        }
    )
    assert settings.max_stores_per_user == 4
    assert settings.max_concurrent_provisioning == 7
    assert settings.provisioning_timeout_seconds == 900
    assert settings.reconcile_interval_seconds == 0.5
    assert isinstance(settings.reconcile_interval_seconds, float)
    assert settings.tls_enabled is True
    assert settings.run_reconciler is False
    assert settings.storage_class == "local-path"
    assert settings.ingress_class == "traefik"
    assert settings.database_url == "postgresql://u:p@db/store"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        (" True ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_bool_parsing(raw: str, expected: bool) -> None:
    assert Settings.from_env({"TLS_ENABLED": raw}).tls_enabled is expected


def test_empty_non_string_values_fall_back_to_the_default() -> None:
    settings = Settings.from_env({"MAX_STORES_PER_USER": "", "TLS_ENABLED": "", "RECONCILE_INTERVAL_SECONDS": ""})
    assert settings.max_stores_per_user == 10
    assert settings.tls_enabled is False
    assert settings.reconcile_interval_seconds == 2.0


def test_string_values_are_taken_verbatim() -> None:
    settings = Settings.from_env({"STORAGE_CLASS": "fast-ssd", "CERT_MANAGER_CLUSTER_ISSUER": "letsencrypt"})
    assert settings.storage_class == "fast-ssd"
    assert settings.cert_manager_issuer == "letsencrypt"
    assert Settings.from_env({"STORAGE_CLASS": ""}).storage_class == ""


@pytest.mark.parametrize(
    ("env", "raw"),
    [
        ("MAX_STORES_PER_USER", "ten"),
        ("MAX_STORES_PER_USER", "2.5"),
        ("MAX_CONCURRENT_PROVISIONING", "3x"),
        ("PROVISIONING_TIMEOUT_SECONDS", "10m"),
        ("RECONCILE_INTERVAL_SECONDS", "fast"),
        ("TLS_ENABLED", "maybe"),
        ("RUN_RECONCILER", "2"),
        ("STORE_QUOTA_PODS", "many"),
    ],
)
def test_bad_values_raise_settings_error_naming_the_variable(env: str, raw: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({env: raw})
    assert env in str(excinfo.value)
    assert repr(raw) in str(excinfo.value)


@pytest.mark.parametrize(
    "env",
    [
        "MAX_STORES_PER_USER",
        "MAX_CREATES_PER_HOUR",
        "MAX_CONCURRENT_PROVISIONING",
        "PROVISIONING_TIMEOUT_SECONDS",
        "MAX_FAILED_LOGINS",
    ],
)
@pytest.mark.parametrize("value", ["0", "-1"])
def test_validate_refuses_limits_below_one(env: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{env} must be at least 1"):
        Settings.from_env({env: value})


def test_validate_refuses_zero_limits_passed_as_overrides() -> None:
    with pytest.raises(SettingsError, match="MAX_STORES_PER_USER"):
        Settings.from_env({}, max_stores_per_user=0)
    with pytest.raises(SettingsError, match="MAX_CONCURRENT_PROVISIONING"):
        Settings(max_concurrent_provisioning=0).validate()


def test_empty_values_mean_the_default() -> None:
    settings = Settings.from_env({"STORE_URL_SCHEME": "", "DATABASE_URL": "", "DOMAIN": "", "MAX_STORES_PER_USER": ""})
    assert settings.url_scheme == "http"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.domain == "stores.localhost"
    assert settings.max_stores_per_user == 10


@pytest.mark.parametrize("scheme", ["ftp", "HTTP"])
def test_validate_refuses_other_url_schemes(scheme: str) -> None:
    with pytest.raises(SettingsError, match="STORE_URL_SCHEME"):
        Settings.from_env({"STORE_URL_SCHEME": scheme})


@pytest.mark.parametrize("domain", [".stores.localhost", "stores local"])
def test_validate_refuses_bad_domains(domain: str) -> None:
    with pytest.raises(SettingsError, match="DOMAIN"):
        Settings.from_env({"DOMAIN": domain})


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.domain = "other"  # type: ignore[misc]


def test_settings_table_lists_every_env_var() -> None:
    table = settings_table()
    env_names = [f.metadata["env"] for f in fields(Settings)]
    assert len(env_names) == len(set(env_names)), "two settings share an env var"
    for env in env_names:
        assert f"| `{env}` |" in table
    # Header, separator and one row per setting.
    assert len(table.splitlines()) == len(env_names) + 2


def test_settings_table_hides_secrets_and_the_machine_specific_database_path() -> None:
    table = settings_table()
    rows = {line.split("|")[1].strip().strip("`"): line for line in table.splitlines()[2:]}
    assert "(generated)" in rows["ADMIN_PASSWORD"]
    assert "(generated)" in rows["COOKIE_KEY"]
    assert "sqlite:///./store_platform.db" in rows["DATABASE_URL"]
    assert os.getcwd() not in table
    assert "'stores.localhost'" in rows["DOMAIN"]
    assert "`10`" in rows["MAX_STORES_PER_USER"]


def test_short_cookie_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="COOKIE_KEY must be at least 32"):
        Settings.from_env({"COOKIE_KEY": "short"})
    assert Settings.from_env({"COOKIE_KEY": "k" * 32}).cookie_key == "k" * 32
