"""The first wall: escape attempts refused on the SQL text alone, with their reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passerelle.research import check_sql, statement_digest

GRANTED = {"stays", "claims"}

ESCAPES = [
    # files, URLs, buckets
    ("SELECT * FROM read_csv('/etc/passwd')", "file-access"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "file-access"),
    ("SELECT * FROM ReAd_PaRqUeT('s3://hub/datasets/secret/*.parquet')", "file-access"),
    ("SELECT * FROM parquet_scan('az://hub/secret.parquet')", "file-access"),
    ("SELECT * FROM read_text('/proc/self/environ')", "file-access"),
    ("SELECT * FROM read_blob('/root/.ssh/id_rsa')", "file-access"),
    ("SELECT * FROM read_json('https://example.org/x.json')", "file-access"),
    ("SELECT * FROM glob('*')", "file-access"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "file-access"),
    ("SELECT * FROM parquet_metadata('datasets/secret/v1/part-0.parquet')", "file-access"),
    ("SELECT * FROM 'datasets/secret/v1/part-0.parquet'", "file-access"),
    ('SELECT * FROM "/etc/passwd"', "file-access"),
    ("FROM 'https://example.org/data.csv'", "file-access"),
    ("SELECT * FROM stays, 's3://bucket/x.parquet'", "file-access"),
    ("SELECT (SELECT count(*) FROM read_csv('/etc/hosts'))", "file-access"),
    (
        "SELECT * FROM stays WHERE departement IN (SELECT * FROM read_text('/etc/passwd'))",
        "file-access",
    ),
    ("WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x", "file-access"),
    ("SELECT * FROM stays, LATERAL read_csv(departement)", "file-access"),
    ("SELECT * FROM /* comment */ read_csv('/etc/passwd') -- trailing", "file-access"),
    ("SELECT * FROM \"read_csv\"('/etc/passwd')", "file-access"),
    ("SELECT * FROM system.main.read_csv('/etc/passwd')", "file-access"),
    # other datasets, catalogs, introspection
    ("SELECT * FROM secret", "not-granted"),
    ("SELECT * FROM stays JOIN secret USING (person_id)", "not-granted"),
    ("SELECT * FROM other_db.main.stays", "not-granted"),
    ("SELECT * FROM information_schema.tables", "not-granted"),
    ("SELECT * FROM duckdb_tables()", "function"),
    ("SELECT * FROM duckdb_settings()", "function"),
    ("SELECT * FROM duckdb_extensions()", "function"),
    ("SELECT * FROM duckdb_secrets()", "function"),
    ("SELECT * FROM which_secret('s3://x', 's3')", "function"),
    ("SELECT * FROM duckdb_databases()", "function"),
    ("SELECT * FROM pragma_database_list", "not-granted"),
    ("SELECT * FROM pragma_table_info('secret')", "function"),
    ("SHOW TABLES", "introspection"),
    ("SHOW ALL TABLES", "introspection"),
    ("DESCRIBE secret", "not-granted"),
    ("SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')", "function"),
    ("SELECT * FROM query_table('secret')", "function"),
    ("SELECT * FROM json_execute_serialized_sql('{}')", "function"),
    ("SELECT * FROM test_all_types()", "table-function"),
    ("SELECT * FROM repeat_row(1, num_rows => 10)", "table-function"),
    # environment and settings
    ("SELECT getenv('HOME')", "function"),
    ("SELECT GETENV('AWS_SECRET_ACCESS_KEY')", "function"),
    ("SELECT current_setting('home_directory')", "function"),
    ("SELECT getvariable('x')", "function"),
    ("SELECT version()", "function"),
    ("SELECT list_transform([1], x -> getenv('HOME'))", "function"),
    ("SELECT row_number() OVER w FROM stays WINDOW w AS (ORDER BY getenv('x'))", "function"),
    ("SELECT * FROM stays ORDER BY current_setting('temp_directory')", "function"),
    ("SELECT * FROM stays LIMIT (SELECT count(*) FROM read_text('x'))", "file-access"),
    ("SELECT * FROM stays, unnest(getenv('PATH'))", "function"),
    ("PREPARE p AS SELECT * FROM secret", "statement"),
    ("USE other_db", "setting"),
    ("SET enable_external_access = true", "setting"),
    ("SET threads TO 64", "setting"),
    ("RESET lock_configuration", "setting"),
    ("SET VARIABLE x = 1", "setting"),
    ("PRAGMA enable_profiling", "setting"),
    ("pragma version", "setting"),
    ("CALL duckdb_settings()", "setting"),
    ("CALL pragma_version()", "setting"),
    # statements that touch files, databases, extensions
    ("ATTACH '/tmp/x.duckdb' AS x", "attach"),
    ("attach 'https://example.org/db.duckdb'", "attach"),
    ("DETACH memory", "attach"),
    ("COPY stays TO '/tmp/out.csv'", "copy"),
    ("COPY (SELECT * FROM stays) TO 's3://bucket/leak.parquet'", "copy"),
    ("COPY stays FROM '/etc/passwd'", "copy"),
    ("EXPORT DATABASE '/tmp/dump'", "export"),
    ("IMPORT DATABASE '/tmp/dump'", "setting"),
    ("INSTALL httpfs", "extension"),
    ("LOAD httpfs", "extension"),
    ("FORCE INSTALL azure FROM community", "extension"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "ddl"),
    ("CREATE PERSISTENT SECRET s (TYPE azure, CONNECTION_STRING 'x')", "ddl"),
    ("DROP SECRET s", "ddl"),
    ("CREATE TABLE t AS SELECT * FROM stays", "ddl"),
    ("CREATE MACRO f(x) AS x", "ddl"),
    ("CREATE VIEW v AS SELECT * FROM read_csv('/etc/passwd')", "ddl"),
    ("DROP VIEW stays", "ddl"),
    ("ALTER VIEW stays RENAME TO s2", "ddl"),
    ("INSERT INTO stays VALUES ('x')", "dml"),
    ("UPDATE stays SET los_days = 0", "dml"),
    ("DELETE FROM stays", "dml"),
    ("EXPLAIN ANALYZE SELECT * FROM stays", "statement"),
    ("PIVOT stays ON departement USING count(*)", "statement"),
    ("CHECKPOINT", "setting"),
    ("VACUUM", "statement"),
    # several statements, however they are hidden
    ("SELECT 1; SELECT 2", "multiple-statements"),
    ("SELECT * FROM stays; COPY stays TO '/tmp/x.csv'", "multiple-statements"),
    ("SELECT 1;\n--\nATTACH 'x'", "multiple-statements"),
    ("", "multiple-statements"),
    ("   ;  ", "multiple-statements"),
    ("-- only a comment", "multiple-statements"),
    # nonsense and unicode tricks
    ("SELEC 1", "syntax"),
    ("SELECT * FROM rеad_csv('/etc/passwd')", "table-function"),  # Cyrillic е
    ("SELECT 1\x00; ATTACH 'x'", "syntax"),
    ('WITH "x.parquet" AS (SELECT 1) SELECT * FROM "x.parquet"', "name"),
]


@pytest.mark.parametrize(("sql", "reason"), ESCAPES, ids=[e[0][:60] for e in ESCAPES])
def test_escape_attempts_are_refused_with_their_reason(sql: str, reason: str) -> None:
    check = check_sql(sql, GRANTED)
    assert not check.allowed
    assert check.refusal is not None
    assert check.refusal.reason == reason, check.refusal
    assert check.refusal.message.endswith(".")
    assert "\n" not in check.refusal.message
    assert check.tables == ()


ALLOWED = [
    ("SELECT * FROM stays", ("stays",)),
    ("select count(*) from STAYS", ("stays",)),
    ('SELECT * FROM "Stays" s', ("stays",)),
    ("SELECT * FROM main.stays", ("stays",)),
    ("FROM stays SELECT departement, count(*) GROUP BY ALL", ("stays",)),
    ("SELECT * FROM stays JOIN claims USING (person_id)", ("claims", "stays")),
    ("WITH a AS (SELECT * FROM stays) SELECT count(*) FROM a, a AS b", ("stays",)),
    (
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < 5) "
        "SELECT * FROM r",
        (),
    ),
    ("SELECT '/etc/passwd' AS looks_like_a_path, 's3://bucket/key' AS url", ()),
    ("SELECT * FROM range(10)", ()),
    ("SELECT * FROM generate_series(1, 3)", ()),
    ("SELECT unnest([1, 2, 3])", ()),
    ("DESCRIBE stays", ("stays",)),
    ("SUMMARIZE stays", ("stays",)),
    ("SELECT * FROM stays PIVOT (count(*) FOR departement IN ('75', '13'))", ("stays",)),
    ("SELECT 1; -- a trailing comment", ()),
    ("SELECT 'été' AS saison, 'ç;ATTACH' AS s", ()),
    ("SELECT median(los_days), quantile_cont(los_days, 0.9) FROM stays", ("stays",)),
]


@pytest.mark.parametrize(("sql", "tables"), ALLOWED, ids=[a[0][:60] for a in ALLOWED])
def test_plain_queries_over_granted_tables_are_allowed(sql: str, tables: tuple[str, ...]) -> None:
    check = check_sql(sql, GRANTED)
    assert check.refusal is None
    assert check.tables == tables
    assert check.digest == statement_digest(sql)


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_guard(sql: str) -> None:
    check = check_sql(sql, GRANTED)
    assert check.allowed or check.refusal is not None
    assert len(check.digest) == 64


@given(st.sampled_from(["read_csv", "read_parquet", "glob", "getenv", "read_text"]))
def test_denied_functions_are_refused_in_any_case(name: str) -> None:
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(name))
    assert not check_sql(f"SELECT * FROM {mixed}('x')", GRANTED).allowed
    assert not check_sql(f"SELECT {mixed}('x')", GRANTED).allowed


def test_a_name_with_a_trailing_newline_is_not_a_plain_identifier() -> None:
    """``$`` also matches before a final newline: names are checked as whole strings."""
    cte = check_sql('WITH "t\n" AS (SELECT 1 AS n) SELECT n FROM "t\n"', GRANTED)
    assert not cte.allowed and cte.refusal is not None and cte.refusal.reason == "name"
    table = check_sql('SELECT count(*) FROM "pmsi_stays\n"', GRANTED)
    assert not table.allowed and table.refusal is not None
    assert table.refusal.reason == "file-access"
