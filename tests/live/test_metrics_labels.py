"""/metrics label values escaped per the Prometheus text format, whatever they hold.

Today's labels are a phase name and a replica's number; ``label_value`` escapes them
anyway (backslash, double quote, line feed), so a label never ends early or adds a line.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from passerelle.live.metrics import label_value, prometheus_text
from passerelle.live.mover import MoveStatus
from passerelle.live.replica import ReplicaStatus

QUOTED = re.compile(r'^"(?:[^"\\\n]|\\\\|\\"|\\n)*"$')
"""One label value as the text format allows it: only ``\\\\``, ``\\"`` and ``\\n`` escapes."""

HOSTILE = [
    'x"} 1\npasserelle_replicas 999\nfoo{a="',
    "a\\",
    '\\"',
    "\n",
    "a\\nb",
    "é\U0001f600",
    "",
]


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), quoted[1:-1])


@pytest.mark.parametrize("value", HOSTILE)
def test_a_label_value_is_one_quoted_token_that_reads_back(value: str) -> None:
    quoted = label_value(value)
    assert QUOTED.match(quoted), quoted
    assert _unescape(quoted) == value


def _replica(identity: Any) -> ReplicaStatus:
    return ReplicaStatus(identity, "r", "s3://x@y", "2026-01-01", 1, 2, 0.5, None, None, None, None)


@pytest.mark.parametrize("identity", HOSTILE)
def test_a_hostile_replica_label_adds_no_sample(identity: str) -> None:
    status = MoveStatus("single", "file:///srv/x", None, None, None, 0)
    text = prometheus_text(status, [_replica(identity)])
    clean = prometheus_text(status, [_replica(7)])
    assert len(text.splitlines()) == len(clean.splitlines())
    assert [line for line in text.splitlines() if line.startswith("passerelle_replicas ")] == [
        "passerelle_replicas 1"
    ]
    for line in text.splitlines():
        if line.startswith("passerelle_replica_lag_"):
            rest = line.partition("{replica=")[2]
            quoted = rest.rpartition("} ")[0]
            assert QUOTED.match(quoted) and _unescape(quoted) == identity, line
