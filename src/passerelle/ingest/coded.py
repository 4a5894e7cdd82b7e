"""Check coding columns: each code kept with its system, wrong codes under known systems refused.

A coding column arrives as the JSON text :func:`passerelle.ingest.fhir.coding_text`
writes (``[[system, code, display], ...]``), already scanned for direct
identifiers (and redacted) by :mod:`passerelle.ingest.validate`.  Per row:

- ``code-system:COLUMN`` -- a system that is not a plain ASCII URI
  (:func:`passerelle.ingest.codesystems.uri_ok`);
- ``code-format:COLUMN`` -- a code that is not a FHIR code, or is malformed under
  the known system it claims (ICD-10 shape, SNOMED CT check digit, LOINC check
  digit, ATC, CCAM); an *unknown* system is no reason: its codes are kept as
  ``local``;
- ``missing:COLUMN`` -- a required column with no coding that has a code.

The typed value is a list of ``{system, uri, code, display}`` structs (codings
without a code left out): ``system`` is the short name (``icd-10``, ``cim-10``,
``snomed-ct``, ``loinc``, ``atc``, ``ccam`` or ``local``), ``uri`` the system as sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from passerelle.ingest.codesystems import code_ok, system_of, uri_ok

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["check_codings", "coding_type"]

_FIELDS = ("system", "uri", "code", "display")


def coding_type() -> pa.DataType:
    """The Arrow type of a coding column: ``list<struct<system, uri, code, display>>``."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    return pa.list_(pa.struct([(f, pa.string()) for f in _FIELDS]))


def _row(text: str) -> tuple[list[dict[str, str | None]], bool, bool]:
    """(codings kept, a system is not a URI, a code is malformed) for one row's text."""
    try:
        triples = json.loads(text)
    except ValueError:  # pragma: no cover - the text is written by coding_text
        return [], False, True
    kept: list[dict[str, str | None]] = []
    bad_uri = bad_code = False
    for item in triples if isinstance(triples, list) else []:
        triple = [*item, None, None, None][:3] if isinstance(item, list) else [None, item, None]
        uri, code, display = triple
        if uri is not None and not (isinstance(uri, str) and uri_ok(uri)):
            bad_uri = True
            continue
        if code is None or code == "":
            continue  # a Coding with a display only: nothing to keep
        system = system_of(uri)
        if not isinstance(code, str) or not code_ok(system, code):
            bad_code = True
            continue
        kept.append(
            {
                "system": system,
                "uri": uri,
                "code": code,
                "display": display if isinstance(display, str) else None,
            }
        )
    return kept, bad_uri, bad_code


def check_codings(
    name: str, text: pa.Array, *, required: bool
) -> tuple[list[tuple[npt.NDArray[np.bool_], str]], pa.Array]:
    """(failure masks with reasons, typed values) of one coding column.

    Codings repeat (the same code, system and display on many resources): each distinct
    text is read once."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    encoded = pc.dictionary_encode(text)
    distinct = encoded.dictionary.to_pylist()
    bad_uri, bad_code, empty = (np.zeros(len(distinct) + 1, dtype=bool) for _ in range(3))
    values: list[list[dict[str, str | None]] | None] = []
    for i, raw in enumerate(distinct):
        kept, bad_uri[i], bad_code[i] = _row(raw) if raw is not None else ([], False, False)
        empty[i] = not kept
        values.append(kept or None)
    empty[-1] = True  # the slot of null texts
    where = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
    fails = [(bad_uri[where], f"code-system:{name}"), (bad_code[where], f"code-format:{name}")]
    if required:  # a code that failed its check is reason enough; else none was given
        fails.append(((empty & ~bad_uri & ~bad_code)[where], f"missing:{name}"))
    typed = pa.array([*values, None], coding_type())
    return fails, typed.take(pa.array(where))
