"""Command line: `demandcast demo | check`."""

from __future__ import annotations

import argparse
import os
import sys


def _demo(argv: list[str]) -> int:
    from demandcast import demo

    return demo.main(argv) or 0


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="demandcast check",
        description="Run every Great Expectations suite against the warehouse tables.",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("DEMANDCAST_DB", "warehouse/dev.duckdb"),
        help="DuckDB file built by dbt (default: $DEMANDCAST_DB or warehouse/dev.duckdb)",
    )
    parser.add_argument("--docs", default="reports/data_docs", help="folder for the Data Docs HTML")
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from demandcast import gates

    return gates.check_warehouse(args.db, args.docs)


def _evaluate(argv: list[str]) -> int:
    from demandcast import evaluate

    return evaluate.main(argv)


COMMANDS = {
    "demo": (_demo, "write the demo plant's raw files (orders, products, plants, truth)"),
    "check": (_check, "run the data-quality suites on a built warehouse; write Data Docs"),
    "evaluate": (_evaluate, "score fct_demand_forecast and baselines against actuals"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; exit code 0 on success."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        print("usage: demandcast {" + ",".join(COMMANDS) + "} [options]\n")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<8} {text}")
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    func, _ = COMMANDS[argv[0]]
    return func(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
