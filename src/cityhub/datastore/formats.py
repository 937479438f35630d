"""File-level sniffing for uploads (pure: the standard library, and NumPy with numba for the GB18030 decoder;
imports nothing from cityhub).

Format (extension + magic bytes), binary garbage, text encoding (BOM, strict UTF-8 over the whole file,
else GB18030), chunked transcoding to UTF-8 (a compiled GB18030 decoder on threads for large files), CSV dialect and header detection, XLSX zip-bomb check and
column-name clean-up. ``IngestError`` lives here so that every layer can raise it; ``ingest`` re-exports it.
"""

from __future__ import annotations

import codecs
import collections
import csv
import functools
import io
import itertools
import os
import queue
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 8 << 20
DIALECT_SAMPLE_BYTES = 1 << 20
DIALECT_SAMPLE_ROWS = 500
DELIMITERS = (",", "\t", ";", "|")
MAX_NAME_LENGTH = 200
RESERVED_NAMES = ("_id",)

CSV, XLSX, XLS, JSON, NDJSON, PARQUET = "csv", "xlsx", "xls", "json", "ndjson", "parquet"

_TEXT_EXT = {".csv": CSV, ".tsv": CSV, ".txt": CSV, ".tab": CSV, ".json": JSON, ".ndjson": NDJSON, ".jsonl": NDJSON}
_BINARY_EXT = {".xlsx": XLSX, ".xlsm": XLSX, ".xls": XLS, ".parquet": PARQUET, ".pq": PARQUET}

_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("文件为空，没有任何数据。", "The file is empty."),
    "header_only": ("文件只有表头，没有数据行。", "The file has a header row but no data rows."),
    "binary": ("文件不是文本表格（含有二进制内容），请上传 CSV、Excel、JSON 或 Parquet 文件。",
               "The file is not a text table (binary content); upload CSV, Excel, JSON or Parquet."),
    "undecodable": ("无法识别文件编码（既不是 UTF-8 也不是 GB18030/GBK），请另存为 UTF-8 后重试。",
                    "Cannot decode the file (neither UTF-8 nor GB18030/GBK); save it as UTF-8 and retry."),
    "too_many_columns": ("列数过多：{n} 列，上限为 {limit} 列。", "Too many columns: {n} (limit {limit})."),
    "zip_bomb": ("电子表格解压后过大或压缩比异常，已拒绝处理。",
                 "The spreadsheet expands too much or has an abnormal compression ratio; refused."),
    "bad_json": ("JSON 格式错误：{detail}", "Malformed JSON: {detail}"),
    "bad_spreadsheet": ("无法读取电子表格：{detail}", "Cannot read the spreadsheet: {detail}"),
    "bad_parquet": ("无法读取 Parquet 文件：{detail}", "Cannot read the Parquet file: {detail}"),
    "bad_csv": ("无法读取 CSV 文件：{detail}", "Cannot read the CSV file: {detail}"),
    "unsupported_format": ("不支持的文件格式：{detail}", "Unsupported file format: {detail}"),
    "schema_mismatch": ("表结构声明与数据不符：{detail}", "The declared Table Schema does not match the data: {detail}"),
}


class IngestError(Exception):
    """A file that cannot be loaded at all. ``code`` is stable; messages are for people."""

    def __init__(self, code: str, message: str | None = None, message_en: str | None = None, **params: object):
        zh, en = _MESSAGES.get(code, ("{detail}", "{detail}"))
        params.setdefault("detail", "")
        self.code = code
        self.message = message if message is not None else zh.format(**params)
        self.message_en = message_en if message_en is not None else en.format(**params)
        self.params = params
        super().__init__(f"{code}: {self.message_en}")


# ---------------------------------------------------------------------------------------------------------
# Format


def extension(filename: str) -> str:
    name = filename.lower().strip()
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def is_binary(head: bytes) -> bool:
    """NUL bytes or more than 1% control characters in the sniff window (BOM-less UTF-16 counts as binary)."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    allowed = {9, 10, 12, 13, 26}
    controls = sum(1 for b in head if b < 32 and b not in allowed) + head.count(b"\x7f")
    return controls > max(2, len(head) // 100)


def sniff_format(head: bytes, filename: str) -> str:
    """One of csv/xlsx/xls/json/ndjson/parquet; magic bytes win over the extension for binary formats."""
    ext = extension(filename)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return XLSX
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return XLS
    if head.startswith(b"PAR1"):
        return PARQUET
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head.decode("utf-16", errors="ignore")
    else:
        if is_binary(head):
            raise IngestError("binary")
        text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    first = text.lstrip()[:1]
    if ext in _BINARY_EXT and first == "<":
        # e.g. an HTML table saved as .xls by an export tool
        raise IngestError("unsupported_format", detail=f"{ext} 文件实际是 HTML/XML / {ext} file is actually HTML/XML")
    if ext in _TEXT_EXT:
        fmt = _TEXT_EXT[ext]
        if fmt in (JSON, NDJSON) and first not in ("[", "{", ""):
            raise IngestError("bad_json", detail="文件不以 [ 或 { 开头 / file does not start with [ or {")
        if fmt == JSON and first == "{":
            return NDJSON
        if fmt == NDJSON and first == "[":
            return JSON
        return fmt
    if first == "[":
        return JSON
    if first == "{":
        return NDJSON
    if ext in _BINARY_EXT:
        # a spreadsheet/parquet extension on text content: read it as delimited text
        return CSV
    return CSV


# ---------------------------------------------------------------------------------------------------------
# Encoding


@dataclass
class EncodingInfo:
    encoding: str  # python codec name of the source: "utf-8", "gb18030", "utf-16"
    bom: int  # bytes of BOM to skip
    label: str  # what to report: "utf-8", "utf-8-sig", "gb18030", "utf-16"
    warnings: list[str] = field(default_factory=list)
    #: False when only the first ``check_bytes`` were checked: the reader must confirm the rest (DuckDB's
    #: CSV reader rejects every line that is not valid UTF-8; ``transcode`` decodes strictly)
    verified: bool = True

    @property
    def needs_transcode(self) -> bool:
        return self.encoding != "utf-8"


def _decodes(
    path: Path, encoding: str, skip: int, chunk: int = CHUNK_BYTES, limit: int | None = None
) -> tuple[bool, bool]:
    """(decodes strictly over the whole file -- or its first ``limit`` bytes --, contains non-ASCII)."""
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    non_ascii = False
    done = 0
    with path.open("rb") as fh:
        fh.seek(skip)
        while limit is None or done < limit:
            block = fh.read(chunk if limit is None else min(chunk, limit - done))
            if not block:
                break
            done += len(block)
            try:
                dec.decode(block, final=False)
            except UnicodeDecodeError:
                return False, non_ascii
            if not non_ascii and not block.isascii():
                non_ascii = True
        if limit is not None and done >= limit:
            return True, non_ascii  # a character may continue past the checked prefix
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return False, non_ascii
    return True, non_ascii


def _norm_codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def detect_encoding(path: Path, declared: str | None = None, check_bytes: int | None = None) -> EncodingInfo:
    """BOM; else strict UTF-8 over the whole file; else GB18030; else IngestError("undecodable").

    A declared encoding is honoured when the file decodes with it, except that a file that is valid
    non-ASCII UTF-8 is read as UTF-8 (a wrongly declared GBK would garble it). GBK/GB2312 declarations are
    read with GB18030 (a superset). Every override is reported as a warning.

    ``check_bytes``: decide on the file's first ``check_bytes`` only (``verified`` is then False when the
    file is longer). The caller must let the rest be confirmed while it is read anyway -- DuckDB's CSV
    reader rejects lines that are not UTF-8, ``transcode`` decodes strictly -- and call again without
    ``check_bytes`` when that fails. This saves a whole pass over large files.
    """
    size = path.stat().st_size
    if check_bytes is not None and size > check_bytes:
        info = _detect(path, declared, check_bytes)
        info.verified = False
        return info
    return _detect(path, declared, None)


def _detect(path: Path, declared: str | None, limit: int | None) -> EncodingInfo:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return EncodingInfo("utf-8", 3, "utf-8-sig")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return EncodingInfo("utf-16", 0, "utf-16")  # the utf-16 codec consumes the BOM itself

    warnings: list[str] = []
    want = _norm_codec(declared) if declared else ""
    if declared and not want:
        warnings.append(f"unknown declared encoding {declared!r} ignored; detected instead")
    if want in ("gbk", "gb2312", "hz", "cp936"):
        want = "gb18030"
    if want.startswith("utf-16") or want.startswith("utf_16"):
        want = ""

    utf8_ok, non_ascii = _decodes(path, "utf-8", 0, limit=limit)
    if want and want not in ("utf-8", "utf_8"):
        if utf8_ok and non_ascii:
            warnings.append(f"declared encoding {declared} but the file is valid UTF-8; read as UTF-8")
            return EncodingInfo("utf-8", 0, "utf-8", warnings)
        if utf8_ok:  # pure ASCII: identical in every ASCII-compatible encoding
            return EncodingInfo("utf-8", 0, "utf-8", warnings)
        if _decodes(path, want, 0, limit=limit)[0]:
            return EncodingInfo(want, 0, want, warnings)
        warnings.append(f"the file does not decode as the declared encoding {declared}; detected instead")
    if utf8_ok:
        return EncodingInfo("utf-8", 0, "utf-8", warnings)
    if _decodes(path, "gb18030", 0, limit=limit)[0]:
        if want in ("utf-8", "utf_8"):
            warnings.append(f"declared encoding {declared} but the file is GB18030 (GBK); read as GB18030")
        return EncodingInfo("gb18030", 0, "gb18030", warnings)
    raise IngestError("undecodable")


def transcode(
    src: Path,
    dst: Path,
    encoding: str,
    skip: int = 0,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_BYTES,
) -> None:
    """Stream ``src`` (in ``encoding``, after ``skip`` bytes) into UTF-8 ``dst`` chunk by chunk."""
    total = src.stat().st_size
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    done = skip
    with src.open("rb") as fin, dst.open("wb") as fout:
        fin.seek(skip)
        first = True
        while True:
            block = fin.read(chunk)
            if not block:
                break
            text = dec.decode(block, final=False)
            if first:
                text = text.lstrip("\ufeff") if text.startswith("\ufeff") else text
                first = False
            fout.write(text.encode("utf-8"))
            done += len(block)
            if progress:
                progress(done, total)
        fout.write(dec.decode(b"", final=True).encode("utf-8"))


#: encodings ``transcode_parallel`` may cut at a newline byte (0x0A is never part of a multi-byte character);
#: UTF-8 is at most 1.5 times as long as GB18030 (one byte -> one, two -> three at most, four -> four at most)
PARALLEL_ENCODINGS = frozenset({"gb18030"})
#: below this size one Python pass is as quick as starting threads
PARALLEL_TRANSCODE_MIN_BYTES = 32 << 20
#: the pieces ``transcode_parallel`` hands to its threads (cut after a newline)
PARALLEL_TRANSCODE_CHUNK = 16 << 20
#: GB18030's four-byte characters in the BMP: 0x81308130 .. 0x8431A439 (every code point without a two-byte
#: form but the surrogates); from 0x90308130 (linear index 189,000) on, U+10000 + (index - 189,000)
_GB4_BMP = 39420
_GB4_SUPPLEMENTARY = 189_000


def _gb4_bytes(index: int) -> bytes:
    b1, r = divmod(index, 12600)
    b2, r = divmod(r, 1260)
    b3, b4 = divmod(r, 10)
    return bytes((0x81 + b1, 0x30 + b2, 0x81 + b3, 0x30 + b4))


@functools.cache
def _gb18030_tables() -> tuple[Any, Any]:
    """Python's own GB18030 codec read into two tables for ``_gb18030_loop``: (lead << 8 | trail) -> code point
    of each of the 23,940 two-byte characters, and the linear index of each four-byte BMP character -> code
    point (0: no character). Both ranges are fully assigned, so each decodes in one call."""
    import numpy as np

    trails = [*range(0x40, 0x7F), *range(0x80, 0xFF)]
    pairs = [(lead, trail) for lead in range(0x81, 0xFF) for trail in trails]
    two = np.zeros(1 << 16, np.uint16)
    text = b"".join(bytes(p) for p in pairs).decode("gb18030")
    if len(text) != len(pairs):  # pragma: no cover - a property of CPython's codec, tested
        raise RuntimeError("gb18030: two-byte range not fully assigned")
    two[[lead << 8 | trail for lead, trail in pairs]] = [ord(ch) for ch in text]
    text = b"".join(_gb4_bytes(i) for i in range(_GB4_BMP)).decode("gb18030")
    if len(text) != _GB4_BMP:  # pragma: no cover - as above
        raise RuntimeError("gb18030: four-byte BMP range not fully assigned")
    four = np.array([ord(ch) for ch in text], np.uint16)
    return two, four


def _gb18030_loop(src: Any, two: Any, four: Any, out: Any) -> int:
    """GB18030 bytes ``src`` -> UTF-8 in ``out`` (at least 1.5 x len(src) + 16 bytes); returns the UTF-8 length, or
    -1 - offset of the first byte that does not start a character (invalid or cut off by the end, as Python's
    strict codec). Compiled by numba (``_gb18030_kernel``); plain Python runs it too, slowly."""
    n = len(src)
    i = 0
    j = 0
    while i < n:
        c = int(src[i])
        if c < 0x80:
            out[j] = c
            i += 1
            j += 1
            continue
        if i + 1 >= n:
            return -1 - i
        d = int(src[i + 1])
        if d >= 0x40:
            cp = int(two[(c << 8) | d])
            if cp == 0:
                return -1 - i
            i += 2
        else:
            if d < 0x30 or d > 0x39 or i + 3 >= n:
                return -1 - i
            e = int(src[i + 2])
            f = int(src[i + 3])
            if c < 0x81 or c > 0xFE or e < 0x81 or e > 0xFE or f < 0x30 or f > 0x39:
                return -1 - i
            index = (((c - 0x81) * 10 + d - 0x30) * 126 + e - 0x81) * 10 + f - 0x30
            if index < _GB4_BMP:
                cp = int(four[index])
            elif index >= _GB4_SUPPLEMENTARY and index - _GB4_SUPPLEMENTARY < 0x100000:
                cp = 0x10000 + index - _GB4_SUPPLEMENTARY
            else:
                return -1 - i
            i += 4
        if cp < 0x800:
            out[j] = 0xC0 | (cp >> 6)
            out[j + 1] = 0x80 | (cp & 0x3F)
            j += 2
        elif cp < 0x10000:
            out[j] = 0xE0 | (cp >> 12)
            out[j + 1] = 0x80 | ((cp >> 6) & 0x3F)
            out[j + 2] = 0x80 | (cp & 0x3F)
            j += 3
        else:
            out[j] = 0xF0 | (cp >> 18)
            out[j + 1] = 0x80 | ((cp >> 12) & 0x3F)
            out[j + 2] = 0x80 | ((cp >> 6) & 0x3F)
            out[j + 3] = 0x80 | (cp & 0x3F)
            j += 4
    return j


@functools.cache
def _gb18030_kernel() -> Callable[[Any, Any, Any, Any], int] | None:
    """``_gb18030_loop`` compiled by numba (machine code, the GIL released; cached on disk after the first
    compilation): 430 MB/s a core against 130 for glibc's iconv and 100 for Python's codec (BENCHMARKS.md).
    None without numba: the Python codec then does the work."""
    try:
        import numba
    except ImportError:
        return None
    signature = "int64(uint8[::1], uint16[::1], uint16[::1], uint8[::1])"
    try:
        kernel: Callable[[Any, Any, Any, Any], int] = numba.njit(signature, nogil=True, cache=True)(_gb18030_loop)
    except RuntimeError:  # no writable cache directory (a read-only install): compiled for this process only
        kernel = numba.njit(signature, nogil=True)(_gb18030_loop)
    return kernel


def _spare(spare: queue.SimpleQueue[Any], size: int) -> Any:
    """A byte buffer of at least ``size`` bytes: a spare one if there is one large enough, else a new one."""
    import numpy as np

    try:
        buf = spare.get_nowait()
    except queue.Empty:
        buf = None
    return buf if buf is not None and len(buf) >= size else np.empty(max(size, PARALLEL_TRANSCODE_CHUNK), np.uint8)


def _gb18030_piece(
    fd: int, start: int, end: int, spare_in: queue.SimpleQueue[Any], spare_out: queue.SimpleQueue[Any]
) -> tuple[Any, int]:
    """UTF-8 of the GB18030 bytes ``[start, end)`` (not empty) of ``fd``: (buffer, length). Strict: an invalid or
    truncated sequence raises ``UnicodeDecodeError`` with its offset in the file. Buffers are taken from
    ``spare_in`` and ``spare_out`` when there are (the caller puts written ones back): memory already touched is
    used again (10M rows: 2.5 GB of fresh pages otherwise)."""
    kernel = _gb18030_kernel()
    assert kernel is not None
    n = end - start
    cap = n * 3 // 2 + 16
    data = _spare(spare_in, n)
    out = _spare(spare_out, cap)
    if os.preadv(fd, [memoryview(data)[:n]], start) != n:
        raise OSError("short read")
    got = kernel(data[:n], *_gb18030_tables(), out)
    spare_in.put(data)
    if got < 0:
        at = start - 1 - got
        raise UnicodeDecodeError("gb18030", b"", at, at + 1, "invalid or truncated byte sequence")
    return out, got


def _newline_cuts(fd: int, start: int, total: int, chunk: int) -> list[int]:
    """Offsets from ``start`` to ``total``, each just after a newline about ``chunk`` bytes apart."""
    cuts = [start]
    while cuts[-1] < total:
        pos = cuts[-1] + chunk
        while pos < total:
            block = os.pread(fd, 1 << 16, pos)
            k = block.find(b"\n")
            if k >= 0:
                pos += k + 1
                break
            pos += len(block)
        cuts.append(min(pos, total))
    return cuts


def transcode_parallel(
    src: Path,
    dst: Path,
    encoding: str,
    skip: int = 0,
    progress: Callable[[int, int], None] | None = None,
    parts: int = 2,
) -> None:
    """Like ``transcode``, on ``parts`` threads: the file is cut after newlines into pieces of
    ``PARALLEL_TRANSCODE_CHUNK`` bytes that the compiled GB18030 decoder converts (``_gb18030_kernel``; as strict
    as the codec: an invalid byte sequence raises ``UnicodeDecodeError``) and that are written in order, so no
    part files are joined afterwards; at most ``parts + 1`` pieces are in memory. Falls back to ``transcode`` for
    small files, other encodings, or without numba. 10M rows (1 GB of GB18030) on two cores: see BENCHMARKS.md
    (the decoder against glibc's iconv and Python's codec)."""
    total = src.stat().st_size
    if (
        codecs.lookup(encoding).name.replace("_", "") not in PARALLEL_ENCODINGS
        or total - skip < PARALLEL_TRANSCODE_MIN_BYTES
        or parts < 2
        or _gb18030_kernel() is None
    ):
        transcode(src, dst, encoding, skip, progress)
        return
    _gb18030_tables()  # built once, before the threads
    fd = os.open(src, os.O_RDONLY)
    try:
        cuts = _newline_cuts(fd, skip, total, PARALLEL_TRANSCODE_CHUNK)
        pieces = list(itertools.pairwise(cuts))
        with ThreadPoolExecutor(parts, thread_name_prefix="transcode") as pool, dst.open("wb") as fout:
            pending: collections.deque[Future[tuple[Any, int]]] = collections.deque()
            spare_in: queue.SimpleQueue[Any] = queue.SimpleQueue()
            spare_out: queue.SimpleQueue[Any] = queue.SimpleQueue()
            nxt = 0
            try:
                for k in range(len(pieces)):
                    while nxt < len(pieces) and len(pending) <= parts:
                        pending.append(pool.submit(_gb18030_piece, fd, *pieces[nxt], spare_in, spare_out))
                        nxt += 1
                    out, n = pending.popleft().result()
                    if k == 0 and bytes(memoryview(out)[:3]) == b"\xef\xbb\xbf":  # a BOM after the skipped bytes: transcode strips it
                        raise UnicodeDecodeError(encoding, b"", skip, skip + 1, "BOM")
                    fout.write(memoryview(out)[:n])
                    spare_out.put(out)
                    if progress:
                        progress(pieces[k][1], total)
            finally:
                for f in pending:
                    f.cancel()
    except UnicodeDecodeError as exc:
        if exc.reason != "BOM":
            raise
        transcode(src, dst, encoding, skip, progress)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------------
# CSV dialect and header


@dataclass
class Dialect:
    delimiter: str
    columns: int  # number of columns to read
    has_header: bool
    header: list[str]  # raw first row (may be shorter than ``columns``)
    sample_rows: int


def read_sample(path: Path, skip: int = 0, limit: int = DIALECT_SAMPLE_BYTES) -> str:
    """Head of a UTF-8 file cut at the last complete line."""
    with path.open("rb") as fh:
        fh.seek(skip)
        data = fh.read(limit + 1)
    truncated = len(data) > limit
    data = data[:limit]
    text = data.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if truncated:
        cut = max(text.rfind("\n"), 0)
        text = text[:cut] if cut else text
    return text


def _rows(sample: str, delimiter: str, limit: int = DIALECT_SAMPLE_ROWS) -> list[list[str]]:
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def sniff_delimiter(sample: str, filename: str = "") -> tuple[str, list[list[str]]]:
    """Pick the delimiter whose rows have the most consistent field count (> 1)."""
    ext = extension(filename)
    best: tuple[tuple[int, float, int, int], str, list[list[str]]] | None = None
    for i, d in enumerate(DELIMITERS):
        if d not in sample:
            continue
        rows = _rows(sample, d)
        if not rows:
            continue
        counts = Counter(len(r) for r in rows)
        mode, freq = counts.most_common(1)[0]
        consistency = freq / len(rows)
        preferred = 1 if (ext in (".tsv", ".tab") and d == "\t") else 0
        key = (int(mode > 1), consistency + 0.05 * preferred, mode, -i)
        if best is None or key > best[0]:
            best = (key, d, rows)
    if best is None or best[0][0] == 0:
        d = "\t" if ext in (".tsv", ".tab") else ","
        return d, _rows(sample, d)
    return best[1], best[2]


def sniff_dialect(
    sample: str,
    filename: str = "",
    delimiter: str | None = None,
    has_header: bool | None = None,
    detect_header: Callable[[list[list[str]]], bool] | None = None,
) -> Dialect:
    if delimiter:
        rows = _rows(sample, delimiter)
    else:
        delimiter, rows = sniff_delimiter(sample, filename)
    if not rows:
        return Dialect(delimiter, 0, bool(has_header) if has_header is not None else True, [], 0)
    header = has_header if has_header is not None else detect_header(rows) if detect_header else True
    counts = Counter(len(r) for r in rows[1:] if r)
    body_mode = counts.most_common(1)[0][0] if counts else 0
    ncols = max(len(rows[0]), body_mode)
    return Dialect(delimiter, ncols, header, list(rows[0]), len(rows))


# ---------------------------------------------------------------------------------------------------------
# Spreadsheets


def check_zip(path: Path, max_expanded_bytes: int, max_ratio: float = 200.0, ratio_floor: int = 100 << 20) -> None:
    """Refuse XLSX whose central directory declares too much expanded data or a bomb-like member."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError("bad_spreadsheet", detail=str(exc)) from exc
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > ratio_floor and info.file_size > max_ratio * max(info.compress_size, 1):
            raise IngestError("zip_bomb")
    if total > max_expanded_bytes:
        raise IngestError("zip_bomb")
    names = {i.filename for i in infos}
    if not any(n.startswith("xl/") for n in names):
        raise IngestError("unsupported_format", detail="ZIP 压缩包不是 XLSX 表格 / the ZIP archive is not an XLSX workbook")


# ---------------------------------------------------------------------------------------------------------
# Column names


def clean_name(raw: object) -> str:
    s = "" if raw is None else str(raw)
    s = s.replace("\ufeff", "").replace("\x00", "")
    s = "".join(" " if unicodedata.category(c)[0] in ("Z", "C") else c for c in s)
    s = " ".join(s.split())
    return s[:MAX_NAME_LENGTH]


def clean_column_names(names: Iterable[object], reserved: Sequence[str] = RESERVED_NAMES) -> list[str]:
    """Strip BOM/whitespace; empty -> column_N; duplicates (case-insensitive) -> name_2, name_3; reserved
    names (``_id``) -> ``_id_2``. Chinese and SQL keywords are kept (identifiers are always quoted)."""
    cleaned = [clean_name(n) for n in names]
    used = {r.lower() for r in reserved}
    out: list[str] = []
    for i, name in enumerate(cleaned, start=1):
        base = name or f"column_{i}"
        candidate = base
        k = 2
        while candidate.lower() in used:
            candidate = f"{base}_{k}"
            k += 1
        used.add(candidate.lower())
        out.append(candidate)
    return out
