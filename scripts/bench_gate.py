"""Memory and time of the orders gate on N order lines: Great Expectations' `orders` suite
over a DuckDB table shaped like `int_orders__screened`, read as the build reads it (only
the columns the suite and its failing-row samples name), and, for comparison, with every
column read. Each measurement runs in a fresh process; peak RSS is that process's.

    .venv/bin/python scripts/bench_gate.py                    # 2.3 and 11.6 million lines
    .venv/bin/python scripts/bench_gate.py --lines 11600000

The table is synthetic (the demo writes about 1,160 lines a series, so 11.6 million lines
are a 10,000-series plant): a line id, one source file, 5,000 products in 2 plants, 1,000
days, quantities 1 to 17 and a plausible maximum of 500, so every expectation passes. The
table lives in the process's DuckDB memory, which is the "before" figure; the gate's cost
is the peak above it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

TABLE = """
create table int_orders__screened as select
  i + 1 as order_line_id, 'orders.csv' as source_file, i + 2 as source_row,
  date '2023-01-01' + (i % 1000)::int as order_date,
  'P' || lpad((i % 5000)::varchar, 5, '0') as product_id, 'PL' || (i % 2)::varchar as plant_id,
  (i % 17 + 1)::double as quantity, (i % 17 + 1)::double as original_quantity,
  false as is_implausible, 5.0::double as median_line_quantity, 500.0::double as plausible_max,
  false as is_return, false as is_duplicate
from range({n}) r(i)
"""


def measure(lines: int, every_column: bool) -> dict:
    """In this process: build the table, run the orders checkpoint, report."""
    import tempfile
    from pathlib import Path

    import duckdb

    from demandcast import gates

    con = duckdb.connect()
    con.execute(TABLE.format(n=lines))
    if every_column:
        gates._columns = lambda suite, key: None  # as before: the whole table
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    with tempfile.TemporaryDirectory(prefix="bench_gate_") as work:
        ctx = gates.context(Path(work) / "results", Path(work) / "docs")
        start = time.perf_counter()
        relation = con.table("int_orders__screened")
        params = gates.suite_parameters(con)
        frame, report, _ = gates.validate(ctx, "orders", relation, params, "bench")
        seconds = time.perf_counter() - start
    return {
        "lines": lines,
        "columns": "every column" if every_column else "the suite's columns",
        "seconds": round(seconds, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "before_mib": before,
        "passed": bool(frame["success"].all()) and report is None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[2_300_000, 11_600_000])
    ap.add_argument("--one", nargs=2, metavar=("LINES", "EVERY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1] == "1")))
        return 0
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    print("| order lines | columns read | gate s | peak RSS | before | gate's own | passed |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for lines in args.lines:
        for every in ("1", "0"):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(lines), every],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {r['lines']:,} | {r['columns']} | {r['seconds']} | {r['peak_rss_mib']:,} MiB "
                f"| {r['before_mib']:,} MiB | {r['peak_rss_mib'] - r['before_mib']:,} MiB "
                f"| {r['passed']} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
