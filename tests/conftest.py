"""Shared fixtures: stores on every backend, real servers from the environment.

The servers (Azurite, Ceph RGW, SeaweedFS) are started by ``scripts/test.sh``,
which exports their endpoints; a backend whose server is not running is skipped
locally and is a failure when ``PASSERELLE_REQUIRE_SERVERS=1`` (as in CI).
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from passerelle.storage import Store, open_store
from tests.backends import ALL_BACKENDS, drop_swift_containers, new_store_url


def _config_text(env: dict[str, str]) -> str:
    parts = []
    if env.get("PASSERELLE_TEST_AZURE_ENDPOINT"):
        parts.append(f"""
[remotes.azurite]
type = "az"
endpoint = "{env["PASSERELLE_TEST_AZURE_ENDPOINT"]}"
account = "{env["PASSERELLE_TEST_AZURE_ACCOUNT"]}"
account_key = "{env["PASSERELLE_TEST_AZURE_KEY"]}"
provider = "azure"
region = "francecentral"
max_retries = 2
retry_timeout_s = 10

[remotes.azurite-badkey]
type = "az"
endpoint = "{env["PASSERELLE_TEST_AZURE_ENDPOINT"]}"
account = "{env["PASSERELLE_TEST_AZURE_ACCOUNT"]}"
account_key = "{"QUJD" * 22}"
max_retries = 0
""")
    for name, prefix, provider in (("ceph", "CEPH", "ceph"), ("seaweed", "SEAWEED", "ceph")):
        if env.get(f"PASSERELLE_TEST_{prefix}_ENDPOINT"):
            parts.append(
                f"""
[remotes.{name}]
type = "s3"
endpoint = "{env[f"PASSERELLE_TEST_{prefix}_ENDPOINT"]}"
region = "{env.get(f"PASSERELLE_TEST_{prefix}_REGION", "us-east-1")}"
access_key_id = "{env[f"PASSERELLE_TEST_{prefix}_ACCESS_KEY"]}"
secret_access_key = "{env[f"PASSERELLE_TEST_{prefix}_SECRET_KEY"]}"
provider = "{provider}"
max_retries = 2
retry_timeout_s = 10

[remotes.{name}-badkey]
type = "s3"
endpoint = "{env[f"PASSERELLE_TEST_{prefix}_ENDPOINT"]}"
region = "{env.get(f"PASSERELLE_TEST_{prefix}_REGION", "us-east-1")}"
access_key_id = "{env[f"PASSERELLE_TEST_{prefix}_ACCESS_KEY"]}"
secret_access_key = "not-the-secret"
max_retries = 0
"""
            )
    if env.get("PASSERELLE_TEST_SWIFT_AUTH_URL"):
        parts.append(f"""
[remotes.swift]
type = "swift"
auth_url = "{env["PASSERELLE_TEST_SWIFT_AUTH_URL"]}"
user = "{env["PASSERELLE_TEST_SWIFT_USER"]}"
key = "{env["PASSERELLE_TEST_SWIFT_KEY"]}"
provider = "ceph"
max_retries = 2

[remotes.swift-dlo]
type = "swift"
auth_url = "{env["PASSERELLE_TEST_SWIFT_AUTH_URL"]}"
user = "{env["PASSERELLE_TEST_SWIFT_USER"]}"
key = "{env["PASSERELLE_TEST_SWIFT_KEY"]}"
provider = "ceph"
large_objects = "dlo"
max_retries = 2

[remotes.swift-badkey]
type = "swift"
auth_url = "{env["PASSERELLE_TEST_SWIFT_AUTH_URL"]}"
user = "{env["PASSERELLE_TEST_SWIFT_USER"]}"
key = "not-the-key"
max_retries = 0
""")
    if env.get("PASSERELLE_TEST_SEAWEED_READONLY_ACCESS_KEY"):
        parts.append(f"""
[remotes.seaweed-readonly]
type = "s3"
endpoint = "{env["PASSERELLE_TEST_SEAWEED_ENDPOINT"]}"
region = "{env.get("PASSERELLE_TEST_SEAWEED_REGION", "us-east-1")}"
access_key_id = "{env["PASSERELLE_TEST_SEAWEED_READONLY_ACCESS_KEY"]}"
secret_access_key = "{env["PASSERELLE_TEST_SEAWEED_READONLY_SECRET_KEY"]}"
max_retries = 1
""")
    return "\n".join(parts)


@pytest.fixture(scope="session", autouse=True)
def storage_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A config file naming the test servers, exported as PASSERELLE_CONFIG."""
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(_config_text(dict(os.environ)), encoding="utf-8")
    old = os.environ.get("PASSERELLE_CONFIG")
    os.environ["PASSERELLE_CONFIG"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PASSERELLE_CONFIG", None)
    else:
        os.environ["PASSERELLE_CONFIG"] = old


@pytest.fixture(scope="session", autouse=True)
def swift_containers_dropped() -> Iterator[None]:
    """The Swift containers the session made are deleted at its end."""
    yield
    drop_swift_containers()


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Store:
    """A fresh empty store on each backend in turn."""
    return open_store(new_store_url(backend, tmp_path))


# -- per-backend counts in the summary, so a reader sees the real servers ran ----
_counts: dict[str, Counter[str]] = {}
_BACKEND_NAME = re.compile(r"\b(" + "|".join(ALL_BACKENDS) + r")\b")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    params = report.nodeid.partition("[")[2]
    for name in set(_BACKEND_NAME.findall(params)):
        _counts.setdefault(name, Counter())[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _counts:
        return
    terminalreporter.section("tests per storage backend")
    for name in ALL_BACKENDS:
        c = _counts.get(name, Counter())
        terminalreporter.write_line(
            f"{name:<10} {c['passed']:>4} passed  {c['failed']:>3} failed  {c['skipped']:>3} skipped"
        )


# -- leave without interpreter finalization once pytest has reported --------------
# After a full run, finalizing the interpreter aborted in native code ("terminate called
# after throwing an instance of ''", "FATAL: exception not rethrown"): a thread left inside
# a C++ library at exit. The results are already written when pytest_unconfigure runs, so
# the test process ends there with pytest's own exit status (5 for "no tests" stays 5).
_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _exit_status and os.environ.get("PASSERELLE_TEST_FINALIZE") != "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
