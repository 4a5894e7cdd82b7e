"""Disclosure-control policies: the thresholds a hub applies before anything leaves it."""

from __future__ import annotations

from dataclasses import dataclass

from passerelle.errors import ConfigError

__all__ = ["OPENSAFELY", "SACRO_DEFAULTS", "DisclosurePolicy", "policy_named"]


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """Rules applied to every cell of an aggregate table (``None`` turns a rule off).

    ``min_count``: a count, or the persons behind a statistic, below this is
    suppressed.  ``nk_n``/``nk_k``: the ``n`` largest contributions may not make
    ``k`` (a fraction) or more of a cell's total.  ``p_ratio``: what remains after
    the two largest contributions must be at least ``p`` times the largest.
    ``zeros_disclosive``: zero counts in frequency tables are suppressed.
    ``secondary_suppression``: protect suppressed cells from recomputation
    through margins.  ``redact_at_or_below``/``round_to``: the OpenSAFELY style,
    counts at or below the limit are redacted and the others rounded.
    ``order_statistics``: min, max, median, quantiles... (one person's value)
    may be released without an output checker.  ``differencing_min``: a release
    whose cell populations differ from an earlier release's by fewer than this
    many persons (but not zero) is held, naming the earlier release.
    """

    name: str = "sacro"
    min_count: int | None = 10
    nk_n: int = 2
    nk_k: float | None = 0.90
    p_ratio: float | None = 0.10
    zeros_disclosive: bool = True
    secondary_suppression: bool = True
    redact_at_or_below: int | None = None
    round_to: int | None = None
    order_statistics: bool = False
    differencing_min: int | None = 10

    def __post_init__(self) -> None:
        if self.nk_n not in (1, 2):
            raise ConfigError("The n of the n-k dominance rule must be 1 or 2.")
        if self.nk_k is not None and not 0 < self.nk_k <= 1:
            raise ConfigError("The k of the n-k dominance rule must be a fraction in (0, 1].")
        if self.p_ratio is not None and not 0 < self.p_ratio < 1:
            raise ConfigError("The p-ratio must be a fraction in (0, 1).")
        if self.round_to is not None and self.round_to < 1:
            raise ConfigError("The rounding base must be a positive whole number.")
        if self.min_count is not None and self.min_count < 1:
            raise ConfigError("The minimum cell count must be at least 1.")
        if self.differencing_min is not None and self.differencing_min < 1:
            raise ConfigError("The differencing threshold must be at least 1 person.")


SACRO_DEFAULTS = DisclosurePolicy()
"""SACRO/ACRO defaults: threshold 10, n-k (2, 90%), p-ratio 10%, zeros disclosive."""

OPENSAFELY = DisclosurePolicy(
    name="opensafely",
    min_count=None,
    nk_k=None,
    p_ratio=None,
    zeros_disclosive=False,
    secondary_suppression=False,
    redact_at_or_below=7,
    round_to=5,
    differencing_min=8,
)
"""OpenSAFELY style: counts of 7 or less redacted, every other count rounded to the nearest 5."""

_NAMED = {"sacro": SACRO_DEFAULTS, "acro": SACRO_DEFAULTS, "opensafely": OPENSAFELY}


def policy_named(name: str) -> DisclosurePolicy:
    """The shipped policy called ``name`` (``sacro`` or ``opensafely``)."""
    try:
        return _NAMED[name.lower()]
    except KeyError:
        raise ConfigError(
            f"No disclosure policy is called {name!r}; use 'sacro' or 'opensafely'."
        ) from None
