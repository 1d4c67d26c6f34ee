"""dbt-duckdb plugin: the few things the build's SQL asks of Python.

Declared under `plugins:` in profiles/profiles.yml, it registers these functions on
dbt's DuckDB connection:

- `demandcast_check_vars(vars_json, given_json)`: every var checked once, in
  on-run-start, before any table is touched, and every name given with --vars must be a
  var of the project; returns one line per wrong var ('' when all hold).
- `demandcast_setting(vars_json, name)`: one forecasting setting as `config.Settings`
  resolves it, its default where the var is null (the macro `setting()`), so a
  derived default such as min_train_length is defined once, in Python.
- `demandcast_model_description(model_name)`: the forecaster in a planner's words, from
  its catalog entry (`catalog.describe`).
- `demandcast_publish_problem(dst)`: why the published copy `dst` could not be
  replaced ('' when it can), asked before the staging copy is written.
- `demandcast_replace_file(src, dst)`: renames a finished file into place in one step
  (os.replace), so a published copy is never seen half-written; returns '' when it did,
  else why not, with `src` removed.
- `demandcast_parquet_problem(pattern)`: the first raw Parquet file of `pattern` that is
  not a readable Parquet file and why ('' when all are), asked in on-run-start before
  DuckDB reads them (its own error names no file).
- `demandcast_parquet_timezone(pattern, column)`: the time zone a Parquet writer (pandas,
  pyarrow, polars) stored with a timestamp-with-time-zone column ('' when none), so a
  date is the timestamp's own local date, not UTC's.

It also stops a build, before dbt opens the warehouse, when the warehouse file cannot be
written (one line naming the file and the fix, instead of the adapter's tracebacks).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import struct
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from demandcast.cli import unwritable
from demandcast.config import VAR_NAMES, Settings, check_vars
from demandcast.raw import find_raw_file


def raw_file_json(raw_path: str, name: str) -> str:
    """raw.find_raw_file for the macro raw_reader: {"pattern", "format"}, {} when there is
    no such file, or {"error"}, as JSON."""
    try:
        found = find_raw_file(raw_path, name)
    except ValueError as err:
        return json.dumps({"error": str(err)})
    return json.dumps(dict(zip(("pattern", "format"), found, strict=True)) if found else {})


def var_names_json() -> str:
    """The names of the project's vars, as dbt_project.yml lists them (config.VAR_NAMES),
    as JSON: the macro project_vars() reads each one's value with var()."""
    return json.dumps(list(VAR_NAMES))


def check_vars_json(vars_json: str, given_json: str = "[]") -> str:
    """The var check on the JSON of every var's value and of the names the command line
    gave (--vars)."""
    return "\n".join(check_vars(json.loads(vars_json), json.loads(given_json)))


def setting_json(vars_json: str, name: str) -> str:
    """A setting's value (as text) from the JSON of every var's value."""
    return str(getattr(Settings.from_mapping(json.loads(vars_json)), name))


def model_description(model_name: str) -> str | None:
    """catalog.describe, imported on first use (it loads StatsForecast)."""
    from demandcast.catalog import describe

    return describe(model_name)


def _why(exc: OSError, dst: str) -> str:
    if isinstance(exc, IsADirectoryError) or os.path.isdir(dst):
        return f"{dst} is a directory, not a file"
    return f"cannot replace {dst}: {exc.strerror or exc}"


def publish_problem(dst: str) -> str:
    """Why `dst` cannot be replaced by a file written beside it ('' when it can): a
    directory in its place, or a folder that is missing or cannot be written (a probe file
    is made and removed; permissions alone do not tell, e.g. for root)."""
    if os.path.isdir(dst):
        return f"{dst} is a directory, not a file"
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        return f"the folder {folder} of {dst} does not exist"
    why = unwritable(folder, dst)
    return f"cannot write in the folder {folder}: {why}" if why else ""


def replace_file(src: str, dst: str) -> str:
    """Move `src` over `dst` atomically (readers of the old `dst` keep what they opened):
    '' when done; else why not, and `src` is removed (no staging copy is left behind)."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(src)
        return _why(exc, dst)
    return ""


def _parquet_files(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern))


def parquet_problem(pattern: str) -> str:
    """'<file>\t<why>' for the first file of `pattern` that is not a readable Parquet file
    (truncated, corrupted, or another format under a .parquet name), else ''."""
    import duckdb

    for path in _parquet_files(pattern):
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(4)
                f.seek(max(size - 4, 0))
                tail = f.read(4)
        except OSError as exc:
            return f"{path}\tit cannot be read: {exc.strerror or exc}"
        if size < 12 or head != b"PAR1" or tail != b"PAR1":
            return f"{path}\tno Parquet header or footer: truncated, or not Parquet"
        try:
            with duckdb.connect() as con:
                con.execute("select count(*) from parquet_schema(?)", [path]).fetchall()
                # every value decoded once (one aggregate per column): damage inside the
                # data pages, which header, footer and schema do not show
                con.execute(
                    "select bit_xor(hash(columns(*))) from read_parquet(?)", [path]
                ).fetchall()
        except duckdb.Error as exc:
            return f"{path}\t{str(exc).splitlines()[0]}"
    return ""


def parquet_timezone(pattern: str, column: str) -> str:
    """The time zone of `column` as the writer stored it in the Arrow schema of the first
    file of `pattern` ('+01:00', 'Europe/Berlin'), or '' when the file does not say."""
    import pyarrow.parquet as pq

    for path in _parquet_files(pattern)[:1]:
        try:
            if b"ARROW:schema" not in (pq.read_metadata(path).metadata or {}):
                return ""  # not written by Arrow: Parquet itself keeps only the UTC instant
            schema = pq.read_schema(path)
        except Exception:  # noqa: BLE001 - unreadable files are parquet_problem's to name
            return ""
        names = [name.lower() for name in schema.names]
        if column.lower() in names:
            return getattr(schema.field(names.index(column.lower())).type, "tz", None) or ""
    return ""


def warehouse_problem(path: str) -> str:
    """Why the warehouse file `path` cannot be opened for writing ('' when it can): the
    file is not writable, or its folder is missing or cannot be written. Nothing changes."""
    if not path or path == ":memory:" or path.startswith(("md:", "motherduck:")):
        return ""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        return f"{path} is a directory, not a DuckDB file"
    if os.path.exists(path):
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as exc:
            return f"cannot write the warehouse file {path}: {exc.strerror or exc}"
    elif not os.path.isdir(folder):
        return f"the folder {folder} of the warehouse {path} does not exist"
    # DuckDB writes its write-ahead log beside the file
    why = unwritable(folder, path)
    return f"cannot write in the folder {folder} of the warehouse {path}: {why}" if why else ""


_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid
_PROBED: set[str] = set()


def lock_holder(path: str) -> int | None:
    """The PID of another process holding a lock on the DuckDB file, or None.

    Asks with F_GETLK and never takes the lock. Closing a descriptor drops every POSIX lock
    the process holds on the file, so each path is probed once, before this process opens it.
    """
    path = os.path.abspath(path)  # a relative path names another file in another folder
    if path in _PROBED or not os.path.isfile(path):
        return None
    _PROBED.add(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    except OSError:
        return None
    finally:
        os.close(fd)
    return pid if l_type != fcntl.F_UNLCK else None


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        """Stop with one clear message when another process holds the warehouse."""
        problem = warehouse_problem(str(creds.path))
        if problem:
            raise RuntimeError(
                f"demandcast: {problem}. Make it writable (e.g. chmod u+w, or free the "
                "read-only mount), or point DEMANDCAST_DB at a writable file; nothing was "
                "built and the published copy is unchanged."
            )
        pid = lock_holder(str(creds.path))
        if pid is not None:
            raise RuntimeError(
                f"demandcast: the warehouse {creds.path} is in use by another process "
                f"(PID {pid}): another dbt build on the same target, or a tool holding the "
                "file open. Wait for it to finish, or build another target. BI tools read the "
                "published copy (the var published_path), which no build locks."
            )

    def configure_connection(self, conn: Any) -> None:
        conn.create_function("demandcast_var_names", var_names_json, [], "VARCHAR")
        conn.create_function(
            "demandcast_check_vars",
            check_vars_json,
            ["VARCHAR", "VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
        conn.create_function("demandcast_setting", setting_json, ["VARCHAR", "VARCHAR"], "VARCHAR")
        conn.create_function(
            "demandcast_raw_file", raw_file_json, ["VARCHAR", "VARCHAR"], "VARCHAR"
        )
        conn.create_function(
            "demandcast_publish_problem",
            publish_problem,
            ["VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
        conn.create_function(
            "demandcast_parquet_problem",
            parquet_problem,
            ["VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
        conn.create_function(
            "demandcast_parquet_timezone",
            parquet_timezone,
            ["VARCHAR", "VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
        conn.create_function(
            "demandcast_model_description", model_description, ["VARCHAR"], "VARCHAR"
        )
        conn.create_function(
            "demandcast_replace_file",
            replace_file,
            ["VARCHAR", "VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
