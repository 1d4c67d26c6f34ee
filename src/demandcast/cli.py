"""Command line: `demandcast build | report | evaluate | check | demo`."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from demandcast.raw import find_raw_file

PROJECT_NAME = "demandcast"
QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
}


def dbt_env(
    db: str | Path | None = None,
    raw: str | Path | None = None,
    profiles: str | Path | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment every dbt run of demandcast gets (the CLI's, the scripts', the
    tests'): the caller's, quiet (no analytics), and where given the warehouse
    (DEMANDCAST_DB), the raw folder (DEMANDCAST_RAW_PATH) and the profiles folder."""
    env = {**(os.environ if base is None else base), **QUIET_ENV}
    for key, value in (
        ("DEMANDCAST_DB", db),
        ("DEMANDCAST_RAW_PATH", raw),
        ("DBT_PROFILES_DIR", profiles),
    ):
        if value is not None:
            env[key] = str(value)
    return env


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


class UserError(Exception):
    """Input a command cannot use (a missing file, a wrong column, a locked warehouse):
    main() prints `demandcast <command>: <message>` on one line and exits 2."""


@dataclass(frozen=True)
class Locations:
    """Where a command finds the warehouse, as `demandcast build` and the profile do."""

    project: Path | None
    target: str
    warehouse: Path  # the working warehouse dbt builds
    published: Path  # the copy BI tools (and `demandcast report`) read


def locate(
    target: str | None = None,
    db: str | None = None,
    env: Mapping[str, str] | None = None,
    project: Path | None = None,
) -> Locations:
    """The target (`target`, else $DEMANDCAST_TARGET, else dev) and its warehouse: `db`,
    else $DEMANDCAST_DB (both relative to the current folder), else the project's
    warehouse/<target>.duckdb, the project (`project`) found as `build` finds it; the
    published copy where the build puts it (build_stamp.published_for, the project's
    published_path var or beside the warehouse)."""
    from demandcast import build_stamp

    env = os.environ if env is None else env
    target = target or env.get("DEMANDCAST_TARGET") or "dev"
    project = project or find_project()
    given = db or env.get("DEMANDCAST_DB")
    if given:
        warehouse = Path(given).resolve()
    else:
        warehouse = (project or Path.cwd()) / "warehouse" / f"{target}.duckdb"
    defaults = {}
    if project is not None:
        spec = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))
        defaults = spec.get("vars") or {}
    published = build_stamp.published_for(project or Path.cwd(), warehouse, defaults)
    return Locations(project, target, warehouse, published)


def add_location_options(parser: argparse.ArgumentParser, db_help: str) -> None:
    """--db and --target, as every command that reads the warehouse takes them."""
    parser.add_argument("--db", help=db_help)
    parser.add_argument(
        "--target",
        help="profile target whose warehouse to read: dev, ci or prod (default: "
        "$DEMANDCAST_TARGET, else dev); its file is warehouse/<target>.duckdb in the project, "
        "found from any folder, or $DEMANDCAST_DB",
    )


def existing_file(
    path: Path, what: str, hint: str = "; run `demandcast build` first, or pass --db"
) -> Path:
    """`path` when it is a file; else a UserError naming it."""
    if not path.is_file():
        state = "is a directory" if path.is_dir() else "does not exist"
        raise UserError(f"{what} {path} {state}{hint}")
    return path


def readable_db(path: Path, what: str) -> Path:
    """`path` when it is a DuckDB file this process can open read-only; else a UserError
    naming it and why (not there, locked by a running build, not a DuckDB file)."""
    import duckdb

    existing_file(path, what)
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.Error as exc:
        raise UserError(f"cannot open {what} {path}: {str(exc).splitlines()[0]}") from None
    return path


def unwritable(folder: str, name: str) -> str:
    """Why no file can be written in `folder` ('' when one can): a probe file beside `name`
    is made and removed (permissions alone do not tell, e.g. for root)."""
    probe = os.path.join(folder, f".{os.path.basename(name)}.{os.getpid()}.probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(probe)
    except OSError as exc:
        return str(exc.strerror or exc)
    return ""


def writable(path: str | Path, what: str, folder: bool = False) -> Path:
    """`path` (a file, or with `folder` a folder) when this process can write there, its
    missing folders made; else a UserError naming it and why. Asked before any work, so a
    command never ends in a traceback after minutes of it."""
    path = Path(path).resolve()
    where = path if folder else path.parent
    if not folder and path.is_dir():
        raise UserError(f"{what} {path} is a directory, not a file")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot make the folder {where} for {what}: {exc.strerror or exc}"
        ) from None
    why = unwritable(str(where), path.name if not folder else ".demandcast")
    if why:
        raise UserError(f"cannot write {what} in {where}: {why}")
    return path


@contextlib.contextmanager
def environment(env: Mapping[str, str], cwd: str | Path) -> Iterator[None]:
    """`env` as the whole of os.environ and `cwd` as the working folder for the block,
    both restored after it (one call at a time in a process)."""
    saved, here = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)


def run_dbt(args: list[str], env: Mapping[str, str], cwd: str | Path) -> int:
    """`dbt <args>` in this process, through dbt's programmatic entry point (`dbtRunner`,
    what the `dbt` executable calls), with `env` as the environment and `cwd` as the
    folder for the call; returns the `dbt` executable's exit code (0 passed, 1 a node or
    test failed, 2 dbt could not run, 130 interrupted). dbt, StatsForecast and Great
    Expectations are imported once per process, not once per build (about 10 s of CPU):
    `--past-origins` builds them all in one. The DuckDB connection dbt-duckdb keeps past
    the call is closed, so the warehouse file is complete and unlocked when this returns
    and the next call opens its own."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.exceptions import DbtUsageException
    from dbt.cli.main import dbtRunner

    with environment(env, cwd):
        try:
            result = dbtRunner().invoke(list(args))
        finally:
            duckdb_env = DuckDBConnectionManager._ENV
            if getattr(duckdb_env, "conn", None) is not None:
                duckdb_env.conn.close()
            DuckDBConnectionManager._ENV = None
    if isinstance(result.exception, KeyboardInterrupt):
        return 130
    if isinstance(result.exception, DbtUsageException):  # the executable's click prints it
        print(f"Error: {result.exception}", file=sys.stderr)
    return 0 if result.success else 2 if result.exception is not None else 1


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
        "--past-origins",
        type=int,
        default=0,
        metavar="N",
        help="first build at N earlier forecast origins, `horizon` periods apart, oldest "
        "first, as a plant that has run the system a while would have: the monitoring "
        "tables then score forecasts the actuals have since covered. An origin the "
        "warehouse already holds a published forecast of is skipped (default: 0)",
    )
    parser.add_argument(
        "--past-vars",
        help="dbt vars for those earlier builds only, over --vars, e.g. '{candidates: fast}'",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="build even when nothing the last build read has changed since (same raw "
        "files, vars, project and day): without it such a build is skipped in seconds and "
        "the last build's tables and published copy stand",
    )
    parser.add_argument(
        "--project-dir",
        help="the demandcast project (default: this folder or a parent, else the source tree)",
    )
    args, dbt_args = parser.parse_known_args(argv)
    if dbt_args[:1] == ["--"]:
        dbt_args = dbt_args[1:]
    if args.past_origins < 0:
        parser.error(f"--past-origins: expected 0 or more, got {args.past_origins}")
    project = Path(args.project_dir).resolve() if args.project_dir else find_project()
    if project is None or not (project / "dbt_project.yml").is_file():
        print(
            "demandcast build: no demandcast dbt project found here or above "
            f"{Path.cwd()}; run it from the project or pass --project-dir",
            file=sys.stderr,
        )
        return 2
    env = {**QUIET_ENV, **os.environ}
    # paths given here are relative to the caller; dbt runs in the project folder, where
    # the profile's warehouse/<target>.duckdb lives
    if args.raw:
        env["DEMANDCAST_RAW_PATH"] = str(Path(args.raw).resolve())
    elif env.get("DEMANDCAST_RAW_PATH"):
        env["DEMANDCAST_RAW_PATH"] = str(Path(env["DEMANDCAST_RAW_PATH"]).resolve())
    if env.get("DEMANDCAST_DB"):
        env["DEMANDCAST_DB"] = str(Path(env["DEMANDCAST_DB"]).resolve())
    vars_text = None
    if args.vars is not None:
        vars_file = Path(args.vars)
        is_file = len(args.vars) < 4096 and "\n" not in args.vars and vars_file.is_file()
        vars_text = vars_file.read_text(encoding="utf-8") if is_file else args.vars

    def command(vars_arg: str | None) -> list[str]:
        cmd = ["build", "--project-dir", str(project)]
        if not _has_option(dbt_args, "--profiles-dir"):
            cmd += ["--profiles-dir", str(project / "profiles")]
        if args.target:
            cmd += ["--target", args.target]
        if vars_arg is not None:
            cmd += ["--vars", vars_arg]
        return cmd + dbt_args

    try:
        if args.past_origins:
            try:
                past = past_build_vars(
                    project, env, vars_text, args.past_vars, args.past_origins, args.target
                )
            except ValueError as exc:
                print(f"demandcast build: {exc}", file=sys.stderr)
                return 2
            for i, (origin, run_vars) in enumerate(past, 1):
                if run_vars is None:
                    print(
                        f"demandcast build: past origin {origin} ({i} of {len(past)}): "
                        "already in the warehouse, skipped",
                        flush=True,
                    )
                    continue
                print(f"demandcast build: past origin {origin} ({i} of {len(past)})", flush=True)
                code = run_dbt(command(json.dumps(run_vars, default=str)), env, project)
                if code:
                    print(
                        f"demandcast build: the build at the past origin {origin} failed "
                        f"(exit {code}); the current origin was not built",
                        file=sys.stderr,
                    )
                    return code
            print("demandcast build: the current origin", flush=True)
        return _build_unless_unchanged(project, args, dbt_args, env, vars_text, command)
    except KeyboardInterrupt:
        return 130


def _build_unless_unchanged(project, args, dbt_args, env, vars_text, command) -> int:
    """The current origin's build, skipped when nothing it reads has changed since the last
    build that passed (build_stamp.py); a build that passes leaves the stamp."""
    from demandcast import build_stamp

    profiles = env.get("DBT_PROFILES_DIR")  # --profiles-dir is not neutral (below)
    ours = not profiles or Path(profiles).resolve() == project / "profiles"
    if not ours or not build_stamp.neutral(dbt_args):
        return run_dbt(command(vars_text), env, project)
    where = locate(args.target, env=env, project=project)
    target, warehouse = where.target, where.warehouse
    try:
        given = _load_vars(vars_text, "--vars")
    except (ValueError, yaml.YAMLError):  # dbt says what is wrong with the vars
        return run_dbt(command(vars_text), env, project)
    raw = project / str(given.get("raw_path") or env.get("DEMANDCAST_RAW_PATH") or "data/demo")
    published = build_stamp.published_for(project, warehouse, given)
    started = dt.datetime.now()
    digest = build_stamp.fingerprint(project, raw, vars_text, target, env)
    stamp = None if args.force else build_stamp.unchanged(warehouse, published, digest)
    if stamp:
        print(
            f"demandcast build: nothing changed since the build of {stamp['built_at']} (the "
            "same raw files, vars, project and day): dbt not started, nothing fitted; its "
            f"tables in {warehouse} and the published copy {published} stand. "
            "--force builds anyway.",
            flush=True,
        )
        return 0
    build_stamp.forget(warehouse)
    code = run_dbt(command(vars_text), env, project)
    if code == 0:
        build_stamp.write(warehouse, published, digest, started)
    return code


def _load_vars(text: str | None, what: str) -> dict:
    if text is None:
        return {}
    vars_file = Path(text)
    if len(text) < 4096 and "\n" not in text and vars_file.is_file():
        text = vars_file.read_text(encoding="utf-8")
    value = yaml.safe_load(text)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what}: expected a YAML mapping, got {text!r}")
    return value


def _orders_reader(raw: Path) -> str | None:
    """The DuckDB reader of the orders file under `raw`, as the project finds it
    (raw.find_raw_file); a ValueError naming them when there is more than one."""
    found = find_raw_file(raw, "orders")
    if found is None:
        return None
    pattern, fmt = found[0].replace("'", "''"), found[1]
    if fmt == "csv":
        return f"read_csv('{pattern}', all_varchar = true, header = true)"
    return f"read_parquet('{pattern}')"


def past_build_vars(
    project: Path,
    env: dict[str, str],
    vars_text: str | None,
    past_vars_text: str | None,
    n: int,
    target: str | None = None,
) -> list[tuple[str, dict | None]]:
    """The N forecast origins before the current one, `horizon` periods apart, oldest first,
    each with the vars of its build (None: the warehouse already holds a published forecast
    from that origin and frequency). The current origin is the var forecast_origin, else, as
    int_run__context finds it, the last complete period of the orders up to today."""
    import duckdb

    user = _load_vars(vars_text, "--vars")
    over = _load_vars(past_vars_text, "--past-vars")
    defaults = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    settings = {**defaults, **user}
    frequency = str(settings["frequency"]).lower()
    if frequency not in ("day", "week", "month"):
        raise ValueError(f"var 'frequency': expected day, week or month, got {frequency!r}")
    horizon = int(settings["horizon"])
    con = duckdb.connect()
    if settings.get("forecast_origin"):
        current = f"date_trunc('{frequency}', cast($origin as date))"
        params = {"origin": str(settings["forecast_origin"])}
    else:
        raw = Path(settings.get("raw_path") or env.get("DEMANDCAST_RAW_PATH") or "data/demo")
        raw = raw if raw.is_absolute() else project / raw
        reader = _orders_reader(raw)
        if reader is None:
            raise ValueError(f"no orders file in raw_path '{raw}'")
        (end,) = con.execute(f"""select max(d) from (select try_cast(order_date as date) as d
            from {reader}) where d <= current_date""").fetchone()
        if end is None:
            raise ValueError(f"no dated order lines in '{raw}'")
        # how often the orders are dated, and the week's last working day: the project's own
        # macros, as int_run__context reads them (the lines up to the run's date)
        macros = _period_macros(project)
        dated = f"""(select * from (select try_cast(coalesce(order_date, null) as date)
            as order_date from {reader}) where order_date <= current_date)"""
        cadence, workday = con.execute(
            f"select {macros.date_cadence(dated)}, {macros.last_workday(dated)}"
        ).fetchone()
        start, after = f"date_trunc('{frequency}', $end)", f"date_trunc('{frequency}', $end + 1)"
        # the week's last working day or later completes it (a plant shut at weekends)
        done = f" or isodow($end) >= {int(workday or 7)}" if frequency == "week" else ""
        current = (
            start  # dated once a period at this frequency: the last period is complete
            if cadence == frequency
            else f"case when {after} > {start}{done} then {start}"
            f" else {start} - interval 1 {frequency} end"
        )
        params = {"end": end}
    origins = [
        str(o)
        for (o,) in con.execute(
            f"""select cast(({current}) - to_{frequency}s(k * {horizon}) as date)
            from range({n}, 0, -1) as t (k) order by 1""",
            params,
        ).fetchall()
    ]
    held = _published_origins(project, env, target, frequency)
    return [
        (
            o,
            None
            if o in held
            else {**user, "max_staleness_periods": None, **over, "forecast_origin": o},
        )
        for o in origins
    ]


def _period_macros(project: Path) -> Any:
    """The project's macros/periods.sql as a Jinja module: its macros that build SQL from
    their arguments alone (date_cadence, last_workday) render here as dbt renders them, so
    the origins of `--past-origins` follow the same rules as the build's."""
    import jinja2

    text = (project / "macros" / "periods.sql").read_text(encoding="utf-8")
    return jinja2.Environment().from_string(text).module


def _published_origins(
    project: Path, env: dict[str, str], target: str | None, frequency: str
) -> set[str]:
    """Forecast origins of `frequency` the warehouse holds a published forecast from."""
    import duckdb

    db = locate(target, env=env, project=project).warehouse
    if not db.is_file():
        return set()
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            tables = {t for (t,) in con.execute("show tables").fetchall()}
            if not {"fct_forecast_history", "demandcast_runs"} <= tables:
                return set()
            columns = {c for (c, *_) in con.execute("describe fct_forecast_history").fetchall()}
            same = "and h.frequency = $f" if "frequency" in columns else ""
            rows = con.execute(
                f"""select distinct cast(h.forecast_origin as varchar)
                from fct_forecast_history as h join demandcast_runs as r using (run_id)
                where r.status = 'published' {same}""",
                {"f": frequency} if same else {},
            ).fetchall()
    except duckdb.Error:  # locked by a running build: that build will say so
        return set()
    return {o for (o,) in rows}


def _demo(argv: list[str]) -> int:
    from demandcast import demo

    return demo.main(argv) or 0


def _check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="demandcast check",
        description="Run every Great Expectations suite against the warehouse tables.",
    )
    add_location_options(
        parser, "the working warehouse dbt built, read-only (default: the target's, as build)"
    )
    parser.add_argument(
        "--docs",
        default=None,
        help="folder of the Data Docs (default: beside the warehouse, <db>_data_docs/)",
    )
    args = parser.parse_args(argv)
    db = readable_db(locate(args.target, args.db).warehouse, "the warehouse")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from demandcast import gates

    results, docs = gates.state_dirs(db, args.docs)
    writable(results, "the validation results", folder=True)
    writable(docs, "the Data Docs", folder=True)
    print(f"check: reading the working warehouse {db}", flush=True)
    return gates.check_warehouse(db, args.docs)


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
    except UserError as exc:
        print(f"demandcast {argv[0]}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `demandcast evaluate | head`: the reader has what it wanted
        # Python's recipe: what is left to flush goes to /dev/null, not to a second error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # as a command ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
