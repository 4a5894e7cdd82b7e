"""The Prometheus text of a live move: well-formed, numbers only, the phase one-hot."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from passerelle.live.metrics import PHASES, prometheus_text
from passerelle.live.mover import MoveStatus

SAMPLE = re.compile(
    r"^(passerelle_(?:migration_[a-z_]+|replicas|replica_[a-z_]+))"
    r'(\{(?:phase|replica)="((?<=phase=")(?:single|mirroring|cutover)|(?<=replica=")[0-9]+)"\})? '
    r"(-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?|NaN|\+Inf|-Inf)$"
)
META = re.compile(
    r"^# (HELP|TYPE) (passerelle_(?:migration_[a-z_]+|replicas|replica_[a-z_]+)) (.+)$"
)

counts = st.integers(min_value=0, max_value=2**62)
statuses = st.builds(
    MoveStatus,
    phase=st.sampled_from(PHASES),
    source_url=st.just("az://secret-account@hospital-data/private"),
    destination_url=st.one_of(st.none(), st.just("s3://scaleway@dest-bucket/x")),
    retired_url=st.none(),
    journal=st.one_of(st.none(), st.just("/srv/hub/moves/move-3.journal")),
    generation=st.integers(min_value=0, max_value=10_000),
    running=st.booleans(),
    objects_total=counts,
    objects_done=counts,
    bytes_total=counts,
    bytes_done=counts,
    failed=counts,
    blocked=counts,
    open_debts=counts,
    throughput_bytes_per_s=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
    eta_seconds=st.one_of(st.none(), st.floats(min_value=0, allow_infinity=False)),
)


def parse(text: str) -> dict[str, float | int]:
    """Every sample by name (with its phase label), checking each line's shape."""
    assert text.endswith("\n")
    samples: dict[str, float | int] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            meta = META.match(line)
            assert meta, line
            if meta.group(1) == "TYPE":
                assert meta.group(3) in ("gauge", "counter"), line
                typed.add(meta.group(2))
            continue
        sample = SAMPLE.match(line)
        assert sample, line
        assert sample.group(1) in typed, f"{line}: no TYPE line before it"
        key = sample.group(1) + (f"[{sample.group(3)}]" if sample.group(3) else "")
        assert key not in samples, f"{key} twice"
        value = sample.group(4)
        samples[key] = int(value) if re.fullmatch(r"-?[0-9]+", value) else float(value)
    return samples


@given(statuses)
def test_well_formed_numbers_only_phase_one_hot(status: MoveStatus) -> None:
    text = prometheus_text(status)
    for secret in ("secret-account", "hospital-data", "scaleway", "dest-bucket", "journal", "/srv"):
        assert secret not in text
    samples = parse(text)
    assert [samples[f"passerelle_migration_phase[{p}]"] for p in PHASES] == [
        1.0 if p == status.phase else 0.0 for p in PHASES
    ]
    assert samples["passerelle_migration_objects_total"] == status.objects_total
    assert samples["passerelle_migration_bytes_done"] == status.bytes_done
    assert samples["passerelle_migration_failed_objects"] == status.failed
    assert samples["passerelle_migration_blocked_objects"] == status.blocked
    assert samples["passerelle_migration_open_debts"] == status.open_debts
    assert samples["passerelle_migration_generation"] == status.generation
    assert samples["passerelle_migration_running"] == (1.0 if status.running else 0.0)
    assert samples["passerelle_migration_throughput_bytes_per_second"] == pytest_approx(
        status.throughput_bytes_per_s
    )
    eta = samples["passerelle_migration_eta_seconds"]
    if status.eta_seconds is None or math.isnan(status.eta_seconds):
        assert math.isnan(eta)
    else:
        assert eta == pytest_approx(status.eta_seconds)


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-12, abs=0.0)


def test_a_hub_at_rest() -> None:
    text = prometheus_text(MoveStatus("single", "file:///srv/hub/data", None, None, None, 0))
    assert 'passerelle_migration_phase{phase="single"} 1\n' in text
    assert 'passerelle_migration_phase{phase="mirroring"} 0\n' in text
    assert "passerelle_migration_eta_seconds NaN\n" in text
    assert "# TYPE passerelle_migration_objects_done gauge\n" in text


def test_replicas_are_numbers_only() -> None:
    from passerelle.live.replica import ReplicaStatus

    replicas = [
        ReplicaStatus(
            7,
            "secret-site",
            "s3://ovh@hidden-bucket",
            "2026-01-01",
            3,
            99,
            1.5,
            None,
            None,
            None,
            None,
        )
    ]
    text = prometheus_text(MoveStatus("single", "file:///srv/x", None, None, None, 0), replicas)
    assert "secret-site" not in text and "hidden-bucket" not in text
    samples = parse(text)
    assert samples["passerelle_replicas"] == 1
    assert samples["passerelle_replica_lag_objects[7]"] == 3
    assert samples["passerelle_replica_lag_bytes[7]"] == 99
    assert samples["passerelle_replica_lag_seconds[7]"] == 1.5
