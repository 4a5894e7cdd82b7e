"""``passerelle catalog export|validate|import|remote|forget`` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

from rdflib import Graph, URIRef

from tests.cli.test_storage_commands import assert_one_sentence, run_cli
from tests.hub.test_dcat_import import MIXED, partner_export

DATASET = URIRef("http://www.w3.org/ns/dcat#dataset")


def test_export_validate_import_and_find(tmp_path: Path) -> None:
    hub = str(tmp_path / "hub")
    admin = run_cli("init", "--hub", hub).stdout.strip().splitlines()[-1]
    env = {"PASSERELLE_HUB": hub}

    def cli(token: str | None, *args: str) -> str:
        extra = {"PASSERELLE_TOKEN": token} if token else {}
        proc = run_cli(*args, env={**env, **extra})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    tokens = {}
    for name, roles in (("claire", "steward"), ("rita", "researcher")):
        cli(admin, "users", "add", name, "--roles", roles)
        tokens[name] = cli(admin, "tokens", "create", "--user", name).strip()
    claire, rita = tokens["claire"], tokens["rita"]
    cli(claire, "orgs", "add", "750712184", "--name", "AP-HP [/x]", "--kind", "hospital")
    for name, discoverable in (("pmsi_stays", "--discoverable"), ("hidden", "--no-discoverable")):
        cli(
            claire,
            "datasets",
            "add",
            name,
            "--org",
            "750712184",
            "--classification",
            "health-pseudonymized",
            "--description",
            'Stays "[bold]" <script>',
            discoverable,
        )

    steward = {**env, "PASSERELLE_TOKEN": claire}
    bad = run_cli(
        "datasets", "update", "pmsi_stays", "--covers", "2023-12-31/2019-01-01", env=steward
    )
    assert_one_sentence(bad, "START/END")
    shown = json.loads(
        cli(claire, "datasets", "update", "pmsi_stays", "--covers", "2019-01-01/", "--json")
    )
    assert (shown["covers_from"], shown["covers_until"]) == ("2019-01-01", None)

    public = tmp_path / "public.jsonld"
    cli(None, "catalog", "export", "--public", "-o", str(public))  # no token needed
    listed = {str(o).rsplit("/", 1)[-1] for o in Graph().parse(public).objects(None, DATASET)}
    assert listed == {"pmsi_stays"}
    turtle = cli(claire, "catalog", "export", "--format", "turtle")
    assert "hidden" in turtle and 'Stays \\"[bold]\\" <script>' in turtle
    refused = run_cli("catalog", "export", env=env)  # the signed-in view needs a token
    assert_one_sentence(refused, "token")

    checked = cli(None, "catalog", "validate", str(public))
    assert "conforms to DCAT-AP 3.0.1: 0 violations" in " ".join(checked.split())
    as_json = json.loads(cli(None, "catalog", "validate", str(public), "--json"))
    assert as_json["violations"] == [] and as_json["warnings"]

    partner = tmp_path / "partner.ttl"
    partner.write_bytes(partner_export("turtle", title="[/x] stays [red]"))
    done = json.loads(cli(claire, "catalog", "import", str(partner), "--source", "lyon", "--json"))
    assert done["imported"] == 2
    table = cli(rita, "catalog", "remote", "--search", "stays")
    assert "[/x] stays [red]" in table  # a partner's text is shown as text, never as markup
    found = json.loads(cli(rita, "catalog", "remote", "--source", "lyon", "--json"))
    assert {d["identifier"] for d in found["items"]} == {"[/x] stays [red]", "claims"}
    not_steward = run_cli(
        "catalog", "import", str(partner), "--source", "x", env={**env, "PASSERELLE_TOKEN": rita}
    )
    assert_one_sentence(not_steward, "permission denied")
    assert "removed 2" in cli(claire, "catalog", "forget", "lyon")

    mixed = tmp_path / "mixed.ttl"
    mixed.write_bytes(MIXED)
    shown = "".join(cli(claire, "catalog", "import", str(mixed), "--source", "gr").split())
    assert "imported2" in shown and "skipped3" in shown
    assert "leftouturn:uuid:4b0e1c2a-0000-4000-8000-000000000001:itisnotanhttp(s)IRI" in shown


def test_bad_catalog_files_get_one_sentence(tmp_path: Path) -> None:
    remote = tmp_path / "remote.jsonld"
    remote.write_text('{"@context": "http://127.0.0.1:9/ctx"}')
    assert_one_sentence(run_cli("catalog", "validate", str(remote)), "fetches nothing")
    broken = tmp_path / "broken.ttl"
    broken.write_text("<http://a/s> <http://a/p> ")
    assert_one_sentence(run_cli("catalog", "validate", str(broken)), "not readable Turtle")
    missing = run_cli("catalog", "validate", str(tmp_path / "nowhere.ttl"))
    assert_one_sentence(missing, "cannot read the catalog file")
    failing = tmp_path / "no-title.ttl"
    failing.write_text(
        "@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .\n"
        '<https://p.eu/c> a dcat:Catalog ; dct:title "c" ; dcat:dataset <https://p.eu/d> .\n'
        "<https://p.eu/d> a dcat:Dataset .\n"
    )
    proc = run_cli("catalog", "validate", str(failing))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "does not conform" in proc.stdout and "violation" in proc.stdout


def test_validate_prints_no_terminal_control_codes_from_the_file(tmp_path: Path) -> None:
    hostile = tmp_path / "escape.ttl"
    hostile.write_text(
        "@prefix dcat: <http://www.w3.org/ns/dcat#> .\n"
        "<https://p.eu/\\u001B[2J\\u009B31m\\u202Eevil> a dcat:Dataset .\n"
    )
    proc = run_cli("catalog", "validate", str(hostile))
    assert proc.returncode == 1, proc.stderr
    assert "\x1b" not in proc.stdout and "\x9b" not in proc.stdout and "\u202e" not in proc.stdout
    assert "https://p.eu/[2J31mevil" in proc.stdout
