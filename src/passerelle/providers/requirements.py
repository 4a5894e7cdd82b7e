"""Pure checks of a provider profile against sovereignty requirements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from passerelle.errors import UsageError
from passerelle.providers.catalog import ProviderProfile

__all__ = ["REQUIREMENTS", "RequirementFailure", "check_requirements", "parse_requirements"]

REQUIREMENTS = {
    "hds": "certified for French health-data hosting (HDS) in that region",
    "secnumcloud": "qualified SecNumCloud by ANSSI",
    "eea": "data physically hosted inside the EEA",
    "eu-jurisdiction": "provider headquartered in the EU and not exposed to non-EU laws",
}


@dataclass(frozen=True, slots=True)
class RequirementFailure:
    requirement: str
    reason: str


def parse_requirements(text: str | Iterable[str]) -> tuple[str, ...]:
    """Split ``"hds,eea"`` into known requirement names or raise :class:`UsageError`."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    unknown = [n for n in names if n not in REQUIREMENTS]
    if unknown:
        raise UsageError(
            f"Unknown requirement {unknown[0]!r}; use one or more of {', '.join(REQUIREMENTS)}."
        )
    return names


def check_requirements(
    profile: ProviderProfile, region: str | None, requirements: Iterable[str]
) -> list[RequirementFailure]:
    """Which requirements ``profile`` in ``region`` fails, each with a reason."""
    failures: list[RequirementFailure] = []
    where = profile.region(region)
    label = f"{profile.display_name}" + (f" ({region})" if region else "")
    for req in requirements:
        if req == "hds":  # HDS is certified per region: an unknown region proves nothing
            if where is None:
                failures.append(
                    RequirementFailure(
                        req, f"{label}: the region is unknown, so HDS certification is unproven"
                    )
                )
            elif "HDS" not in where.certifications:
                failures.append(RequirementFailure(req, f"{label} publishes no HDS certification"))
        elif req == "secnumcloud" and not profile.secnumcloud:
            failures.append(RequirementFailure(req, f"{label} is not SecNumCloud-qualified"))
        elif req == "eea":
            if where is None:
                failures.append(
                    RequirementFailure(
                        req, f"{label}: the region is unknown, so EEA hosting is unproven"
                    )
                )
            elif not where.eea:
                failures.append(
                    RequirementFailure(
                        req, f"{label} stores data in {where.location}, outside the EEA"
                    )
                )
        elif req == "eu-jurisdiction" and (
            not profile.legal_home_in_eu or profile.non_eu_law_exposure
        ):
            exposure = ", ".join(profile.non_eu_law_exposure) or f"home {profile.legal_home}"
            failures.append(
                RequirementFailure(req, f"{label} is exposed to non-EU law ({exposure})")
            )
    return failures
