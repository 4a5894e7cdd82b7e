"""Malformed inputs: each gives one clear sentence or quarantines the rows, and loses nothing."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from passerelle.errors import PasserelleError, SchemaMismatchError, SourceFormatError
from passerelle.ingest import IngestResult, ingest, shipped_schema
from passerelle.storage import open_store
from tests.ingest.conftest import KEY, Ingested
from tests.ingest.helpers import read_files

STAYS = shipped_schema("pmsi_stays")


def _put(data: bytes, name: str = "in.csv") -> str:
    store = f"memory://malformed-{uuid.uuid4().hex[:8]}"
    open_store(store).put(name, data)
    return f"{store}/{name}"


def _ingest(url: str, schema: object = STAYS) -> IngestResult:
    out = f"memory://out-{uuid.uuid4().hex[:8]}"
    return ingest(url, schema=schema, pseudonym_key=KEY, output_url=out)  # type: ignore[arg-type]


def _one_sentence(exc: PasserelleError) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    assert text.endswith(".") and len(text) < 300
    assert KEY.decode() not in text and KEY.hex() not in text
    return text


@pytest.fixture(scope="module")
def stays_bytes(ingested: Ingested) -> bytes:
    lines = (ingested.src / "stays.csv").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:201])  # header + 200 rows


def test_truncated_csv_quarantines_the_cut_row(stays_bytes: bytes) -> None:
    cut = stays_bytes[: len(stays_bytes) - 40]
    r = _ingest(_put(cut))
    assert r.rows_in == 200 and r.rows_in == r.rows_accepted + r.rows_quarantined
    q = read_files(r.quarantine_files).to_pylist()
    assert any(row["_reason"].startswith("columns:") for row in q)


def test_latin1_is_refused_unless_declared(stays_bytes: bytes) -> None:
    latin = stays_bytes.replace(b"domicile", "domicilié".encode("latin-1"))
    with pytest.raises(SourceFormatError) as err:
        _ingest(_put(latin))
    assert "UTF-8" in _one_sentence(err.value) and "encoding" in str(err.value)
    declared = replace(STAYS, encoding="latin-1")
    r = _ingest(_put(latin), declared)
    assert r.rows_in == 200
    modes = read_files(r.files).column("discharge_mode").to_pylist()
    assert "domicilié" in modes


def test_byte_order_mark_is_ignored(stays_bytes: bytes) -> None:
    plain = _ingest(_put(stays_bytes))
    bom = _ingest(_put(b"\xef\xbb\xbf" + stays_bytes))
    assert (bom.rows_accepted, bom.rows_quarantined) == (
        plain.rows_accepted,
        plain.rows_quarantined,
    )
    assert read_files(bom.files).equals(read_files(plain.files))


def test_wrong_delimiter_is_named(stays_bytes: bytes) -> None:
    semi = stays_bytes.replace(b'","', b'";"')
    with pytest.raises(SchemaMismatchError) as err:
        _ingest(_put(semi))
    assert "';'" in _one_sentence(err.value)


def test_ten_megabyte_field(stays_bytes: bytes) -> None:
    header, *rows = stays_bytes.decode().splitlines(keepends=True)
    names = next(csv.reader([header]))
    first = dict(zip(names, next(csv.reader([rows[0]])), strict=True))
    big = 10 * 2**20
    dropped = {**first, "stay_id": "S9999999998", "notes": "A" * big}  # free text, dropped
    too_long = {**first, "stay_id": "S9999999999", "discharge_mode": "d" * big}  # max 40
    out = io.StringIO()
    writer = csv.DictWriter(out, names, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([dropped, too_long])
    view = STAYS.views[0]
    roomy = replace(
        STAYS,
        views=(
            replace(
                view,
                columns=tuple(
                    replace(c, max_length=2 * big) if c.name == "notes" else c for c in view.columns
                ),
            ),
        ),
    )
    r = _ingest(_put((header + out.getvalue() + "".join(rows)).encode()), roomy)
    assert r.rows_in == 202 and r.rows_in == r.rows_accepted + r.rows_quarantined
    accepted = read_files(r.files).column("stay_id").to_pylist()
    assert "S9999999998" in accepted and "S9999999999" not in accepted
    q = read_files(r.quarantine_files).to_pylist()
    kept = [row for row in q if row["_reason"] == "too-long:discharge_mode"]
    assert len(kept) == 1 and len(kept[0]["discharge_mode"]) == big  # nothing lost


def test_invalid_json_lines_are_quarantined(ingested: Ingested) -> None:
    lines = (ingested.src / "fhir" / "Patient.ndjson").read_bytes().splitlines()[:20]
    lines[3] = b'{"resourceType": "Patient", "id": '
    lines[7] = b"\xff\xfe not json"
    url = _put(b"\n".join(lines) + b"\n", "Patient.ndjson")
    r = _ingest(url, shipped_schema("fhir_bulk"))
    assert r.rows_in == 20 and r.rows_in == r.rows_accepted + r.rows_quarantined
    q = read_files(r.quarantine_files).to_pylist()
    assert {(row["_row"], row["_reason"]) for row in q} >= {(3, "json"), (7, "json")}


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError) as err:
        _ingest(_put(b""))
    assert "empty" in _one_sentence(err.value)
    with pytest.raises(SourceFormatError):
        _ingest(_put(b"", "claims.parquet"), shipped_schema("dcir_claims"))


def test_header_only_gives_an_empty_version(stays_bytes: bytes) -> None:
    r = _ingest(_put(stays_bytes.splitlines(keepends=True)[0]))
    assert (r.rows_in, r.rows_accepted, r.rows_quarantined) == (0, 0, 0)
    assert read_files(r.files).num_rows == 0  # the schema is still written


def test_schema_that_does_not_match(stays_bytes: bytes, ingested: Ingested) -> None:
    view = STAYS.views[0]
    fewer = replace(STAYS, views=(replace(view, columns=view.columns[:-1]),))
    with pytest.raises(SchemaMismatchError) as err:
        _ingest(_put(stays_bytes), fewer)
    assert "notes" in _one_sentence(err.value)  # an undeclared column is refused
    claims_schema = shipped_schema("dcir_claims")
    cview = claims_schema.views[0]
    extra = replace(cview.columns[0], name="extra")
    more = replace(claims_schema, views=(replace(cview, columns=(*cview.columns, extra)),))
    claims = (ingested.src / "claims.parquet").read_bytes()
    with pytest.raises(SchemaMismatchError) as err:
        _ingest(_put(claims, "claims.parquet"), more)
    assert "extra" in _one_sentence(err.value)  # a declared column is missing


def test_truncated_parquet(ingested: Ingested) -> None:
    data = (ingested.src / "claims.parquet").read_bytes()
    with pytest.raises(SourceFormatError) as err:
        _ingest(_put(data[: len(data) // 2], "claims.parquet"), shipped_schema("dcir_claims"))
    assert "truncated" in _one_sentence(err.value)


def test_parquet_with_wrong_types_is_checked_as_text() -> None:
    table = pa.table(
        {
            "nir": ["184076200112336"],
            "birth_date": ["1984-07-01"],
            "sex": ["M"],
            "care_date": ["not a date"],
            "act_code": ["C"],
            "amount_eur": ["12.5"],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = _ingest(_put(buf.getvalue(), "c.parquet"), shipped_schema("dcir_claims"))
    assert (r.rows_in, r.rows_quarantined) == (1, 1)
    assert dict(r.reasons) == {"date:care_date": 1}


def test_failed_ingest_leaves_no_parts(ingested: Ingested) -> None:
    table = pq.read_table(ingested.src / "claims.parquet")
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=100, compression="zstd")
    data = bytearray(buf.getvalue())
    at = len(data) // 2
    data[at : at + 400] = b"\x00" * 400  # a middle row group is damaged, after parts were written
    out = f"memory://fail-{uuid.uuid4().hex[:8]}"
    small = replace(shipped_schema("dcir_claims"), rows_per_file=100)
    with pytest.raises(SourceFormatError) as err:
        ingest(
            _put(bytes(data), "c.parquet"),
            schema=small,
            pseudonym_key=KEY,
            output_url=out,
            batch_rows=100,
        )
    assert "past row" in _one_sentence(err.value) and "past row 0 " not in str(err.value)
    assert list(open_store(out).list()) == []
