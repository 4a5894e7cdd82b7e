"""Ingestion: declared schemas, validation with quarantine, pseudonymization, FHIR flattening.

Read a source through the storage layer and write a pseudonymized, linkable
Parquet dataset version::

    result = ingest("az://hospital/stays.csv", schema=shipped_schema("pmsi_stays"),
                    pseudonym_key=key, output_url="s3://hub/datasets/pmsi_stays")

Project extracts re-key the pseudonyms with :func:`extract_for_project`.
"""

from passerelle.ingest.extract import extract_for_project
from passerelle.ingest.generalize import departement, truncate_date
from passerelle.ingest.model import ExtractResult, IngestResult, OutputFile, TableResult
from passerelle.ingest.nir import nir_key, nir_key_ok, normalize_nir, with_key
from passerelle.ingest.pipeline import ingest, version_id
from passerelle.ingest.pseudonym import identity_message, pseudonym
from passerelle.ingest.schema import (
    ColumnSpec,
    PersonSpec,
    SourceSchema,
    ViewSpec,
    load_schema,
    parse_schema,
    shipped_schema,
)
from passerelle.ingest.validate import mask_shape

__all__ = [
    "ColumnSpec",
    "ExtractResult",
    "IngestResult",
    "OutputFile",
    "PersonSpec",
    "SourceSchema",
    "TableResult",
    "ViewSpec",
    "departement",
    "extract_for_project",
    "identity_message",
    "ingest",
    "load_schema",
    "mask_shape",
    "nir_key",
    "nir_key_ok",
    "normalize_nir",
    "parse_schema",
    "pseudonym",
    "shipped_schema",
    "truncate_date",
    "version_id",
    "with_key",
]
