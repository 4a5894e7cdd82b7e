"""Issue 12's story as a new user types it, on real servers and a SoftHSM2 token.

A hub whose policy wants HDS + EEA for health data is refused on an AWS bucket in
plaintext, accepted there once its health data is ciphertext under an HSM key; it
ingests and queries with the same results as a plaintext hub, rotates its KEK without
re-encrypting, reports its compliance, and its move to another bucket yields a
certificate that ``certificate verify`` accepts offline and rejects after one edit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from passerelle.sovereignty.envelope import is_envelope
from passerelle.storage import open_store
from tests.backends import require_backend, unique_name
from tests.cli.test_storage_commands import assert_one_sentence, run_cli

STAYS_SQL = (
    "SELECT postcode, count(*) AS n_stays, count(DISTINCT person_id) AS n_persons "
    "FROM pmsi_stays GROUP BY 1 ORDER BY 1"
)


@pytest.fixture
def hsm() -> dict[str, str]:
    if not os.environ.get("PASSERELLE_TEST_PKCS11_MODULE"):
        if os.environ.get("PASSERELLE_REQUIRE_SERVERS"):
            pytest.fail("SoftHSM2 is required: start it with scripts/servers/softhsm.sh")
        pytest.skip("SoftHSM2 is not running (scripts/servers/softhsm.sh start)")
    return {"PASSERELLE_HSM_PIN": os.environ["PASSERELLE_TEST_PKCS11_PIN"]}


@pytest.fixture
def aws_config(tmp_path: Path, storage_config: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test servers plus a Ceph RGW remote whose profile says: Amazon S3, us-east-1."""
    require_backend("ceph")
    config = tmp_path / "config.toml"
    config.write_text(
        storage_config.read_text()
        + f"""
[remotes.ceph-aws]
type = "s3"
endpoint = "{os.environ["PASSERELLE_TEST_CEPH_ENDPOINT"]}"
region = "us-east-1"
access_key_id = "{os.environ["PASSERELLE_TEST_CEPH_ACCESS_KEY"]}"
secret_access_key = "{os.environ["PASSERELLE_TEST_CEPH_SECRET_KEY"]}"
provider = "aws"
max_retries = 2
"""
    )
    monkeypatch.setenv("PASSERELLE_CONFIG", str(config))
    return config


def _hub(
    tmp_path: Path, name: str, env: dict[str, str], *init_args: str
) -> tuple[dict[str, str], dict[str, str]]:
    """A hub with a steward, a researcher and an auditor; returns (env, tokens)."""
    hub = str(tmp_path / name)
    init = run_cli("init", "--hub", hub, "--name", name, *init_args, env=env)
    assert init.returncode == 0, init.stderr
    hub_env = {**env, "PASSERELLE_HUB": hub}
    tokens = {"admin": init.stdout.strip().splitlines()[-1]}
    for user, roles in (("claire", "steward"), ("rita", "researcher"), ("ada", "auditor")):
        _ok(hub_env, tokens["admin"], "users", "add", user, "--roles", roles)
        tokens[user] = _ok(hub_env, tokens["admin"], "tokens", "create", "--user", user).strip()
    return hub_env, tokens


def _ok(env: dict[str, str], token: str, *args: str) -> str:
    proc = run_cli(*args, env={**env, "PASSERELLE_TOKEN": token})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _ingest_and_query(env: dict[str, str], tokens: dict[str, str], stays: Path) -> list[dict]:
    claire, rita = tokens["claire"], tokens["rita"]
    _ok(env, claire, "orgs", "add", "750712184", "--name", "AP-HP", "--kind", "hospital")
    _ok(
        env, claire, "ingest", f"file://{stays}", "--org", "750712184",
        "--dataset", "pmsi_stays", "--schema", "pmsi_stays", "--json",
    )  # fmt: skip
    _ok(
        env, rita, "projects", "submit", "--title", "Stays", "--purpose", "Counts",
        "--legal-basis", "MR-004", "--authorization", "CNIL-1",
        "--start", "2026-01-01", "--end", "2030-12-31",
    )  # fmt: skip
    _ok(env, claire, "projects", "approve", "1")
    _ok(env, claire, "grants", "add", "1", "pmsi_stays")
    result = json.loads(
        _ok(env, rita, "query", "--project", "1", "--json", "--show", "1000", STAYS_SQL)
    )
    rows: list[dict] = result["rows"]
    return rows


def _raw_digests(url: str) -> dict[str, tuple[str, str | None]]:
    """Every raw object's SHA-256 and the KEK its metadata names."""
    store = open_store(url)
    out = {}
    for info in store.list(""):
        body = store.get(info.key).read()
        out[info.key] = (
            hashlib.sha256(body).hexdigest(),
            store.head(info.key).metadata.get("passerelle_kek"),
        )
    return out


def test_sovereign_hub_on_a_foreign_cloud(
    tmp_path: Path, hsm: dict[str, str], aws_config: Path
) -> None:
    incoming = tmp_path / "incoming"
    synth = run_cli("synth", "--persons", "400", "--seed", "12", "--out", str(incoming))
    assert synth.returncode == 0, synth.stderr
    stays = incoming / "stays.csv"
    env = {"PASSERELLE_CONFIG": str(aws_config), **hsm}
    bucket = f"s3://ceph-aws@{unique_name('sovstory')}"

    # 1. Plaintext health data on AWS us-east-1 breaks the national policy: refused, nothing made.
    refused = run_cli(
        "init", "--hub", str(tmp_path / "plain-aws"), "--store", bucket, "--policy", "national",
        env=env,
    )  # fmt: skip
    assert_one_sentence(refused, "Amazon S3 (us-east-1)", "may not be stored")
    assert refused.returncode == 3
    assert not (tmp_path / "plain-aws" / "hub.toml").exists()

    # 2. The same bucket with health data as ciphertext under a SoftHSM2 key: accepted.
    settings = tmp_path / "sovereign.toml"
    settings.write_text(
        '[hub]\nencrypt = ["health-pseudonymized", "health-aggregate"]\n'
        'custody = "pkcs11"\n'
        f'pkcs11_module = "{os.environ["PASSERELLE_TEST_PKCS11_MODULE"]}"\n'
        f'pkcs11_token = "{os.environ["PASSERELLE_TEST_PKCS11_TOKEN"]}"\n'
        'pkcs11_pin_env = "PASSERELLE_HSM_PIN"\n'
    )
    sov_env, sov = _hub(
        tmp_path, "sovhub", env, "--store", bucket, "--policy", "national",
        "--config", str(settings),
    )  # fmt: skip
    plain_env, plain = _hub(tmp_path, "plainhub", env)

    # 3. Ingest and query: the same results as on a plaintext hub.
    sovereign_rows = _ingest_and_query(sov_env, sov, stays)
    assert sovereign_rows and sovereign_rows == _ingest_and_query(plain_env, plain, stays)

    # The provider holds only ciphertext: no Parquet magic, no column name, no pseudonym in the bucket.
    raw = open_store(bucket)
    objects = list(raw.list(""))
    assert objects
    for info in objects:
        body = raw.get(info.key).read()
        if info.key.startswith("datasets/") or info.key.startswith("workspaces/"):
            assert is_envelope(body[:64]) and not body.startswith(b"PAR1"), info.key
            for marker in (b"person_id", b"main_diagnosis", b"admission_date"):  # Parquet footer
                assert marker not in body, f"{marker!r} in {info.key}"

    # 4. Rotate the KEK: every envelope re-wrapped, no ciphertext byte rewritten, results unchanged.
    before = _raw_digests(bucket)
    old_keys = {kek for _, kek in before.values() if kek}
    assert len(old_keys) == 1
    _ok(sov_env, sov["admin"], "keys", "rotate", "--json")
    after = _raw_digests(bucket)
    for key, (digest, kek) in before.items():
        if kek:
            assert after[key][0] == digest, f"{key} was re-encrypted"
            assert after[key][1] not in old_keys, f"{key} still names the old KEK"
    rows_again = json.loads(
        _ok(sov_env, sov["rita"], "query", "--project", "1", "--json", "--show", "1000", STAYS_SQL)
    )["rows"]
    assert rows_again == sovereign_rows

    # 5. The compliance report an auditor reads.
    report = json.loads(_ok(sov_env, sov["ada"], "compliance", "report", "--format", "json"))
    text = json.dumps(report)
    assert "pmsi_stays" in text and "pkcs11" in text and "us-east-1" in text

    # 6. Move the store's bytes to another bucket, verify, certify; check offline; edit one row.
    journal = tmp_path / "move.journal"
    dest = f"s3://ceph@{unique_name('sovdest')}"
    open_store(dest).create_container()
    for args in (
        (
            "migrate",
            "plan",
            bucket,
            dest,
            "--journal",
            str(journal),
            "--policy",
            "health-pseudonymized,health-aggregate",
        ),
        ("migrate", "run", "--journal", str(journal)),
        (
            "migrate",
            "verify",
            "--journal",
            str(journal),
            "--deep",
            "--decrypt",
            "--hub",
            sov_env["PASSERELLE_HUB"],
        ),
    ):
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
    cert, manifest = tmp_path / "cert.json", tmp_path / "manifest.csv"
    _ok(
        sov_env, sov["admin"], "migrate", "certificate", "--journal", str(journal),
        "--output", str(cert), "--manifest-output", str(manifest),
    )  # fmt: skip
    offline = {"PASSERELLE_HUB": str(tmp_path / "nowhere"), "PASSERELLE_CONFIG": str(aws_config)}
    good = run_cli(
        "migrate", "certificate", "verify", str(cert), "--manifest", str(manifest),
        "--against", dest, env=offline,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    lines = manifest.read_text().splitlines()
    victim = next(i for i, line in enumerate(lines) if i > 0 and line.strip())
    last = lines[victim][-1]
    lines[victim] = lines[victim][:-1] + ("0" if last != "0" else "1")  # one digest character
    manifest.write_text("\n".join(lines) + "\n")
    bad = run_cli(
        "migrate", "certificate", "verify", str(cert), "--manifest", str(manifest), env=offline
    )
    assert_one_sentence(bad, "was changed")
