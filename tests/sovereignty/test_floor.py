"""The classification floor: the least classification a table requires, from the roles the
hub's own schemas give its columns (pure), as a matrix and as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.hub.views import Column
from passerelle.ingest import shipped_schema
from passerelle.ingest.schema import parse_schema
from passerelle.sovereignty.floor import (
    IDENTITY,
    IDENTITY_AS_WRITTEN,
    NO_FLOOR,
    PERSON_PSEUDONYM,
    PERSON_ROW,
    PSEUDONYM,
    ROLE_FLOORS,
    ColumnRole,
    Floor,
    catalog_roles,
    floor_of,
    schema_roles,
    stricter,
)
from passerelle.sovereignty.policy import CLASSIFICATIONS, DEFAULT_CLASSIFICATION

IDENTIFYING, PSEUDONYMIZED, AGGREGATE, REFERENCE = CLASSIFICATIONS


def _view(toml: str):  # type: ignore[no-untyped-def]
    (view,) = parse_schema(f'[dataset]\nname = "t"\nkind = "csv"\n{toml}').views
    return view


PERSON = '[person]\ncolumn = "person_id"\nnir = "nir"\nbirth_date = "birth_date"\nsex = "sex"\n'
IDENTITY_COLUMNS = '[[columns]]\nname = "birth_date"\ntype = "date"\n[[columns]]\nname = "sex"\n'


@pytest.mark.parametrize(
    ("toml", "floor"),
    [
        # a reference table: no person, no identifier
        ('[[columns]]\nname = "finess"\n[[columns]]\nname = "label"\n', NO_FLOOR),
        # free text kept (scanned) does not by itself make rows personal
        ('[[columns]]\nname = "label"\nfree_text = true\nsafe = true\n', NO_FLOOR),
        # pseudonyms of persons: the NIR is dropped, person_id holds the pseudonym
        (
            PERSON + '[[columns]]\nname = "nir"\nnir = true\n' + IDENTITY_COLUMNS,
            Floor(PSEUDONYMIZED, "person_id", PSEUDONYM),
        ),
        # no pseudonym, but a declared identifier (dropped): the rows still describe persons
        (
            '[[columns]]\nname = "phone"\nidentifier = true\n[[columns]]\nname = "dx"\n',
            Floor(PSEUDONYMIZED, "phone", PERSON_ROW),
        ),
        ('[[columns]]\nname = "nir"\nnir = true\n', Floor(PSEUDONYMIZED, "nir", PERSON_ROW)),
        # [person] reads the NIR from a column the schema keeps as written: identifying
        (
            PERSON + '[[columns]]\nname = "nir"\n' + IDENTITY_COLUMNS,
            Floor(IDENTIFYING, "nir", IDENTITY),
        ),
    ],
    ids=["reference", "free-text", "pseudonym", "identifier", "nir", "nir-kept"],
)
def test_floor_of_a_schema_view(toml: str, floor: Floor) -> None:
    assert floor_of(schema_roles(_view(toml))) == floor


def test_shipped_schemas_need_health_pseudonymized_which_is_the_default() -> None:
    for name in ("pmsi_stays", "dcir_claims", "fhir_bulk"):
        for view in shipped_schema(name).views:
            floor = floor_of(schema_roles(view))
            assert floor == Floor(PSEUDONYMIZED, "person_id", PSEUDONYM), (name, view.name)
            assert floor.admits(DEFAULT_CLASSIFICATION)


def test_a_fhir_patient_view_keeping_its_resource_id_is_identifying() -> None:
    (patient, *_) = shipped_schema("fhir_bulk").views
    text = (
        '[dataset]\nname = "f"\nkind = "fhir-ndjson"\n[[views]]\nname = "patient"\n'
        'resource = "Patient"\n[views.person]\ncolumn = "person_id"\nid = "id"\nnir = "nir"\n'
        'birth_date = "birth_date"\nsex = "sex"\n'
        '[[views.columns]]\nname = "id"\npath = "id"\n'  # not flagged identifier: kept
        '[[views.columns]]\nname = "nir"\npath = "identifier.value.first()"\nnir = true\n'
        '[[views.columns]]\nname = "birth_date"\npath = "birthDate"\ntype = "date"\n'
        '[[views.columns]]\nname = "sex"\npath = "gender"\ntype = "sex"\n'
    )
    (view,) = parse_schema(text).views
    assert floor_of(schema_roles(view)) == Floor(IDENTIFYING, "id", IDENTITY)
    assert floor_of(schema_roles(patient)).classification == PSEUDONYMIZED


@pytest.mark.parametrize(
    ("columns", "floor"),
    [
        ([], NO_FLOOR),
        ([{"name": "x", "type": "string", "description": "a code"}], NO_FLOOR),
        (
            [{"name": "p", "type": "string", "description": PERSON_PSEUDONYM}],
            Floor(PSEUDONYMIZED, "p", PSEUDONYM),
        ),
        (
            [
                Column("p", "string", PERSON_PSEUDONYM),
                Column("nir", "string", IDENTITY_AS_WRITTEN),
            ],
            Floor(IDENTIFYING, "nir", IDENTITY),
        ),
    ],
    ids=["none", "plain", "pseudonym", "identity"],
)
def test_floor_of_catalog_columns(columns: list[object], floor: Floor) -> None:
    assert floor_of(catalog_roles(columns)) == floor


@pytest.mark.parametrize("floor", CLASSIFICATIONS)
@pytest.mark.parametrize("asked", CLASSIFICATIONS)
def test_a_floor_admits_itself_and_stricter_only(floor: str, asked: str) -> None:
    admitted = Floor(floor, "c", PSEUDONYM).admits(asked)
    assert admitted == (CLASSIFICATIONS.index(asked) <= CLASSIFICATIONS.index(floor))


def test_the_refusal_is_one_sentence_naming_the_dataset_column_and_fix() -> None:
    assert Floor(PSEUDONYMIZED, "person_id", PSEUDONYM).refusal("pmsi_stays") == (
        "pmsi_stays holds row-level pseudonyms (column person_id): classify it "
        "health-pseudonymized or stricter."
    )
    assert Floor(IDENTIFYING, "nir", IDENTITY).refusal("x") == (
        "x keeps a direct identifier as written (column nir): classify it health-identifying."
    )


ROLES = st.lists(
    st.builds(ColumnRole, st.sampled_from(["a", "b", "c"]), st.sampled_from(sorted(ROLE_FLOORS)))
)


@given(ROLES)
def test_the_floor_is_the_strictest_role_and_ignores_order(roles: list[ColumnRole]) -> None:
    floor = floor_of(roles)
    assert floor_of(reversed(roles)).classification == floor.classification
    for r in roles:
        assert Floor(ROLE_FLOORS[r.role], r.column, r.role).admits(floor.classification)
        assert stricter(floor.classification, ROLE_FLOORS[r.role]) == floor.classification
    if roles:
        assert ColumnRole(floor.column, floor.role) in roles
    else:
        assert floor == NO_FLOOR and floor.admits(REFERENCE) and floor.admits(AGGREGATE)


@given(ROLES, ROLES)
def test_more_columns_never_lower_the_floor(a: list[ColumnRole], b: list[ColumnRole]) -> None:
    assert stricter(floor_of(a + b).classification, floor_of(a).classification) == (
        floor_of(a + b).classification
    )
