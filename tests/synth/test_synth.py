"""The synthetic generator: deterministic, valid NIRs, consistent sex, a true defect manifest."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from passerelle.errors import UsageError
from passerelle.ingest.nir import nir_key_ok
from passerelle.synth import FHIR_TYPES, synthesize


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", persons=300, seed=4, defect_rate=0.05)
    synthesize(tmp_path / "b", persons=300, seed=4, defect_rate=0.05)
    synthesize(tmp_path / "c", persons=300, seed=5, defect_rate=0.05)
    da, db, dc = (_digests(tmp_path / x) for x in "abc")
    da.pop("manifest.json"), db.pop("manifest.json"), dc.pop("manifest.json")
    assert da == db
    assert da["stays.csv"] != dc["stays.csv"]
    assert a.rows["persons"] == 300 and a.rows["stays"] > 300


def test_persons_are_valid_unique_and_consistent(tmp_path: Path) -> None:
    synthesize(tmp_path, persons=2000, seed=9, defect_rate=0.0)
    persons = pcsv.read_csv(tmp_path / "persons.csv").to_pylist()
    nirs = [str(p["nir"]) for p in persons]
    assert len(set(nirs)) == len(nirs) == 2000
    assert all(nir_key_ok(n) for n in nirs)
    assert any(n[5:7] in ("2A", "2B") for n in nirs)
    for p in persons:
        nir, birth = str(p["nir"]), str(p["birth_date"])
        assert nir[0] == str(p["sex"])
        assert nir[1:3] == birth[2:4] and nir[3:5] == birth[5:7]
        assert len(str(p["postcode"]).zfill(5)) == 5


def test_manifest_lists_exactly_the_planted_defects(tmp_path: Path) -> None:
    result = synthesize(tmp_path, persons=500, seed=2, defect_rate=0.1)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["rows"] == result.rows
    with (tmp_path / "defects.csv").open() as f:
        defects = list(csv.DictReader(f))
    by_source: dict[str, int] = {}
    for d in defects:
        by_source[d["source"]] = by_source.get(d["source"], 0) + 1
    assert by_source == result.defects
    stays = (
        pcsv.read_csv(
            tmp_path / "stays.csv",
            convert_options=pcsv.ConvertOptions(column_types={"nir": "string"}),
        )
        .column("nir")
        .to_pylist()
    )
    bad_keys = {
        int(d["row"]) for d in defects if d["source"] == "stays" and d["kind"] == "bad-nir-key"
    }
    assert bad_keys
    assert {i for i, n in enumerate(stays) if not nir_key_ok(n)} == bad_keys
    claims = pq.read_table(tmp_path / "claims.parquet")
    assert claims.num_rows == result.rows["claims"]
    broken = {(d["file"], int(d["row"])) for d in defects if d["kind"] == "broken-json"}
    for t in FHIR_TYPES:
        lines = (tmp_path / "fhir" / f"{t}.ndjson").read_text().splitlines()
        assert len(lines) == result.rows[t]
        for i, line in enumerate(lines):
            try:
                json.loads(line)
                ok = True
            except ValueError:
                ok = False
            assert ok == ((f"fhir/{t}.ndjson", i) not in broken)


def test_refuses_impossible_parameters(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        synthesize(tmp_path, persons=0, seed=1)
    with pytest.raises(UsageError):
        synthesize(tmp_path, persons=10, seed=1, sources=("nope",))


@pytest.mark.parametrize("source", ["stays", "claims", "fhir"])
def test_each_source_alone_is_synthesized(tmp_path: Path, source: str) -> None:
    """Only FHIR asked used to crash on the empty stays table (zfill of no rows)."""
    made = synthesize(tmp_path, persons=300, seed=3, defect_rate=0.05, sources=(source,))
    produced = {name: n for name, n in made.rows.items() if n and name != "persons"}
    expected = {"stays": {"stays"}, "claims": {"claims"}}.get(source, set(FHIR_TYPES))
    assert set(produced) == expected
