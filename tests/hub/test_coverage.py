"""The period a dataset covers: parsed from one text, refused in one sentence, audited
when it changes, and published as ``dct:temporal`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from passerelle import hub as H
from passerelle.errors import UsageError
from passerelle.hub.catalog_export import catalog_base, export_catalog
from passerelle.hub.coverage import UNKNOWN, Coverage, parse_coverage
from passerelle.hub.dcat import dataset_iri
from passerelle.hub.tables import AuditEvent
from tests.hub.conftest import Cast, dataset

DCT = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-01-01/2023-12-31", Coverage(date(2019, 1, 1), date(2023, 12, 31))),
        (" 2019-01-01/ ", Coverage(date(2019, 1, 1))),
        ("2020-02-29/2020-02-29", Coverage(date(2020, 2, 29), date(2020, 2, 29))),
        ("unknown", UNKNOWN),
        ("", UNKNOWN),
    ],
)
def test_a_period_is_read_from_one_text_and_written_back_the_same(
    text: str, expected: Coverage
) -> None:
    assert parse_coverage(text) == expected
    assert parse_coverage(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2019-01-01", "no '/'"),
        ("2019/2023", "not a date YYYY-MM-DD"),
        ("2019-1-1/2023-12-31", "not a date YYYY-MM-DD"),
        ("２０１９-01-01/", "not a date YYYY-MM-DD"),  # full-width digits
        ("2019-01-01T00:00/", "not a date YYYY-MM-DD"),
        ("2019-02-30/", "not a day of the calendar"),
        ("2023-12-31/2019-01-01", "ends (2019-01-01) before it starts"),
        ("0001-01-01/", "outside 1900-01-01 to 2199-12-31"),
        ("2019-01-01/9999-12-31", "outside"),
        ("/2023-12-31", "not a date"),
        ("2019-01-01/2023-12-31/2024-01-01", "not a date"),
        ("x" * 10_000, "no '/'"),
        ("2019-01-01\n/", "not a date"),
    ],
)
def test_a_bad_period_is_one_sentence_saying_how_to_write_it(text: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_coverage(text)
    message = str(caught.value)
    assert words in message and "START/END" in message
    assert "\n" not in message and len(message) < 300


def test_an_end_without_a_start_is_refused() -> None:
    with pytest.raises(UsageError, match="needs its start"):
        Coverage(None, date(2020, 1, 1))


def _temporal(text: str, base: str) -> tuple[object, ...]:
    graph = Graph().parse(data=text, format="turtle")
    subject = URIRef(dataset_iri(base, "pmsi_stays"))
    period = graph.value(subject, URIRef(DCT + "temporal"))
    if period is None:
        return ()
    assert (period, RDF.type, URIRef(DCT + "PeriodOfTime")) in graph
    return (
        period,
        graph.value(period, URIRef(DCAT + "startDate")),
        graph.value(period, URIRef(DCAT + "endDate")),
    )


def test_a_steward_declares_the_period_and_the_catalog_publishes_it(cast: Cast) -> None:
    from sqlalchemy import select

    base = catalog_base(cast.hub.config)
    dataset(cast)
    assert _temporal(export_catalog(cast.hub, None, "turtle"), base) == ()
    covers = parse_coverage("2015-01-01/2025-12-31")
    view = H.update_dataset(cast.hub, cast.steward, "pmsi_stays", covers=covers)
    assert (view.covers_from, view.covers_until) == (date(2015, 1, 1), date(2025, 12, 31))
    for who in (None, cast.steward):  # the public view and a signed-in one
        period, start, end = _temporal(export_catalog(cast.hub, who, "turtle"), base)
        assert str(period) == dataset_iri(base, "pmsi_stays") + "/period"
        assert start == Literal("2015-01-01", datatype=XSD.date)
        assert end == Literal("2025-12-31", datatype=XSD.date)

    H.update_dataset(cast.hub, cast.steward, "pmsi_stays", covers=parse_coverage("2015-01-01/"))
    _, start, end = _temporal(export_catalog(cast.hub, None, "turtle"), base)
    assert (start, end) == (Literal("2015-01-01", datatype=XSD.date), None)
    H.update_dataset(cast.hub, cast.steward, "pmsi_stays", covers=UNKNOWN)
    assert _temporal(export_catalog(cast.hub, None, "turtle"), base) == ()
    assert H.get_dataset(cast.hub, cast.steward, "pmsi_stays").covers_from is None

    with cast.hub.db.read() as session:
        details = [
            json.loads(d)
            for (d,) in session.execute(
                select(AuditEvent.details)
                .where(AuditEvent.action == "dataset.update")
                .order_by(AuditEvent.seq)
            )
        ]
    assert [d.get("covers") for d in details] == [
        "2015-01-01/2025-12-31",
        "2015-01-01/",
        "unknown",
    ]


def test_only_a_steward_changes_the_period(cast: Cast) -> None:
    from passerelle.errors import PermissionDeniedError

    dataset(cast)
    with pytest.raises(PermissionDeniedError):
        H.update_dataset(cast.hub, cast.alice, "pmsi_stays", covers=parse_coverage("2019-01-01/"))
    assert H.get_dataset(cast.hub, cast.steward, "pmsi_stays").covers_from is None


def test_a_period_given_at_registration_is_kept(cast: Cast) -> None:
    view = H.create_dataset(
        cast.hub,
        cast.steward,
        name="dcir_claims",
        organization="750712184",
        classification="health-pseudonymized",
        covers=parse_coverage("2019-01-01/2023-12-31"),
    )
    assert (view.covers_from, view.covers_until) == (date(2019, 1, 1), date(2023, 12, 31))
    again = H.get_dataset(cast.hub, cast.steward, "dcir_claims")
    assert (again.covers_from, again.covers_until) == (date(2019, 1, 1), date(2023, 12, 31))


def test_revision_0013_adds_and_removes_the_period_columns(cast: Cast) -> None:
    from sqlalchemy import inspect

    from passerelle.hub.schema_revision import SCHEMA_REVISION

    def columns() -> set[str]:
        return {c["name"] for c in inspect(cast.hub.db.engine).get_columns("datasets")}

    dataset(cast)
    H.update_dataset(cast.hub, cast.steward, "pmsi_stays", covers=parse_coverage("2019-01-01/"))
    cast.hub.db.downgrade("0012")
    assert not {"covers_from", "covers_until"} & columns()
    cast.hub.db.upgrade()
    assert cast.hub.db.revision() == SCHEMA_REVISION == "0013"
    assert {"covers_from", "covers_until"} <= columns()
    assert H.get_dataset(cast.hub, cast.steward, "pmsi_stays").covers_from is None
