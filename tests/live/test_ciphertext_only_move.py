"""A live move to a destination that may hold health data only as ciphertext (national
policy, local folders: no HDS there): every object is checked as it is copied, not only the
sample read at the start (fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from passerelle.errors import ConflictError, PolicyViolationError
from passerelle.hub.hub import Hub
from passerelle.hub.ingestion import ingest_dataset
from passerelle.hub.rules import Principal
from passerelle.live import cutover, run_backlog, start_move
from passerelle.migration.journal import Journal
from passerelle.sovereignty.envelope import is_envelope
from passerelle.sovereignty.policy import NATIONAL_POLICY
from passerelle.storage import Store, open_store
from passerelle.synth import synthesize
from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.test_placement import ORG, _denied, _hub

PLAIN = b"PAR1 pseudonym-7f3a9c rows in clear, written around the encrypting store"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=20, seed=5, defect_rate=0.0, fhir_fraction=0.0)
    return out


@dataclass
class Move:
    hub: Hub
    who: dict[str, Principal]
    raw: Store  # the source as stored, around the encrypting store
    dest: str
    first: str  # a key sorting before every object of the dataset's folder
    last: str  # a key sorting after them


def _national(tmp_path: Path, sources: Path) -> Move:
    hub, who = _hub(
        tmp_path / "hub",
        f"sqlite:///{tmp_path / 'hub.db'}",
        policy=NATIONAL_POLICY,
        encrypt=("health-identifying", "health-pseudonymized"),
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
    folder = next(i.key for i in raw.list("datasets/pmsi_stays/")).rsplit("/", 1)[0]
    for n in range(8):  # more envelopes, written through the hub
        hub.store().put(f"{folder}/part-{n:02d}.parquet", b"rows %d " % n * 500)
    return Move(
        hub,
        who,
        raw,
        f"file://{tmp_path / 'cloud-b'}",
        f"{folder}/0-legacy.parquet",
        f"{folder}/zz-legacy.parquet",
    )


def _landed_raw(store: Store) -> dict[str, bytes]:
    return {i.key: store.get(i.key).read() for i in store.list("datasets/")}


def _landed(url: str) -> dict[str, bytes]:
    return _landed_raw(open_store(url))


def test_a_plaintext_object_the_start_sample_reads_refuses_the_start(
    tmp_path: Path, sources: Path
) -> None:
    m = _national(tmp_path, sources)
    m.raw.put(m.first, PLAIN)
    with pytest.raises(PolicyViolationError, match="0-legacy"):
        start_move(m.hub, m.who["operator"], m.dest)
    assert any("0-legacy" in d for d in _denied(m.hub, "hub.migrate.start"))
    m.hub.close()


def test_plaintext_objects_sorting_first_and_last_are_refused_the_envelopes_move(
    tmp_path: Path, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = _national(tmp_path, sources)
    hub, who, dest, FIRST, LAST = m.hub, m.who, m.dest, m.first, m.last
    envelopes = len(_landed_raw(m.raw))
    m.raw.put(FIRST, PLAIN)
    m.raw.put(LAST, PLAIN)
    # as if both were written between the start's sample and the plan's listing
    monkeypatch.setattr("passerelle.hub.placement.enforce_ciphertext_at_source", lambda *a, **k: 0)
    status = start_move(hub, who["operator"], dest)
    summary = run_backlog(hub, who["operator"])
    assert sorted(k for k, _ in summary.refused) == [FIRST, LAST]
    assert sorted(k for k, _ in summary.failed) == [FIRST, LAST]
    assert not summary.complete
    reason = dict(summary.refused)[LAST]
    assert "health-pseudonymized.ciphertext" in reason and "not an envelope" in reason
    landed = _landed(dest)
    assert FIRST not in landed and LAST not in landed
    assert len(landed) == envelopes and all(is_envelope(b) for b in landed.values())
    (denied,) = _denied(hub, "hub.migrate.run")
    assert FIRST in denied and LAST in denied

    # the journal carries the rule: a plain `migrate run` on it refuses them too, by name
    assert status.journal is not None
    journal = Journal.open(status.journal)
    assert "ciphertext_only" in journal.meta
    journal.close()
    proc = run_cli("migrate", "run", "--journal", status.journal)
    assert_one_sentence(proc, "2 objects failed", "-legacy", "health-pseudonymized.ciphertext")
    assert FIRST not in _landed(dest)

    with pytest.raises(ConflictError, match="legacy"):
        cutover(hub, who["operator"])
    assert FIRST not in _landed(dest) and LAST not in _landed(dest)
    hub.close()


def test_a_plaintext_object_written_during_the_move_never_reaches_the_destination(
    tmp_path: Path, sources: Path
) -> None:
    m = _national(tmp_path, sources)
    hub, who, raw, dest, LAST = m.hub, m.who, m.raw, m.dest, m.last
    start_move(hub, who["operator"], dest)
    raw.put(LAST, PLAIN)  # around the hub (and its mirror): only the cutover's sync sees it
    assert run_backlog(hub, who["operator"]).complete
    with pytest.raises(ConflictError, match="zz-legacy"):
        cutover(hub, who["operator"])
    assert LAST not in _landed(dest)
    assert any("zz-legacy" in d for d in _denied(hub, "hub.migrate.cutover"))
    raw.delete(LAST)  # the operator removes it: the move goes on
    evidence = cutover(hub, who["operator"])
    assert evidence.ok
    assert all(is_envelope(b) for b in _landed(dest).values())
    hub.close()
