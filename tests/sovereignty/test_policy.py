"""The placement policy: one pure decision, as a matrix and as properties."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import ConfigError
from passerelle.providers import REQUIREMENTS, load_profiles
from passerelle.sovereignty.policy import (
    CLASSIFICATIONS,
    NATIONAL_POLICY,
    ClassRule,
    PlacementPolicy,
    decide_placement,
    requirements_of,
)

PROFILES = load_profiles(env={})
PLACES = [(name, region) for name, p in sorted(PROFILES.items()) for region in [*p.regions, None]]
SOVEREIGN_HDS = {("scaleway", "fr-par"), ("ovhcloud", "gra"), ("ovhcloud", "sbg")}
HDS_EEA = {
    (n, r)
    for n, r in PLACES
    if r is not None
    and PROFILES[n].regions[r].eea
    and "HDS" in PROFILES[n].regions[r].certifications
}
EEA = {(n, r) for n, r in PLACES if r is not None and PROFILES[n].regions[r].eea}


def _expected_national(classification: str, place: tuple[str, str | None], encrypted: bool) -> bool:
    if classification in ("health-identifying", "health-pseudonymized"):
        return place in HDS_EEA or encrypted
    if classification == "health-aggregate":
        return place in EEA or encrypted
    return True


@pytest.mark.parametrize("encrypted", [False, True])
@pytest.mark.parametrize("place", PLACES, ids=lambda p: f"{p[0]}-{p[1]}")
@pytest.mark.parametrize("classification", CLASSIFICATIONS)
def test_national_matrix(
    classification: str, place: tuple[str, str | None], encrypted: bool
) -> None:
    name, region = place
    decision = decide_placement(
        NATIONAL_POLICY, classification, PROFILES[name], region, encrypted, dataset="cnam_dcir"
    )
    assert decision.allowed is _expected_national(classification, place, encrypted)
    if decision.allowed:
        assert decision.message == "" and decision.rule == ""
        compliant = EEA if classification == "health-aggregate" else HDS_EEA
        assert decision.ciphertext_only is (
            place not in compliant and classification.startswith("health-")
        )
    else:
        assert decision.rule.startswith(classification + ".")
        assert decision.rule.split(".", 1)[1] in REQUIREMENTS
        text = decision.message
        assert text.count(". ") == 0 and text.endswith(".")  # one sentence
        assert "cnam_dcir" in text and PROFILES[name].display_name in text
        assert repr(decision.rule.split(".", 1)[1]) in text
        assert "encrypt" in text and "choose a provider" in text  # what would satisfy it


def test_the_known_placements_of_the_brief() -> None:
    aws, scw = PROFILES["aws"], PROFILES["scaleway"]
    assert not decide_placement(NATIONAL_POLICY, "health-pseudonymized", aws, "us-east-1", False)
    assert decide_placement(NATIONAL_POLICY, "health-pseudonymized", aws, "us-east-1", True)
    assert decide_placement(NATIONAL_POLICY, "health-pseudonymized", scw, "fr-par", False)
    assert not decide_placement(NATIONAL_POLICY, "health-pseudonymized", scw, "nl-ams", False)
    assert decide_placement(NATIONAL_POLICY, "health-aggregate", aws, "us-east-1", True)
    assert not decide_placement(NATIONAL_POLICY, "health-aggregate", aws, "us-east-1", False)
    assert decide_placement(NATIONAL_POLICY, "reference", aws, "us-east-1", False)
    assert SOVEREIGN_HDS <= HDS_EEA


def test_an_unknown_provider_proves_nothing() -> None:
    decision = decide_placement(
        NATIONAL_POLICY, "health-aggregate", None, None, False, dataset="d", provider="minio"
    )
    assert not decision and decision.rule == "health-aggregate.eea"
    assert "minio has no provider profile" in decision.message
    assert decide_placement(PlacementPolicy(), "health-identifying", None, None, False)


def test_no_policy_places_anything_anywhere() -> None:
    for classification in CLASSIFICATIONS:
        for name, region in PLACES:
            assert decide_placement(
                PlacementPolicy(), classification, PROFILES[name], region, False
            )


def test_an_unknown_classification_is_one_sentence() -> None:
    with pytest.raises(ConfigError, match=r"^Unknown classification 'open'; use one of"):
        decide_placement(NATIONAL_POLICY, "open", PROFILES["aws"], None, False)


def test_policy_round_trips_through_toml() -> None:
    text = NATIONAL_POLICY.to_toml()
    parsed = PlacementPolicy.parse(tomllib.loads(text)["policy"], "national")
    assert parsed == NATIONAL_POLICY
    assert requirements_of(NATIONAL_POLICY, ["health-aggregate", "health-pseudonymized"]) == (
        "eea",
        "hds",
    )


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"open": {}}, "Unknown classification in t [policy] 'open'"),
        ({"reference": {"require": ["hds", "gdpr"]}}, "unknown requirement 'gdpr'"),
        ({"reference": {"require": "hds"}}, "require must be a list"),
        ({"reference": {"ciphertext_elsewhere": "yes"}}, "ciphertext_elsewhere must be true"),
        ({"reference": {"requires": ["hds"]}}, "unknown setting 'requires'"),
        ({"reference": ["hds"]}, "must be a table"),
        (["hds"], "must hold"),
    ],
)
def test_bad_policy_tables_are_one_sentence(tables: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PlacementPolicy.parse(tables, "t")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and str(caught.value).endswith(".")


requirements = st.lists(st.sampled_from(sorted(REQUIREMENTS)), unique=True, max_size=4)
places = st.sampled_from(PLACES)
classes = st.sampled_from(CLASSIFICATIONS)


@given(classes, requirements, st.booleans(), places)
def test_ciphertext_never_refuses_what_plaintext_allows(
    classification: str, require: list[str], elsewhere: bool, place: tuple[str, str | None]
) -> None:
    policy = PlacementPolicy(((classification, ClassRule(tuple(require), elsewhere)),))
    profile = PROFILES[place[0]]
    plain = decide_placement(policy, classification, profile, place[1], False)
    cipher = decide_placement(policy, classification, profile, place[1], True)
    assert not plain.allowed or cipher.allowed


@given(classes, requirements, requirements, st.booleans(), st.booleans(), places)
def test_more_requirements_never_allow_more(
    classification: str,
    base: list[str],
    more: list[str],
    elsewhere: bool,
    encrypted: bool,
    place: tuple[str, str | None],
) -> None:
    weak = PlacementPolicy(((classification, ClassRule(tuple(base), elsewhere)),))
    strong = PlacementPolicy(
        ((classification, ClassRule(tuple(dict.fromkeys([*base, *more])), elsewhere)),)
    )
    profile = PROFILES[place[0]]
    if decide_placement(strong, classification, profile, place[1], encrypted):
        assert decide_placement(weak, classification, profile, place[1], encrypted)


@given(classes, requirements, st.booleans(), places, st.booleans())
def test_a_refusal_names_a_rule_the_place_fails(
    classification: str,
    require: list[str],
    elsewhere: bool,
    place: tuple[str, str | None],
    encrypted: bool,
) -> None:
    from passerelle.providers import check_requirements

    policy = PlacementPolicy(((classification, ClassRule(tuple(require), elsewhere)),))
    profile = PROFILES[place[0]]
    decision = decide_placement(policy, classification, profile, place[1], encrypted)
    fails = {f.requirement for f in check_requirements(profile, place[1], require)}
    assert decision.allowed is (not fails or (encrypted and elsewhere))
    if not decision.allowed:
        assert decision.rule.split(".", 1)[1] in fails
