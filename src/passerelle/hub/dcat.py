"""The catalog in DCAT-AP 3 / HealthDCAT-AP: plain records in, an rdflib graph out (pure).

``catalog_graph(description)`` describes the hub as a ``dcat:Catalog`` and each record
as a ``dcat:Dataset`` (title, description, supplier as publisher, identifier, theme,
non-public access rights, the EHDS as applicable legislation, spatial coverage when
the hub knows it, the period covered when its steward declared one, the columns as a
data dictionary, each version as a ``dcat:Distribution``, the health data access body
as contact point and ``healthdcatap:hdab``). What a record holds is decided by whoever built it
(``catalog_export``): the graph shows every field it is given, and nothing else.

Every IRI is the hub's ``catalog_url`` followed by fixed words and segments encoded by
:func:`segment` (only ``A-Z a-z 0-9 _ -`` stay as they are), and every text a person
chose is an rdflib ``Literal``: the serializers escape it, so a title cannot add a
triple, a subject or an ``@id``. The only blank nodes are the cells of the columns' list,
which both serializers write inline, so an export is the same text each time for the
same catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from passerelle.errors import UsageError

if TYPE_CHECKING:
    from rdflib import Graph, URIRef
    from rdflib.term import Node

__all__ = [
    "ACCESS_RIGHTS",
    "CONTEXT",
    "COUNTRIES",
    "EHDS",
    "FORMATS",
    "CatalogDescription",
    "ColumnRecord",
    "Contact",
    "DatasetRecord",
    "Publisher",
    "VersionRecord",
    "catalog_graph",
    "check_catalog_url",
    "check_country",
    "check_email",
    "dataset_iri",
    "segment",
    "serialize",
]

Format = Literal["jsonld", "turtle"]

EHDS = "http://data.europa.eu/eli/reg/2025/327/oj"
"""Regulation (EU) 2025/327 on the European Health Data Space, in the ELI register."""
ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
HEALTH_THEME = "http://publications.europa.eu/resource/authority/data-theme/HEAL"
THEMES = "http://publications.europa.eu/resource/authority/data-theme"
COUNTRY = "http://publications.europa.eu/resource/authority/country/"
FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
FORMATS = {"parquet": "PARQUET", "csv": "CSV", "json": "JSON"}
"""The hub's storage formats and their names in the EU file-type vocabulary."""
COUNTRIES = {
    "AUT": "Austria", "BEL": "Belgium", "BGR": "Bulgaria", "HRV": "Croatia", "CYP": "Cyprus",
    "CZE": "Czechia", "DNK": "Denmark", "EST": "Estonia", "FIN": "Finland", "FRA": "France",
    "DEU": "Germany", "GRC": "Greece", "HUN": "Hungary", "IRL": "Ireland", "ITA": "Italy",
    "LVA": "Latvia", "LTU": "Lithuania", "LUX": "Luxembourg", "MLT": "Malta",
    "NLD": "Netherlands", "POL": "Poland", "PRT": "Portugal", "ROU": "Romania",
    "SVK": "Slovakia", "SVN": "Slovenia", "ESP": "Spain", "SWE": "Sweden", "ISL": "Iceland",
    "LIE": "Liechtenstein", "NOR": "Norway",
}  # fmt: skip
"""The EEA's countries (where the EHDS applies) by their code in the EU country vocabulary."""

NAMESPACES = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatap": "http://data.europa.eu/r5r/",
    "healthdcatap": "http://healthdataportal.eu/ns/health#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "csvw": "http://www.w3.org/ns/csvw#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
CONTEXT: dict[str, Any] = {"@version": 1.1, **NAMESPACES}
"""The JSON-LD context every export carries inline (never a URL to fetch): prefixes only,
so each key reads ``dct:title``, ``dcat:distribution``..., the same in every export."""

_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%-]*)*/")
_EMAIL = re.compile(r"[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Publisher:
    """The organization supplying a dataset."""

    code: str
    name: str


@dataclass(frozen=True)
class Contact:
    """The health data access body: who answers requests for the hub's data."""

    name: str
    email: str


@dataclass(frozen=True)
class ColumnRecord:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class VersionRecord:
    """One version, as a distribution. ``byte_size`` and ``note`` only in the restricted
    view (sizes and ingestion notes carry counts)."""

    number: int
    issued: datetime
    byte_size: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class DatasetRecord:
    """One catalog entry; ``records`` (its row count) only in the restricted view."""

    name: str
    description: str
    publisher: Publisher
    format: str
    issued: datetime
    modified: datetime
    columns: tuple[ColumnRecord, ...] = ()
    versions: tuple[VersionRecord, ...] = ()
    records: int | None = None
    covers_from: date | None = None  # the period its steward declared (hub.coverage)
    covers_until: date | None = None


@dataclass(frozen=True)
class CatalogDescription:
    """Everything the graph shows: the hub's settings and the records one may see."""

    base: str  # the hub's catalog_url, checked by check_catalog_url
    hub: str
    contact: Contact
    modified: datetime
    datasets: tuple[DatasetRecord, ...] = ()
    country: str = ""  # the EU country code of the hub's datasets' coverage, "" unknown
    restricted: bool = False


def check_catalog_url(url: str) -> str:
    """``url`` if it is an http(s) URL ending with ``/``, with no user, query or fragment
    (every IRI of the catalog starts with it) and no ``.`` or ``..`` segment; else one
    sentence."""
    path = url.split("/", 3)[-1] if url.count("/") >= 3 else ""
    if not _URL.fullmatch(url) or {".", ".."} & set(path.split("/")):
        raise UsageError(
            f"invalid catalog_url {url!r}: use the hub's public address, an http:// or "
            "https:// URL ending with '/' (no user, query or fragment)"
        )
    return url


def check_country(code: str) -> str:
    """``code`` if it is empty or an EEA country's code in the EU country vocabulary."""
    if code and code not in COUNTRIES:
        raise UsageError(
            f"invalid catalog_country {code!r}: use the three-letter EU code of an EEA "
            "country, e.g. FRA, or leave it empty"
        )
    return code


def check_email(email: str) -> str:
    """``email`` if it reads as one address (``name@domain``, no space, no second ``@``)."""
    if not _EMAIL.fullmatch(email):
        raise UsageError(f"invalid hdab_email {email!r}: use one address, e.g. dac@example.eu")
    return email


def segment(text: str) -> str:
    """``text`` as one IRI path segment: every character but ``A-Z a-z 0-9 _ -`` is
    percent-encoded as UTF-8 (``.`` too, so no segment reads as ``.`` or ``..``)."""
    if not text:
        raise ValueError("an IRI segment cannot be empty")
    return "".join(
        c if c in _KEPT else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in text
    )


def dataset_iri(base: str, name: str) -> str:
    return f"{base}datasets/{segment(name)}"


def catalog_graph(description: CatalogDescription) -> Graph:
    """The DCAT-AP 3 graph of ``description``."""
    from rdflib import Graph, Namespace, URIRef
    from rdflib.namespace import RDF

    ns = {prefix: Namespace(iri) for prefix, iri in NAMESPACES.items()}
    dcat, dct, foaf, vcard = ns["dcat"], ns["dct"], ns["foaf"], ns["vcard"]
    g = Graph(bind_namespaces="none")
    g.bind("rdf", RDF)
    for prefix, namespace in ns.items():
        g.bind(prefix, namespace)
    base = check_catalog_url(description.base)
    catalog = URIRef(f"{base}catalog")
    hdab = URIRef(f"{base}hdab")
    contact = URIRef(f"{base}hdab/contact")
    home = URIRef(base)
    country = check_country(description.country)
    spatial = URIRef(COUNTRY + country) if country else None

    g.add((catalog, RDF.type, dcat.Catalog))
    g.add((catalog, dct.title, _en(f"Datasets of the {description.hub} health-data hub")))
    g.add((catalog, dct.description, _en(_catalog_text(description))))
    g.add((catalog, dct.publisher, hdab))
    g.add((catalog, dct.modified, _when(description.modified)))
    g.add((catalog, foaf.homepage, home))
    g.add((catalog, dcat.themeTaxonomy, URIRef(THEMES)))
    g.add((catalog, ns["dcatap"].applicableLegislation, URIRef(EHDS)))
    if spatial is not None:
        g.add((catalog, dct.spatial, spatial))
    g.add((home, RDF.type, foaf.Document))
    _agent(g, hdab, description.contact.name, foaf)
    g.add((hdab, foaf.mbox, URIRef(_mailto(description.contact.email))))
    g.add((contact, RDF.type, vcard.Kind))
    g.add((contact, RDF.type, vcard.Organization))
    g.add((contact, vcard.fn, _text(description.contact.name)))
    g.add((contact, vcard.hasEmail, URIRef(_mailto(description.contact.email))))
    for record in description.datasets:
        subject = _dataset(g, description, record, ns, spatial)
        g.add((catalog, dcat.dataset, subject))
        g.add((subject, dcat.contactPoint, contact))
        g.add((subject, ns["healthdcatap"].hdab, hdab))
    return g


def _dataset(
    g: Graph,
    description: CatalogDescription,
    record: DatasetRecord,
    ns: dict[str, Any],
    spatial: URIRef | None,
) -> URIRef:
    from rdflib import URIRef
    from rdflib.namespace import RDF, XSD

    dcat, dct, foaf, csvw = ns["dcat"], ns["dct"], ns["foaf"], ns["csvw"]
    base = description.base
    subject = URIRef(dataset_iri(base, record.name))
    page = URIRef(f"{base}portal/catalog/{segment(record.name)}")
    publisher = URIRef(f"{base}organizations/{segment(record.publisher.code)}")
    g.add((subject, RDF.type, dcat.Dataset))
    g.add((subject, dct.title, _text(record.name)))
    g.add((subject, dct.description, _text(record.description or _fallback(record))))
    g.add((subject, dct.identifier, _text(record.name)))
    g.add((subject, dct.publisher, publisher))
    g.add((subject, dct.issued, _when(record.issued)))
    g.add((subject, dct.modified, _when(record.modified)))
    g.add((subject, dcat.theme, URIRef(HEALTH_THEME)))
    g.add((subject, dct.accessRights, URIRef(ACCESS_RIGHTS)))
    g.add((subject, ns["dcatap"].applicableLegislation, URIRef(EHDS)))
    g.add((subject, dcat.landingPage, page))
    g.add((page, RDF.type, foaf.Document))
    if spatial is not None:
        g.add((subject, dct.spatial, spatial))
    if record.covers_from is not None:
        _period(g, subject, record.covers_from, record.covers_until, dcat, dct)
    if record.versions:
        g.add((subject, dcat.version, _text(str(max(v.number for v in record.versions)))))
    if record.records is not None:
        g.add((subject, ns["healthdcatap"].numberOfRecords, _count(record.records)))
    _agent(g, publisher, record.publisher.name, foaf)
    if record.columns:
        _dictionary(g, subject, record, dct, csvw)
    file_type = FORMATS.get(record.format)
    for version in record.versions:
        distribution = URIRef(f"{subject}/versions/{version.number}")
        g.add((subject, dcat.distribution, distribution))
        g.add((distribution, RDF.type, dcat.Distribution))
        g.add((distribution, dct.title, _en(f"{record.name}, version {version.number}")))
        text = f"Version {version.number} of {record.name}, read in the hub by approved projects"
        if version.note:
            text += f" ({version.note})"
        g.add((distribution, dct.description, _en(text)))
        g.add((distribution, dcat.accessURL, page))
        g.add((distribution, dct.issued, _when(version.issued)))
        if file_type:
            g.add((distribution, dct["format"], URIRef(FILE_TYPE + file_type)))
        if version.byte_size is not None:
            g.add((distribution, dcat.byteSize, _count(version.byte_size, XSD.nonNegativeInteger)))
    return subject


def _period(g: Graph, subject: URIRef, start: date, end: date | None, dcat: Any, dct: Any) -> None:
    """``dct:temporal``: a ``dct:PeriodOfTime`` named under the dataset (no blank node,
    so the text stays the same), its end left out while the data keeps coming."""
    from rdflib import Literal, URIRef
    from rdflib.namespace import RDF, XSD

    period = URIRef(f"{subject}/period")
    g.add((subject, dct.temporal, period))
    g.add((period, RDF.type, dct.PeriodOfTime))
    g.add((period, dcat.startDate, Literal(start.isoformat(), datatype=XSD.date)))
    if end is not None:
        g.add((period, dcat.endDate, Literal(end.isoformat(), datatype=XSD.date)))


def _dictionary(g: Graph, subject: URIRef, record: DatasetRecord, dct: Any, csvw: Any) -> None:
    """The columns as a CSVW table schema the dataset conforms to, in their order."""
    from rdflib import BNode, URIRef
    from rdflib.collection import Collection
    from rdflib.namespace import RDF

    schema = URIRef(f"{subject}/dictionary")
    g.add((subject, dct.conformsTo, schema))
    g.add((schema, RDF.type, dct.Standard))
    g.add((schema, RDF.type, csvw.Schema))
    g.add((schema, dct.title, _en(f"Data dictionary of {record.name}")))
    columns: list[Node] = []
    for number, column in enumerate(record.columns, start=1):
        node = URIRef(f"{schema}/columns/{number}")
        g.add((node, RDF.type, csvw.Column))
        g.add((node, csvw.name, _text(column.name)))
        g.add((node, csvw.datatype, _text(column.type)))
        if column.description:
            g.add((node, dct.description, _text(column.description)))
        columns.append(node)
    head = BNode()  # a list's cells: written inline, as ( ... ) and "@list"
    Collection(g, head, columns)
    g.add((schema, csvw.column, head))


def _agent(g: Graph, node: URIRef, name: str, foaf: Any) -> None:
    from rdflib.namespace import RDF

    g.add((node, RDF.type, foaf.Agent))
    g.add((node, RDF.type, foaf.Organization))
    g.add((node, foaf.name, _text(name)))


def _catalog_text(description: CatalogDescription) -> str:
    view = "as a signed-in user may see it" if description.restricted else "its public view"
    return (
        f"The catalog of {description.hub}, {view}. Rows are never published: they are "
        f"read inside the hub by approved projects; ask {description.contact.name} for access."
    )


def _fallback(record: DatasetRecord) -> str:
    return f"{record.name}, supplied by {record.publisher.name}"


def _mailto(email: str) -> str:
    return "mailto:" + check_email(email)


def _text(value: str) -> Any:
    from rdflib import Literal as RdfLiteral

    return RdfLiteral(value)


def _en(value: str) -> Any:
    from rdflib import Literal as RdfLiteral

    return RdfLiteral(value, lang="en")


def _when(value: datetime) -> Any:
    from rdflib import Literal as RdfLiteral
    from rdflib.namespace import XSD

    return RdfLiteral(value.isoformat(timespec="seconds"), datatype=XSD.dateTime)


def _count(value: int, datatype: Any = None) -> Any:
    from rdflib import Literal as RdfLiteral
    from rdflib.namespace import XSD

    return RdfLiteral(str(value), datatype=datatype or XSD.nonNegativeInteger)


def serialize(graph: Graph, format: Format) -> str:
    """``graph`` as Turtle, or as JSON-LD compacted with :data:`CONTEXT` (inline)."""
    if format == "turtle":
        return graph.serialize(format="turtle")
    if format == "jsonld":
        return _stable_jsonld(graph.serialize(format="json-ld", context=CONTEXT, auto_compact=True))
    raise UsageError(f"unknown catalog format {format!r}: use jsonld or turtle")


def _stable_jsonld(text: str) -> str:
    """rdflib's JSON-LD with its ``@graph`` nodes in ``@id`` order (rdflib's own order
    follows the hash seed, so the same catalog gave another text in each process)."""
    import json

    document = json.loads(text)
    nodes = document.get("@graph")
    if isinstance(nodes, list):
        nodes.sort(key=lambda node: json.dumps(node, sort_keys=True, ensure_ascii=False))
        nodes.sort(key=lambda node: str(node.get("@id", "")) if isinstance(node, dict) else "")
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
