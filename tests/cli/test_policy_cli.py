"""``init --policy``, ``policy show|check``, ``catalog classify`` and ``migrate plan --policy``
as a user types them; every bad input is one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passerelle.storage import open_store
from passerelle.synth import synthesize
from tests.backends import new_store_url
from tests.cli.test_storage_commands import assert_one_sentence, run_cli


@pytest.fixture(scope="module")
def stays(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, persons=120, seed=5, defect_rate=0.0, fhir_fraction=0.0)
    return out / "stays.csv"


def _national_hub(tmp_path: Path, stays: Path) -> tuple[str, dict[str, str]]:
    hub = str(tmp_path / "hub")
    plain = run_cli("init", "--hub", hub, "--policy", "national")
    assert_one_sentence(plain, "may not be stored in plaintext at Local disk", "add 'health-")
    assert plain.returncode == 3 and not (Path(hub) / "hub.toml").exists()
    settings = tmp_path / "settings.toml"
    settings.write_text('[hub]\nencrypt = ["health-identifying", "health-pseudonymized"]\n')
    init = run_cli("init", "--hub", hub, "--policy", "national", "--config", str(settings))
    assert init.returncode == 0, init.stderr
    assert "policy       national" in init.stdout
    assert "encrypted    health-identifying, health-pseudonymized" in init.stdout
    admin = init.stdout.strip().splitlines()[-1]
    env = {"PASSERELLE_HUB": hub, "PASSERELLE_TOKEN": admin}
    assert run_cli("users", "add", "sam", "--roles", "steward", env=env).returncode == 0
    sam = run_cli("tokens", "create", "--user", "sam", env=env).stdout.strip()
    steward = {**env, "PASSERELLE_TOKEN": sam}
    run_cli("orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital", env=steward)
    ingest = run_cli(
        "ingest",
        f"file://{stays}",
        "--org",
        "750712184",
        "--dataset",
        "pmsi_stays",
        "--schema",
        "pmsi_stays",
        env=steward,
    )
    assert ingest.returncode == 0, ingest.stderr
    return hub, {"admin": env, "steward": steward}


def test_a_national_hub_from_the_command_line(tmp_path: Path, stays: Path) -> None:
    hub, env = _national_hub(tmp_path, stays)
    assert "[policy.health-pseudonymized]" in (Path(hub) / "hub.toml").read_text()
    shown = run_cli("policy", "show", "--json", env=env["admin"])
    rows = {r["classification"]: r for r in json.loads(shown.stdout)}
    assert rows["health-pseudonymized"]["require"] == "hds, eea"
    assert rows["health-pseudonymized"]["encrypted"] is True
    assert rows["reference"]["require"] == "none"
    check = run_cli("policy", "check", env=env["admin"])
    assert check.returncode == 0, check.stderr
    assert "no violation" in check.stdout and "pmsi_stays" in check.stdout
    raw = open_store(f"file://{hub}/data")
    key = next(i.key for i in raw.list("datasets/pmsi_stays/"))
    raw.put(key, b"plaintext swapped in")
    bad = run_cli("policy", "check", env=env["admin"])
    assert bad.returncode == 3 and "Traceback" not in bad.stderr
    assert "violation" in bad.stdout and key in " ".join(bad.stdout.split())
    classify = run_cli("catalog", "classify", "pmsi_stays", "reference", env=env["steward"])
    assert_one_sentence(classify, "kept as ciphertext")
    unknown = run_cli("catalog", "classify", "pmsi_stays", "open", env=env["steward"])
    assert_one_sentence(unknown, "unknown classification 'open'")
    researcher = run_cli("policy", "check", env={**env["admin"], "PASSERELLE_TOKEN": "pst_x"})
    assert_one_sentence(researcher)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[policy.open]\nrequire = ["hds"]\n', ["Unknown classification", "'open'"]),
        ('[policy.reference]\nrequire = ["gdpr"]\n', ["unknown requirement 'gdpr'"]),
        ("[policy.reference]\nciphertext_elsewhere = 1\n", ["ciphertext_elsewhere must be"]),
        ('[hub]\nencrypt = ["open"]\n', ["encrypt", "'open'"]),
        ("[polcy.reference]\n", ["unknown section [polcy]"]),
    ],
)
def test_bad_policy_settings_are_one_sentence(tmp_path: Path, toml: str, words: list[str]) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(toml if toml.startswith("[hub]") else "[hub]\n" + toml)
    proc = run_cli("init", "--hub", str(tmp_path / "hub"), "--config", str(config))
    assert_one_sentence(proc, *words)


def test_init_with_an_unknown_policy_is_one_sentence(tmp_path: Path) -> None:
    proc = run_cli("init", "--hub", str(tmp_path / "hub"), "--policy", "sovereign")
    assert_one_sentence(proc, "Unknown policy 'sovereign'", "national")


def test_migrate_plan_policy_reads_the_source(tmp_path: Path) -> None:
    source = f"file://{tmp_path / 'src'}"
    store = open_store(source)
    store.create_container()
    store.put("datasets/a/part-0.parquet", b"PAR1 plaintext rows")
    dest = new_store_url("seaweedfs", tmp_path)
    env = {"PASSERELLE_HUB": str(tmp_path / "no-hub")}
    # the seaweed remote's profile is the generic on-premise Ceph one: EEA, no HDS
    refused = run_cli(
        "migrate",
        "plan",
        source,
        dest,
        "--journal",
        str(tmp_path / "j1"),
        "--policy",
        "health-pseudonymized",
        env=env,
    )
    assert_one_sentence(refused, "only as ciphertext", "datasets/a/part-0.parquet")
    reference = run_cli(
        "migrate",
        "plan",
        source,
        dest,
        "--journal",
        str(tmp_path / "j2"),
        "--policy",
        "reference",
        env=env,
    )
    assert reference.returncode == 0, reference.stderr
    assert "national policy" in reference.stdout
    unproven = run_cli(  # its region is unknown to the profile: EEA unproven, ciphertext only
        "migrate", "plan", source, dest, "--journal", str(tmp_path / "j4"),
        "--policy", "reference,health-aggregate", env=env,
    )  # fmt: skip
    assert_one_sentence(unproven, "health-aggregate", "only as ciphertext", "part-0.parquet")
    from passerelle.keys.file_custody import FileCustody
    from passerelle.storage.encrypting import EncryptingStore

    custody = FileCustody(tmp_path / "keks.json")
    custody.create_key()
    sealed = f"file://{tmp_path / 'sealed'}"
    open_store(sealed).create_container()
    EncryptingStore(open_store(sealed), custody).put("datasets/a/part-0.parquet", b"rows")
    ciphertext = run_cli(
        "migrate",
        "plan",
        sealed,
        dest,
        "--journal",
        str(tmp_path / "j5"),
        "--policy",
        "health-pseudonymized",
        env=env,
    )
    assert ciphertext.returncode == 0, ciphertext.stderr
    assert "ciphertext only" in ciphertext.stdout and "1 source objects read" in ciphertext.stdout
    bad = run_cli(
        "migrate",
        "plan",
        source,
        dest,
        "--journal",
        str(tmp_path / "j3"),
        "--policy",
        "open",
        env=env,
    )
    assert_one_sentence(bad, "Unknown classification 'open'")
