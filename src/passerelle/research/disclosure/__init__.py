"""Statistical disclosure control: what may leave the hub, cell by cell.

Pure functions over pyarrow tables: :func:`check_release` applies a
:class:`DisclosurePolicy` (SACRO/ACRO defaults or OpenSAFELY) to an aggregate
table described by a :class:`TableSpec` and returns a :class:`ReleaseCheck`
(released table, findings, ``pass``/``review``/``fail``).
:func:`frequency_query` and :func:`magnitude_query` write the SQL that computes a
checkable table, with its evidence, from the granted rows.
"""

from passerelle.research.disclosure.check import MAX_LABEL_CHARS, check_release, round_to_base
from passerelle.research.disclosure.policy import (
    OPENSAFELY,
    SACRO_DEFAULTS,
    DisclosurePolicy,
    policy_named,
)
from passerelle.research.disclosure.queries import (
    MAGNITUDE_STATISTICS,
    frequency_query,
    magnitude_query,
    quote_identifier,
)
from passerelle.research.disclosure.spec import (
    DOMINANCE_COLUMNS,
    PERSONS_COLUMN,
    Finding,
    ReleaseCheck,
    TableSpec,
    looks_identifying,
)
from passerelle.research.disclosure.suppression import (
    SecondaryResult,
    lines_of,
    secondary_suppression,
)

__all__ = [
    "DOMINANCE_COLUMNS",
    "MAGNITUDE_STATISTICS",
    "MAX_LABEL_CHARS",
    "OPENSAFELY",
    "PERSONS_COLUMN",
    "SACRO_DEFAULTS",
    "DisclosurePolicy",
    "Finding",
    "ReleaseCheck",
    "SecondaryResult",
    "TableSpec",
    "check_release",
    "frequency_query",
    "lines_of",
    "looks_identifying",
    "magnitude_query",
    "policy_named",
    "quote_identifier",
    "round_to_base",
    "secondary_suppression",
]
