"""Another hub's DCAT-AP catalog read into plain records, refusing what could harm (pure).

``read_catalog(data, own_base=...)`` takes the bytes of a JSON-LD, Turtle or RDF/XML file and
returns its catalog and datasets, or raises one :class:`UsageError` sentence and
nothing else. It reads nothing but those bytes:

- at most :data:`MAX_BYTES`, strict UTF-8;
- JSON-LD is parsed by ``json`` first and refused when nested deeper than
  :data:`MAX_DEPTH`, or when any ``@context`` (at any depth, term definitions' scoped
  contexts included) names a URL or has an ``@import``: rdflib would fetch those, and
  no partner file may make the hub open a connection. Only inline contexts pass, with
  at most :data:`MAX_CONTEXT_TERMS` terms in all and no text over :data:`MAX_IRI`
  characters (rdflib copies the active context at every node-level or scoped context,
  so a big context applied at each of many nodes cost minutes);
- Turtle has no way to fetch; rdflib parses it (a nesting that exhausts the stack is
  refused like any unreadable file), with at most :data:`MAX_ESCAPES` backslashes;
- RDF/XML (what CKAN and data.europa.eu export by default) is refused when it declares
  a document type or entities, XML's way to read files, fetch URLs or multiply a few
  bytes into gigabytes; without one it names nothing to fetch;
- the graph is built in a store that counts as it goes: at most :data:`MAX_TRIPLES`
  statements (named graphs and repeats included) and :data:`MAX_TERM_CHARS` characters
  of terms, so a short name expanded by a long ``@prefix``, ``@base`` or ``@vocab``
  cannot turn 4 MiB into gigabytes before any count is checked;
- at most :data:`MAX_DATASETS` datasets, and bounded texts, columns, themes and
  keywords per dataset;
- no IRI under the importing hub's own ``catalog_url`` (a partner cannot claim to
  describe this hub's datasets): such a file is refused whole;
- a member of the catalog that cannot be shown (not typed ``dcat:Dataset`` nor
  ``dcat:DatasetSeries``, not an http(s) IRI, no title, a text over its limit) is
  left out with its reason in :attr:`RemoteCatalog.skipped`, and the others are
  imported: real catalogs mix members, and one odd entry must not hide a partner's
  whole catalog. Texts lose their control and bidirectional-override characters.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from passerelle.errors import UsageError

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.store import Store
    from rdflib.term import Node

__all__ = [
    "MAX_BYTES",
    "MAX_CONTEXT_TERMS",
    "MAX_DATASETS",
    "MAX_DEPTH",
    "MAX_ESCAPES",
    "MAX_TERM_CHARS",
    "MAX_TRIPLES",
    "RemoteCatalog",
    "RemoteColumn",
    "RemoteRecord",
    "SkippedMember",
    "parse_graph",
    "printable",
    "read_catalog",
]

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_TRIPLES = 200_000
MAX_DATASETS = 5_000
MAX_IRI = 500
MAX_TITLE = 500
MAX_TEXT = 10_000
MAX_COLUMNS = 1_000
MAX_TERMS = 50  # themes, keywords
MAX_ESCAPES = 100_000
"""Backslashes in a Turtle file: rdflib's time on one literal grows with the square of
its escapes (1.2 million took 65 s); a catalog needs one per quote in its texts."""
MAX_CONTEXT_TERMS = 1_000
"""Term definitions and keywords of all a JSON-LD file's contexts together."""
MAX_TERM_CHARS = 16 * MAX_BYTES
"""Characters of the terms of every statement parsed (an export of this hub makes about
three per byte of its file)."""

_NS = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "csvw": "http://www.w3.org/ns/csvw#",
}
_CONTROLS = "\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u2028\u2029"
_IRI = re.compile(f'https?://[^\\s<>"{{}}|\\\\^`{_CONTROLS}]+', re.IGNORECASE)
_UNSEEN = re.compile(f"[{_CONTROLS}]")
_RDF_XML = re.compile(r"\s*<(?:\?xml\b|!--|!DOCTYPE\b|[A-Za-z_][\w.-]*:RDF\b)")
"""How an RDF/XML file starts (Turtle never starts with ``<?``, ``<!`` nor ``<p:RDF``)."""


@dataclass(frozen=True)
class RemoteColumn:
    name: str
    type: str
    description: str = ""


@dataclass(frozen=True)
class RemoteRecord:
    """One dataset of a partner's catalog, as its file describes it (untrusted text)."""

    iri: str
    title: str
    description: str
    identifier: str
    publisher: str
    themes: tuple[str, ...]
    keywords: tuple[str, ...]
    access_rights: str
    landing_page: str
    columns: tuple[RemoteColumn, ...]
    distributions: int


@dataclass(frozen=True)
class SkippedMember:
    """A member of a partner's catalog left out of the import, and why (one sentence)."""

    member: str
    reason: str


@dataclass(frozen=True)
class RemoteCatalog:
    iri: str
    title: str
    datasets: tuple[RemoteRecord, ...]
    skipped: tuple[SkippedMember, ...] = ()


class _Unusable(Exception):
    """One member cannot be imported; the others still can."""


def read_catalog(data: bytes, *, own_base: str | None = None) -> RemoteCatalog:
    """The catalog in ``data`` (JSON-LD, Turtle or RDF/XML, told apart by how it starts)."""
    return _records(parse_graph(data), own_base)


def parse_graph(data: bytes) -> Graph:
    """``data`` as an rdflib graph, within the limits above; never fetches anything."""
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"the catalog file is {len(data)} bytes, over the {MAX_BYTES} allowed; "
            "ask the partner for a smaller export"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the catalog file is not UTF-8 text; export it again") from None
    text = text.removeprefix("\ufeff")
    if text.lstrip()[:1] in ("{", "["):
        return _parse(_checked_jsonld(text), "json-ld")
    if _RDF_XML.match(text):
        return _parse(_checked_xml(text), "xml")
    escapes = text.count("\\")
    if escapes > MAX_ESCAPES:
        raise UsageError(
            f"the catalog file's Turtle holds {escapes} escapes (\\), over the {MAX_ESCAPES} "
            "allowed; ask the partner for its JSON-LD export (passerelle catalog export "
            "--format jsonld), read in one pass"
        )
    return _parse(text, "turtle")


def _checked_xml(text: str) -> str:
    """Refuse an RDF/XML file with a document type: its entities are how XML reads other
    files (``SYSTEM "file:///..."``), fetches URLs or multiplies a few bytes into
    gigabytes; RDF/XML needs none."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise UsageError(
            "the catalog file's RDF/XML declares a document type or entities, which the hub "
            "never reads (they can fetch files and URLs); export it without a DOCTYPE"
        )
    return text


def _checked_jsonld(text: str) -> str:
    try:
        document = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise UsageError(f"the catalog file is not valid JSON: {exc}") from None
    _check_contexts(document)
    return text


def _too_deep() -> UsageError:
    return UsageError(
        f"the catalog file nests deeper than {MAX_DEPTH} levels; a DCAT catalog never "
        "needs that, ask the partner for a flat export"
    )


def _check_contexts(document: Any) -> None:
    """Refuse a JSON-LD document deeper than MAX_DEPTH, or with a context that is not
    inline: a string in a context's place (the value of any ``@context`` key, node or
    term definition alike, or an item of its list) is a URL rdflib would fetch, and so
    is any ``@import``. Strings deeper inside an inline context are term mappings, each
    at most MAX_IRI characters; all contexts hold at most MAX_CONTEXT_TERMS entries."""
    terms = 0
    stack: list[tuple[Any, int, _Place]] = [(document, 0, _Place.DATA)]
    while stack:
        value, depth, place = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, str):
            if place is _Place.CONTEXT:
                raise _remote_context()
            if place is _Place.IN_CONTEXT and len(value) > MAX_IRI:
                raise _big_context(f"a text of {len(value)} characters")
        elif isinstance(value, list):
            stack.extend((v, depth + 1, place) for v in value)
        elif isinstance(value, dict):
            if place is _Place.CONTEXT:
                terms += len(value)
                if terms > MAX_CONTEXT_TERMS:
                    raise _big_context(f"over {MAX_CONTEXT_TERMS} terms")
            inner = _Place.DATA if place is _Place.DATA else _Place.IN_CONTEXT
            for key, item in value.items():
                if key == "@import":
                    raise _remote_context()
                if place is not _Place.DATA and len(key) > MAX_IRI:
                    raise _big_context(f"a term of {len(key)} characters")
                stack.append((item, depth + 1, _Place.CONTEXT if key == "@context" else inner))


class _Place(enum.Enum):
    """Where a value of a JSON-LD document sits, for :func:`_check_contexts`."""

    DATA = "data"
    CONTEXT = "context"  # the value of an @context key (or an item of its list)
    IN_CONTEXT = "in-context"  # deeper inside an inline context


def _big_context(what: str) -> UsageError:
    return UsageError(
        f"the catalog file's JSON-LD contexts hold {what}, where {MAX_CONTEXT_TERMS} "
        f"terms of at most {MAX_IRI} characters are allowed; a DCAT catalog needs a few "
        "prefixes (passerelle catalog export writes eight)"
    )


def _remote_context() -> UsageError:
    return UsageError(
        "the catalog file's JSON-LD names a context to fetch (a URL or @import); the hub "
        "fetches nothing: inline the context (passerelle catalog export does)"
    )


@contextmanager
def _quiet_rdflib() -> Iterator[None]:
    """rdflib logs a traceback for each literal it cannot convert (an ill-typed number, an
    XML literal that is not XML): a partner's file is the hub's input, not its log."""
    logger = logging.getLogger("rdflib")
    handler = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _parse(text: str, format: str) -> Graph:
    from rdflib import Graph

    graph = Graph(store=_bounded_store()())
    try:
        with _quiet_rdflib():
            graph.parse(data=text, format=format)
    except RecursionError:
        raise _too_deep() from None
    except UsageError:
        raise  # the bounded store's refusal, raised while parsing
    except Exception as exc:  # rdflib raises many kinds; each means "unreadable"
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        kind = {"json-ld": "JSON-LD", "xml": "RDF/XML"}.get(format, "Turtle")
        raise UsageError(f"the catalog file is not readable {kind}: {reason}") from None
    return graph


@cache
def _bounded_store() -> type[Store]:
    """An in-memory rdflib store that refuses a statement past the limits as it is added
    (every parser adds through it, named graphs included), so the limits hold while the
    file is parsed, not only once the whole graph is in memory."""
    from rdflib.plugins.stores.memory import Memory

    class BoundedMemory(Memory):
        def __init__(self) -> None:
            super().__init__()
            self.statements = 0
            self.chars = 0

        def add(self, triple: Any, context: Any, quoted: bool = False) -> None:
            self.statements += 1
            self.chars += sum(len(term) for term in triple)
            if self.statements > MAX_TRIPLES:
                raise UsageError(
                    f"the catalog file states more than the {MAX_TRIPLES} triples allowed; "
                    "ask the partner for a smaller export"
                )
            if self.chars > MAX_TERM_CHARS:
                raise UsageError(
                    f"the catalog file's IRIs and texts run over the {MAX_TERM_CHARS} "
                    "characters allowed once its prefixes, base and vocabulary are "
                    "expanded; ask the partner for an export with short prefixes"
                )
            super().add(triple, context, quoted)

    return BoundedMemory


def _records(graph: Graph, own_base: str | None) -> RemoteCatalog:
    from rdflib.namespace import RDF

    catalogs = sorted(set(graph.subjects(RDF.type, _p("dcat", "Catalog"))), key=str)
    if not catalogs:
        raise UsageError(
            "the file holds no dcat:Catalog; give a DCAT-AP catalog (passerelle catalog "
            "export writes one)"
        )
    if len(catalogs) > 1:
        raise UsageError("the file holds several dcat:Catalog; give one partner's catalog")
    catalog = catalogs[0]
    catalog_iri = _iri(catalog, "the catalog", own_base)
    members = sorted(set(graph.objects(catalog, _p("dcat", "dataset"))), key=str)
    if not members:
        raise UsageError("the catalog lists no dataset (dcat:dataset); nothing to import")
    if len(members) > MAX_DATASETS:
        raise UsageError(
            f"the catalog lists {len(members)} datasets, over the {MAX_DATASETS} allowed"
        )
    kinds = (_p("dcat", "Dataset"), _p("dcat", "DatasetSeries"))
    records, skipped = [], []
    for member in members:
        try:
            if not any((member, RDF.type, kind) in graph for kind in kinds):
                raise _Unusable("it is not typed dcat:Dataset (nor dcat:DatasetSeries)")
            records.append(_record(graph, member, own_base))
        except _Unusable as exc:
            skipped.append(SkippedMember(_shown(member).strip("'\""), str(exc)))
    if not records:
        raise UsageError(
            f"none of the catalog's {len(members)} members can be imported; the first "
            f"one {_shown(members[0])}: {skipped[0].reason}"
        )
    title = _catalog_title(graph, catalog, catalog_iri)
    return RemoteCatalog(catalog_iri, title, tuple(records), tuple(skipped))


def _catalog_title(graph: Graph, catalog: Node, iri: str) -> str:
    try:
        return _text(graph, catalog, "dct", "title", MAX_TITLE) or iri
    except _Unusable as exc:
        raise UsageError(f"the catalog's title is unusable: {exc}") from None


def _record(graph: Graph, node: Node, own_base: str | None) -> RemoteRecord:
    if not _is_http_iri(node):
        raise _Unusable(f"it is not an http(s) IRI of at most {MAX_IRI} characters")
    iri = _iri(node, "a dataset", own_base)  # a user part or this hub's IRI: the whole file
    title = _text(graph, node, "dct", "title", MAX_TITLE)
    if not title:
        raise _Unusable("it has no dct:title, which every DCAT dataset needs")
    publisher = _one(graph, node, "dct", "publisher")
    publisher_name = _text(graph, publisher, "foaf", "name", MAX_TITLE) if publisher else ""
    landing = _one(graph, node, "dcat", "landingPage")
    rights = _one(graph, node, "dct", "accessRights")
    return RemoteRecord(
        iri=iri,
        title=title,
        description=_text(graph, node, "dct", "description", MAX_TEXT),
        identifier=_text(graph, node, "dct", "identifier", MAX_TITLE),
        publisher=publisher_name,
        themes=_iris(graph, node, "dcat", "theme"),
        keywords=_texts(graph, node, "dcat", "keyword"),
        access_rights=_link(rights),
        landing_page=_link(landing),
        columns=_columns(graph, node),
        distributions=len(set(graph.objects(node, _p("dcat", "distribution")))),
    )


def _columns(graph: Graph, node: Node) -> tuple[RemoteColumn, ...]:
    """The data dictionary, as ``catalog export`` writes it: a csvw:Schema the dataset
    conforms to, its columns as an RDF list (a plain set of csvw:column is read too)."""
    from rdflib.collection import Collection

    columns: list[RemoteColumn] = []
    for schema in sorted(set(graph.objects(node, _p("dct", "conformsTo"))), key=str):
        for head in sorted(set(graph.objects(schema, _p("csvw", "column"))), key=str):
            try:
                cells = list(Collection(graph, head)) if _is_list(graph, head) else [head]
            except Exception:  # a list that loops or breaks: not a dictionary
                raise _Unusable("its data dictionary is a broken list") from None
            for cell in cells:
                if len(columns) >= MAX_COLUMNS:
                    raise _Unusable(f"it has over {MAX_COLUMNS} columns in its dictionary")
                name = _text(graph, cell, "csvw", "name", MAX_TITLE)
                if name:
                    kind = _text(graph, cell, "csvw", "datatype", MAX_TITLE)
                    text = _text(graph, cell, "dct", "description", MAX_TEXT)
                    columns.append(RemoteColumn(name, kind, text))
    return tuple(columns)


def _is_list(graph: Graph, node: Node) -> bool:
    from rdflib.namespace import RDF

    return (node, RDF.first, None) in graph or node == RDF.nil


def _p(prefix: str, name: str) -> Any:
    from rdflib import URIRef

    return URIRef(_NS[prefix] + name)


def _one(graph: Graph, node: Node | None, prefix: str, name: str) -> Node | None:
    if node is None:
        return None
    values = sorted(set(graph.objects(node, _p(prefix, name))), key=str)
    return values[0] if values else None


def _text(graph: Graph, node: Node | None, prefix: str, name: str, limit: int) -> str:
    """One literal value (English or untagged first), cleaned and within ``limit``."""
    from rdflib import Literal

    if node is None:
        return ""
    values = [v for v in graph.objects(node, _p(prefix, name)) if isinstance(v, Literal)]
    if not values:
        return ""
    values.sort(key=lambda v: (v.language not in (None, "en"), v.language or "", str(v)))
    return _clean(str(values[0]), limit, f"{prefix}:{name}")


def _texts(graph: Graph, node: Node, prefix: str, name: str) -> tuple[str, ...]:
    from rdflib import Literal

    values = sorted(
        {str(v) for v in graph.objects(node, _p(prefix, name)) if isinstance(v, Literal)}
    )
    if len(values) > MAX_TERMS:
        raise _Unusable(f"it has over {MAX_TERMS} values of {prefix}:{name}")
    return tuple(_clean(v, MAX_TITLE, f"{prefix}:{name}") for v in values)


def _iris(graph: Graph, node: Node, prefix: str, name: str) -> tuple[str, ...]:
    values = sorted({_link(v) for v in graph.objects(node, _p(prefix, name))} - {""})
    if len(values) > MAX_TERMS:
        raise _Unusable(f"it has over {MAX_TERMS} values of {prefix}:{name}")
    return tuple(values)


def printable(text: str) -> str:
    """``text`` without control, bidirectional-override and line-separator characters,
    newlines and tabs kept: what a terminal or a page may show of a partner's text."""
    return _UNSEEN.sub(lambda m: m.group() if m.group() in "\n\t" else "", text)


def _clean(value: str, limit: int, what: str) -> str:
    value = printable(value).strip()
    if len(value) > limit:
        raise _Unusable(f"its {what} is {len(value)} characters long, over the {limit} allowed")
    return value


def _link(node: Node | None) -> str:
    """An http(s) IRI kept for display as a link; anything else (``javascript:``, a blank
    node, a literal, a user part that makes ``https://hub.example.eu@evil/`` read as
    another host) is dropped."""
    from urllib.parse import urlsplit

    if _is_http_iri(node):
        text = str(node)
        return "" if "@" in urlsplit(text).netloc else text
    return ""


def _is_http_iri(node: Node | None) -> bool:
    """Whether ``node`` is an absolute http(s) IRI of at most :data:`MAX_IRI` characters."""
    from rdflib import URIRef

    return isinstance(node, URIRef) and len(node) <= MAX_IRI and bool(_IRI.fullmatch(node))


def _iri(node: Node, what: str, own_base: str | None) -> str:
    iri = _link(node)
    if not iri:
        raise UsageError(
            f"{what} of the file is {_shown(node)}, not an http(s) IRI (without a user part) "
            f"of at most {MAX_IRI} characters; a catalog to import names each dataset by its IRI"
        )
    if own_base and _under(iri, own_base):
        raise UsageError(
            f"{what} of the file is {iri}, an IRI of this hub's own catalog; a partner's "
            "catalog cannot describe this hub's datasets"
        )
    return iri


def _under(iri: str, base: str) -> bool:
    """Whether ``iri`` is ``base`` or below it, as a browser would resolve both: any case
    of scheme and host, a host's trailing dot, the scheme's default port, percent-encoded
    path characters, empty, ``.`` and ``..`` segments."""
    mine, own = _place(iri), _place(base)
    if mine is None or own is None:
        return False
    return mine[0] == own[0] and mine[1][: len(own[1])] == own[1]


def _place(iri: str) -> tuple[str, tuple[str, ...]] | None:
    """(host and port, path) of an http(s) IRI, normalized; None when it has no valid port."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(iri)
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    segments: list[str] = []
    for segment in unquote(parts.path).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    where = host if port in (None, default) else f"{host}:{port}"
    return where, tuple(segments)


def _shown(node: Node) -> str:
    text = _UNSEEN.sub("", str(node))  # no newline either: it is inside one sentence
    return repr(text[:80] + ("..." if len(text) > 80 else ""))
