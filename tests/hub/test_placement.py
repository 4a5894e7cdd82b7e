"""The placement policy enforced by a real hub (SQLite and PostgreSQL) on real stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle import hub as H
from passerelle.errors import (
    ConflictError,
    ContainerNotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    UsageError,
)
from passerelle.hub import Hub, Principal
from passerelle.hub.catalog import classify_dataset
from passerelle.hub.hub import load_config
from passerelle.hub.ingestion import extract_dataset, ingest_dataset
from passerelle.hub.placement import policy_check
from passerelle.hub.schema_revision import SCHEMA_REVISION
from passerelle.hub.tables import AuditEvent
from passerelle.live.mover import move_status, start_move
from passerelle.sovereignty.envelope import is_envelope
from passerelle.sovereignty.policy import NATIONAL_POLICY, ClassRule, PlacementPolicy
from passerelle.storage import open_store
from passerelle.synth import synthesize
from passerelle.workspace import run_query
from tests.backends import require_backend, unique_name
from tests.databases import DATABASES, fresh_database

ORG = "750712184"
EEA_ONLY = PlacementPolicy(
    (("health-pseudonymized", ClassRule(("eea",), True)),), "eea for health data"
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=200, seed=11, defect_rate=0.05, fhir_fraction=0.0)
    return out


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(str(request.param), tmp_path) as url:
        yield url


def _hub(directory: Path, db: str, **settings: object) -> tuple[Hub, dict[str, Principal]]:
    hub, issued = H.init_hub(directory, database=db, name="sov-hub", settings=settings)
    admin = H.authenticate(hub, issued.secret)
    people = {"admin": admin}
    for name, roles in (
        ("steward", "steward"),
        ("alice", "researcher"),
        ("operator", "operator"),
        ("auditor", "auditor"),
    ):
        H.create_user(hub, admin, name, roles)
        people[name] = H.authenticate(hub, H.issue_token(hub, admin, user=name).secret)
    H.create_organization(hub, people["steward"], ORG, "AP-HP", "hospital")
    return hub, people


def _raw_objects(hub: Hub, prefix: str) -> list[tuple[str, bytes]]:
    raw = hub.open_url(hub.config.resolve_url(hub.config.store))
    return [(i.key, raw.get(i.key).read()) for i in raw.list(prefix)]


def _denied(hub: Hub, action: str) -> list[str]:
    """The details of the denied audit events of ``action``."""
    from sqlalchemy import select

    with hub.db.read() as session:
        return [
            str(d)
            for (d,) in session.execute(
                select(AuditEvent.details).where(
                    AuditEvent.action == action, AuditEvent.decision == "denied"
                )
            )
        ]


def test_a_national_hub_on_local_disk_keeps_health_data_as_ciphertext(
    tmp_path: Path, db_url: str, sources: Path
) -> None:
    with pytest.raises(PolicyViolationError, match="may not be stored in plaintext at Local"):
        H.init_hub(tmp_path / "refused", database=db_url, settings={"policy": NATIONAL_POLICY})
    assert not (tmp_path / "refused" / "hub.toml").exists()
    # local disk publishes no HDS certification: the policy allows health data only encrypted
    health = ("health-identifying", "health-pseudonymized")
    hub, who = _hub(tmp_path / "hub", db_url, policy=NATIONAL_POLICY, encrypt=health)
    reread = load_config(tmp_path / "hub")
    assert reread.policy == PlacementPolicy(
        NATIONAL_POLICY.rules, str(tmp_path / "hub" / "hub.toml")
    )
    assert reread.encrypt == hub.config.encrypt
    report = ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    objects = _raw_objects(hub, "datasets/pmsi_stays/")
    assert objects and all(is_envelope(body) for _, body in objects)
    text = (sources / "stays.csv").read_text().splitlines()[1].split(",")
    assert all(text[-1].encode() not in body for _, body in objects if len(text[-1]) > 5)
    assert all(b"PAR1" not in body[:4] for _, body in objects)  # no Parquet magic in clear
    pid = H.submit_project(
        hub,
        who["alice"],
        title="t",
        purpose="p",
        legal_basis="MR-004",
        authorization_ref="x",
        start=hub.now().date(),
        end=hub.now().date(),
    ).id
    H.change_status(hub, who["steward"], pid, "approve")
    H.create_grant(hub, who["steward"], pid, "pmsi_stays")
    _, table = run_query(hub, who["alice"], pid, "SELECT count(*) AS n FROM pmsi_stays")
    assert table.column("n")[0].as_py() == report.rows_accepted
    extract = extract_dataset(hub, who["steward"], pid, "pmsi_stays")
    assert extract.rows == report.rows_accepted
    extracted = _raw_objects(hub, f"workspaces/project-{pid}/extracts/pmsi_stays/")
    assert extracted and all(is_envelope(body) for _, body in extracted)
    checked = policy_check(hub, who["auditor"])
    assert not checked.violations
    row = next(r for r in checked.rows if r.dataset == "pmsi_stays")
    assert row.encrypted and row.sampled > 0
    hub.close()


def test_policy_check_reads_the_bytes_not_a_flag(
    tmp_path: Path, db_url: str, sources: Path
) -> None:
    health = ("health-identifying", "health-pseudonymized")
    hub, who = _hub(tmp_path / "hub", db_url, policy=NATIONAL_POLICY, encrypt=health)
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    raw = hub.open_url(hub.config.resolve_url(hub.config.store))
    victim = next(i.key for i in raw.list("datasets/pmsi_stays/"))
    raw.put(victim, b"PAR1 plaintext swapped in", metadata=raw.head(victim).metadata)
    report = policy_check(hub, who["auditor"])
    bad = [r for r in report.violations if r.dataset == "pmsi_stays"]
    assert bad and bad[0].plaintext_key == victim and bad[0].rule.endswith(".ciphertext")
    assert victim in bad[0].message and "\n" not in bad[0].message
    hub.close()


def test_ingest_extract_and_classify_are_refused_where_the_policy_forbids(
    tmp_path: Path, db_url: str, sources: Path
) -> None:
    identifying = PlacementPolicy((("health-identifying", ClassRule(("hds",), False)),), "s")
    hub, who = _hub(tmp_path / "hub", db_url, policy=identifying)
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    with pytest.raises(PolicyViolationError) as caught:
        ingest_dataset(
            hub,
            who["steward"],
            dataset="dcir_claims",
            organization=ORG,
            source_url=f"file://{sources}/claims.parquet",
            schema="dcir_claims",
            classification="health-identifying",
        )
    message = str(caught.value)
    assert "dcir_claims (health-identifying)" in message and "'hds'" in message
    assert "Local disk or memory" in message and message.count(". ") == 0
    assert _denied(hub, "ingest.run") and not _raw_objects(hub, "datasets/dcir_claims/")
    with pytest.raises(PolicyViolationError):
        classify_dataset(hub, who["steward"], "pmsi_stays", "health-identifying")
    assert _denied(hub, "dataset.classify")
    assert H.get_dataset(hub, who["steward"], "pmsi_stays").classification == (
        "health-pseudonymized"
    )
    with pytest.raises(ConflictError, match="classified 'health-pseudonymized'"):
        ingest_dataset(
            hub,
            who["steward"],
            dataset="pmsi_stays",
            organization=ORG,
            source_url=f"file://{sources}/stays.csv",
            schema="pmsi_stays",
            classification="health-identifying",
        )
    view = classify_dataset(hub, who["steward"], "pmsi_stays", "health-pseudonymized")
    assert view.classification == "health-pseudonymized"
    with pytest.raises(UsageError, match="unknown classification 'open'"):
        classify_dataset(hub, who["steward"], "pmsi_stays", "open")
    hub.close()


def test_classify_refuses_to_change_the_form_files_are_kept_in(
    tmp_path: Path, db_url: str, sources: Path
) -> None:
    hub, who = _hub(tmp_path / "hub", db_url, encrypt=("health-pseudonymized",))
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    with pytest.raises(PermissionDeniedError, match="kept as ciphertext"):
        classify_dataset(hub, who["steward"], "pmsi_stays", "reference")
    hub.close()


def test_a_new_hub_is_refused_where_its_policy_forbids_its_store(tmp_path: Path) -> None:
    strict = PlacementPolicy((("health-aggregate", ClassRule(("secnumcloud",), False)),), "s")
    with pytest.raises(PolicyViolationError, match="may not be stored at Local disk"):
        H.init_hub(tmp_path / "hub", name="refused", settings={"policy": strict})
    assert not (tmp_path / "hub" / "hub.toml").exists()


@pytest.fixture
def aws_declared(tmp_path: Path, storage_config: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SeaweedFS bucket whose remote says it is Amazon S3 in us-east-1 (outside the EEA)."""
    require_backend("seaweedfs")
    config = tmp_path / "config.toml"
    config.write_text(
        storage_config.read_text()
        + f"""
[remotes.seaweed-aws]
type = "s3"
endpoint = "{os.environ["PASSERELLE_TEST_SEAWEED_ENDPOINT"]}"
region = "us-east-1"
access_key_id = "{os.environ["PASSERELLE_TEST_SEAWEED_ACCESS_KEY"]}"
secret_access_key = "{os.environ["PASSERELLE_TEST_SEAWEED_SECRET_KEY"]}"
provider = "aws"
max_retries = 2
"""
    )
    monkeypatch.setenv("PASSERELLE_CONFIG", str(config))
    return f"s3://seaweed-aws@{unique_name('sov')}"


def test_a_live_move_to_a_non_compliant_destination_is_refused_before_any_byte(
    tmp_path: Path, db_url: str, sources: Path, aws_declared: str
) -> None:
    hub, who = _hub(tmp_path / "hub", db_url, policy=EEA_ONLY)
    assert hub.config.encrypt == ()  # local disk is in the EEA: plaintext is fine here
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    with pytest.raises(PolicyViolationError) as caught:
        start_move(hub, who["operator"], aws_declared)
    message = str(caught.value)
    assert "pmsi_stays (health-pseudonymized)" in message and "Amazon S3 (us-east-1)" in message
    assert "'eea'" in message and "encrypt" in message
    events = _denied(hub, "hub.migrate.start")
    assert events and "health-pseudonymized.eea" in events[-1]
    assert move_status(hub).phase == "single"
    bucket = open_store(aws_declared)
    with pytest.raises(ContainerNotFoundError):  # never created: nothing was written to it
        list(bucket.list())
    hub.close()


def test_a_live_move_to_that_destination_is_accepted_for_ciphertext(
    tmp_path: Path, db_url: str, sources: Path, aws_declared: str
) -> None:
    from passerelle.live.mover import run_backlog

    hub, who = _hub(tmp_path / "hub", db_url, policy=EEA_ONLY, encrypt=("health-pseudonymized",))
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    start_move(hub, who["operator"], aws_declared)
    run_backlog(hub, who["operator"])
    landed = open_store(aws_declared)
    bodies = [landed.get(i.key).read() for i in landed.list("datasets/")]
    assert bodies and all(is_envelope(b) for b in bodies)
    report = policy_check(hub, who["auditor"])
    assert {r.store for r in report.rows} == {
        hub.config.resolve_url(hub.config.store),
        aws_declared,
    }
    assert not report.violations
    hub.close()


def test_revision_0009_renames_classifications_both_ways(tmp_path: Path, db_url: str) -> None:
    from sqlalchemy import select

    from passerelle.hub.tables import Dataset

    hub, who = _hub(tmp_path / "hub", db_url)
    for name, classification in (("refs", "reference"), ("counts", "health-aggregate")):
        H.create_dataset(
            hub, who["steward"], name=name, organization=ORG, classification=classification
        )

    def held() -> dict[str, str]:
        with hub.db.read() as session:
            rows = session.execute(select(Dataset.name, Dataset.classification)).all()
            return {str(n): str(c) for n, c in rows}

    hub.db.downgrade("0008")
    assert held() == {"refs": "open", "counts": "aggregate"}
    hub.db.upgrade()
    assert held() == {"refs": "reference", "counts": "health-aggregate"}
    assert hub.db.revision() == SCHEMA_REVISION
    hub.close()


def test_a_move_reads_the_source_before_trusting_it_is_ciphertext(
    tmp_path: Path, db_url: str, sources: Path, aws_declared: str
) -> None:
    hub, who = _hub(tmp_path / "hub", db_url, policy=EEA_ONLY, encrypt=("health-pseudonymized",))
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    raw = hub.open_url(hub.config.resolve_url(hub.config.store))
    victim = next(i.key for i in raw.list("datasets/pmsi_stays/"))
    raw.put(victim, b"PAR1 rows in clear")
    with pytest.raises(PolicyViolationError, match="not an envelope") as caught:
        start_move(hub, who["operator"], aws_declared)
    assert victim in str(caught.value)
    assert any("health-pseudonymized.ciphertext" in d for d in _denied(hub, "hub.migrate.start"))
    assert move_status(hub).phase == "single"
    with pytest.raises(ContainerNotFoundError):
        list(open_store(aws_declared).list())
    hub.close()


def test_a_provider_profile_that_changes_is_caught_everywhere(
    tmp_path: Path, db_url: str, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passerelle.workspace import request_release

    eea = PlacementPolicy(
        (
            ("health-pseudonymized", ClassRule(("eea",), False)),
            ("health-aggregate", ClassRule(("eea",), False)),
        ),
        "eea",
    )
    hub, who = _hub(tmp_path / "hub", db_url, policy=eea)
    ingest_dataset(
        hub, who["steward"], dataset="pmsi_stays", organization=ORG,
        source_url=f"file://{sources}/stays.csv", schema="pmsi_stays",
    )  # fmt: skip
    pid = H.submit_project(
        hub, who["alice"], title="t", purpose="p", legal_basis="MR-004",
        authorization_ref="x", start=hub.now().date(), end=hub.now().date(),
    ).id  # fmt: skip
    H.change_status(hub, who["steward"], pid, "approve")
    H.create_grant(hub, who["steward"], pid, "pmsi_stays")
    query, _ = run_query(
        hub, who["alice"], pid, "SELECT sex, count(*) AS n FROM pmsi_stays GROUP BY sex"
    )
    assert not policy_check(hub, who["auditor"]).violations
    # the operator learns this machine's data centre is outside the EEA and says so
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shipped = Path(__file__).parents[2] / "src/passerelle/providers/profiles/local.toml"
    (profiles / "local.toml").write_text(shipped.read_text().replace("eea = true", "eea = false"))
    monkeypatch.setenv("PASSERELLE_PROVIDERS_PATH", str(profiles))
    report = policy_check(hub, who["auditor"])
    assert {r.dataset for r in report.violations} >= {"pmsi_stays", "pmsi_stays_quarantine"}
    assert all(r.rule == "health-pseudonymized.eea" for r in report.violations)
    with pytest.raises(PolicyViolationError, match="outside the EEA"):
        request_release(hub, who["alice"], query.id)
    assert _denied(hub, "release.request")
    with pytest.raises(PolicyViolationError, match="pmsi_stays"):
        extract_dataset(hub, who["steward"], pid, "pmsi_stays")
    assert _denied(hub, "extract.run")
    assert not _raw_objects(hub, f"workspaces/project-{pid}/extracts/")
    hub.close()


def test_a_replica_outside_the_policy_is_refused_and_placement_covers_replicas(
    tmp_path: Path, db_url: str, sources: Path, aws_declared: str
) -> None:
    """A replica receives every write, so it is a place the hub's data lives: refused
    outside the policy even on an empty hub (its results would go there), and checked
    with the hub's own stores before every write and in the auditor's policy check."""
    from passerelle.hub.placement import _write_urls
    from passerelle.live.replica import add_replica, replica_statuses

    hub, who = _hub(tmp_path / "hub", db_url, policy=EEA_ONLY)
    with pytest.raises(PolicyViolationError, match="Amazon S3"):
        add_replica(hub, who["operator"], aws_declared, name="us-copy")
    assert _denied(hub, "hub.replica.add") and replica_statuses(hub) == []
    paris = f"file://{tmp_path / 'paris-replica'}"
    add_replica(hub, who["operator"], paris, name="paris")
    assert paris in _write_urls(hub)  # every write's placement decision covers it
    ingest_dataset(
        hub,
        who["steward"],
        dataset="pmsi_stays",
        organization=ORG,
        source_url=f"file://{sources}/stays.csv",
        schema="pmsi_stays",
    )
    report = policy_check(hub, who["auditor"])
    assert paris in {r.store for r in report.rows} and not report.violations
    hub.close()
