"""Where each classification of data may live: the placement policy and its one decision (pure).

A hub's ``hub.toml`` holds one ``[policy.<classification>]`` table per classification it
constrains::

    [policy.health-pseudonymized]
    require = ["hds", "eea"]          # provider requirements (providers.REQUIREMENTS)
    ciphertext_elsewhere = true       # a provider failing them may still hold it encrypted
                                      # under hub-held keys (never as plaintext)

A classification without a table has no requirement; a hub without ``[policy]`` places
anything anywhere (the behaviour of hubs made before policies existed).
:func:`decide_placement` is the only place that says yes or no.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from passerelle.errors import ConfigError
from passerelle.providers.catalog import ProviderProfile
from passerelle.providers.requirements import REQUIREMENTS, check_requirements

__all__ = [
    "CLASSIFICATIONS",
    "DEFAULT_CLASSIFICATION",
    "NATIONAL_POLICY",
    "RELEASE_CLASSIFICATION",
    "ClassRule",
    "PlacementDecision",
    "PlacementPolicy",
    "check_classification",
    "decide_placement",
    "named_policy",
    "requirements_of",
]

CLASSIFICATIONS = ("health-identifying", "health-pseudonymized", "health-aggregate", "reference")
"""Most sensitive first: identifying health data, pseudonymized health data (what the hub
ingests), disclosure-checked aggregates (what it releases), non-personal reference tables."""
DEFAULT_CLASSIFICATION = "health-pseudonymized"
RELEASE_CLASSIFICATION = "health-aggregate"


def check_classification(value: str, what: str = "classification") -> str:
    """``value`` if it is a known classification, else a one-sentence :class:`ConfigError`."""
    if value not in CLASSIFICATIONS:
        raise ConfigError(f"Unknown {what} {value!r}; use one of {', '.join(CLASSIFICATIONS)}.")
    return value


@dataclass(frozen=True, slots=True)
class ClassRule:
    """What one classification needs of the provider and region holding it."""

    require: tuple[str, ...] = ()
    ciphertext_elsewhere: bool = False


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """One :class:`ClassRule` per constrained classification (the others need nothing)."""

    rules: tuple[tuple[str, ClassRule], ...] = ()
    name: str = "hub.toml"

    def rule(self, classification: str) -> ClassRule:
        return dict(self.rules).get(classification, ClassRule())

    @property
    def empty(self) -> bool:
        return not any(r.require for _, r in self.rules)

    @classmethod
    def parse(cls, tables: Any, origin: str = "hub.toml") -> PlacementPolicy:
        """The ``[policy]`` tables of a TOML file, checked; each mistake one sentence."""
        if not isinstance(tables, Mapping):
            raise ConfigError(f"{origin}: [policy] must hold [policy.<classification>] tables.")
        rules: list[tuple[str, ClassRule]] = []
        for classification, table in tables.items():
            check_classification(str(classification), f"classification in {origin} [policy]")
            where = f"{origin} [policy.{classification}]"
            if not isinstance(table, Mapping):
                raise ConfigError(f"{where} must be a table with require and ciphertext_elsewhere.")
            unknown = sorted(set(table) - {"require", "ciphertext_elsewhere"})
            if unknown:
                raise ConfigError(
                    f"{where}: unknown setting {unknown[0]!r}; use require and "
                    "ciphertext_elsewhere."
                )
            require = table.get("require", [])
            if not isinstance(require, list) or not all(isinstance(r, str) for r in require):
                raise ConfigError(f'{where}: require must be a list such as ["hds", "eea"].')
            for req in require:
                if req not in REQUIREMENTS:
                    raise ConfigError(
                        f"{where}: unknown requirement {req!r}; use one or more of "
                        f"{', '.join(REQUIREMENTS)}."
                    )
            elsewhere = table.get("ciphertext_elsewhere", False)
            if not isinstance(elsewhere, bool):
                raise ConfigError(f"{where}: ciphertext_elsewhere must be true or false.")
            rules.append((str(classification), ClassRule(tuple(dict.fromkeys(require)), elsewhere)))
        return cls(tuple(sorted(rules, key=lambda r: CLASSIFICATIONS.index(r[0]))), origin)

    def tables(self) -> dict[str, dict[str, Any]]:
        """The ``[policy.*]`` tables as data, as ``parse`` reads them back."""
        return {
            classification: {
                "require": list(rule.require),
                "ciphertext_elsewhere": rule.ciphertext_elsewhere,
            }
            for classification, rule in self.rules
        }

    def to_toml(self) -> str:
        """The ``[policy.*]`` tables as TOML (``tomli_w``: every value escaped)."""
        import tomli_w

        return tomli_w.dumps({"policy": self.tables()}) if self.rules else ""


NATIONAL_POLICY = PlacementPolicy(
    (
        ("health-identifying", ClassRule(("hds", "eea"), True)),
        ("health-pseudonymized", ClassRule(("hds", "eea"), True)),
        ("health-aggregate", ClassRule(("eea",), True)),
        ("reference", ClassRule()),
    ),
    "national",
)
"""``passerelle init --policy national``: health data in HDS-certified EEA regions, aggregates
in the EEA (both elsewhere only as ciphertext under hub-held keys), reference data anywhere."""


def named_policy(name: str) -> PlacementPolicy:
    """A policy passerelle ships, by name (``national`` or ``none``)."""
    if name == "national":
        return NATIONAL_POLICY
    if name == "none":
        return PlacementPolicy(name="none")
    raise ConfigError(f"Unknown policy {name!r}; use national or none.")


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    """Allowed, or refused by ``rule`` (``"<classification>.<requirement>"``) with ``message``."""

    allowed: bool
    rule: str = ""
    message: str = ""
    ciphertext_only: bool = False  # allowed only because it is held as ciphertext
    failed: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.allowed


def _label(profile: ProviderProfile | None, provider: str | None, region: str | None) -> str:
    name = profile.display_name if profile else (provider or "an unknown provider")
    return f"{name} ({region})" if region else name


def decide_placement(
    policy: PlacementPolicy,
    classification: str,
    profile: ProviderProfile | None,
    region: str | None,
    encrypted: bool,
    *,
    dataset: str = "the data",
    provider: str | None = None,
) -> PlacementDecision:
    """May ``dataset`` of ``classification`` live at ``profile`` in ``region`` (as ciphertext
    when ``encrypted``)? ``profile`` None is a provider with no profile: nothing is proven."""
    check_classification(classification)
    rule = policy.rule(classification)
    if not rule.require:
        return PlacementDecision(True)
    label = _label(profile, provider, region)
    if profile is None:
        failures = [
            (r, f"{label} has no provider profile, so it is unproven") for r in rule.require
        ]
    else:
        failures = [
            (f.requirement, f.reason) for f in check_requirements(profile, region, rule.require)
        ]
    if not failures:
        return PlacementDecision(True)
    failed = tuple(r for r, _ in failures)
    if encrypted and rule.ciphertext_elsewhere:
        return PlacementDecision(True, ciphertext_only=True, failed=failed)
    requirement, reason = failures[0]
    needs = " and ".join(rule.require)
    if rule.ciphertext_elsewhere:
        fix = (
            f"encrypt it (add {classification!r} to encrypt in hub.toml) or choose a provider "
            f"and region meeting {needs}"
        )
    else:
        fix = f"choose a provider and region meeting {needs}"
    form = "in plaintext " if rule.ciphertext_elsewhere else ""
    message = (
        f"{dataset} ({classification}) may not be stored {form}at {label}: the policy's "
        f"{requirement!r} rule fails ({reason}); {fix}."
    )
    return PlacementDecision(False, f"{classification}.{requirement}", message, failed=failed)


def requirements_of(policy: PlacementPolicy, classifications: Iterable[str]) -> tuple[str, ...]:
    """Every requirement the policy sets for any of ``classifications``."""
    out: dict[str, None] = {}
    for c in classifications:
        out.update(dict.fromkeys(policy.rule(check_classification(c)).require))
    return tuple(out)
