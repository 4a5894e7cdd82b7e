"""A steward with a valid account labels health data so that it lands in plaintext where the
policy allows health data only as ciphertext (a national hub on local disk: no HDS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.errors import PasserelleError
from passerelle.hub.catalog import classify_dataset
from passerelle.hub.ingestion import ingest_dataset
from passerelle.sovereignty.envelope import is_envelope
from passerelle.sovereignty.policy import NATIONAL_POLICY
from passerelle.synth import synthesize
from tests.hub.test_placement import EEA_ONLY, ORG, _denied, _hub, _raw_objects, aws_declared

ENCRYPT = ("health-identifying", "health-pseudonymized")
__all__ = ["aws_declared"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=40, seed=12, defect_rate=0.0, fhir_fraction=0.0)
    return out


@pytest.mark.parametrize("label", ["reference", "health-aggregate"])
def test_pseudonymized_rows_cannot_be_ingested_under_a_lower_classification(
    tmp_path: Path, sources: Path, label: str
) -> None:
    # pmsi_stays declares a person column (pseudonyms): its rows are health-pseudonymized
    # whatever the steward calls them; 'reference' (non-personal) is kept in plaintext here
    hub, who = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=NATIONAL_POLICY,
        encrypt=ENCRYPT,
    )
    assert label not in hub.config.encrypt
    try:
        ingest_dataset(
            hub,
            who["steward"],
            dataset="pmsi_stays",
            organization=ORG,
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
            classification=label,
        )
    except PasserelleError as exc:
        assert "pmsi_stays" in str(exc)
        assert _denied(hub, "ingest.run") or "person" in str(exc)
    objects = _raw_objects(hub, "datasets/pmsi_stays/")
    # this got through: the pseudonymized rows were written as plain Parquet on a store the
    # policy lets hold health data only as ciphertext
    assert all(is_envelope(body) for _, body in objects), [k for k, _ in objects]
    hub.close()


def test_reclassifying_stored_ciphertext_to_reference_is_refused(
    tmp_path: Path, sources: Path
) -> None:
    hub, who = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=NATIONAL_POLICY,
        encrypt=ENCRYPT,
    )
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    with pytest.raises(PasserelleError, match="ingest it again"):
        classify_dataset(hub, who["steward"], "pmsi_stays", "reference")
    assert _denied(hub, "dataset.classify")
    objects = _raw_objects(hub, "datasets/pmsi_stays/")
    assert objects and all(is_envelope(body) for _, body in objects)
    hub.close()


@pytest.mark.parametrize(
    "key",
    [
        "workspaces/Project-1/result.parquet",  # odd casing of a project folder
        "workspaces/project-1/extracts",  # a file where the extracts folder is
        "workspaces/x.parquet",
        "releases/x.parquet",
        "releases/project-1",
    ],
)
def test_a_key_no_folder_claims_is_written_as_ciphertext(tmp_path: Path, key: str) -> None:
    # folder_of() answers None for these keys (meant for prefixes spanning folders) and
    # ClassifiedStore took None as "plaintext": fail-open for any writer that builds such a key
    hub, _ = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=NATIONAL_POLICY,
        encrypt=ENCRYPT,
    )
    hub.store().put(key, b"PAR1 pseudonym-7f3a9c rows PAR1")
    ((stored_key, body),) = [(k, b) for k, b in _raw_objects(hub, "") if k == key]
    assert is_envelope(body), stored_key
    hub.close()


def test_a_half_plaintext_source_does_not_reach_a_ciphertext_only_destination(
    tmp_path: Path, sources: Path, aws_declared: str
) -> None:
    # the move samples the first few raw objects of each folder: a plaintext object listed
    # after a dozen envelopes (a part written around the encrypting store) was not read, and the
    # mover copied it to a destination that may hold this dataset only as ciphertext
    from passerelle.live.mover import run_backlog, start_move
    from passerelle.storage import open_store

    hub, who = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=EEA_ONLY,
        encrypt=("health-pseudonymized",),
    )
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    raw = hub.open_url(hub.config.resolve_url(hub.config.store))
    first = next(i.key for i in raw.list("datasets/pmsi_stays/"))
    folder = first.rsplit("/", 1)[0]
    for n in range(12):  # envelopes, written through the hub, listed first
        hub.store().put(f"{folder}/0-part-{n:02d}.parquet", b"x" * 100)
    raw.put(f"{folder}/zz-legacy.parquet", b"PAR1 pseudonym-7f3a9c rows in clear")
    try:
        start_move(hub, who["operator"], aws_declared)
    except PasserelleError as exc:
        assert "zz-legacy" in str(exc)
        hub.close()
        return
    run_backlog(hub, who["operator"])
    landed = open_store(aws_declared)
    plain = [i.key for i in landed.list("datasets/") if not is_envelope(landed.get(i.key).read())]
    hub.close()
    assert not plain, plain
