"""Identifiers planted in the stays: found in every text column, quarantined or redacted as the
schema says, and no quarantine file keeps any of them, nor a full birth date or postcode."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from passerelle.errors import ConfigError
from passerelle.ingest import IngestResult, ingest, parse_schema
from passerelle.ingest.nir import nir_key, with_key
from passerelle.storage import open_store
from tests.ingest.conftest import KEY, Ingested
from tests.ingest.helpers import read_files

SCHEMA_TEXT = files("passerelle.ingest").joinpath("schemas/pmsi_stays.toml").read_text()


def _schema(on_identifier: str | None = None, column: str | None = None) -> object:
    text = SCHEMA_TEXT
    if on_identifier:
        text = text.replace("[dataset]\n", f'[dataset]\non_identifier = "{on_identifier}"\n', 1)
    if column:
        text = text.replace(
            'name = "discharge_mode"\n', f'name = "discharge_mode"\non_identifier = "{column}"\n'
        )
    return parse_schema(text, origin="planted.toml")


@dataclass(frozen=True)
class Planted:
    csv: bytes
    secrets: list[str]  # every identifier planted or present in the source
    rows: dict[str, list[int]]  # data row numbers (as the quarantine counts them) per planting


def _nir(k: int) -> str:
    body = f"2{(k % 90) + 10:02d}0{(k % 9) + 1}2A{k:06d}"
    return f"{body}{nir_key(body):02d}"


@pytest.fixture(scope="module")
def planted(ingested: Ingested) -> Planted:
    text = (ingested.src / "stays.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    secrets: list[str] = []
    where: dict[str, list[int]] = {}
    people = list(csv.DictReader((ingested.src / "persons.csv").open()))
    for p in people:
        secrets += [p["nir"], p["nir"][:13], p["last_name"], p["phone"]]
    defects = {
        int(d["row"])
        for d in csv.DictReader((ingested.src / "defects.csv").open())
        if d["source"] == "stays"
    }
    clean = [k for k in range(len(rows)) if k not in defects][:60]

    def plant(label: str, ks: list[int], column: str, value: object) -> None:
        for k in ks:
            v = value(k) if callable(value) else value
            rows[k][column] = v
            secrets.append(v)
            where.setdefault(label, []).append(k)

    def spaced(k: int) -> str:
        n = _nir(k)
        return f"{n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:10]} {n[10:13]} {n[13:]}"

    plant("nir", clean[0:8], "discharge_mode", spaced)
    plant("phone", clean[8:16], "discharge_mode", lambda k: f"06.{k % 90 + 10}.22.33.{k % 89 + 10}")
    plant("email", clean[16:24], "discharge_mode", lambda k: f"p{k}.durand@mail.example.fr")
    plant("date", clean[24:32], "admission_date", "2020-13-45")
    plant("name", clean[32:40], "main_diagnosis", lambda k: rows[k]["last_name"])
    plant("postcode", clean[40:48], "postcode", lambda k: _nir(k + 500))
    plant("notes", clean[48:56], "notes", lambda k: f"Mme {rows[k]['last_name']} {_nir(k + 900)}")

    def hidden(k: int) -> str:  # a zero-width space, or digits of another script
        body = f"18505{k % 90 + 10:02d}{k:06d}"
        n = f"{body}{nir_key(body):02d}"
        secrets.append(n)  # as a reader sees it
        if k % 2:
            return f"{n[:7]}\u200b{n[7:]}"
        return "".join(chr(0x0660 + int(c)) for c in n)

    plant("nir", clean[56:60], "discharge_mode", hidden)
    for k in clean[24:48]:  # each refused row's full birth date (before any admission date)
        if rows[k]["birth_date"] < "2000":
            secrets.append(rows[k]["birth_date"])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    return Planted(out.getvalue().encode(), secrets, where)


def _ingest(planted: Planted, tmp_path: Path, schema: object) -> IngestResult:
    src = open_store(f"file://{tmp_path}/in")
    src.create_container()
    src.put("stays.csv", planted.csv, content_type="text/csv")
    return ingest(
        f"file://{tmp_path}/in/stays.csv",
        schema=schema,  # type: ignore[arg-type]
        pseudonym_key=KEY,
        output_url=f"file://{tmp_path}/out",
    )


def _quarantined(result: IngestResult) -> dict[int, str]:
    q = read_files(result.quarantine_files)
    return dict(zip(q.column("_row").to_pylist(), q.column("_reason").to_pylist(), strict=True))


def _scan(tmp_path: Path, secrets: list[str], under: str) -> int:
    """Every file's bytes and every decoded Parquet value; the number of files scanned."""
    squeeze = {re.sub(r"[^0-9A-Za-z]", "", s) for s in secrets if len(s) >= 8} - {""}
    needles = sorted({s for s in secrets if len(s) >= 6} | squeeze, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    store = open_store(f"file://{tmp_path}/out")
    scanned = 0
    for info in store.list(under):
        data = store.get(info.key).read()
        scanned += 1
        hit = pattern.search(data.decode("latin-1"))
        assert hit is None, f"{info.key} holds {hit.group(0)!r}"
        if info.key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            for name in table.column_names:
                for value in table.column(name).to_pylist():
                    text = str(value)
                    for candidate in (text, re.sub(r"[^0-9A-Za-z]", "", text)):
                        hit = pattern.search(candidate)
                        assert hit is None, f"{info.key} {name} holds {hit.group(0)!r}"
    return scanned


def test_identifiers_in_text_quarantine_the_row_by_default(
    planted: Planted, tmp_path: Path
) -> None:
    result = _ingest(planted, tmp_path, _schema())
    reasons = _quarantined(result)
    for kind in ("nir", "phone", "email"):
        for row in planted.rows[kind]:
            assert f"{kind}-in-text:discharge_mode" in reasons[row].split(";"), (kind, row)
    assert dict(result.reasons)["nir-in-text:discharge_mode"] == len(planted.rows["nir"])
    for row in planted.rows["notes"]:  # unsafe free text is dropped, never scanned
        assert row not in reasons


def test_no_quarantine_file_keeps_an_identifier(planted: Planted, tmp_path: Path) -> None:
    result = _ingest(planted, tmp_path, _schema())
    assert result.quarantine_files
    assert _scan(tmp_path, planted.secrets, f"v{result.version}/_quarantine/") >= 1
    assert _scan(tmp_path, planted.secrets, "") > len(result.quarantine_files)  # the dataset too
    q = read_files(result.quarantine_files)
    assert all(q.column("_reason").to_pylist())  # why each row is there is kept
    births = [b for b in q.column("birth_date").to_pylist() if b is not None]
    assert births and all(len(b) <= 7 for b in births)  # year-month, as in the dataset
    postcodes = [p for p in q.column("postcode").to_pylist() if p is not None]
    assert postcodes and all(len(p) <= 3 or set(p) <= {"9", "x"} for p in postcodes)
    shown = dict(zip(q.column("_row").to_pylist(), q.to_pylist(), strict=True))
    for row in planted.rows["name"]:  # the value that failed is kept as its shape
        assert set(shown[row]["main_diagnosis"]) == {"x"}
    for row in planted.rows["date"]:
        assert shown[row]["admission_date"] == "9999-99-99"
        assert len(shown[row]["birth_date"]) == 7
    for row in planted.rows["nir"]:
        assert shown[row]["discharge_mode"] == "[nir]"


def test_redact_keeps_the_row_and_drops_the_identifier(planted: Planted, tmp_path: Path) -> None:
    result = _ingest(planted, tmp_path, _schema("redact"))
    reasons = _quarantined(result)
    kept = {"nir", "phone", "email"}
    assert not {r for kind in kept for r in planted.rows[kind]} & set(reasons)
    values = read_files(result.tables[0].files).column("discharge_mode").to_pylist()
    for kind in kept:
        assert values.count(f"[{kind}]") >= len(planted.rows[kind])
    assert _scan(tmp_path, planted.secrets, "") > 1


def test_a_column_setting_overrides_the_dataset(planted: Planted, tmp_path: Path) -> None:
    result = _ingest(planted, tmp_path, _schema("redact", column="quarantine"))
    reasons = _quarantined(result)
    assert all(row in reasons for row in planted.rows["nir"])
    schema = _schema(column="redact")
    assert schema.views[0].column("discharge_mode").on_identifier == "redact"  # type: ignore[attr-defined]
    assert schema.views[0].column("stay_id").on_identifier == "quarantine"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('on_identifier = "ignore"', ["[dataset] on_identifier", "quarantine or redact"]),
        ("on_identifier = 1", ["[dataset] on_identifier"]),
    ],
)
def test_on_identifier_takes_two_values(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_schema(SCHEMA_TEXT.replace("[dataset]\n", f"[dataset]\n{text}\n", 1))
    for word in words:
        assert word in str(err.value)
    column = SCHEMA_TEXT.replace('name = "notes"\n', 'name = "notes"\non_identifier = "keep"\n')
    with pytest.raises(ConfigError, match="column 'notes': on_identifier 'keep'"):
        parse_schema(column)


def test_the_text_columns_scanned() -> None:
    from passerelle.ingest import shipped_schema

    stays = shipped_schema("pmsi_stays").views[0]
    assert {c.name for c in stays.columns if c.scanned} == {
        "stay_id",
        "finess",
        "main_diagnosis",
        "other_diagnoses",
        "procedures",
        "discharge_mode",
    }  # not the identifiers, the NIR, unsafe free text, dates, sex, generalized postcode
    for name in ("pmsi_stays", "dcir_claims", "fhir_bulk"):
        for view in shipped_schema(name).views:
            assert {c.on_identifier for c in view.columns} == {"quarantine"}


SMALL = """
[dataset]
name = "visits"
kind = "csv"
{mode}
[person]
column = "person_id"
nir = "nir"
birth_date = "birth_date"
sex = "sex"

[[columns]]
name = "nir"
required = true
nir = true

[[columns]]
name = "birth_date"
type = "date"
required = true
generalize = "year"

[[columns]]
name = "sex"
type = "sex"
required = true

[[columns]]
name = "visits"
type = "integer"

[[columns]]
name = "cost"
type = "number"
"""


@pytest.mark.parametrize("mode", ["quarantine", "redact"])
def test_a_nir_or_phone_typed_as_a_number_is_not_kept(mode: str, tmp_path: Path) -> None:
    person = _nir(7)
    hidden = with_key("1850575123456")
    rows = [
        f"{person},1985-05-12,2,{hidden},12.5",
        f"{person},1985-05-12,2,3,0612345678",
        f"{person},1985-05-12,2,4,99.9",
    ]
    data = ("nir,birth_date,sex,visits,cost\n" + "\n".join(rows) + "\n").encode()
    schema = parse_schema(SMALL.format(mode=f'on_identifier = "{mode}"'))
    result = _ingest(Planted(data, [], {}), tmp_path, schema)
    accepted = read_files(result.tables[0].files)
    if mode == "quarantine":
        reasons = _quarantined(result)
        assert reasons == {0: "nir-in-text:visits", 1: "phone-in-text:cost"}
        q = read_files(result.quarantine_files)
        assert q.column("visits").to_pylist()[0] is None
        assert q.column("cost").to_pylist()[1] is None
        assert accepted.column("visits").to_pylist() == [4]
    else:
        assert not result.quarantine_files
        assert accepted.column("visits").to_pylist() == [None, 3, 4]
        assert accepted.column("cost").to_pylist() == [12.5, None, 99.9]
    assert _scan(tmp_path, [hidden, "0612345678", "612345678"], "") >= 2


@pytest.mark.parametrize("mode", ["quarantine", "redact"])
def test_a_nir_written_as_another_number_is_not_kept(mode: str, tmp_path: Path) -> None:
    """``0185057512345673`` in an integer column, ``1.85057512345673e14`` or
    ``185057512345673e0`` in a number column: the text as written hides the NIR (a
    leading zero, an exponent glued to it) but the number kept *is* the NIR."""
    person, hidden = _nir(7), with_key("1850575123456")
    mantissa = f"{hidden[0]}.{hidden[1:]}"
    rows = [
        f"{person},1985-05-12,2,0{hidden},1.5",
        f"{person},1985-05-12,2,00{hidden},2.5",
        f"{person},1985-05-12,2,3,{mantissa}e14",
        f"{person},1985-05-12,2,4,{hidden}e0",
        f"{person},1985-05-12,2,5,{mantissa}E+14",
        f"{person},1985-05-12,2,6,99.9",
    ]
    data = ("nir,birth_date,sex,visits,cost\n" + "\n".join(rows) + "\n").encode()
    schema = parse_schema(SMALL.format(mode=f'on_identifier = "{mode}"'))
    result = _ingest(Planted(data, [], {}), tmp_path, schema)
    kept = read_files(result.tables[0].files).to_pylist()
    assert all(
        str(int(r[c])) != hidden for r in kept for c in ("visits", "cost") if r[c] is not None
    )
    if mode == "quarantine":
        reasons = _quarantined(result)
        assert reasons == {
            0: "nir-in-text:visits",
            1: "nir-in-text:visits",
            2: "nir-in-text:cost",
            3: "nir-in-text:cost",
            4: "nir-in-text:cost",
        }
    else:
        assert [r["visits"] for r in kept] == [None, None, 3, 4, 5, 6]
        assert [r["cost"] for r in kept] == [1.5, 2.5, None, None, None, 99.9]
    assert _scan(tmp_path, [hidden], "") >= 1
