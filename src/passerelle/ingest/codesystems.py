"""Code systems of coded FHIR values: recognised from their canonical URI, codes checked (pure).

A FHIR ``Coding`` names its code system by URI.  :func:`system_of` maps the
URIs of the systems French hospitals send to a short name -- ``icd-10`` (WHO),
``cim-10`` (the French ATIH modification), ``snomed-ct``, ``loinc``, ``atc``,
``ccam`` -- and anything else to ``local`` (the URI is kept beside the code).
:func:`code_ok` checks a code's shape under a known system: ICD-10 / CIM-10
categories and subdivisions, SNOMED CT identifiers (6-18 digits, a concept
partition, the Verhoeff check digit) or expressions made of such identifiers,
LOINC codes with their mod-10 check digit (answer, part and group codes ``LA``/``LP``/``LG``
by shape), ATC codes of any level, CCAM acts.
A ``local`` code is only checked to be a FHIR ``code`` (no control character,
no leading or trailing blank).  :func:`uri_ok` refuses a system that is not a
plain ASCII URI: control characters, blanks, non-ASCII look-alikes of a known
host (``snomed.іnfo`` with a Cyrillic ``і``), or more than :data:`MAX_URI` characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MAX_CODE",
    "MAX_URI",
    "SYSTEMS",
    "code_ok",
    "loinc_check_digit",
    "system_of",
    "uri_ok",
    "verhoeff_ok",
]

MAX_URI = 1024
"""Longest system URI accepted (canonical URIs are well under 100 characters)."""
MAX_CODE = 256
"""Longest code accepted under any system."""

SYSTEMS: dict[str, tuple[str, ...]] = {
    "icd-10": (
        "http://hl7.org/fhir/sid/icd-10",
        "urn:oid:2.16.840.1.113883.6.3",
        "https://mos.esante.gouv.fr/NOS/TRE_R310-CIM10/FHIR/TRE-R310-CIM10",
    ),
    "cim-10": (
        "http://hl7.org/fhir/sid/icd-10-fr",
        "https://smt.esante.gouv.fr/terminologie-cim-10",
        "https://mos.esante.gouv.fr/NOS/TRE_R311-CIM10Atih/FHIR/TRE-R311-CIM10Atih",
    ),
    "snomed-ct": ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"),
    "loinc": ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"),
    "atc": ("http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"),
    "ccam": (
        "https://smt.esante.gouv.fr/terminologie-ccam",
        "urn:oid:1.2.250.1.213.2.5",
    ),
}
"""Short name -> the URIs that name it (compared without one trailing ``/``)."""

_BY_URI = {uri: name for name, uris in SYSTEMS.items() for uri in uris}
_URI = re.compile(r"[!-~]+")  # printable ASCII, no blank
_FHIR_CODE = re.compile(r"[^\s\x00-\x1f\x7f]+(?: [^\s\x00-\x1f\x7f]+)*")
_ICD10 = re.compile(r"[A-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?")
_CIM10 = re.compile(r"[A-Z][0-9]{2}(?:\.?[0-9A-Zx+]{1,4})?")
_LOINC = re.compile(r"([0-9]{1,7})-([0-9])")
_LOINC_PART = re.compile(r"L[APG][0-9]{1,7}-[0-9]")  # answers, parts, groups: shape only
_ATC = re.compile(r"[ABCDGHJLMNPRSV](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?")
_CCAM = re.compile(r"[A-Z]{4}[0-9]{3}(?:-?[0-9]){0,2}")
_SCTID_IN_EXPRESSION = re.compile(r"[0-9]+")
_EXPRESSION = re.compile(r"[0-9 :=+{},|()A-Za-z\-.'/]+")

# Verhoeff's dihedral group D5: multiplication and permutation tables.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def uri_ok(uri: str) -> bool:
    """Whether ``uri`` can name a code system: printable ASCII without blanks, not too long."""
    return len(uri) <= MAX_URI and _URI.fullmatch(uri) is not None


def system_of(uri: str | None) -> str:
    """The short name of the system ``uri`` names, ``local`` for any other (or none)."""
    if not uri:
        return "local"
    return _BY_URI.get(uri[:-1] if uri.endswith("/") else uri, "local")


def verhoeff_ok(digits: str) -> bool:
    """Whether the last digit of ``digits`` is its Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c == 0


def _sctid_ok(code: str) -> bool:
    """A SNOMED CT concept id: 6-18 digits, no leading zero, partition 00 (core) or 10
    (extension), Verhoeff check digit."""
    return (
        6 <= len(code) <= 18
        and code.isascii()
        and code.isdigit()
        and code[0] != "0"
        and code[-3:-1] in ("00", "10")
        and verhoeff_ok(code)
    )


def _snomed_ok(code: str) -> bool:
    if _sctid_ok(code):
        return True
    if not any(ch in code for ch in ":=+{") or not _EXPRESSION.fullmatch(code):
        return False  # not a post-coordinated expression either
    ids = _SCTID_IN_EXPRESSION.findall(code)
    return bool(ids) and all(_sctid_ok(i) for i in ids)


def loinc_check_digit(number: str) -> int:
    """The LOINC check digit (mod 10, Luhn) of the digits before the dash."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


def _loinc_ok(code: str) -> bool:
    m = _LOINC.fullmatch(code)
    if m is None:
        return _LOINC_PART.fullmatch(code) is not None
    return loinc_check_digit(m.group(1)) == int(m.group(2))


_CHECKS: dict[str, Callable[[str], bool]] = {
    "icd-10": lambda code: _ICD10.fullmatch(code) is not None,
    "cim-10": lambda code: _CIM10.fullmatch(code) is not None,
    "snomed-ct": _snomed_ok,
    "loinc": _loinc_ok,
    "atc": lambda code: _ATC.fullmatch(code) is not None,
    "ccam": lambda code: _CCAM.fullmatch(code) is not None,
}


def code_ok(system: str, code: str) -> bool:
    """Whether ``code`` is well-formed under the system named ``system`` (a short name)."""
    if len(code) > MAX_CODE or _FHIR_CODE.fullmatch(code) is None:
        return False
    check = _CHECKS.get(system)
    return check(code) if check is not None else True
