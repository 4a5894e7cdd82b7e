"""A classification below what the rows require (their schema's column roles) is refused
wherever a steward chooses one: ingest, create, version, classify and extract (audited)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from passerelle.errors import PolicyViolationError
from passerelle.hub import add_version, create_dataset
from passerelle.hub.catalog import classify_dataset, get_dataset
from passerelle.hub.ingestion import ingest_dataset
from passerelle.sovereignty.envelope import is_envelope
from passerelle.sovereignty.policy import NATIONAL_POLICY
from passerelle.synth import synthesize
from tests.hub.test_placement import ORG, _denied, _hub, _raw_objects

ENCRYPT = ("health-identifying", "health-pseudonymized")
NIR_KEPT = """[dataset]
name = "stays_nir_kept"
kind = "csv"
on_identifier = "redact"
[person]
column = "person_id"
nir = "nir"
birth_date = "birth_date"
sex = "sex"
[[columns]]
name = "nir"
[[columns]]
name = "birth_date"
type = "date"
generalize = "year-month"
[[columns]]
name = "sex"
type = "sex"
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=30, seed=4, defect_rate=0.0, fhir_fraction=0.0)
    return out


def _plain_hub(tmp_path: Path):  # type: ignore[no-untyped-def]
    return _hub(tmp_path / "hub", f"sqlite:///{tmp_path / 'hub.db'}")


def test_an_ingest_below_the_floor_is_one_sentence_and_audited(
    tmp_path: Path, sources: Path
) -> None:
    hub, who = _plain_hub(tmp_path)
    with pytest.raises(PolicyViolationError) as caught:
        ingest_dataset(
            hub,
            who["steward"],
            dataset="stays",
            organization=ORG,
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
            classification="health-aggregate",
        )
    assert str(caught.value) == (
        "stays holds row-level pseudonyms (column person_id): classify it "
        "health-pseudonymized or stricter."
    )
    (denied,) = _denied(hub, "ingest.run")
    assert "health-pseudonymized.floor" in denied and "person_id" in denied
    assert not _raw_objects(hub, "datasets/")
    hub.close()


def test_without_a_classification_the_default_rises_to_the_floor(
    tmp_path: Path, sources: Path
) -> None:
    hub, who = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=NATIONAL_POLICY,
        encrypt=ENCRYPT,
    )
    schema = tmp_path / "nir_kept.toml"
    schema.write_text(NIR_KEPT)
    with (sources / "stays.csv").open(newline="") as f:
        rows = [(r["nir"], r["birth_date"], r["sex"]) for r in csv.DictReader(f)]
    source = tmp_path / "landing" / "people.csv"
    source.parent.mkdir()
    source.write_text("nir,birth_date,sex\n" + "".join(f"{','.join(r)}\n" for r in rows))
    common = {
        "organization": ORG,
        "source_url": f"file://{source}",
        "schema": schema,
    }
    with pytest.raises(PolicyViolationError, match=r"\(column nir\): classify it health-id"):
        ingest_dataset(
            hub, who["steward"], dataset="sn", classification="health-pseudonymized", **common
        )
    ingest_dataset(hub, who["steward"], dataset="sn", **common)  # type: ignore[arg-type]
    entry = get_dataset(hub, who["steward"], "sn")
    assert entry.classification == "health-identifying"
    assert {c.name: c.description for c in entry.schema}["nir"].startswith("identity")
    with pytest.raises(PolicyViolationError, match="health-identifying"):
        classify_dataset(hub, who["steward"], "sn", "health-pseudonymized")
    assert _denied(hub, "dataset.classify")
    objects = _raw_objects(hub, "datasets/sn/")
    assert objects and all(is_envelope(body) for _, body in objects)
    hub.close()


def test_classify_refuses_a_downgrade_below_the_floor_even_in_the_same_form(
    tmp_path: Path, sources: Path
) -> None:
    # no encryption: the form check lets pseudonymized -> aggregate through; the floor does not
    hub, who = _plain_hub(tmp_path)
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    for lower in ("health-aggregate", "reference"):
        with pytest.raises(PolicyViolationError, match=r"pmsi_stays holds row-level pseudonyms"):
            classify_dataset(hub, who["steward"], "pmsi_stays", lower)
    assert len(_denied(hub, "dataset.classify")) == 2
    assert get_dataset(hub, who["steward"], "pmsi_stays").classification == ("health-pseudonymized")
    raised = classify_dataset(hub, who["steward"], "pmsi_stays", "health-identifying")
    assert raised.classification == "health-identifying"  # stricter is always allowed
    hub.close()


def test_a_later_version_or_a_new_entry_cannot_lower_the_floor(tmp_path: Path) -> None:
    hub, who = _plain_hub(tmp_path)
    steward = who["steward"]
    pseudonyms = [{"name": "person_id", "type": "string", "description": "person pseudonym"}]
    with pytest.raises(PolicyViolationError, match=r"ref holds row-level pseudonyms"):
        create_dataset(
            hub, steward, name="ref", organization=ORG, classification="reference",
            schema=pseudonyms,
        )  # fmt: skip
    assert _denied(hub, "dataset.create")
    create_dataset(hub, steward, name="ref", organization=ORG, classification="reference")
    with pytest.raises(PolicyViolationError, match=r"column person_id"):
        add_version(hub, steward, "ref", digest="d1", schema=pseudonyms, row_count=0, files=[])
    assert _denied(hub, "dataset.update")
    create_dataset(
        hub, steward, name="pp", organization=ORG, classification="health-pseudonymized",
        schema=pseudonyms,
    )  # fmt: skip
    add_version(hub, steward, "pp", digest="d1", schema=pseudonyms, row_count=0, files=[])
    plain = [{"name": "person_id", "type": "string", "description": ""}]
    add_version(hub, steward, "pp", digest="d2", schema=plain, row_count=0, files=[])
    with pytest.raises(PolicyViolationError, match=r"pp holds row-level pseudonyms"):
        classify_dataset(hub, steward, "pp", "reference")  # version 1 still holds pseudonyms
    hub.close()
