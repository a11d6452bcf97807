"""Brands, regions and their URLs (through the one endpoint rule), and the configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringvault.portability.config import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    REDIRECT_URI_ENV,
    ClientCredentials,
    PortabilityConfig,
    PortabilityConfigError,
)
from ringvault.portability.endpoints import BRANDS, REGIONS, endpoints_for

EXPECTED_INTAKE = {
    ("ring", "eu-west-1"): "intake.eu-west-1.portability.data.ring.com",
    ("ring", "us-east-1"): "intake.us-east-1.portability.data.ring.com",
    ("ring", "us-west-2"): "intake.us-west-2.portability.data.ring.com",
    ("blink", "eu-west-1"): "intake.eu-west-1.portability.data.blink.com",
    ("blink", "us-east-1"): "intake.us-east-1.portability.data.blink.com",
    ("blink", "us-west-2"): "intake.us-west-2.portability.data.blink.com",
}


def test_every_brand_and_region_has_the_documented_hosts() -> None:
    assert {(b, r) for b in BRANDS for r in REGIONS} == set(EXPECTED_INTAKE)
    for (brand, region), host in EXPECTED_INTAKE.items():
        ends = endpoints_for(brand, region)
        assert ends.intake_url == f"https://{host}"
        authorize_host = "oauth.ring.com" if brand == "ring" else "api.oauth.blink.com"
        assert ends.authorize_url == f"https://{authorize_host}/v2/authorize"
        assert ends.token_url == "https://oauth.ring.com/oauth/token"


def test_operation_urls() -> None:
    ends = endpoints_for("ring", "us-east-1")
    assert ends.data_queries_url() == "https://intake.us-east-1.portability.data.ring.com/data-portability/data-queries"
    assert ends.records_url("q-1").endswith("/data-portability/data-queries/q-1/records")
    for bad in ("", " ", "a/b", "..", "q?x"):
        with pytest.raises(ValueError):
            ends.records_url(bad)


def test_the_cloud_url_rule_applies_to_every_url() -> None:
    ends = endpoints_for("blink", "us-west-2", cloud_url="http://127.0.0.1:8765/")
    assert ends.authorize_url == "http://127.0.0.1:8765/api.oauth.blink.com/v2/authorize"
    assert ends.token_url == "http://127.0.0.1:8765/oauth.ring.com/oauth/token"
    assert ends.intake_url == "http://127.0.0.1:8765/intake.us-west-2.portability.data.blink.com"
    assert ends.resolve("https://bucket.s3.amazonaws.com/k?X-Amz-Signature=1") == (
        "http://127.0.0.1:8765/bucket.s3.amazonaws.com/k?X-Amz-Signature=1"
    )
    moved = ends.in_region("eu-west-1")
    assert moved.intake_url == "http://127.0.0.1:8765/intake.eu-west-1.portability.data.blink.com"
    assert moved.token_url == ends.token_url


@pytest.mark.parametrize(("brand", "region"), [("nest", "eu-west-1"), ("ring", "eu-central-1")])
def test_unknown_brand_or_region_names_the_choices(brand: str, region: str) -> None:
    with pytest.raises(ValueError, match="use one of"):
        endpoints_for(brand, region)


def test_upper_case_names_are_accepted() -> None:
    assert endpoints_for("RING", "US-EAST-1").region == "us-east-1"


def test_config_from_the_environment(tmp_path: Path) -> None:
    env = {
        CLIENT_ID_ENV: "client-1",
        CLIENT_SECRET_ENV: "secret-1",
        REDIRECT_URI_ENV: "https://app.example.org/cb",
        "RINGVAULT_PORTABILITY_BRAND": "blink",
        "RINGVAULT_PORTABILITY_REGION": "us-west-2",
        "RINGVAULT_PORTABILITY_TOKEN_DIR": str(tmp_path / "tokens"),
        "RINGVAULT_CLOUD_URL": "http://127.0.0.1:8765",
    }
    config = PortabilityConfig.from_env(env)
    assert config.credentials == ClientCredentials("client-1", "secret-1", "https://app.example.org/cb")
    assert (config.brand, config.region, config.token_dir) == ("blink", "us-west-2", tmp_path / "tokens")
    assert config.endpoints.intake_url == "http://127.0.0.1:8765/intake.us-west-2.portability.data.blink.com"
    assert "secret-1" not in repr(config)
    overridden = PortabilityConfig.from_env(env, brand="ring", region="eu-west-1")
    assert (overridden.brand, overridden.region) == ("ring", "eu-west-1")


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RINGVAULT_HOME", str(tmp_path))
    with pytest.raises(PortabilityConfigError) as caught:
        PortabilityConfig.from_env({CLIENT_ID_ENV: "client-1"}, require_redirect_uri=True)
    assert CLIENT_SECRET_ENV in str(caught.value) and REDIRECT_URI_ENV in str(caught.value)
    config = PortabilityConfig.from_env({CLIENT_ID_ENV: "c", CLIENT_SECRET_ENV: "s"})
    assert config.credentials.redirect_uri is None
    assert config.token_dir == tmp_path / "portability"


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(PortabilityConfigError, match="unknown region"):
        PortabilityConfig.from_env({CLIENT_ID_ENV: "c", CLIENT_SECRET_ENV: "s", "RINGVAULT_PORTABILITY_REGION": "mars"})
    with pytest.raises(PortabilityConfigError, match="redirect URI"):
        ClientCredentials("c", "s", "app.example.org/cb")
    with pytest.raises(PortabilityConfigError, match="fragment"):
        ClientCredentials("c", "s", "https://app.example.org/cb#x")
