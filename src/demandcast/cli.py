"""Command line: `demandcast build | report | evaluate | check | demo`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PROJECT_NAME = "demandcast"
QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def version() -> str:
    """The installed package's version (package metadata)."""
    return metadata.version(PROJECT_NAME)


def find_project(start: Path | None = None) -> Path | None:
    """The demandcast dbt project: the folder (or a parent) of `start` (default: the
    current folder) holding its dbt_project.yml, else the source tree this package
    was installed from (an editable install)."""
    here = (start or Path.cwd()).resolve()
    package_tree = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, package_tree):
        spec = folder / "dbt_project.yml"
        if spec.is_file() and _is_demandcast(spec):
            return folder
    return None


def _is_demandcast(spec: Path) -> bool:
    for line in spec.read_text(encoding="utf-8").splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip().strip("'\"") == PROJECT_NAME
    return False


def _dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.is_file() else "dbt"


def _has_option(args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


def _build(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="demandcast build",
        description="Run `dbt build` on the demandcast project with its profiles/ folder: "
        "every model, gate and test; a run that passes is published to "
        "warehouse/<target>_published.duckdb. Options not listed here go to dbt "
        "(e.g. --select, --full-refresh, --target-path); the exit code is dbt's.",
        allow_abbrev=False,
    )
    parser.add_argument("--target", help="profile target: dev (default), ci or prod")
    parser.add_argument(
        "--raw",
        help="folder of the raw files (orders, products, plants); sets DEMANDCAST_RAW_PATH "
        "(default: $DEMANDCAST_RAW_PATH, else data/demo)",
    )
    parser.add_argument(
        "--vars",
        help="dbt vars as a YAML mapping, e.g. '{horizon: 26}', or the path of a YAML file",
    )
    parser.add_argument(
        "--project-dir",
        help="the demandcast project (default: this folder or a parent, else the source tree)",
    )
    args, dbt_args = parser.parse_known_args(argv)
    if dbt_args[:1] == ["--"]:
        dbt_args = dbt_args[1:]
    project = Path(args.project_dir).resolve() if args.project_dir else find_project()
    if project is None or not (project / "dbt_project.yml").is_file():
        print(
            "demandcast build: no demandcast dbt project found here or above "
            f"{Path.cwd()}; run it from the project or pass --project-dir",
            file=sys.stderr,
        )
        return 2
    env = {**os.environ}
    for key, value in QUIET_ENV.items():
        env.setdefault(key, value)
    # paths given here are relative to the caller; dbt runs in the project folder, where
    # the profile's warehouse/<target>.duckdb lives
    if args.raw:
        env["DEMANDCAST_RAW_PATH"] = str(Path(args.raw).resolve())
    elif env.get("DEMANDCAST_RAW_PATH"):
        env["DEMANDCAST_RAW_PATH"] = str(Path(env["DEMANDCAST_RAW_PATH"]).resolve())
    if env.get("DEMANDCAST_DB"):
        env["DEMANDCAST_DB"] = str(Path(env["DEMANDCAST_DB"]).resolve())
    command = [_dbt_executable(), "build", "--project-dir", str(project)]
    if not _has_option(dbt_args, "--profiles-dir"):
        command += ["--profiles-dir", str(project / "profiles")]
    if args.target:
        command += ["--target", args.target]
    if args.vars is not None:
        vars_file = Path(args.vars)
        is_file = len(args.vars) < 4096 and "\n" not in args.vars and vars_file.is_file()
        command += ["--vars", vars_file.read_text(encoding="utf-8") if is_file else args.vars]
    command += dbt_args
    try:
        return subprocess.call(command, cwd=project, env=env)
    except KeyboardInterrupt:
        return 130


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
    parser.add_argument(
        "--docs",
        default=None,
        help="folder of the Data Docs (default: beside the warehouse, <db>_data_docs/)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from demandcast import gates

    return gates.check_warehouse(args.db, args.docs)


def _evaluate(argv: list[str]) -> int:
    from demandcast import evaluate

    return evaluate.main(argv)


def _report(argv: list[str]) -> int:
    from demandcast import report

    return report.main(argv)


COMMANDS = {
    "build": (_build, "dbt build with the project's profiles; publishes a run that passes"),
    "report": (_report, "write one self-contained HTML report of the published run"),
    "evaluate": (_evaluate, "score fct_demand_forecast and baselines against actuals"),
    "check": (_check, "run the Great Expectations checkpoints on a built warehouse"),
    "demo": (_demo, "write the demo plant's raw files (orders, products, plants, truth)"),
}


def usage() -> str:
    lines = [
        "usage: demandcast [--help] [--version] {" + ",".join(COMMANDS) + "} [options]",
        "",
        "Demand forecasts per plant and product, built in the warehouse (dbt + DuckDB).",
        "",
        "commands:",
    ]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`demandcast COMMAND --help` describes a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; 0 on success, 2 for a command line that is not understood."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    if argv and argv[0] in {"-V", "--version"}:
        print(f"demandcast {version()}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        problem = f"unknown command '{argv[0]}'" if argv else "a command is required"
        print(f"{usage()}\n\ndemandcast: error: {problem}", file=sys.stderr)
        return 2
    func, _ = COMMANDS[argv[0]]
    try:
        return func(argv[1:])
    except SystemExit as exc:  # argparse: --help (0) or a bad option (2)
        return exc.code if isinstance(exc.code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
