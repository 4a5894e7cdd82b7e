"""A catalog checked against the DCAT-AP 3.0.1 SHACL shapes (pyshacl), with no network.

The shapes are the official files, shipped unchanged in ``dcat_shapes/``. Their
``sh:class`` constraints ask the class of values defined outside the catalog (the EU
access-right, data-theme, file-type and country vocabularies, the ELI register): a
validator that has not loaded those vocabularies reports false violations. The
official validator loads them from the network; :func:`vocabulary_graph` carries,
instead, the few terms a passerelle catalog uses, each with the ``skos:inScheme`` its
vocabulary gives and the class the DCAT-AP ranges give its property's values.

Findings are sorted by severity: a ``sh:Violation`` of any shape makes the catalog
non-conformant; ``sh:Warning`` results (the recommended properties, deprecated terms,
a publisher outside the EU corporate bodies) are listed, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from passerelle.hub.dcat import (
    ACCESS_RIGHTS,
    COUNTRIES,
    EHDS,
    FILE_TYPE,
    FORMATS,
    HEALTH_THEME,
    THEMES,
)
from passerelle.hub.dcat_import import printable

if TYPE_CHECKING:
    from rdflib import Graph

__all__ = ["SHAPE_FILES", "Finding", "ValidationReport", "validate_graph", "vocabulary_graph"]

SHAPE_FILES = (
    "shapes.ttl",
    "range.ttl",
    "mdr-vocabularies.shape.ttl",
    "shapes_recommended.ttl",
    "deprecateduris.ttl",
)
"""The DCAT-AP 3.0.1 shape files a catalog is checked against, in ``dcat_shapes/``."""

_AUTHORITY = "http://publications.europa.eu/resource/authority/"


@dataclass(frozen=True)
class Finding:
    """One SHACL result: ``severity`` is ``violation``, ``warning`` or ``info``."""

    severity: str
    shapes: str  # the shape file it came from
    focus: str
    path: str
    message: str


@dataclass(frozen=True)
class ValidationReport:
    violations: list[Finding]
    warnings: list[Finding]

    @property
    def conforms(self) -> bool:
        return not self.violations


def vocabulary_graph() -> Graph:
    """The terms of the EU vocabularies and the ELI register a passerelle catalog names."""
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, RDF, SKOS

    eli = Namespace("http://data.europa.eu/eli/ontology#")
    g = Graph()

    def concept(iri: str, scheme: str, label: str, *classes: URIRef) -> None:
        node = URIRef(iri)
        g.add((node, RDF.type, SKOS.Concept))
        g.add((node, SKOS.inScheme, URIRef(scheme)))
        g.add((node, SKOS.prefLabel, Literal(label, lang="en")))
        for cls in classes:
            g.add((node, RDF.type, cls))

    for scheme, title in (
        ("access-right", "Access right"),
        ("data-theme", "Data theme"),
        ("file-type", "File type"),
        ("country", "Country"),
    ):
        g.add((URIRef(_AUTHORITY + scheme), RDF.type, SKOS.ConceptScheme))
        g.add((URIRef(_AUTHORITY + scheme), DCTERMS.title, Literal(title, lang="en")))
    # dct:accessRights' values are dct:RightsStatement, dct:format's dct:MediaTypeOrExtent,
    # dct:spatial's dct:Location (the DCMI ranges DCAT-AP keeps)
    concept(ACCESS_RIGHTS, _AUTHORITY + "access-right", "non-public", DCTERMS.RightsStatement)
    concept(HEALTH_THEME, THEMES, "Health")
    for name in sorted(set(FORMATS.values())):
        concept(FILE_TYPE + name, _AUTHORITY + "file-type", name, DCTERMS.MediaTypeOrExtent)
    for code, country in COUNTRIES.items():
        concept(_AUTHORITY + f"country/{code}", _AUTHORITY + "country", country, DCTERMS.Location)
    ehds = URIRef(EHDS)  # dcatap:applicableLegislation's values are eli:LegalResource
    g.add((ehds, RDF.type, eli.LegalResource))
    g.add((ehds, eli.title, Literal("European Health Data Space Regulation", lang="en")))
    return g


def _shapes(name: str) -> Graph:
    from rdflib import Graph

    g = Graph()
    text = (resources.files("passerelle.hub") / "dcat_shapes" / name).read_text("utf-8")
    g.parse(data=text, format="turtle")
    return g


def _terms_used(data: Graph, vocabulary: Graph) -> Graph:
    """The part of ``vocabulary`` describing terms ``data`` names (and their schemes), so
    that the shapes see no term the catalog does not use."""
    from rdflib import Graph, URIRef

    kept = Graph()
    named = {o for o in data.objects() if isinstance(o, URIRef)}
    for _ in range(2):  # a term, then the scheme it is in
        for term in named & set(vocabulary.subjects()):
            for triple in vocabulary.triples((term, None, None)):
                kept.add(triple)
        named = {o for o in kept.objects() if isinstance(o, URIRef)}
    return kept


def validate_graph(data: Graph) -> ValidationReport:
    """Check ``data`` against every shape file, with :func:`vocabulary_graph` beside it."""
    from pyshacl import validate
    from rdflib.namespace import SH

    combined = data + _terms_used(data, vocabulary_graph())
    findings: list[Finding] = []
    for name in SHAPE_FILES:
        _, results, _ = validate(
            combined,
            shacl_graph=_shapes(name),
            inference=None,
            allow_warnings=True,
            allow_infos=True,
            do_owl_imports=False,
        )
        for result in results.objects(predicate=SH.result):  # not the nested sh:detail
            severity = results.value(result, SH.resultSeverity)
            findings.append(  # the file's IRIs and texts, never a terminal's control codes
                Finding(
                    str(severity).rsplit("#", 1)[-1].lower(),
                    name,
                    printable(str(results.value(result, SH.focusNode))),
                    printable(str(results.value(result, SH.resultPath) or "")),
                    printable(str(results.value(result, SH.resultMessage) or "")),
                )
            )
    findings.sort(key=lambda f: (f.shapes, f.path, f.focus, f.message))
    return ValidationReport(
        [f for f in findings if f.severity == "violation"],
        [f for f in findings if f.severity != "violation"],
    )
