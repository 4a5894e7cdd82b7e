"""A live move's progress in the Prometheus text exposition format (pure, no I/O).

``prometheus_text(move_status(hub))`` is what ``GET /metrics`` serves. Only
numbers leave: no store URL, journal path, bucket or user name, so the
endpoint can be scraped without a token.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from passerelle.live.mover import MoveStatus
    from passerelle.live.replica import ReplicaStatus

__all__ = ["CONTENT_TYPE", "PHASES", "label_value", "prometheus_text"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the Prometheus text format, version 0.0.4."""

PHASES = ("single", "mirroring", "cutover")

_PREFIX = "passerelle_migration_"

# (name without the prefix, type, help, MoveStatus attribute)
_GAUGES: tuple[tuple[str, str, str, str], ...] = (
    ("objects_total", "gauge", "Objects the current move has to copy.", "objects_total"),
    ("objects_done", "gauge", "Objects of the current move copied and checked.", "objects_done"),
    ("bytes_total", "gauge", "Bytes the current move has to copy.", "bytes_total"),
    ("bytes_done", "gauge", "Bytes of the current move copied and checked.", "bytes_done"),
    ("failed_objects", "gauge", "Objects whose copy failed (retried by the next run).", "failed"),
    ("blocked_objects", "gauge", "Objects the move may not copy (policy or limits).", "blocked"),
    (
        "open_debts",
        "gauge",
        "Mirrored writes the destination missed, not yet repaired.",
        "open_debts",
    ),
    (
        "throughput_bytes_per_second",
        "gauge",
        "Copy throughput of the last pass that moved bytes.",
        "throughput_bytes_per_s",
    ),
    ("generation", "gauge", "Moves started on this hub (the current move's number).", "generation"),
)


def _number(value: float | int | None) -> str:
    """A sample value as Prometheus writes it (``NaN``, ``+Inf``, ``-Inf`` or a decimal)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def label_value(value: object) -> str:
    """``value`` as a quoted label value of the text format: backslash, double quote and
    line feed escaped (``\\``, ``\"``, ``\n``), so no value can end its label or line."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _metric(lines: list[str], name: str, kind: str, help_text: str) -> str:
    full = _PREFIX + name
    lines.append(f"# HELP {full} {help_text}")
    lines.append(f"# TYPE {full} {kind}")
    return full


_REPLICA_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("lag_objects", "Writes to the hub's store the replica has not received.", "lag_objects"),
    ("lag_bytes", "Bytes of those writes.", "lag_bytes"),
    ("lag_seconds", "Age of the oldest write the replica has not received.", "lag_seconds"),
)


def _replica_lines(lines: list[str], replicas: Sequence[ReplicaStatus]) -> None:
    """Each replica's lag, labelled by its number only (no name or URL)."""
    lines.append("# HELP passerelle_replicas Replicas of the hub's store on other clouds.")
    lines.append("# TYPE passerelle_replicas gauge")
    lines.append(f"passerelle_replicas {len(replicas)}")
    for short, help_text, attribute in _REPLICA_GAUGES:
        full = f"passerelle_replica_{short}"
        lines.append(f"# HELP {full} {help_text}")
        lines.append(f"# TYPE {full} gauge")
        for replica in replicas:
            value = _number(getattr(replica, attribute))
            lines.append(f"{full}{{replica={label_value(replica.id)}}} {value}")


def prometheus_text(status: MoveStatus, replicas: Sequence[ReplicaStatus] = ()) -> str:
    """The move's phase, progress, errors, throughput and ETA, and each replica's lag, as
    Prometheus text (0.0.4)."""
    lines: list[str] = []
    name = _metric(lines, "phase", "gauge", "1 for the hub storage's current phase, else 0.")
    for phase in PHASES:
        lines.append(f"{name}{{phase={label_value(phase)}}} {1 if status.phase == phase else 0}")
    name = _metric(lines, "running", "gauge", "1 while a migration worker copies the backlog.")
    lines.append(f"{name} {_number(status.running)}")
    for short, kind, help_text, attribute in _GAUGES:
        name = _metric(lines, short, kind, help_text)
        lines.append(f"{name} {_number(getattr(status, attribute))}")
    name = _metric(
        lines, "eta_seconds", "gauge", "Seconds left at the last throughput (NaN: unknown)."
    )
    lines.append(f"{name} {_number(status.eta_seconds)}")
    _replica_lines(lines, replicas)
    return "\n".join(lines) + "\n"
