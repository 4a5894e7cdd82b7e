"""Every DuckDB result type, with the exact JSON cell the hub must render for it.

Shared by the pure matrix (``test_result_types.py``) and the end-to-end one
through the hub, the CLI and the API. ``LOSSLESS`` marks the types whose exact
value only survives DuckDB's Arrow export with ``arrow_lossless_conversion``
(without it DuckDB turns ``UHUGEINT`` into a wrapping decimal, drops a
``TIMETZ`` offset and hands ``BIT`` over as its internal bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SCALARS", "WRAPPERS", "Scalar", "Wrapper", "csv_cell"]


@dataclass(frozen=True)
class Scalar:
    name: str
    sql: str
    json: Any
    lossless: bool = False


SCALARS = [
    Scalar("boolean", "true", True),
    Scalar("tinyint_min", "(-128)::TINYINT", -128),
    Scalar("utinyint_max", "255::UTINYINT", 255),
    Scalar("smallint_min", "(-32768)::SMALLINT", -32768),
    Scalar("usmallint_max", "65535::USMALLINT", 65535),
    Scalar("integer_min", "(-2147483648)::INTEGER", -2147483648),
    Scalar("uinteger_max", "4294967295::UINTEGER", 4294967295),
    Scalar("bigint_safe", "9007199254740991::BIGINT", 9007199254740991),
    Scalar("bigint_unsafe", "9007199254740992::BIGINT", "9007199254740992"),
    Scalar("bigint_min", "(-9223372036854775808)::BIGINT", "-9223372036854775808"),
    Scalar("ubigint_max", "18446744073709551615::UBIGINT", "18446744073709551615"),
    Scalar(
        "hugeint_min",
        "(-170141183460469231731687303715884105728)::HUGEINT",
        "-170141183460469231731687303715884105728",
    ),
    Scalar(
        "hugeint_max",
        "170141183460469231731687303715884105727::HUGEINT",
        "170141183460469231731687303715884105727",
    ),
    Scalar("uhugeint_small", "7::UHUGEINT", "7"),
    Scalar(
        "uhugeint_max",
        "340282366920938463463374607431768211455::UHUGEINT",
        "340282366920938463463374607431768211455",
        lossless=True,
    ),
    Scalar(
        "varint",
        "(-123456789012345678901234567890123456789012)::VARINT",
        "-123456789012345678901234567890123456789012",
    ),
    Scalar("decimal_4_1", "(-123.4)::DECIMAL(4,1)", "-123.4"),
    Scalar("decimal_9_4", "12345.6789::DECIMAL(9,4)", "12345.6789"),
    Scalar("decimal_18_6", "123456789012.345678::DECIMAL(18,6)", "123456789012.345678"),
    Scalar(
        "decimal_38_10",
        "'1234567890123456789012345678.0123456789'::DECIMAL(38,10)",
        "1234567890123456789012345678.0123456789",
    ),
    Scalar(
        "decimal_38_38",
        "'0.00000000000000000000000000000000000001'::DECIMAL(38,38)",
        "0.00000000000000000000000000000000000001",
    ),
    Scalar("decimal_small", "0.01::DECIMAL(5,2)", "0.01"),
    Scalar("float", "1.5::FLOAT", 1.5),
    Scalar("double", "0.1::DOUBLE", 0.1),
    Scalar("double_nan", "'nan'::DOUBLE", "NaN"),
    Scalar("float_inf", "'inf'::FLOAT", "Infinity"),
    Scalar("double_minus_inf", "'-inf'::DOUBLE", "-Infinity"),
    Scalar("date", "DATE '2026-11-29'", "2026-11-29"),
    Scalar("date_infinity", "'infinity'::DATE", "infinity"),
    Scalar("date_minus_infinity", "'-infinity'::DATE", "-infinity"),
    Scalar("date_far", "'294247-01-10'::DATE", "+294247-01-10"),
    Scalar("date_bc", "'0044-03-15 (BC)'::DATE", "-0043-03-15"),
    Scalar("timestamp", "TIMESTAMP '2026-01-02 03:04:05.123456'", "2026-01-02T03:04:05.123456"),
    Scalar("timestamp_s", "'2026-01-02 03:04:05'::TIMESTAMP_S", "2026-01-02T03:04:05.000"),
    Scalar("timestamp_ms", "'2026-01-02 03:04:05.123'::TIMESTAMP_MS", "2026-01-02T03:04:05.123"),
    Scalar(
        "timestamp_ns",
        "'2026-01-02 03:04:05.123456789'::TIMESTAMP_NS",
        "2026-01-02T03:04:05.123456789",
    ),
    Scalar("timestamptz", "'2026-01-02 03:04:05+02'::TIMESTAMPTZ", "2026-01-02T01:04:05.000000Z"),
    Scalar("timestamp_infinity", "'infinity'::TIMESTAMP", "infinity"),
    Scalar("timestamptz_minus_infinity", "'-infinity'::TIMESTAMPTZ", "-infinity"),
    Scalar("time", "TIME '10:11:12.5'", "10:11:12.500000"),
    Scalar("timetz", "'10:00:00-05:30'::TIMETZ", "10:00:00-05:30", lossless=True),
    Scalar("interval", "INTERVAL '1 month 2 days 3 hours'", "P1M2DT3H"),
    Scalar("interval_negative", "INTERVAL '-90 minutes'", "PT-1H-30M"),
    Scalar("interval_fraction", "INTERVAL '1.5 seconds'", "PT1.5S"),
    Scalar("interval_zero", "INTERVAL '0 seconds'", "PT0S"),
    Scalar(
        "uuid",
        "'5b7e5f0c-1d2e-4f00-8a9b-0c1d2e3f4a5b'::UUID",
        "5b7e5f0c-1d2e-4f00-8a9b-0c1d2e3f4a5b",
    ),
    Scalar("blob", "'\\xAA\\x00\\xFF'::BLOB", "aa00ff"),
    Scalar("bit", "'0101'::BIT", "0101", lossless=True),
    Scalar("enum", "'b'::ENUM('a', 'b')", "b"),
    Scalar("varchar_unicode_nul", "'é😀' || chr(0) || '\"x,y\"'", 'é😀\x00"x,y"'),
    Scalar("json", "'{\"a\": [1, 2]}'::JSON", '{"a": [1, 2]}'),
    Scalar("null", "NULL", None),
    Scalar("null_integer", "NULL::INTEGER", None),
]


@dataclass(frozen=True)
class Wrapper:
    name: str
    template: str
    json: Callable[[Any], Any]
    nested: bool = True


WRAPPERS = [
    Wrapper("plain", "{}", lambda x: x, nested=False),
    Wrapper("list", "[{}, NULL]", lambda x: [x, None]),
    Wrapper("array", "array_value({})", lambda x: [x]),
    Wrapper("struct", "{{'f': {}}}", lambda x: {"f": x}),
    Wrapper("map", "MAP {{'k': {}}}", lambda x: [["k", x]]),
    Wrapper("union", "union_value(m := {})", lambda x: {"tag": "m", "m": x}),
    Wrapper("list_of_structs", "[{{'f': [{}]}}]", lambda x: [{"f": [x]}]),
]


def csv_cell(value: Any) -> str:
    """What the CSV holds for a JSON cell (read back as text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
