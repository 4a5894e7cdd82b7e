"""Errors that carry no data: every way to make DuckDB print a value is tried on the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.errors import PasserelleError, QueryError, SandboxViolation
from passerelle.research import QueryOutcome, TableSource, run_sandboxed
from passerelle.research.redaction import redact_engine_error, redact_text
from passerelle.storage import open_store
from tests.research.conftest import put_parquet

N = 30
NIRS = [f"18507{7512345 + 7919 * i:08d}" for i in range(N)]  # 13-digit, all distinct
PEOPLE = pa.table(
    {
        "person_id": [f"Qx{i:03d}Zw" for i in range(N)],
        "nir": NIRS,
        "birth": [f"19{50 + i}-{13 + i % 5:02d}-0{1 + i % 9}" for i in range(N)],  # bad months
        "note": [f'{{"diag": "E1{i}.{i % 7}", "secret": "Zq{i:04d}"}}' for i in range(N)],
        "n": list(range(N)),
    }
)
VALUES = [
    str(v) for column in ("person_id", "nir", "birth", "note") for v in PEOPLE[column].to_pylist()
]
FRAGMENTS = ["Qx0", "Zw", "185077", "Zq0", "diag", "E10", "1950-", "1951-"]

ATTACKS = {
    "error(string_agg)": "SELECT error(string_agg(nir, ',')) FROM people",
    "error(one value)": "SELECT error(nir) FROM people",
    "cast to integer": "SELECT CAST(person_id AS INTEGER) FROM people",
    "implicit cast in a filter": "SELECT count(*) FROM people WHERE person_id = 5",
    "strptime of a column": "SELECT strptime(birth, '%Y-%m-%d') FROM people",
    "cast to date": "SELECT CAST(birth AS DATE) FROM people",
    "regular expression built from data": "SELECT regexp_matches(nir, '(' || nir) FROM people",
    "multiplication overflow": "SELECT CAST(nir AS BIGINT) * 100000000000 FROM people",
    "division overflow": "SELECT (CAST(nir AS BIGINT) - CAST(nir AS BIGINT) - 9223372036854775807 - 1) // -1 FROM people",
    "division by zero": "SELECT CAST(nir AS BIGINT) // (n - n) FROM people",
    "try_cast inside a failing cast": "SELECT CAST(coalesce(TRY_CAST(nir AS INTEGER)::VARCHAR, nir) AS INTEGER) FROM people",
    "error of a try_cast": "SELECT error(coalesce(TRY_CAST(nir AS VARCHAR), 'x')) FROM people",
    "list extraction cast": "SELECT [nir][1]::INTEGER FROM people",
    "list cast": "SELECT CAST([nir, person_id] AS INTEGER[]) FROM people",
    "struct cast": "SELECT CAST({'v': nir} AS STRUCT(v DATE)) FROM people",
    "map with duplicate keys": "SELECT map([nir, nir], [1, 2]) FROM people",
    "json of a non-json column": "SELECT json_extract(person_id, '$.x') FROM people",
    "cast to json": "SELECT CAST(person_id AS JSON) FROM people",
    "json path from data (a binder error at run time)": "SELECT json_extract(note, '$[' || person_id || ']') FROM people",
    "value in an IN (SELECT ...)": "SELECT count(*) FROM people WHERE n IN (SELECT CAST(nir AS INTEGER) FROM people)",
    "scalar subquery cardinality": "SELECT n + (SELECT nir FROM people)::INTEGER FROM people",
    "enum cast": "SELECT CAST(nir AS ENUM('a', 'b')) FROM people",
    "uuid cast": "SELECT CAST(person_id AS UUID) FROM people",
    "interval cast": "SELECT CAST(person_id AS INTERVAL) FROM people",
    "decimal overflow": "SELECT CAST(CAST(nir AS DOUBLE) AS DECIMAL(4, 1)) FROM people",
    "hex digits": "SELECT unhex(person_id)::VARCHAR FROM people",
    "bit string": "SELECT CAST(person_id AS BIT) FROM people",
    "base64": "SELECT from_base64(note) FROM people",
    "printf of a value": "SELECT printf('%d', nir) FROM people",
    "date parts out of range": "SELECT make_date(CAST(nir AS BIGINT), 1, 1) FROM people",
    "timestamp out of range": "SELECT to_timestamp(CAST(nir AS DOUBLE) * 1e12) FROM people",
    "pivot then a bad name": "SELECT nope FROM (PIVOT people ON nir USING count(*))",
    "pivot then a bad type": "SELECT * EXCLUDE (n) FROM (PIVOT people ON person_id USING sum(n)) WHERE \"Qx001Zw\" = 'x'",
    "case that raises on one person": "SELECT CASE WHEN person_id = 'Qx007Zw' THEN error(nir) END FROM people",
    "array_value cast": "SELECT array_value(nir)::INT[] FROM people",
}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TableSource]:
    folder = tmp_path_factory.mktemp("people")
    store = open_store(f"file://{folder}")
    put_parquet(store, "datasets/people/v1/part-0.parquet", PEOPLE)
    return {"people": TableSource(store, "datasets/people/v1")}


def assert_no_value(text: str) -> None:
    for value in VALUES + FRAGMENTS:
        assert value not in text, (value, text)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_no_data_value_leaves_the_sandbox_in_an_error(
    people: dict[str, TableSource], attack: str
) -> None:
    sql = ATTACKS[attack]
    with pytest.raises(PasserelleError) as caught:
        run_sandboxed(sql, people)
    error = caught.value
    assert isinstance(error, (QueryError, SandboxViolation)), error
    outcome = error.details
    assert isinstance(outcome, QueryOutcome)
    assert outcome.kind in ("data", "binding", "engine", "resource", "rule")
    assert outcome.message == str(error)
    assert "\n" not in str(error) and str(error).endswith(".")
    assert_no_value(str(error))
    assert_no_value(repr(outcome))
    assert_no_value(json.dumps(outcome.audit_details()))


def test_data_errors_are_named_by_kind_with_a_fixed_message(
    people: dict[str, TableSource],
) -> None:
    seen = {}
    for attack in ("error(string_agg)", "cast to integer", "multiplication overflow"):
        with pytest.raises(QueryError) as caught:
            run_sandboxed(ATTACKS[attack], people)
        outcome = caught.value.details
        assert outcome.decision == "error" and outcome.kind == "data"
        seen[attack] = caught.value.reason
    assert seen == {
        "error(string_agg)": "data-invalid-input",
        "cast to integer": "data-conversion",
        "multiplication overflow": "data-out-of-range",
    }
    one = ATTACKS["error(one value)"]
    with pytest.raises(QueryError) as first:
        run_sandboxed(one, people)
    with pytest.raises(QueryError) as second:
        run_sandboxed(one.replace("nir", "person_id"), people)
    assert str(first.value) == str(second.value)  # the message does not depend on the data


def test_binding_errors_keep_what_the_researcher_wrote_and_nothing_else(
    people: dict[str, TableSource],
) -> None:
    with pytest.raises(QueryError) as caught:
        run_sandboxed("SELECT no_such_column FROM people", people)
    assert caught.value.reason == "invalid-query"
    assert caught.value.details.kind == "binding"
    assert "no_such_column" in str(caught.value)
    pivot = redact_engine_error(  # PIVOT names columns by data: the binder's text is dropped
        "BinderException",
        'Binder Error: Referenced column "nope" not found!\nCandidate bindings: "Qx001Zw"',
        "SELECT nope FROM (PIVOT people ON person_id USING count(*))",
    )
    assert "pivots" in pivot.message and "Qx001Zw" not in pivot.message


def test_redaction_keeps_only_known_words() -> None:
    message = (
        'Binder Error: Referenced column "Qx001Zw" not found in FROM clause!\n'
        'Candidate bindings: "n", "nir"\n\nLINE 1: SELECT "Qx001Zw" ...'
    )
    redacted = redact_engine_error("BinderException", message, "SELECT nope FROM people")
    assert redacted.kind == "binding"
    assert "Qx001Zw" not in redacted.message and "Candidate" not in redacted.message
    assert (
        redacted.message
        == 'DuckDB cannot run the query: Referenced column "…" not found in FROM clause.'
    )
    kept = redact_engine_error("BinderException", message, 'SELECT "Qx001Zw" FROM people')
    assert '"Qx001Zw"' in kept.message  # the researcher typed it: nothing new is shown
    for name in ("ConversionException", "InvalidInputException", "OutOfRangeException"):
        assert "Qx001Zw" not in redact_engine_error(name, message, "SELECT 1").message
    unknown = redact_engine_error("SomethingNewException", message, 'SELECT "Qx001Zw"')
    assert unknown.kind == "engine" and "Qx001Zw" not in unknown.message


WORDS = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=80)


@given(message=WORDS, sql=WORDS, secret=st.from_regex(r"[A-Za-z][A-Za-z0-9]{5,12}", fullmatch=True))
def test_a_secret_absent_from_the_sql_never_survives_redaction(
    message: str, sql: str, secret: str
) -> None:
    from passerelle.research.redaction import _VOCABULARY

    if secret.lower() in sql.lower() or secret.lower() in _VOCABULARY:
        return
    for planted in (f"{message} {secret}", f'{message} "{secret}"', f"{message}'{secret}'x"):
        out = redact_text(planted, [w for w in sql.split() if w])
        assert secret.lower() not in out.lower()
        for cls in ("BinderException", "CatalogException", "ConversionException", "X"):
            assert secret.lower() not in redact_engine_error(cls, planted, sql).message.lower()


def test_the_guard_runs_first_and_no_process_is_started_for_a_refusal(
    people: dict[str, TableSource], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import passerelle.research.child as child

    def no_child(parent: Path | None = None) -> child.SpawnedChild:
        raise AssertionError("a child process was started for a refused query")

    monkeypatch.setattr(child, "spawn_child", no_child)
    for sql in ("SELECT * FROM read_csv('/etc/passwd')", "SELEC 1", "SELECT * FROM other"):
        with pytest.raises(PasserelleError) as caught:
            run_sandboxed(sql, people)
        assert caught.value.details.child_pid is None
        assert caught.value.details.kind in ("rule", "syntax")


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            dict(status=None, returncode=-9, killed_at_deadline=False, started=False),
            ("engine", "engine-failure"),
        ),
        (dict(status=None, returncode=-9, killed_at_deadline=True), ("resource", "time-limit")),
        (
            dict(status=None, returncode=-24, killed_at_deadline=False),
            ("resource", "time-limit"),
        ),  # SIGXCPU
        (dict(status=None, returncode=-11, killed_at_deadline=False), ("resource", "memory-limit")),
        (
            dict(status=None, returncode=-25, killed_at_deadline=False),
            ("resource", "memory-limit"),
        ),  # SIGXFSZ
        (dict(status=None, returncode=0, killed_at_deadline=False), ("engine", "engine-failure")),
        (
            dict(
                status={"ok": False, "kind": "resource", "reason": "memory-limit"},
                returncode=-9,
                killed_at_deadline=False,
            ),
            ("resource", "memory-limit"),
        ),
    ],
)
def test_how_a_child_ended_is_one_kind_and_reason(
    report: dict[str, object], expected: tuple[str, str]
) -> None:
    from passerelle.research import QueryLimits
    from passerelle.research.child import ChildReport
    from passerelle.research.sandbox import _failure

    kind, reason, message = _failure(ChildReport(pid=1, peak_rss_bytes=0, **report), QueryLimits())  # type: ignore[arg-type]
    assert (kind, reason) == expected
    assert message.endswith(".") and "\n" not in message


def test_the_hub_never_takes_a_data_message_from_the_child() -> None:
    from passerelle.research import QueryLimits
    from passerelle.research.child import ChildReport
    from passerelle.research.sandbox import _failure

    planted = {"ok": False, "kind": "data", "reason": "data-conversion", "message": "Qx001Zw 18507"}
    _, reason, message = _failure(ChildReport(1, planted, -9, False, 0), QueryLimits())
    assert reason == "data-conversion" and "Qx001Zw" not in message
