"""Grouping an ingestion's ``code:column`` reasons by kind (pure)."""

from __future__ import annotations

from passerelle.hub.ingest_history import ReasonKind, reasons_by_kind


def test_reasons_group_by_code_most_frequent_first() -> None:
    kinds = reasons_by_kind(
        [
            ("missing:nir", 3),
            ("nir-key:nir", 7),
            ("missing:birth_date", 5),
            ("columns:5/7", 2),
            ("missing:nir", 1),  # the same reason twice adds up
        ]
    )
    assert kinds == [
        ReasonKind("missing", 9, [("birth_date", 5), ("nir", 4)]),
        ReasonKind("nir-key", 7, [("nir", 7)]),
        ReasonKind("columns", 2, [("5/7", 2)]),
    ]


def test_a_reason_without_a_column_and_no_reasons_at_all() -> None:
    assert reasons_by_kind([("encoding", 4)]) == [ReasonKind("encoding", 4, [("", 4)])]
    assert reasons_by_kind([]) == []
