"""Attacks on the placement decision itself (pure): a remote whose region lies or is missing."""

from __future__ import annotations

import pytest

from passerelle.providers import load_profiles
from passerelle.sovereignty.policy import ClassRule, PlacementPolicy, decide_placement

HDS_ONLY = PlacementPolicy((("health-pseudonymized", ClassRule(("hds",), False)),), "hds only")
HDS_EU = PlacementPolicy(
    (("health-pseudonymized", ClassRule(("hds", "eu-jurisdiction"), False)),), "hds, eu law"
)


@pytest.mark.parametrize(
    ("provider", "region"),
    [
        ("scaleway", None),  # no region in [remotes.x] and an endpoint that names none
        ("scaleway", "xx-evil"),  # a region the profile does not list
        ("scaleway", "FR-PAR"),  # odd casing of the only HDS region
        ("scaleway", "fr-par "),  # a trailing space
        ("aws", None),
        ("aws", "mars-1"),
        ("ovhcloud", None),
        ("azure", "unknown"),
    ],
)
def test_hds_is_not_proven_by_a_region_the_profile_does_not_know(
    provider: str, region: str | None
) -> None:
    # the profile-level certifications of a provider say "HDS somewhere"; only a region the
    # profile lists as HDS-certified proves it (this got through: unknown region -> profile)
    profile = load_profiles().get(provider)
    for policy in (HDS_ONLY, HDS_EU):
        decision = decide_placement(policy, "health-pseudonymized", profile, region, False)
        assert not decision.allowed, (provider, region)
        assert decision.rule == "health-pseudonymized.hds"
        assert "unknown" in decision.message or "no HDS" in decision.message


def test_the_certified_region_still_passes() -> None:
    scaleway = load_profiles().get("scaleway")
    assert decide_placement(HDS_EU, "health-pseudonymized", scaleway, "fr-par", False)
    assert not decide_placement(HDS_ONLY, "health-pseudonymized", scaleway, "nl-ams", False)


def test_a_provider_without_a_profile_proves_nothing() -> None:
    decision = decide_placement(
        HDS_ONLY, "health-pseudonymized", None, "fr-par", False, provider="scaleway-lookalike"
    )
    assert not decision.allowed and "no provider profile" in decision.message


def test_a_crafted_classification_is_refused_by_name() -> None:
    from passerelle.errors import ConfigError

    for name in ("Health-Pseudonymized", "reference ", "reference\n", "referencе", ""):
        with pytest.raises(ConfigError):
            decide_placement(HDS_ONLY, name, None, None, False)
    with pytest.raises(ConfigError):
        PlacementPolicy.parse({"Reference": {"require": []}})
