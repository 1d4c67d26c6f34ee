"""How `dbt build` scales with the number of series: wall time, CPU, model fits and peak
memory of the whole build and of the forecasting engine, per size, and their cost per
series and per fit.

    .venv/bin/python scripts/bench_scale.py                     # 500 2000 5000 10000 series
    .venv/bin/python scripts/bench_scale.py --series 500 2000   # some sizes
    .venv/bin/python scripts/bench_scale.py --plot-only         # the plot of --out again

Each size is a fresh demo (2 plants, weekly, 3 years) and a fresh warehouse under
reports/bench/, built by a real `dbt build` with default vars (scripts/bench_build.py
runs it and samples the memory of its process tree). The figures go to
reports/bench_scale.json (as each size finishes; the sizes built before and not built
again stay), the plot of every size in it to docs/bench_scale.svg, and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import ROOT, build  # noqa: E402


def measure(n_series: int, plants: int, years: int, vars_: str | None) -> dict:
    """One size: build it, read its fits from fct_retrain_decisions, derive the costs."""
    work = ROOT / "reports" / "bench" / f"s{n_series}"
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    row = build(n_series // plants, plants, years, vars_, work)
    with duckdb.connect(str(work / "wh.duckdb"), read_only=True) as con:
        fits, backtest, refits = con.execute(
            "select sum(n_fits), sum(n_backtest_fits), sum(n_refits) from fct_retrain_decisions"
        ).fetchone()
    n = row["series"]
    return {
        **row,
        "load_before": [round(x, 2) for x in load],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "fits": int(fits),
        "backtest_fits": int(backtest),
        "refits": int(refits),
        "wall_ms_per_series": round(1000 * row["wall_s"] / n, 1),
        "cpu_ms_per_series": round(1000 * row["cpu_s"] / n, 1),
        "cpu_ms_per_fit": round(1000 * row["cpu_s"] / int(fits), 3),
        "tree_pss_kib_per_series": round(1024 * row["peak_tree_pss_mib"] / n, 1),
    }


PANELS = (
    (
        "CPU and wall seconds per series",
        (("cpu_ms_per_series", "CPU"), ("wall_ms_per_series", "wall")),
        1e-3,
    ),
    (
        "peak memory, MiB",
        (
            ("peak_tree_pss_mib", "build, tree PSS"),
            ("engine_peak_rss_mib", "engine, dbt process RSS"),
        ),
        1.0,
    ),
)
COLOURS = ("#1f77b4", "#d62728")


def svg(rows: list[dict]) -> str:
    """Two line plots against the number of series (log scale): seconds per series, and
    peak memory. Plain SVG, no plotting library."""
    w, h, pad = 360, 240, 50
    xs = [r["series"] for r in rows]
    lo, hi = min(xs) / 1.3, max(xs) * 1.3
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" '
        'font-family="sans-serif" font-size="11">'
    ]
    for p, (title, series, unit) in enumerate(PANELS):
        ox = p * w
        top = max(r[k] * unit for r in rows for k, _ in series) * 1.15 or 1.0

        def px(x: float, ox: int = ox) -> float:
            return ox + pad + (w - 1.5 * pad) * math.log(x / lo) / math.log(hi / lo)

        def py(y: float, top: float = top) -> float:
            return h - pad + (2 * pad - h) * y / top

        parts.append(f'<text x="{ox + w / 2}" y="16" text-anchor="middle">{title}</text>')
        parts.append(f'<line x1="{px(lo)}" y1="{py(0)}" x2="{px(hi)}" y2="{py(0)}" stroke="#444"/>')
        parts.append(
            f'<line x1="{px(lo)}" y1="{py(0)}" x2="{px(lo)}" y2="{py(top)}" stroke="#444"/>'
        )
        for k in range(5):
            y, digits = top * k / 4, 0 if top > 10 else 2
            label = f"{y:,.{digits}f}"
            parts.append(f'<text x="{px(lo) - 4}" y="{py(y) + 4}" text-anchor="end">{label}</text>')
        for x in xs:
            parts.append(f'<text x="{px(x)}" y="{h - pad + 14}" text-anchor="middle">{x:,}</text>')
        parts.append(f'<text x="{ox + w / 2}" y="{h - 12}" text-anchor="middle">series</text>')
        for i, ((key, label), colour) in enumerate(zip(series, COLOURS, strict=True)):
            pts = " ".join(f"{px(r['series']):.1f},{py(r[key] * unit):.1f}" for r in rows)
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            for r in rows:
                x, y = px(r["series"]), py(r[key] * unit)
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            parts.append(
                f'<text x="{ox + pad + 8}" y="{36 + 14 * i}" fill="{colour}">{label}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[500, 2000, 5000, 10000])
    parser.add_argument("--plants", type=int, default=2)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--vars", default=None, help="dbt --vars for every build")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench_scale.json"))
    parser.add_argument("--svg", default=str(ROOT / "docs" / "bench_scale.svg"))
    parser.add_argument("--plot-only", action="store_true", help="plot --out again, build nothing")
    args = parser.parse_args(argv)

    out = Path(args.out)
    old = json.loads(out.read_text())["runs"] if out.exists() else []
    rows = [] if args.plot_only else [r for r in old if r["series"] not in args.series]
    for n in [] if args.plot_only else sorted(args.series):
        print(f"building {n:,} series ...", flush=True)
        rows.append(measure(n, args.plants, args.years, args.vars))
        print(json.dumps(rows[-1]), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cpus": os.cpu_count(), "runs": rows}, indent=2))
    rows = sorted(rows or old, key=lambda r: r["series"])
    Path(args.svg).parent.mkdir(parents=True, exist_ok=True)
    Path(args.svg).write_text(svg(rows))
    print()
    print(
        "| series | wall | CPU | fits | CPU ms / series | CPU ms / fit "
        "| peak PSS build | peak RSS engine |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['series']:,} | {r['wall_s']:,.0f} s | {r['cpu_s']:,.0f} s | {r['fits']:,} "
            f"| {r['cpu_ms_per_series']:,.0f} | {r['cpu_ms_per_fit']:.2f} "
            f"| {r['peak_tree_pss_mib']:,} MiB | {r['engine_peak_rss_mib']:,} MiB |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
