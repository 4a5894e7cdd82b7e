"""The operator's page: the move's phase and progress, its samples for the live chart, and
each phase change confirmed, with the API's refusals for other roles and wrong phases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import escape

from passerelle.hub import authenticate
from passerelle.live import run_backlog
from passerelle.portal.operator_pages import steps_open
from tests.api.conftest import SQLITE_ONLY, Api
from tests.api.test_migration_api import write
from tests.portal.conftest import csrf_of


def test_the_steps_offered_follow_the_phase() -> None:
    assert steps_open("single") == ["start"]
    assert steps_open("mirroring") == ["cutover", "rollback"]
    assert steps_open("cutover") == ["rollback", "finish"]


def _confirm(client: Any, step: str, **fields: Any) -> Any:
    page = client.get(f"/portal/operator/{step}")
    assert page.status_code == 200, page.text
    assert f"Yes, {step}" in page.text
    return client.post(
        f"/portal/operator/{step}",
        data={"csrf": csrf_of(page.text), **fields},
        follow_redirects=False,
    )


@SQLITE_ONLY
def test_an_operator_moves_the_hub_through_the_portal(
    api: Api, browser: Any, tmp_path: Path
) -> None:
    api.add_user("otto", "operator")
    write(api, 12)
    otto = browser("otto")
    assert 'href="/portal/operator"' in otto.get("/portal/").text
    page = otto.get("/portal/operator")
    assert page.status_code == 200 and ">single<" in page.text
    assert (
        'href="/portal/operator/start"' in page.text and "/portal/operator/cutover" not in page.text
    )

    destination = f"file://{tmp_path / 'cloud-b'}"
    started = _confirm(otto, "start", destination=destination, require=[])
    assert started.status_code == 200, started.text
    assert ">mirroring<" in started.text and "Start done" in started.text
    samples = otto.get("/portal/operator/samples.json").json()
    assert samples["phase"] == "mirroring" and samples["objects_total"] >= 12
    assert destination not in str(samples) and "file://" not in str(samples)  # numbers only

    assert run_backlog(api.hub, authenticate(api.hub, api.tokens["otto"])).complete
    assert otto.get("/portal/operator/samples.json").json()["objects_done"] >= 12
    cut = _confirm(otto, "cutover")
    assert "Cutover done" in cut.text and "verified deep" in cut.text
    finished = _confirm(otto, "finish")
    assert "Finish done" in finished.text and ">single<" in finished.text
    assert api.ok("GET", "/hub/migration", "otto")["source_url"] == destination


@SQLITE_ONLY
def test_the_wrong_phase_or_a_bad_destination_is_one_sentence(
    api: Api, browser: Any, tmp_path: Path
) -> None:
    api.add_user("otto", "operator")
    otto = browser("otto")
    early = _confirm(otto, "cutover")
    expected = api.post("/hub/migration/cutover", "otto")
    assert early.status_code == expected.status_code == 409
    assert str(escape(expected.json()["error"]["message"])) in early.text
    for bad in ("not a url", "ftp://x/y", "s3://nowhere@bucket"):
        answer = _confirm(otto, "start", destination=bad)
        assert answer.status_code in (404, 422, 503), (bad, answer.status_code)
        assert "Traceback" not in answer.text
    rules = _confirm(otto, "start", destination=f"file://{tmp_path}/b", require=["made-up"])
    assert rules.status_code == 422 and "hds, secnumcloud, eea, eu-jurisdiction" in rules.text
    assert api.ok("GET", "/hub/migration", "otto")["phase"] == "single"  # nothing started


@SQLITE_ONLY
def test_a_phase_change_needs_the_form_token(api: Api, browser: Any, tmp_path: Path) -> None:
    api.add_user("otto", "operator")
    otto = browser("otto")
    answer = otto.post(
        "/portal/operator/start",
        data={"csrf": "0" * 64, "destination": f"file://{tmp_path}/b"},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert api.ok("GET", "/hub/migration", "otto")["phase"] == "single"


@SQLITE_ONLY
def test_other_roles_cannot_watch_or_move(api: Api, browser: Any, tmp_path: Path) -> None:
    rita = browser("rita")
    assert 'href="/portal/operator"' not in rita.get("/portal/").text
    expected = api.get("/hub/migration", "rita")
    for url in ("/portal/operator", "/portal/operator/samples.json", "/portal/operator/start"):
        answer = rita.get(url)
        assert answer.status_code == expected.status_code == 403, url
    forged = rita.post(
        "/portal/operator/start",
        data={"csrf": csrf_of(rita.get("/portal/").text), "destination": f"file://{tmp_path}/b"},
    )
    assert forged.status_code == 403
    aude = browser("aude")  # auditors may watch, as through the API
    assert aude.get("/portal/operator").status_code == 200
    assert aude.get("/portal/operator/samples.json").status_code == 200
    assert _confirm_refused(aude, tmp_path) == 403


def _confirm_refused(client: Any, tmp_path: Path) -> int:
    page = client.get("/portal/operator/start")
    return int(
        client.post(
            "/portal/operator/start",
            data={"csrf": csrf_of(page.text), "destination": f"file://{tmp_path}/b"},
        ).status_code
    )


@SQLITE_ONLY
def test_the_operator_page_shows_each_replica_lag_escaped(
    api: Api, browser: Any, tmp_path: Path
) -> None:
    from passerelle.live.replica import add_replica

    api.add_user("otto", "operator")
    otto = browser("otto")
    assert "No replica" in otto.get("/portal/operator").text
    hostile = tmp_path / "<script>alert(1)</script>"
    add_replica(
        api.hub, authenticate(api.hub, api.tokens["otto"]), f"file://{hostile}", name="ovh-gra"
    )
    write(api, 3)
    page = otto.get("/portal/operator").text
    assert "ovh-gra" in page and "<script>alert(1)</script>" not in page
    assert str(escape("<script>alert(1)</script>")) in page


@SQLITE_ONLY
def test_an_operator_proves_a_replica_and_drills_the_exit_from_the_portal(
    api: Api, browser: Any, tmp_path: Path
) -> None:
    from passerelle.live.replica import add_replica

    api.add_user("otto", "operator")
    add_replica(
        api.hub,
        authenticate(api.hub, api.tokens["otto"]),
        f"file://{tmp_path / 'replica'}",
        name="ovh-gra",
    )
    write(api, 3)
    otto = browser("otto")
    page = otto.get("/portal/operator").text
    assert 'href="/portal/operator/replicas/ovh-gra/verify"' in page
    assert 'href="/portal/operator/replicas/ovh-gra/exit-drill"' in page

    def act(client: Any, action: str) -> Any:
        page = client.get(f"/portal/operator/replicas/ovh-gra/{action}")
        assert page.status_code == 200 and f"Yes, {action}" in page.text, page.text
        url = f"/portal/operator/replicas/ovh-gra/{action}"
        return client.post(url, data={"csrf": csrf_of(page.text)}, follow_redirects=False)

    drill = act(otto, "exit-drill")
    assert drill.status_code == 200, drill.text
    assert "Ready: a switch now would lose nothing" in drill.text
    assert "Art. 29 switching charges" in drill.text
    proof = act(otto, "verify")
    assert "Proven: the replica holds the hub" in proof.text and "3 objects checked" in proof.text

    (tmp_path / "replica" / "datasets" / "d" / "part-0.bin").write_bytes(b"altered")
    broken = act(otto, "verify")
    assert "Not proven: 1 problem." in broken.text, broken.text

    auditor = browser("aude")  # may prove, may not drill: no link, and the page refuses
    assert "/exit-drill" not in auditor.get("/portal/operator").text
    assert auditor.get("/portal/operator/replicas/ovh-gra/exit-drill").status_code == 403
    assert auditor.get("/portal/operator/replicas/ovh-gra/verify").status_code == 200
    rita = browser("rita")
    assert rita.get("/portal/operator/replicas/ovh-gra/verify").status_code == 403
    forged = otto.post("/portal/operator/replicas/ovh-gra/exit-drill", data={"csrf": "x"})
    assert forged.status_code == 403
    assert otto.get("/portal/operator/replicas/nope/verify").status_code == 404
    unknown = otto.get("/portal/operator/replicas/ovh-gra/delete")  # as /portal/operator/nope
    assert unknown.status_code == otto.get("/portal/operator/nope").status_code == 422
    assert "Traceback" not in unknown.text
