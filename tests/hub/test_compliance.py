"""The compliance report: what it says per dataset, who may read it, and hostile text in it."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from passerelle import hub as H
from passerelle.api import create_app
from passerelle.errors import NotFoundError, PermissionDeniedError
from passerelle.hub.audit import AuditFilter, append_event, list_events
from passerelle.hub.compliance import compliance_report, html_csp, render_html
from passerelle.sovereignty.policy import NATIONAL_POLICY
from passerelle.storage import open_store

from .conftest import Cast, approved_project, dataset

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'


def _national(c: Cast) -> None:
    c.hub.config = dataclasses.replace(
        c.hub.config, policy=NATIONAL_POLICY, encrypt=("health-pseudonymized",)
    )


def _read_through_project(c: Cast, name: str) -> int:
    project = approved_project(c)
    H.create_grant(c.hub, c.steward, project, name)
    with c.hub.transaction() as session:
        H.granted_datasets(c.hub, c.alice, project, session)
    return project


def test_json_report_per_dataset(cast: Cast) -> None:
    _national(cast)
    name = dataset(cast)
    project = _read_through_project(cast, name)
    from passerelle.hub.key_admin import rotate_keys

    with cast.hub.transaction() as session:  # an interrupted rotation: started, never finished
        append_event(
            cast.hub, session, actor="admin", action="keys.rotate", target="key:k0",
            decision="allowed", details={"phase": "start", "key": "k0"},
        )  # fmt: skip
    assert compliance_report(cast.hub, cast.auditor)["custody"]["rotation_unfinished"]
    rotated = rotate_keys(cast.hub, cast.admin)
    report = compliance_report(cast.hub, cast.auditor)
    assert not report["custody"]["rotation_unfinished"]
    assert report["custody"]["current_key_id"] == rotated.key_id
    assert report["custody"]["last_rotation"]["target"] == f"key:{rotated.key_id}"
    assert report["policy"] == "national" and report["binding"]["phase"] == "single"
    assert report["audit_head"]["seq"] > 0 and len(report["audit_head"]["hash"]) == 64
    (row,) = [d for d in report["datasets"] if d["name"] == name]
    assert row["classification"] == "health-pseudonymized"
    (store,) = row["stores"]
    assert store["provider"] == "local" and store["url"].startswith("file://")
    policy = store["policy"]
    assert policy["allowed"] and policy["ciphertext_only"]  # local disk: not HDS, but encrypted
    assert {"rule": "health-pseudonymized.hds", "result": "fails"} in policy["rules"]
    assert row["encryption"]["ciphertext"] and row["encryption"]["custody"] == "file"
    assert row["encryption"]["last_rotation"] == report["custody"]["last_rotation"]["at"]
    access = row["access"]
    assert access["reads"] == 1 and access["by_project"] == {str(project): {"reads": 1}}
    assert access["decisions"]["allowed"] >= 2  # created, read
    assert row["last_certificate"] is None
    one = compliance_report(cast.hub, cast.admin, name)
    assert [d["name"] for d in one["datasets"]] == [name]
    json.dumps(one)  # all of it is JSON


def test_plaintext_on_a_failing_store_is_refused_in_the_report(cast: Cast) -> None:
    _national(cast)
    cast.hub.config = dataclasses.replace(cast.hub.config, encrypt=())
    name = dataset(cast)
    (row,) = [d for d in compliance_report(cast.hub, cast.auditor)["datasets"] if d["name"] == name]
    policy = row["stores"][0]["policy"]
    assert not policy["allowed"] and "health-pseudonymized" in policy["message"]
    assert not row["encryption"]["ciphertext"]
    assert "refused" in render_html(compliance_report(cast.hub, cast.auditor))


def test_last_certificate_of_the_hub_store(cast: Cast, tmp_path: Path) -> None:
    from passerelle.hub.certificates import issue_certificate
    from passerelle.migration import plan_migration, run_migration, verify_migration

    name = dataset(cast)
    src_url = f"file://{tmp_path / 'old-cloud'}"
    src = open_store(src_url)
    src.create_container()
    src.put("datasets/pmsi_stays/v1/part-0.parquet", b"parquet bytes")
    dst_url = cast.hub.config.resolve_url(cast.hub.config.store)
    journal = tmp_path / "j.db"
    plan_migration(src_url, dst_url, journal)
    assert run_migration(journal).complete and verify_migration(journal, deep=True).ok
    with pytest.raises(PermissionDeniedError):
        issue_certificate(cast.hub, cast.alice, journal, tmp_path / "denied.json")
    issued = issue_certificate(cast.hub, cast.operator, journal, tmp_path / "cert.json")
    (row,) = [d for d in compliance_report(cast.hub, cast.auditor)["datasets"] if d["name"] == name]
    certificate = row["last_certificate"]
    assert certificate["root"] == issued.certificate.root and certificate["objects"] == 1
    assert certificate["actor"] == "operator" if "actor" in certificate else True
    from passerelle.migration.certificate_verify import verify_certificate

    check = verify_certificate(
        (tmp_path / "cert.json").read_text(), public_key=certificate["public_key"]
    )
    assert check.ok, check.problems


@pytest.mark.parametrize("who", ["alice", "steward", "operator", "checker"])
def test_only_auditors_and_admins_read_it_and_refusals_are_audited(cast: Cast, who: str) -> None:
    with pytest.raises(PermissionDeniedError, match=r"compliance\.read needs the role"):
        compliance_report(cast.hub, getattr(cast, who))
    events = list_events(cast.hub, cast.auditor, AuditFilter(actor=who), limit=1000)
    assert any(e["action"] == "compliance.read" and e["decision"] == "denied" for e in events), (
        events
    )


def test_unknown_dataset_is_not_found(cast: Cast) -> None:
    with pytest.raises(NotFoundError):
        compliance_report(cast.hub, cast.auditor, "no_such_dataset")


def test_html_escapes_a_crafted_description_and_has_no_script(cast: Cast) -> None:
    H.create_organization(cast.hub, cast.steward, "X1", f'Org "{HOSTILE}', "hospital")
    H.create_dataset(
        cast.hub, cast.steward, name="crafted", organization="X1",
        classification="reference", description=HOSTILE,
    )  # fmt: skip
    html = render_html(compliance_report(cast.hub, cast.auditor))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()  # the tag is text: &lt;img ...&gt;
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&amp;amp;" in html  # an entity in the text stays text
    assert re.search(r"<style>[^<]*</style>", html)  # the only inline content: our own style
    assert "@media print" in html


def test_api_report_roles_formats_and_csp(cast: Cast) -> None:
    dataset(cast)
    H.create_dataset(
        cast.hub, cast.steward, name="crafted", organization="750712184",
        classification="reference", description=HOSTILE,
    )  # fmt: skip
    with TestClient(create_app(cast.hub)) as client:

        def get(who: str, **params: str) -> object:
            headers = {"Authorization": f"Bearer {cast.tokens[who]}"}
            return client.get("/compliance/report", params=params, headers=headers)

        ok = get("auditor")
        assert ok.status_code == 200 and ok.json()["format"] == "passerelle-compliance-report/1"
        one = get("admin", dataset="crafted").json()
        assert [d["description"] for d in one["datasets"]] == [HOSTILE]  # JSON keeps it as data
        page = get("auditor", format="html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == html_csp()
        assert "script-src" not in html_csp() and "default-src 'none'" in html_csp()
        assert "<script" not in page.text.lower()
        for who in ("alice", "steward", "operator"):
            refused = get(who)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["message"].count(".") <= 2
        assert get("auditor", dataset="nope").status_code == 404
        assert get("auditor", format="pdf").status_code == 422
        assert client.get("/compliance/report").status_code == 401


def test_cli_report_json_html_and_one_sentence_errors(tmp_path: Path) -> None:
    from tests.cli.test_storage_commands import assert_one_sentence, run_cli

    hub, issued = H.init_hub(tmp_path / "hub", name="cli-hub")  # the real clock: live tokens
    admin = H.authenticate(hub, issued.secret)
    tokens = {}
    for who, role in (("auditor", "auditor"), ("stew", "steward"), ("alice", "researcher")):
        H.create_user(hub, admin, who, role)
        tokens[who] = H.issue_token(hub, admin, user=who).secret
    steward = H.authenticate(hub, tokens["stew"])
    H.create_organization(hub, steward, "750712184", "AP-HP", "hospital")
    H.create_dataset(
        hub, steward, name="pmsi_stays", organization="750712184",
        classification="health-pseudonymized", description=HOSTILE,
    )  # fmt: skip
    hub.close()
    hub_dir = str(tmp_path / "hub")
    env = {"PASSERELLE_TOKEN": tokens["auditor"]}
    out = run_cli("compliance", "report", "--hub", hub_dir, "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.load(io.StringIO(out.stdout))["datasets"][0]["description"] == HOSTILE
    page = tmp_path / "report.html"
    html = run_cli(
        "compliance", "report", "--hub", hub_dir, "--format", "html", "--output", str(page),
        "--dataset", "pmsi_stays", env=env,
    )  # fmt: skip
    assert html.returncode == 0, html.stderr
    assert page.read_text().startswith("<!DOCTYPE html>") and "<script" not in page.read_text()
    assert_one_sentence(
        run_cli("compliance", "report", "--hub", hub_dir, "--format", "pdf", env=env),
        "Unknown report format 'pdf'",
    )
    assert_one_sentence(
        run_cli(
            "compliance", "report", "--hub", hub_dir, env={"PASSERELLE_TOKEN": tokens["alice"]}
        ),
        "permission denied",
    )
    assert_one_sentence(
        run_cli("compliance", "report", "--hub", hub_dir, "--dataset", "nope", env=env),
        "nope",
    )


def test_during_a_live_move_each_store_is_reported(cast: Cast, tmp_path: Path) -> None:
    from passerelle.live.mover import start_move

    name = dataset(cast)
    dest = f"file://{tmp_path / 'new-cloud'}"
    start_move(cast.hub, cast.operator, dest)
    report = compliance_report(cast.hub, cast.auditor, name)
    assert report["binding"]["phase"] == "mirroring"
    (row,) = report["datasets"]
    urls = [s["url"] for s in row["stores"]]
    assert len(urls) == 2 and urls[1] == cast.hub.config.resolve_url(dest)
    assert all("policy" in s and s["provider"] == "local" for s in row["stores"])
    assert render_html(report).count("<code>file://") >= 2


def test_odd_events_in_the_log_are_counted_or_ignored_never_a_crash(cast: Cast) -> None:
    name = dataset(cast)
    (entry,) = [d for d in compliance_report(cast.hub, cast.auditor)["datasets"]]
    odd = [
        ("dataset.read-data", "dataset:\u00b2", {"dataset": True, "project": True}),
        ("dataset.read-data", f"dataset:{entry['id']}", {"project": "1"}),
        ("query.run", "project:1", {"datasets": [name, 3, None], "project": 1}),
        ("migration.certificate", "migration:x", {"destination": ["not", "text"]}),
        ("keys.rotate", "key:zz", {"phase": ["odd"]}),
    ]
    with cast.hub.transaction() as session:
        for action, target, details in odd:
            append_event(
                cast.hub, session, actor="x", action=action, target=target,
                decision="allowed", details=details,
            )  # fmt: skip
    report = compliance_report(cast.hub, cast.auditor)
    (row,) = report["datasets"]
    assert row["access"]["reads"] == 1 and row["access"]["queries"] == 1
    assert row["access"]["by_project"] == {"1": {"queries": 1}}
    assert report["custody"]["rotation_unfinished"]
    render_html(report)


def test_a_refused_access_is_no_read(cast: Cast) -> None:
    # a researcher whose every attempt is denied must not show as having read the dataset
    name = dataset(cast)
    (entry,) = compliance_report(cast.hub, cast.auditor)["datasets"]
    attempts = [
        ("dataset.read-data", "denied"),
        ("query.run", "denied"),
        ("extract.run", "error"),
        ("dataset.read-data", "allowed"),
    ]
    with cast.hub.transaction() as session:
        for action, decision in attempts:
            append_event(
                cast.hub, session, actor="r", action=action, target=f"dataset:{entry['id']}",
                decision=decision, details={"project": 7, "dataset": entry["id"], "datasets": [name]},
            )  # fmt: skip
    access = compliance_report(cast.hub, cast.auditor)["datasets"][0]["access"]
    assert (access["reads"], access["queries"], access["extracts"]) == (1, 0, 0)
    assert access["refused"] == 3
    assert access["by_project"] == {"7": {"reads": 1, "refused": 3}}
    assert access["decisions"]["denied"] == 2 and access["decisions"]["error"] == 1
    html = render_html(compliance_report(cast.hub, cast.auditor))
    assert "<th>refused</th>" in html
