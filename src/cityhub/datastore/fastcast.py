"""The one pass's cheap casts over Arrow string buffers, compiled by numba (issue 10).

Each kernel reads a column of text cells (an Arrow string array: offsets, bytes, validity bitmap) and writes,
per cell, a status -- ``NULL`` (no text), ``FAST`` (the cell clearly fits and ``out`` holds its value) or
``SIDE`` (anything else: the exact rules of ``infer`` decide, and the raw text goes to the hidden side column)
-- and the value of every ``FAST`` cell. A cell is ``FAST`` only in a shape whose value the exact rule gives too,
computed the same way:

- integer: canonical text only (``-?[1-9][0-9]*`` or ``0``, at most ``infer.MAX_INT_DIGITS`` characters): no
  '+', no leading zero (codes), no spaces;
- number: ``[0-9]+[.][0-9]+`` whose digits, read as one integer, are at most 2**53 with at most 22 decimals:
  that integer and the power of ten are exact doubles, so one IEEE division gives the correctly rounded value,
  as DuckDB's cast (fast_float) does;
- date: ``yyyy-m-d`` or ``yyyy/m/d`` (one- or two-digit month and day, the same separator twice) and
  ``yyyy年m月d日``, a real day of the proleptic Gregorian calendar, year 1000 to 9999; days since 1970-01-01;
- datetime: ``yyyy-mm-dd hh:mm:ss`` (or ``T``), hours below 24, minutes and seconds below 60; microseconds
  since 1970-01-01.

Every other cell is ``SIDE``: the kernels accept a subset of what the exact rules accept, never a different
value (``tests/datastore/test_typedpass.py`` compares them with the exact rules on generated cells). Booleans
are a short word list: ``pyarrow.compute.is_in`` does them without a kernel.

The kernels release the GIL and their machine code is cached on disk (as the GB18030 decoder's in ``formats``);
without numba, ``kernels()`` returns None and the pass casts in SQL instead. This module imports no web or
database code."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from cityhub.datastore.infer import MAX_INT_DIGITS

__all__ = ["FAST", "KINDS", "NULL", "SIDE", "cast", "kernels", "ready"]

log = logging.getLogger(__name__)

NULL, FAST, SIDE = 0, 1, 2
#: proposed type -> numpy dtype of the kernel's values
KINDS: dict[str, Any] = {"integer": np.int64, "number": np.float64, "date": np.int32, "datetime": np.int64}

_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)
_TWO53 = 1 << 53
# UTF-8 of 年, 月, 日
_NIAN = (0xE5, 0xB9, 0xB4)
_YUE = (0xE6, 0x9C, 0x88)
_RI = (0xE6, 0x97, 0xA5)


def _valid(bitmap: np.ndarray, bit0: int, i: int) -> bool:
    if bitmap.shape[0] == 0:
        return True
    k = bit0 + i
    return (bitmap[k >> 3] >> (k & 7)) & 1 == 1


def _digit(c: int) -> bool:
    return 48 <= c <= 57


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(y: int, m: int) -> int:
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    if m == 4 or m == 6 or m == 9 or m == 11:
        return 30
    return 31


def _read_1_2(data: np.ndarray, p: int, end: int) -> tuple[int, int]:
    """One or two digits at ``p`` (before ``end``): (value, position after), value -1 when none."""
    if p >= end or not _digit(data[p]):
        return -1, p
    v = data[p] - 48
    p += 1
    if p < end and _digit(data[p]):
        v = v * 10 + data[p] - 48
        p += 1
    return v, p


def _read_n(data: np.ndarray, p: int, n: int) -> int:
    """``n`` digits at ``p`` (the caller checked the length), -1 when one is not a digit."""
    v = 0
    for k in range(n):
        c = data[p + k]
        if not _digit(c):
            return -1
        v = v * 10 + c - 48
    return v


# One loop per type, each with the parsing written inline (hence their shared preamble): a single loop over a
# kind switch calling a function per cell measured 1.4-1.5x slower for dates and numbers, and 2.5-4x slower for
# numbers with those functions inlined by numba (``inline="always"``).


def _integer(offsets: np.ndarray, data: np.ndarray, bitmap: np.ndarray, bit0: int, out: np.ndarray, status: np.ndarray) -> int:
    fast = 0
    for i in range(status.shape[0]):
        out[i] = 0
        if not _valid(bitmap, bit0, i):
            status[i] = NULL
            continue
        status[i] = SIDE
        p, end = offsets[i], offsets[i + 1]
        if end - p == 0 or end - p > MAX_INT_DIGITS:
            continue
        neg = data[p] == 45
        if neg:
            p += 1
            if p == end:
                continue
        if data[p] == 48 and (neg or p + 1 != end):
            continue  # a leading zero (a code), or -0
        v = 0
        while p < end and _digit(data[p]):
            v = v * 10 + data[p] - 48
            p += 1
        if p == end:
            out[i] = -v if neg else v
            status[i] = FAST
            fast += 1
    return fast


def _number(
    offsets: np.ndarray, data: np.ndarray, bitmap: np.ndarray, bit0: int, out: np.ndarray, status: np.ndarray,
    pow10: np.ndarray,
) -> int:  # fmt: skip
    fast = 0
    for i in range(status.shape[0]):
        out[i] = 0.0
        if not _valid(bitmap, bit0, i):
            status[i] = NULL
            continue
        status[i] = SIDE
        p, end = offsets[i], offsets[i + 1]
        if end - p > 40:
            continue
        m = 0
        whole = 0
        while p < end and _digit(data[p]):
            m = m * 10 + data[p] - 48
            whole += 1
            p += 1
        if whole == 0 or p == end or data[p] != 46:
            continue
        p += 1
        frac = 0
        while p < end and _digit(data[p]):
            m = m * 10 + data[p] - 48
            frac += 1
            p += 1
        if p != end or frac == 0 or frac > 22 or whole + frac > 18 or m > _TWO53:
            continue
        out[i] = np.float64(m) / pow10[frac]
        status[i] = FAST
        fast += 1
    return fast


def _date(offsets: np.ndarray, data: np.ndarray, bitmap: np.ndarray, bit0: int, out: np.ndarray, status: np.ndarray) -> int:
    fast = 0
    for i in range(status.shape[0]):
        out[i] = 0
        if not _valid(bitmap, bit0, i):
            status[i] = NULL
            continue
        status[i] = SIDE
        p, end = offsets[i], offsets[i + 1]
        if end - p < 8 or end - p > 17:  # 2018-9-1 ... 2018年12月31日
            continue
        y = _read_n(data, p, 4)
        if y < 1000:
            continue
        p += 4
        sep = data[p]
        if sep == 45 or sep == 47:  # yyyy-m-d, yyyy/m/d
            m, p = _read_1_2(data, p + 1, end)
            if m < 0 or p >= end or data[p] != sep:
                continue
            d, p = _read_1_2(data, p + 1, end)
        elif end - p >= 9 and sep == _NIAN[0] and data[p + 1] == _NIAN[1] and data[p + 2] == _NIAN[2]:
            m, p = _read_1_2(data, p + 3, end)
            if m < 0 or end - p < 4 or data[p] != _YUE[0] or data[p + 1] != _YUE[1] or data[p + 2] != _YUE[2]:
                continue
            d, p = _read_1_2(data, p + 3, end)
            if d < 0 or end - p != 3 or data[p] != _RI[0] or data[p + 1] != _RI[1] or data[p + 2] != _RI[2]:
                continue
            p = end
        else:
            continue
        if p != end or m < 1 or m > 12 or d < 1 or d > _month_days(y, m):
            continue
        out[i] = _days_from_civil(y, m, d)
        status[i] = FAST
        fast += 1
    return fast


def _datetime(offsets: np.ndarray, data: np.ndarray, bitmap: np.ndarray, bit0: int, out: np.ndarray, status: np.ndarray) -> int:
    fast = 0
    for i in range(status.shape[0]):
        out[i] = 0
        if not _valid(bitmap, bit0, i):
            status[i] = NULL
            continue
        status[i] = SIDE
        p, end = offsets[i], offsets[i + 1]
        if end - p != 19:
            continue
        if data[p + 4] != 45 or data[p + 7] != 45 or (data[p + 10] != 32 and data[p + 10] != 84):
            continue
        if data[p + 13] != 58 or data[p + 16] != 58:
            continue
        y = _read_n(data, p, 4)
        m = _read_n(data, p + 5, 2)
        d = _read_n(data, p + 8, 2)
        hh = _read_n(data, p + 11, 2)
        mi = _read_n(data, p + 14, 2)
        ss = _read_n(data, p + 17, 2)
        if y < 1000 or m < 1 or m > 12 or d < 1 or d > _month_days(y, m):
            continue
        if hh < 0 or hh > 23 or mi < 0 or mi > 59 or ss < 0 or ss > 59:
            continue
        out[i] = (_days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss) * 1_000_000
        status[i] = FAST
        fast += 1
    return fast


_LOCK = threading.Lock()
#: the helpers as plain Python functions (``_kernels`` puts compiled ones in their place)
_HELPERS = {f.__name__: f for f in (_valid, _digit, _days_from_civil, _month_days, _read_1_2, _read_n)}


def kernels() -> dict[str, Callable[..., int]] | None:
    """The kernels by type, or None without numba (compiled on first call of each, cached on disk)."""
    with _LOCK:
        return _kernels()


@functools.cache
def _kernels() -> dict[str, Callable[..., int]] | None:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a pinned dependency
        return None

    def jit(fn: Callable[..., Any]) -> Any:
        try:
            return numba.njit(nogil=True, cache=True)(fn)
        except RuntimeError:  # no writable cache directory: compiled in each process
            return numba.njit(nogil=True)(fn)

    g = globals()  # the kernels call the helpers as compiled functions (from the Python ones, so this can run again)
    for name, fn in _HELPERS.items():
        g[name] = jit(fn)
    number = jit(_number)
    return {
        "integer": jit(_integer),
        "number": lambda o, d, b, b0, out, st: number(o, d, b, b0, out, st, _POW10),
        "date": jit(_date),
        "datetime": jit(_datetime),
    }


def cast(array: Any, type_: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(values, status, FAST count) of an Arrow string array (``string`` or ``large_string``) for ``type_``."""
    found = kernels()
    if found is None:
        raise RuntimeError("numba is not installed")
    import pyarrow as pa

    if pa.types.is_large_string(array.type):
        odt: Any = np.int64
    elif pa.types.is_string(array.type):
        odt = np.int32
    else:
        raise TypeError(f"not an Arrow string array: {array.type}")
    n = len(array)
    validity, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=odt, count=n + 1, offset=array.offset * np.dtype(odt).itemsize)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and data_buf.size else np.zeros(1, np.uint8)
    bitmap = np.frombuffer(validity, dtype=np.uint8) if validity is not None and array.null_count else np.zeros(0, np.uint8)
    out = np.empty(n, dtype=KINDS[type_])
    status = np.empty(n, dtype=np.uint8)
    fast = found[type_](offsets, data, bitmap, array.offset, out, status)
    return out, status, int(fast)


def ready() -> bool:
    """Whether the kernels run here: numba imported and every kernel loaded (or compiled) and tried once. A load
    calls this on a thread while it samples the file; False (logged) sends the pass to its SQL casts."""
    with _LOCK:
        if _ready:
            return _ready[0]
    try:
        import pyarrow as pa

        ok = kernels() is not None
        if ok:
            cells = pa.array(["1", "1.5", "2018-09-01", "2018-09-01 00:00:00", None])
            for type_ in KINDS:
                cast(cells, type_)
    except Exception:  # a numba that cannot compile them: the SQL casts do the work
        log.exception("the compiled casts are not available; the pass casts in SQL")
        ok = False
    with _LOCK:
        _ready[:] = [ok]
    return ok


_ready: list[bool] = []
