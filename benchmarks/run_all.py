"""`make bench`: every benchmark, one after the other (figures go to benchmarks/out/ and BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    for module in ("benchmarks.catalog_bench", "benchmarks.datastore_bench", "benchmarks.dcat_bench",
                   "benchmarks.ckanapi_bench", "benchmarks.harvest_bench", "benchmarks.audit_bench",
                   "benchmarks.audit_admin_bench", "benchmarks.deid_view_bench", "benchmarks.activity_bench",
                   "benchmarks.indicators_bench"):
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *sys.argv[1:]], check=True)


if __name__ == "__main__":
    main()
