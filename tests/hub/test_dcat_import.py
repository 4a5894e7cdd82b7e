"""A partner's catalog file read by ``dcat_import``: each hostile file gets one sentence.

One vector per way to break it, like the envelope's; the remote-context vectors run
against a real HTTP server on 127.0.0.1 that counts requests: none may reach it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from passerelle.errors import UsageError
from passerelle.hub import dcat_import
from passerelle.hub.dcat import (
    CatalogDescription,
    ColumnRecord,
    Contact,
    DatasetRecord,
    Publisher,
    VersionRecord,
    catalog_graph,
    serialize,
)
from passerelle.hub.dcat_import import read_catalog

WHEN = datetime(2026, 6, 1, tzinfo=UTC)
PARTNER = "https://partner.example.eu/"
OWN = "https://hub.example.eu/"
CONTEXT_DOC = json.dumps({"@context": {"dct": "http://purl.org/dc/terms/"}}).encode()


class _Counter(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/ld+json")
        self.end_headers()
        self.wfile.write(CONTEXT_DOC)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """A context server on a free port, and the paths it was asked for."""
    _Counter.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Counter.hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def partner_export(format: str = "jsonld", *, base: str = PARTNER, title: str = "stays") -> bytes:
    record = DatasetRecord(
        name="stays",
        description="Hospital stays",
        publisher=Publisher("CHU", "CHU de Lyon"),
        format="parquet",
        issued=WHEN,
        modified=WHEN,
        columns=(ColumnRecord("age", "INTEGER", "at admission"), ColumnRecord("sex", "VARCHAR")),
        versions=(VersionRecord(1, WHEN), VersionRecord(2, WHEN)),
    )
    renamed = DatasetRecord(**{**record.__dict__, "name": "claims"})
    description = CatalogDescription(
        base=base,
        hub="partner",
        contact=Contact("Partner HDAB", "hdab@partner.example.eu"),
        modified=WHEN,
        datasets=(record, renamed),
    )
    text = serialize(catalog_graph(description), format)  # type: ignore[arg-type]
    return (
        text.replace('"stays"', json.dumps(title)).encode() if title != "stays" else text.encode()
    )


def _dataset_doc(context: object, *, extra: dict[str, object] | None = None) -> bytes:
    """A minimal, otherwise valid JSON-LD catalog with ``context`` as its @context."""
    dataset = {
        "@id": f"{PARTNER}datasets/a",
        "@type": "http://www.w3.org/ns/dcat#Dataset",
        "http://purl.org/dc/terms/title": "a",
        **(extra or {}),
    }
    document = {
        "@context": context,
        "@id": f"{PARTNER}catalog",
        "@type": "http://www.w3.org/ns/dcat#Catalog",
        "http://www.w3.org/ns/dcat#dataset": dataset,
    }
    return json.dumps(document).encode()


def test_a_partners_export_reads_back_in_both_formats() -> None:
    for format in ("jsonld", "turtle"):
        catalog = read_catalog(partner_export(format), own_base=OWN)
        assert catalog.iri == f"{PARTNER}catalog"
        by_name = {d.identifier: d for d in catalog.datasets}
        assert set(by_name) == {"stays", "claims"}
        stays = by_name["stays"]
        assert (stays.title, stays.publisher, stays.distributions) == ("stays", "CHU de Lyon", 2)
        assert [c.name for c in stays.columns] == ["age", "sex"]
        assert stays.landing_page == f"{PARTNER}portal/catalog/stays"
        assert stays.access_rights.endswith("access-right/NON_PUBLIC")


def test_rdflib_alone_would_fetch_a_remote_context(server: tuple[str, list[str]]) -> None:
    """The vector is real: without the hub's check, rdflib asks the server."""
    from rdflib import Graph

    url, hits = server
    Graph().parse(data=_dataset_doc(f"{url}/ctx.jsonld").decode(), format="json-ld")
    assert hits == ["/ctx.jsonld"]


@pytest.mark.parametrize(
    "vector",
    [
        "top_level_url",
        "url_in_a_list",
        "import_in_an_inline_context",
        "scoped_context_of_a_term",
        "context_embedded_in_a_node",
        "relative_url",
    ],
)
def test_no_context_is_ever_fetched(server: tuple[str, list[str]], vector: str) -> None:
    url, hits = server
    documents = {
        "top_level_url": _dataset_doc(f"{url}/a"),
        "url_in_a_list": _dataset_doc([{"dct": "http://purl.org/dc/terms/"}, f"{url}/b"]),
        "import_in_an_inline_context": _dataset_doc({"@import": f"{url}/c"}),
        "scoped_context_of_a_term": _dataset_doc(
            {"t": {"@id": "http://purl.org/dc/terms/title", "@context": f"{url}/d"}}
        ),
        "context_embedded_in_a_node": _dataset_doc(
            {}, extra={"@context": f"{url}/e", "http://purl.org/dc/terms/description": "x"}
        ),
        "relative_url": _dataset_doc({"@base": f"{url}/"}, extra={"@context": "f.jsonld"}),
    }
    with pytest.raises(UsageError, match="fetches nothing"):
        read_catalog(documents[vector], own_base=OWN)
    assert hits == []


def test_an_inline_context_with_term_iris_is_read() -> None:
    context = {"dcat": "http://www.w3.org/ns/dcat#", "title": "http://purl.org/dc/terms/title"}
    document = json.loads(_dataset_doc(context))
    document["dcat:dataset"] = document.pop("http://www.w3.org/ns/dcat#dataset")
    document["dcat:dataset"]["title"] = document["dcat:dataset"].pop(
        "http://purl.org/dc/terms/title"
    )
    catalog = read_catalog(json.dumps(document).encode(), own_base=OWN)
    assert [d.title for d in catalog.datasets] == ["a"]


def _one_sentence(data: bytes, *words: str) -> None:
    with pytest.raises(UsageError) as refused:
        read_catalog(data, own_base=OWN)
    message = str(refused.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message


def test_a_file_over_the_size_limit_is_refused_before_parsing() -> None:
    _one_sentence(b" " * (dcat_import.MAX_BYTES + 1), "bytes", "allowed")


def test_deep_json_is_refused() -> None:
    _one_sentence(b"[" * 100_000 + b"]" * 100_000, "nests deeper")
    nested: object = 1
    for _ in range(dcat_import.MAX_DEPTH + 1):
        nested = [nested]
    _one_sentence(_dataset_doc({}, extra={"http://purl.org/dc/terms/x": nested}), "nests deeper")


def test_deep_turtle_is_refused() -> None:
    _one_sentence(b"<http://a/s> <http://a/p> " + b"(" * 50_000 + b")" * 50_000 + b" .", "nests")
    _one_sentence(
        b"<http://a/s> <http://a/p> " + b"[ <http://a/p> " * 50_000 + b"]" * 50_000 + b" .", "nests"
    )


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\xff\xfe not utf-8", ("UTF-8",)),
        (b"{not json", ("not valid JSON",)),
        (b"<http://a/s> <http://a/p> ", ("not readable Turtle",)),
        (b"<http://a/s> a <http://xmlns.com/foaf/0.1/Person> .", ("no dcat:Catalog",)),
        (
            b"@prefix dcat: <http://evil/> . <http://p.eu/c> a dcat:Catalog ; dcat:dataset <http://p.eu/d> .",
            ("no dcat:Catalog",),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog .",
            ("lists no dataset",),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog ; d:dataset <http://p.eu/x> .",
            ("none of the catalog's 1 members", "not typed dcat:Dataset"),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog ; d:dataset [ a d:Dataset ] .",
            ("not an http(s) IRI",),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog ; d:dataset <urn:x:1> . <urn:x:1> a d:Dataset .",
            ("not an http(s) IRI",),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog ; d:dataset <http://p.eu/d> . <http://p.eu/d> a d:Dataset .",
            ("no dct:title",),
        ),
        (
            b"@prefix d: <http://www.w3.org/ns/dcat#> . <http://p.eu/c> a d:Catalog . <http://q.eu/c> a d:Catalog .",
            ("several dcat:Catalog",),
        ),
    ],
)
def test_a_file_that_is_not_a_catalog_gets_one_sentence(
    data: bytes, words: tuple[str, ...]
) -> None:
    _one_sentence(data, *words)


@pytest.mark.parametrize("base", [OWN, "HTTPS://HUB.example.EU/", f"{OWN}datasets/"])
def test_a_partner_cannot_describe_this_hubs_own_datasets(base: str) -> None:
    """Its catalog's IRI under this hub's catalog_url, in any case of scheme and host."""
    text = partner_export("turtle").decode().replace(PARTNER, base)
    _one_sentence(text.encode(), "this hub's own")


def test_a_dataset_claiming_a_local_iri_in_a_partner_catalog_is_refused() -> None:
    text = (
        partner_export("turtle")
        .decode()
        .replace(f"<{PARTNER}datasets/claims>", f"<{OWN}datasets/claims>")
    )
    _one_sentence(text.encode(), "this hub's own", "datasets/claims")


def test_texts_are_bounded_and_cleaned() -> None:
    long = read_catalog(partner_export(title="t" * (dcat_import.MAX_TITLE + 1)), own_base=OWN)
    assert [d.identifier for d in long.datasets] == ["claims"]
    (skipped,) = long.skipped
    assert skipped.member == f"{PARTNER}datasets/stays"
    assert "dct:title is 501 characters long, over the 500 allowed" in skipped.reason
    sneaky = read_catalog(partner_export(title="a\u202eb\u0007c\u2066d"), own_base=OWN)
    assert {d.title for d in sneaky.datasets} == {"abcd", "claims"}


MIXED = b"""
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
<https://data.partner.eu/catalog> a dcat:Catalog ;
  dct:title "Catalogue des donnees de sante"@fr, "Health data catalogue"@en ;
  dcat:dataset <https://data.partner.eu/d/stays>, <https://data.partner.eu/d/series>,
    <https://data.partner.eu/d/untyped>, <urn:uuid:4b0e1c2a-0000-4000-8000-000000000001>,
    <https://data.partner.eu/d/untitled> .
<https://data.partner.eu/d/stays> a dcat:Dataset ;
  dct:title "Sejours hospitaliers"@fr, "Hospital stays"@en .
<https://data.partner.eu/d/series> a dcat:DatasetSeries ; dct:title "Yearly stays"@en .
<https://data.partner.eu/d/untyped> dct:title "Described elsewhere" .
<urn:uuid:4b0e1c2a-0000-4000-8000-000000000001> a dcat:Dataset ; dct:title "By UUID" .
<https://data.partner.eu/d/untitled> a dcat:Dataset .
"""


def test_a_catalog_mixing_members_imports_the_usable_ones_and_says_why_not_the_others() -> None:
    """Real catalogs mix dataset series, members described elsewhere, URN subjects and
    incomplete entries: each unusable one is left out with its reason, not the file."""
    catalog = read_catalog(MIXED, own_base=OWN)
    assert catalog.title == "Health data catalogue"
    assert {d.title for d in catalog.datasets} == {"Hospital stays", "Yearly stays"}
    reasons = {m.member: m.reason for m in catalog.skipped}
    assert reasons == {
        "https://data.partner.eu/d/untitled": "it has no dct:title, which every DCAT dataset needs",
        "https://data.partner.eu/d/untyped": "it is not typed dcat:Dataset (nor dcat:DatasetSeries)",
        "urn:uuid:4b0e1c2a-0000-4000-8000-000000000001": "it is not an http(s) IRI of at most 500 characters",
    }


def test_a_landing_page_that_is_not_http_is_dropped() -> None:
    text = partner_export("turtle").decode()
    text = text.replace(
        f"dcat:landingPage <{PARTNER}portal/catalog/stays>",
        "dcat:landingPage <javascript:alert(1)>",
    )
    stays = next(
        d for d in read_catalog(text.encode(), own_base=OWN).datasets if d.identifier == "stays"
    )
    assert stays.landing_page == ""


def test_too_many_triples_or_datasets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dcat_import, "MAX_TRIPLES", 20)
    _one_sentence(partner_export(), "the 20 triples allowed")
    monkeypatch.setattr(dcat_import, "MAX_TRIPLES", 200_000)
    monkeypatch.setattr(dcat_import, "MAX_DATASETS", 1)
    _one_sentence(partner_export(), "2 datasets", "over the 1 allowed")


def test_an_ill_typed_or_xml_literal_is_read_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """rdflib logs a traceback for literals it cannot convert; the hub's output stays one
    sentence or a result, never that traceback."""
    text = (
        partner_export("turtle")
        .decode()
        .replace(
            '"Hospital stays"',
            '"<!DOCTYPE x [<!ENTITY a \\"aaaa\\">]><x>&a;&a;</x>"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#XMLLiteral>',
            1,
        )
    )
    text = text.replace('"claims"', '"not a number"^^<http://www.w3.org/2001/XMLSchema#integer>', 1)
    catalog = read_catalog(text.encode(), own_base=OWN)
    assert len(catalog.datasets) == 2
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err + captured.out


def _as_rdf_xml(data: bytes) -> bytes:
    from rdflib import Graph

    return Graph().parse(data=data, format="turtle").serialize(format="xml").encode()


def test_an_rdf_xml_catalog_reads_as_its_turtle_does() -> None:
    """RDF/XML is what CKAN and data.europa.eu export by default."""
    turtle = partner_export("turtle")
    from_xml = read_catalog(_as_rdf_xml(turtle), own_base=OWN)
    assert from_xml == read_catalog(turtle, own_base=OWN)
    assert {d.identifier for d in from_xml.datasets} == {"stays", "claims"}
    bare = _as_rdf_xml(turtle).decode().split("?>", 1)[1].lstrip()  # no XML declaration
    assert read_catalog(bare.encode(), own_base=OWN) == from_xml


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rdf:RDF [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE rdf:RDF [<!ENTITY secret SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE rdf:RDF SYSTEM "{server}/x.dtd">',
        '<!DOCTYPE rdf:RDF [<!ENTITY % remote SYSTEM "{server}/p.dtd"> %remote;]>',
    ],
)
def test_an_rdf_xml_file_with_a_document_type_is_refused_and_fetches_nothing(
    server: tuple[str, list[str]], doctype: str
) -> None:
    url, hits = server
    xml = _as_rdf_xml(partner_export("turtle")).decode()
    declaration, _, body = xml.partition("?>")
    body = body.replace("Hospital stays", "&b; &secret;", 1)
    hostile = f"{declaration}?>\n{doctype.format(server=url)}{body}"
    _one_sentence(hostile.encode(), "document type", "without a DOCTYPE")
    assert hits == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'<?xml version="1.0"?><rdf:RDF', ("not readable RDF/XML",)),
        (
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"></rdf:RDF>',
            ("no dcat:Catalog",),
        ),
        (b"<!-- a comment --><x/>", ("no dcat:Catalog",)),
    ],
)
def test_a_broken_rdf_xml_file_is_one_sentence(data: bytes, words: tuple[str, ...]) -> None:
    _one_sentence(data, *words)
