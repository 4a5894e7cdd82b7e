"""Every output file -- datasets, quarantine, manifests -- holds no NIR, name or phone number.

The scan reads each object's raw bytes and, for Parquet, every decoded value,
and searches for each person's 15-character NIR, its 13-character body, the
last name, "FIRST LAST", and the phone number, plus the pseudonym key itself.
Bare first names are not searched (4-letter names could appear by chance in
compressed bytes); last names are 9 letters and full names longer.
"""

from __future__ import annotations

import csv
import io
import re

import pyarrow.parquet as pq

from passerelle.storage import open_store
from tests.ingest.conftest import KEY, Ingested


def _needles(ingested: Ingested) -> list[str]:
    out = [KEY.decode(), KEY.hex()]
    with (ingested.src / "persons.csv").open() as f:
        for p in csv.DictReader(f):
            out += [p["nir"], p["nir"][:13], p["last_name"], f"{p['first_name']} {p['last_name']}"]
            out.append(p["phone"])
    return out


def test_no_identifier_in_any_output_file(ingested: Ingested) -> None:
    needles = _needles(ingested)
    assert len(needles) > 2000
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(set(needles), key=len, reverse=True))
    )
    store = open_store(f"file://{ingested.out}")
    scanned = parquet = 0
    for info in store.list():
        data = store.get(info.key).read()
        scanned += 1
        hit = pattern.search(data.decode("latin-1"))
        assert hit is None, f"{info.key} holds {hit.group(0)!r} in its bytes"
        if info.key.endswith(".parquet"):
            parquet += 1
            table = pq.read_table(io.BytesIO(data))
            text = "\n".join(
                "\x00".join(str(v) for v in table.column(c).to_pylist()) for c in table.column_names
            )
            meta = str(table.schema.metadata)
            hit = pattern.search(text + meta)
            assert hit is None, f"{info.key} holds {hit.group(0)!r} in a value"
    # three datasets (1 + 1 + 4 tables), their quarantines and manifests
    assert parquet >= 6 + 3 and scanned > parquet


def test_the_scan_would_find_a_leak(ingested: Ingested) -> None:
    needles = _needles(ingested)
    pattern = re.compile("|".join(re.escape(n) for n in needles[:50]))
    raw = (ingested.src / "stays.csv").read_text()
    assert pattern.search(raw) is not None  # the inputs do contain them
