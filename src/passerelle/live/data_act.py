"""The EU Data Act's switching limits, and a measured switch held against them (pure).

Regulation (EU) 2023/2854, Chapter VI (switching between data processing services):

- Art. 25(2)(a): the customer may switch after a notice period of at most 2 months, and
  the switch is done within a transitional period of at most 30 calendar days;
- Art. 25(4): where that is technically unfeasible, the provider says so within 14
  working days and may extend the transitional period to at most 7 months;
- Art. 25(2)(g): the data stays retrievable for at least 30 calendar days after the
  transitional period;
- Art. 29: from 12 January 2027 no switching charges (egress included); until then, at
  most the costs directly linked to the switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["CHARGES_ABOLISHED", "Limit", "assess_switch"]

DAY_S = 86_400.0
TRANSITION_MAX_DAYS = 30
TRANSITION_EXTENDED_MAX_DAYS = 7 * 30.4375  # 7 months, at their average length
RETRIEVAL_MIN_DAYS = 30
CHARGES_ABOLISHED = date(2027, 1, 12)


@dataclass(frozen=True)
class Limit:
    """One rule of the Data Act and where the measured switch stands against it."""

    rule: str  # the article
    limit: str  # the limit, in words
    measured: str  # what the drill measured or the hub guarantees
    ok: bool
    sentence: str  # one sentence for the operator


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY_S:.1f} days"


def assess_switch(
    switch_seconds: float,
    full_copy_seconds: float | None,
    egress_cost: str | None,
    today: date,
) -> list[Limit]:
    """The Data Act's limits against a switch measured at ``switch_seconds`` (final sync,
    verify, cutover from an up-to-date replica) and, when known, a full copy from scratch
    at ``full_copy_seconds`` and its egress cost at list price (e.g. ``"12.50 EUR"``)."""
    limits = [
        Limit(
            "Art. 25(2)(a) notice",
            "at most 2 months",
            "the hub's choice: a replica is already in place",
            True,
            "notice may be given at once: the replica holds the hub's data already",
        )
    ]
    transition = TRANSITION_MAX_DAYS * DAY_S
    within = switch_seconds <= transition
    limits.append(
        Limit(
            "Art. 25(2)(a) transitional period",
            f"{TRANSITION_MAX_DAYS} days",
            _duration(switch_seconds),
            within,
            f"the switch takes {_duration(switch_seconds)}, "
            + (
                f"{switch_seconds / transition:.2%} of the {TRANSITION_MAX_DAYS}-day period"
                if within
                else f"more than the {TRANSITION_MAX_DAYS}-day period: sync the replica "
                "more often, or add copy capacity, before giving notice"
            ),
        )
    )
    if full_copy_seconds is not None:
        fits = full_copy_seconds <= transition
        extended = full_copy_seconds <= TRANSITION_EXTENDED_MAX_DAYS * DAY_S
        limits.append(
            Limit(
                "Art. 25(4) without a replica",
                f"{TRANSITION_MAX_DAYS} days (7 months if technically unfeasible)",
                _duration(full_copy_seconds),
                fits or extended,
                f"a full copy from scratch would take {_duration(full_copy_seconds)}"
                + (
                    ", within the transitional period"
                    if fits
                    else (
                        ", beyond 30 days but within the 7-month extension"
                        if extended
                        else ", beyond even the 7-month extension: keep the replica current"
                    )
                ),
            )
        )
    limits.append(
        Limit(
            "Art. 25(2)(g) data retrieval",
            f"at least {RETRIEVAL_MIN_DAYS} days after the transitional period",
            "the old store stays a read-only fallback until decommission-check passes",
            True,
            f"keep the old store readable for at least {RETRIEVAL_MIN_DAYS} days after the "
            "switch; `passerelle hub migrate decommission-check` says when it may go",
        )
    )
    cost = egress_cost or "unknown"
    if today >= CHARGES_ABOLISHED:
        charge = f"none may be charged since {CHARGES_ABOLISHED.isoformat()}"
    else:
        charge = (
            f"at most the provider's direct costs until {CHARGES_ABOLISHED.isoformat()}, none after"
        )
    limits.append(
        Limit(
            "Art. 29 switching charges",
            charge,
            f"egress by the provider's price list: {cost}",
            True,
            f"switching charges (egress of {cost} at list price): {charge}",
        )
    )
    return limits
