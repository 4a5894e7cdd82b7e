"""The national health identifier (INS) and local identifiers in ``Patient.identifier`` (pure).

The INS is the person's NIR (or, for someone not yet registered, a temporary
NIA) as the national INSi service returned it; FHIR carries it as an
``Identifier`` whose ``system`` is the OID of its assigning authority (FR Core
profile ``fr-core-patient-ins``):

====================================  ==============
``urn:oid:1.2.250.1.213.1.4.8``       INS-NIR
``urn:oid:1.2.250.1.213.1.4.9``       INS-NIA
``urn:oid:1.2.250.1.213.1.4.10``      INS-NIR-TEST (fictitious test patients)
``urn:oid:1.2.250.1.213.1.4.11``      INS-NIR-DEMO (fictitious demonstration patients)
====================================  ==============

:func:`ins_identifier` picks the one INS of a patient: identifiers with
``use = old`` (a deactivated INS) are skipped, INS-NIR wins over INS-NIA, then
the test and demonstration systems.  A value under any other system is *not*
an INS, however NIR-like it looks.  :func:`local_identifier` gives the first
other identifier with a system and a value as ``system|value``: the hospital's
own patient number, from which a local (not linkable) pseudonym is derived
when a patient has no INS.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INS_SYSTEMS", "ins_identifier", "ins_kind", "ins_value", "local_identifier"]

INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
    "urn:oid:1.2.250.1.213.1.4.11": "INS-NIR-DEMO",
}
"""INS assigning-authority OIDs, in the order one is preferred over the next."""
_RANK = {system: rank for rank, system in enumerate(INS_SYSTEMS)}


def _usable(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("system"), str)
        and isinstance(item.get("value"), str)
        and item["value"] != ""
        and item.get("use") != "old"
    )


def ins_identifier(identifiers: list[Any]) -> dict[str, Any] | None:
    """The patient's INS ``Identifier`` among ``identifiers``, or ``None``."""
    found = [i for i in identifiers if _usable(i) and i["system"] in _RANK]
    return min(found, key=lambda i: _RANK[i["system"]]) if found else None


def ins_value(identifiers: list[Any]) -> list[Any]:
    """FHIRPath-style: the INS value, as a list of zero or one string."""
    ins = ins_identifier(identifiers)
    return [ins["value"]] if ins else []


def ins_kind(identifiers: list[Any]) -> list[Any]:
    """FHIRPath-style: ``INS-NIR``, ``INS-NIA``, ``INS-NIR-TEST`` or ``INS-NIR-DEMO``."""
    ins = ins_identifier(identifiers)
    return [INS_SYSTEMS[ins["system"]]] if ins else []


def local_identifier(identifiers: list[Any]) -> list[Any]:
    """FHIRPath-style: ``system|value`` of the first identifier that is not an INS."""
    for i in identifiers:
        if _usable(i) and i["system"] not in _RANK:
            return [f"{i['system']}|{i['value']}"]
    return []
