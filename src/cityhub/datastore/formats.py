"""File-level sniffing for uploads (pure: stdlib only, imports nothing from cityhub).

Format (extension + magic bytes), binary garbage, text encoding (BOM, strict UTF-8 over the whole file,
else GB18030), chunked transcoding to UTF-8, CSV dialect and header detection, XLSX zip-bomb check and
column-name clean-up. ``IngestError`` lives here so that every layer can raise it; ``ingest`` re-exports it.
"""

from __future__ import annotations

import codecs
import collections
import csv
import ctypes
import ctypes.util
import errno
import functools
import io
import itertools
import os
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


#: encodings ``transcode_parallel`` may cut at a newline byte (0x0A is never part of a multi-byte character), with
#: their iconv names; UTF-8 is at most 1.5 times as long as GB18030 (two bytes -> three at most)
_ICONV_NAMES = {"gb18030": "GB18030"}
#: below this size one Python pass is as quick as starting threads
PARALLEL_TRANSCODE_MIN_BYTES = 32 << 20
#: the pieces ``transcode_parallel`` hands to its threads (cut after a newline)
PARALLEL_TRANSCODE_CHUNK = 16 << 20


@functools.cache
def _libc_iconv() -> Any:
    """glibc's ``iconv(3)`` through ctypes, which releases the GIL during the call: the converter of the ``iconv``
    program without its processes, pipes and the joining of their outputs. None without such a C library (the
    Python codec then does the work)."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.iconv_open.restype = ctypes.c_void_p
        lib.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        ptr, size = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
        lib.iconv.restype = ctypes.c_size_t
        lib.iconv.argtypes = [ctypes.c_void_p, ptr, size, ptr, size]
        lib.iconv_close.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def _iconv_piece(lib: Any, name: str, encoding: str, fd: int, start: int, end: int) -> tuple[Any, int]:
    """UTF-8 of the bytes ``[start, end)`` (not empty) of ``fd``: (buffer, length). Strict, like ``iconv`` without
    ``-c``: an invalid or truncated sequence raises ``UnicodeDecodeError`` with its offset in the file."""
    n = end - start
    data = bytearray(n)
    if os.preadv(fd, [data], start) != n:
        raise OSError("short read")
    cap = n * 3 // 2 + 16
    out = ctypes.create_string_buffer(cap)
    fail = ctypes.c_size_t(-1).value
    cd = lib.iconv_open(b"UTF-8", name.encode())
    if cd is None or cd == fail:
        raise OSError("iconv_open")
    try:
        view = (ctypes.c_char * n).from_buffer(data)
        inp, left = ctypes.c_void_p(ctypes.addressof(view)), ctypes.c_size_t(n)
        outp, room = ctypes.c_void_p(ctypes.addressof(out)), ctypes.c_size_t(cap)
        done = lib.iconv(cd, ctypes.byref(inp), ctypes.byref(left), ctypes.byref(outp), ctypes.byref(room))
        del view  # releases the export of ``data``
        if done == fail:
            if ctypes.get_errno() == errno.E2BIG:
                raise OSError("iconv: output larger than expected")
            at = start + n - left.value
            raise UnicodeDecodeError(encoding, b"", at, at + 1, "iconv: invalid byte sequence")
    finally:
        lib.iconv_close(cd)
    return out, cap - room.value


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
    ``PARALLEL_TRANSCODE_CHUNK`` bytes that glibc's iconv converts (``_libc_iconv``; the decoding is as strict:
    an invalid byte sequence raises ``UnicodeDecodeError``) and that are written in order, so no part files are
    joined afterwards; at most ``parts + 1`` pieces are in memory. Falls back to ``transcode`` for small files,
    other encodings, or without iconv. 10M rows (1 GB of GB18030): 2.2 s and 4.1 CPU s, against 2.45 s and 4.5
    CPU s for two ``iconv`` processes and the join (BENCHMARKS.md)."""
    total = src.stat().st_size
    lib = _libc_iconv()
    name = _ICONV_NAMES.get(codecs.lookup(encoding).name.replace("_", ""))
    if lib is None or name is None or total - skip < PARALLEL_TRANSCODE_MIN_BYTES or parts < 2:
        transcode(src, dst, encoding, skip, progress)
        return
    fd = os.open(src, os.O_RDONLY)
    try:
        cuts = _newline_cuts(fd, skip, total, PARALLEL_TRANSCODE_CHUNK)
        pieces = list(itertools.pairwise(cuts))
        with ThreadPoolExecutor(parts, thread_name_prefix="transcode") as pool, dst.open("wb") as fout:
            pending: collections.deque[Future[tuple[Any, int]]] = collections.deque()
            nxt = 0
            try:
                for k in range(len(pieces)):
                    while nxt < len(pieces) and len(pending) <= parts:
                        pending.append(pool.submit(_iconv_piece, lib, name, encoding, fd, *pieces[nxt]))
                        nxt += 1
                    out, n = pending.popleft().result()
                    if k == 0 and bytes(memoryview(out)[:3]) == b"\xef\xbb\xbf":  # a BOM after the skipped bytes: transcode strips it
                        raise UnicodeDecodeError(encoding, b"", skip, skip + 1, "BOM")
                    fout.write(memoryview(out)[:n])
                    if progress:
                        progress(pieces[k][1], total)
            finally:
                for f in pending:
                    f.cancel()
    except UnicodeDecodeError as exc:
        if exc.reason != "BOM":
            raise
        transcode(src, dst, encoding, skip, progress)
    except OSError:  # iconv refused the conversion: the Python codec decides
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
