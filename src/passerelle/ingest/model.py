"""What ingestion and extraction return: everything the catalog needs to register a version."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ExtractResult", "IngestResult", "OutputFile", "TableResult"]


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One Parquet file written (``key`` relative to the output store)."""

    url: str
    key: str
    size: int
    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class TableResult:
    """One output table: its columns ``(name, arrow type)``, rows and files."""

    name: str
    columns: tuple[tuple[str, str], ...]
    rows: int
    files: tuple[OutputFile, ...]
    person_column: str | None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of one ingest; always ``rows_in == rows_accepted + rows_quarantined``.

    ``version`` is derived from the input bytes, the schema and the policy, so
    ingesting the same input again gives the same version; ``reused`` says the
    version already existed, verified, and nothing was rewritten.
    """

    dataset: str
    kind: str
    version: str
    source_url: str
    input_sha256: str
    input_bytes: int
    schema_sha256: str
    tables: tuple[TableResult, ...]
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    quarantine_files: tuple[OutputFile, ...]
    reasons: tuple[tuple[str, int], ...]
    manifest_url: str
    reused: bool = False

    @property
    def files(self) -> tuple[OutputFile, ...]:
        """Every dataset file of every table."""
        return tuple(f for t in self.tables for f in t.files)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> IngestResult:
        tables = tuple(
            TableResult(
                name=t["name"],
                columns=tuple((c[0], c[1]) for c in t["columns"]),
                rows=t["rows"],
                files=tuple(OutputFile(**f) for f in t["files"]),
                person_column=t["person_column"],
            )
            for t in data["tables"]
        )
        return IngestResult(
            **{
                **data,
                "tables": tables,
                "quarantine_files": tuple(OutputFile(**f) for f in data["quarantine_files"]),
                "reasons": tuple((r[0], r[1]) for r in data["reasons"]),
            }
        )


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """A project-scoped copy: files written and the columns that were re-keyed."""

    output_url: str
    files: tuple[OutputFile, ...]
    rows: int
    rekeyed_columns: tuple[str, ...]
