"""The storage commands, and one clear sentence (never a traceback) for each user error."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from passerelle.storage import open_store
from tests.backends import (
    REMOTE_OF,
    SCHEME_OF,
    SERVER_BACKENDS,
    closed_port,
    new_store_url,
    require_backend,
    unique_name,
)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "passerelle", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {}), "COLUMNS": "200", "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
    )


def assert_one_sentence(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("error:") == 1, proc.stderr
    message = " ".join(proc.stderr[proc.stderr.index("error:") :].split())
    for word in words:
        assert word in message, message


@pytest.fixture
def populated(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'data'}"
    store = open_store(url)
    store.create_container()
    store.put("top.txt", b"top", content_type="text/plain", metadata={"source": "test"})
    for i in range(3):
        store.put(f"dir/sub/obj-{i}.bin", bytes(10 * i))
    return url


def test_help_is_instant_and_lists_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("ls", "stat", "stores", "providers", "demo"):
        assert command in proc.stdout


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from passerelle.cli.app import build_app; build_app();"
        "heavy=[m for m in ('obstore','boto3','azure.storage.blob','passerelle.storage.obstore_backend')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ls_one_level_and_recursive(populated: str) -> None:
    proc = run_cli("ls", populated)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["dir/", "top.txt"]
    proc = run_cli("ls", "--recursive", "--long", populated)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(1 for line in lines if "obj-" in line) == 3
    assert lines[-1].startswith("4 objects")


def test_stat_shows_metadata(populated: str) -> None:
    proc = run_cli("stat", "--json", populated + "/top.txt")
    assert proc.returncode == 0, proc.stderr
    assert '"source": "test"' in proc.stdout and '"content_type": "text/plain"' in proc.stdout


def test_providers_list_and_show() -> None:
    proc = run_cli("providers", "list")
    assert proc.returncode == 0 and "scaleway" in proc.stdout and "CLOUD Act" in proc.stdout
    proc = run_cli("providers", "show", "scaleway")
    assert proc.returncode == 0 and "fr-par" in proc.stdout and "1000 parts" in proc.stdout


def test_stores_check_local(populated: str) -> None:
    proc = run_cli("stores", "check", populated)
    assert proc.returncode == 0, proc.stderr
    assert "reachable" in proc.stdout and "server_side_copy" in proc.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("ls", "gs://bucket"), ("Unknown store scheme 'gs://'",)),
        (("ls", "s3://"), ("names no bucket",)),
        (("ls", "s3://Not_A_Bucket"), ("not a valid S3 bucket name",)),
        (("ls", "bucket-without-scheme"), ("not a store URL",)),
        (("ls", "s3://nosuchremote@bucket"), ("No remote named 'nosuchremote'",)),
        (("stat", "s3://bucket"), ("names a bucket or container, not an object",)),
        (("providers", "show", "nimbus"), ("No provider profile named 'nimbus'",)),
        (("ls", "file:///definitely/not/here"), ("does not exist",)),
    ],
)
def test_bad_input_gives_one_sentence(args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_sentence(run_cli(*args), *words)


def test_missing_object_gives_one_sentence(populated: str) -> None:
    assert_one_sentence(run_cli("stat", populated + "/nope.txt"), "No object at")


def _write_config(tmp_path: Path, body: str) -> dict[str, str]:
    cfg = tmp_path / "cli.toml"
    cfg.write_text(body)
    return {"PASSERELLE_CONFIG": str(cfg)}


def test_unreachable_endpoint_gives_one_sentence(tmp_path: Path) -> None:
    env = _write_config(
        tmp_path,
        f"""
[remotes.dead]
type = "s3"
endpoint = "http://127.0.0.1:{closed_port()}"
access_key_id = "a"
secret_access_key = "b"
max_retries = 1
retry_timeout_s = 3
""",
    )
    assert_one_sentence(run_cli("ls", "s3://dead@bucket", env=env), "Cannot reach the endpoint")


class _SlowDown(BaseHTTPRequestHandler):
    """An S3 endpoint that always answers 503 SlowDown."""

    def _reply(self) -> None:
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_HEAD = do_POST = _reply

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowDown)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_throttling_after_retries_gives_one_sentence(
    tmp_path: Path, throttling_endpoint: str
) -> None:
    env = _write_config(
        tmp_path,
        f"""
[remotes.busy]
type = "s3"
endpoint = "{throttling_endpoint}"
access_key_id = "a"
secret_access_key = "b"
max_retries = 2
retry_timeout_s = 5
""",
    )
    assert_one_sentence(
        run_cli("ls", "s3://busy@bucket", env=env), "kept throttling", "after all retries"
    )


@pytest.mark.parametrize("server", list(SERVER_BACKENDS))
def test_wrong_credentials_give_one_sentence(server: str, tmp_path: Path) -> None:
    url = new_store_url(server, tmp_path)
    bad = url.replace("@", "-badkey@", 1).replace("seaweedfs", "seaweed")
    assert_one_sentence(run_cli("ls", bad), "rejected the credentials")


@pytest.mark.parametrize("server", list(SERVER_BACKENDS))
def test_missing_bucket_gives_one_sentence(server: str) -> None:
    require_backend(server)
    proc = run_cli("ls", f"{SCHEME_OF[server]}://{REMOTE_OF[server]}@{unique_name('missing')}")
    assert_one_sentence(proc, "does not exist")


@pytest.mark.parametrize("server", list(SERVER_BACKENDS))
def test_ls_and_check_on_real_servers(server: str, tmp_path: Path) -> None:
    url = new_store_url(server, tmp_path)
    store = open_store(url)
    store.put("a/b.txt", b"hello", metadata={"k": "v"})
    proc = run_cli("ls", "-r", "-l", url)
    assert proc.returncode == 0, proc.stderr
    assert "a/b.txt" in proc.stdout and "1 objects" in proc.stdout
    proc = run_cli("stores", "check", url)
    assert proc.returncode == 0, proc.stderr
    assert "multipart_upload" in proc.stdout and "provider" in proc.stdout
    proc = run_cli("stat", url + "/a/b.txt")
    assert proc.returncode == 0 and "meta k" in proc.stdout
