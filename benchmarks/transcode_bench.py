"""GB18030 -> UTF-8 of a large CSV file: the ingest's decoder beside the ways it replaced, interleaved, medians.

The file is the ingest benchmark's (``datastore_bench.generate_csv``, 10M rows: 1.0 GB of GB18030, 45 % of its
bytes in two-byte characters). Each round, each way in a fresh process (its start-up, imports and compilation
cache loading included, as a load pays them), writing the UTF-8 copy to ``/dev/shm`` as the ingest does:

1. ``iconv x2``: two ``iconv`` processes over the file's halves, then the halves joined (the issue's method);
2. ``iconv threads``: glibc's ``iconv(3)`` through ctypes on two threads, 16 MiB pieces written in order (the
   ingest's previous converter, kept here as the baseline);
3. ``codec``: Python's incremental codec, one thread (``formats.transcode``: the fallback);
4. ``ours``: ``formats.transcode_parallel`` (the compiled decoder on two threads).

Every output is compared with the original UTF-8 file (``cmp``). Wall and CPU seconds (the child and its
children) are recorded; ratios are the baseline's median seconds over ours.

Run: ``python -m benchmarks.transcode_bench [--rows 10000000] [--rounds 3]``; results in
``benchmarks/out/transcode.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import OUT, ROOT, machine
from benchmarks.datastore_bench import generate_csv

# the previous converter (glibc iconv through ctypes on two threads), as it shipped before the compiled decoder
_ICONV_THREADS = r"""
import ctypes, ctypes.util, itertools, os, sys
from concurrent.futures import ThreadPoolExecutor
from cityhub.datastore import formats
src, dst = sys.argv[1], sys.argv[2]
lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
lib.iconv_open.restype = ctypes.c_void_p
lib.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
ptr, size = ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)
lib.iconv.restype = ctypes.c_size_t
lib.iconv.argtypes = [ctypes.c_void_p, ptr, size, ptr, size]
lib.iconv_close.argtypes = [ctypes.c_void_p]
def piece(fd, start, end):
    n = end - start
    data = bytearray(n)
    os.preadv(fd, [data], start)
    cap = n * 3 // 2 + 16
    out = ctypes.create_string_buffer(cap)
    cd = lib.iconv_open(b"UTF-8", b"GB18030")
    view = (ctypes.c_char * n).from_buffer(data)
    inp, left = ctypes.c_void_p(ctypes.addressof(view)), ctypes.c_size_t(n)
    outp, room = ctypes.c_void_p(ctypes.addressof(out)), ctypes.c_size_t(cap)
    if lib.iconv(cd, ctypes.byref(inp), ctypes.byref(left), ctypes.byref(outp), ctypes.byref(room)) == ctypes.c_size_t(-1).value:
        raise SystemExit("iconv failed")
    del view
    lib.iconv_close(cd)
    return out, cap - room.value
fd = os.open(src, os.O_RDONLY)
cuts = formats._newline_cuts(fd, 0, os.fstat(fd).st_size, formats.PARALLEL_TRANSCODE_CHUNK)
with ThreadPoolExecutor(2) as pool, open(dst, "wb") as fout:
    for out, n in pool.map(lambda p: piece(fd, *p), itertools.pairwise(cuts)):
        fout.write(memoryview(out)[:n])
"""

_OURS = "import sys; from pathlib import Path; from cityhub.datastore import formats; " \
        "formats.transcode_parallel(Path(sys.argv[1]), Path(sys.argv[2]), 'gb18030')"
_CODEC = "import sys; from pathlib import Path; from cityhub.datastore import formats; " \
         "formats.transcode(Path(sys.argv[1]), Path(sys.argv[2]), 'gb18030')"
_HALVES = r"""
import os, subprocess, sys
src, dst = sys.argv[1], sys.argv[2]
size = os.path.getsize(src)
with open(src, "rb") as fh:
    fh.seek(size // 2)
    fh.readline()
    cut = fh.tell()
parts = [dst + ".1", dst + ".2"]
procs = [
    subprocess.Popen(f"head -c {cut} {src} | iconv -f GB18030 -t UTF-8 -o {parts[0]}", shell=True),
    subprocess.Popen(f"tail -c +{cut + 1} {src} | iconv -f GB18030 -t UTF-8 -o {parts[1]}", shell=True),
]
if any(p.wait() for p in procs):
    raise SystemExit("iconv failed")
with open(dst, "wb") as out:
    for part in parts:
        with open(part, "rb") as fh:
            while block := fh.read(1 << 24):
                out.write(block)
        os.remove(part)
"""

WAYS = {"iconv x2": _HALVES, "iconv threads": _ICONV_THREADS, "codec": _CODEC, "ours": _OURS}


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(code: str, src: Path, dst: Path, expect: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    c0, t0 = _cpu_children(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(src), str(dst)], check=True, env=env)
    seconds, cpu = time.perf_counter() - t0, _cpu_children() - c0
    same = subprocess.run(["cmp", "-s", str(dst), str(expect)]).returncode == 0
    dst.unlink()
    if not same:
        raise SystemExit(f"{code[:40]!r}: the UTF-8 copy differs from the original")
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "load": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "transcode-work"
    work.mkdir(exist_ok=True)
    utf8, gb = work / "data-utf8.csv", work / "data-gb18030.csv"
    generate_csv(args.rows, utf8)
    subprocess.run(["iconv", "-f", "UTF-8", "-t", "GB18030", "-o", str(gb), str(utf8)], check=True)
    dst = Path("/dev/shm") / f"cityhub-transcode-bench-{os.getpid()}.csv"
    res: dict[str, Any] = {"machine": machine(), "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "rows": args.rows, "gb18030_mb": round(gb.stat().st_size / 1e6, 1), "rounds": []}
    try:
        for _ in range(args.rounds):
            rnd = {name: run(code, gb, dst, utf8) for name, code in WAYS.items()}
            res["rounds"].append(rnd)
            print(json.dumps(rnd, ensure_ascii=False), flush=True)
    finally:
        dst.unlink(missing_ok=True)
        for f in (utf8, gb):
            f.unlink(missing_ok=True)
    med = {name: statistics.median(r[name]["seconds"] for r in res["rounds"]) for name in WAYS}
    res["median_s"] = med
    res["median_cpu_s"] = {name: statistics.median(r[name]["cpu_s"] for r in res["rounds"]) for name in WAYS}
    res["mb_per_s_per_cpu_s"] = {name: round(res["gb18030_mb"] / res["median_cpu_s"][name]) for name in WAYS}
    res["ours_vs"] = {name: round(med[name] / med["ours"], 2) for name in WAYS if name != "ours"}
    (OUT / "transcode.json").write_text(json.dumps(res, indent=1, ensure_ascii=False))
    print(json.dumps({k: res[k] for k in ("median_s", "median_cpu_s", "mb_per_s_per_cpu_s", "ours_vs")}, indent=1))


if __name__ == "__main__":
    main()
