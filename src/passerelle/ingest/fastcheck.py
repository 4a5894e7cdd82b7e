"""Fixed-width checks straight on Arrow string buffers with numpy (pure, vectorised).

NIRs (15 characters) and ISO dates (10 characters) are fixed-width: their
bytes are gathered into an ``n x width`` matrix once, then the control key and
the calendar are checked with integer arithmetic instead of string kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["fixed_width", "iso_dates", "nir_checks"]

_ZERO, _DASH, _A, _B, _TWO = 48, 45, 65, 66, 50


def fixed_width(arr: pa.Array, width: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """(``n x width`` bytes, rows whose value has exactly ``width`` bytes and is not null)."""
    import numpy as np
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1]
    lengths = np.diff(offsets)
    ok = lengths == width
    if arr.null_count:
        ok &= arr.is_valid().to_numpy(zero_copy_only=False)
    if data_buf is None or not ok.any():
        return np.zeros((n, width), dtype=np.uint8), ok
    data = np.frombuffer(data_buf, dtype=np.uint8)
    first = int(offsets[0])
    if ok.all() and int(offsets[-1]) - first == n * width:  # contiguous: a zero-copy view
        return data[first : first + n * width].reshape(n, width), ok
    starts = np.where(ok, offsets[:-1], 0).astype(np.int64)
    index = starts[:, None] + np.arange(width, dtype=np.int64)
    np.minimum(index, len(data) - 1, out=index)
    return data[index], ok


def nir_checks(
    m: npt.NDArray[np.uint8], ok: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(well-formed: 5 digits, 2 digits or ``2A``/``2B``, 8 digits; control key right)."""
    import numpy as np

    d = m.astype(np.int64) - _ZERO
    is_digit = (d >= 0) & (d <= 9)
    corsica_a = (m[:, 5] == _TWO) & (m[:, 6] == _A)
    corsica_b = (m[:, 5] == _TWO) & (m[:, 6] == _B)
    dept_ok = (is_digit[:, 5] & is_digit[:, 6]) | corsica_a | corsica_b
    fmt = ok & is_digit[:, :5].all(axis=1) & dept_ok & is_digit[:, 7:].all(axis=1)
    d = np.where(is_digit, d, 0)
    d[:, 6] = np.where(corsica_a, 9, np.where(corsica_b, 8, d[:, 6]))
    d[:, 5] = np.where(corsica_a | corsica_b, 1, d[:, 5])
    number = d[:, :13] @ (10 ** np.arange(12, -1, -1, dtype=np.int64))
    key = d[:, 13] * 10 + d[:, 14]
    sex_ok = np.isin(d[:, 0], (1, 2, 3, 4, 7, 8))
    return fmt, fmt & sex_ok & (key == 97 - number % 97)


def iso_dates(
    m: npt.NDArray[np.uint8], ok: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int32]]:
    """(real calendar dates written ``YYYY-MM-DD``, days since 1970-01-01)."""
    import numpy as np

    cols = m[:, [0, 1, 2, 3, 5, 6, 8, 9]]
    digits_ok = ((cols >= _ZERO) & (cols <= _ZERO + 9)).all(axis=1)
    shaped = ok & (m[:, 4] == _DASH) & (m[:, 7] == _DASH) & digits_ok
    d = cols.astype(np.int32) - _ZERO
    y = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    mo = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    dim = month_days[np.clip(mo, 0, 12)] + ((mo == 2) & leap)
    valid = shaped & (mo >= 1) & (mo <= 12) & (day >= 1) & (day <= dim) & (y >= 1)
    # days from civil (H. Hinnant), valid rows only
    yy = np.where(mo <= 2, y - 1, y)
    era = np.floor_divide(yy, 400)
    yoe = yy - era * 400
    mp = (mo + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return valid, np.where(valid, days, 0).astype(np.int32)
