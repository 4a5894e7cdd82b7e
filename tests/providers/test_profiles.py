from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.errors import UnknownProviderError, UsageError
from passerelle.providers import (
    check_requirements,
    infer_provider,
    load_profiles,
    parse_requirements,
    profile_named,
)

REQUIRED = {"azure", "scaleway", "ovhcloud", "aws", "ceph", "local"}


def test_shipped_profiles_are_complete() -> None:
    profiles = load_profiles(env={})
    assert set(profiles) >= REQUIRED
    for p in profiles.values():
        assert p.regions, p.name
        assert p.prices.currency in ("EUR", "USD")
        assert p.limits.max_parts > 0 and p.limits.min_part_size <= p.limits.max_part_size
    assert {"francecentral", "westeurope"} <= set(profiles["azure"].regions)
    assert {"fr-par", "nl-ams", "pl-waw"} <= set(profiles["scaleway"].regions)
    assert "US CLOUD Act" in profiles["azure"].non_eu_law_exposure
    assert profiles["scaleway"].prices.egress_per_gb == 0.01
    assert profiles["azure"].prices.egress_per_gb == 0.087


def test_user_profile_overrides_and_adds(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        'name = "scaleway"\ndisplay_name = "Scaleway (our contract)"\nsecnumcloud = true\n'
        'certifications = ["HDS"]\n[prices]\ncurrency = "EUR"\n'
        '[regions.fr-par]\nlocation = "Paris"\ncountry = "FR"\neea = true\ncertifications = ["HDS"]\n'
    )
    profiles = load_profiles(env={"PASSERELLE_PROVIDERS_PATH": str(tmp_path)})
    assert profiles["scaleway"].display_name == "Scaleway (our contract)"
    assert profiles["scaleway"].secnumcloud
    assert check_requirements(profiles["scaleway"], "fr-par", ["hds", "secnumcloud", "eea"]) == []


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(UnknownProviderError, match=r"known profiles: .*scaleway"):
        profile_named("nimbus")


def test_requirements_name_the_failed_rule() -> None:
    azure = profile_named("azure")
    failures = check_requirements(azure, "eastus", ["hds", "eea", "eu-jurisdiction", "secnumcloud"])
    assert [f.requirement for f in failures] == ["hds", "eea", "eu-jurisdiction", "secnumcloud"]
    assert "CLOUD Act" in failures[2].reason
    scw = profile_named("scaleway")
    assert check_requirements(scw, "fr-par", ["hds", "eea", "eu-jurisdiction"]) == []
    assert [f.requirement for f in check_requirements(scw, "nl-ams", ["hds"])] == ["hds"]


def test_parse_requirements() -> None:
    assert parse_requirements("hds, eea,hds") == ("hds", "eea")
    with pytest.raises(UsageError, match="Unknown requirement 'gdpr'"):
        parse_requirements("gdpr")


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://s3.fr-par.scw.cloud", ("scaleway", "fr-par")),
        ("https://hdh.blob.core.windows.net", ("azure", None)),
        ("https://s3.eu-west-3.amazonaws.com", ("aws", "eu-west-3")),
        ("https://s3.gra.io.cloud.ovh.net", ("ovhcloud", "gra")),
        ("http://127.0.0.1:7480", (None, None)),
        (None, (None, None)),
    ],
)
def test_infer_provider(endpoint: str | None, expected: tuple[str | None, str | None]) -> None:
    assert infer_provider(endpoint) == expected
