"""Statistical disclosure control: what may leave the hub, cell by cell.

Pure functions over pyarrow tables: :func:`check_release` applies a
:class:`DisclosurePolicy` (SACRO/ACRO defaults or OpenSAFELY) to an aggregate
table described by a :class:`TableSpec` and returns a :class:`ReleaseCheck`
(released table, findings, ``pass``/``review``/``fail``).
:func:`derive` reads a researcher's aggregate query from DuckDB's parse tree and
writes the hub's own SQL for its cells and their evidence (persons,
per-person contributions, keyed person sketches that :func:`too_close` compares
between releases). :func:`frequency_query` and :func:`magnitude_query` write the
SQL that computes a checkable table, with its evidence, from the granted rows.
"""

from passerelle.research.disclosure.check import MAX_LABEL_CHARS, check_release, round_to_base
from passerelle.research.disclosure.derive import Derivation, TableFacts, derive
from passerelle.research.disclosure.differencing import (
    PersonSketch,
    population_difference,
    too_close,
)
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
    Dominance,
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
    "Derivation",
    "DisclosurePolicy",
    "Dominance",
    "Finding",
    "PersonSketch",
    "ReleaseCheck",
    "SecondaryResult",
    "TableFacts",
    "TableSpec",
    "check_release",
    "derive",
    "frequency_query",
    "lines_of",
    "looks_identifying",
    "magnitude_query",
    "policy_named",
    "population_difference",
    "quote_identifier",
    "round_to_base",
    "secondary_suppression",
    "too_close",
]
