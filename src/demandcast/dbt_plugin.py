"""dbt-duckdb plugin: the few things the build's SQL asks of Python.

Declared under `plugins:` in profiles/profiles.yml, it registers three functions on
dbt's DuckDB connection:

- `demandcast_check_vars(vars_json)`: every var checked once, in on-run-start, before
  any table is touched; returns one line per wrong var ('' when all hold).
- `demandcast_setting(vars_json, name)`: one forecasting setting as `config.Settings`
  resolves it, its default where the var is null (the macro `setting()`), so a
  derived default such as min_train_length is defined once, in Python.
- `demandcast_replace_file(src, dst)`: renames a finished file into place in one step
  (os.replace), so a published copy is never seen half-written.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from demandcast.config import Settings, check_vars


def check_vars_json(vars_json: str) -> str:
    """The var check on the JSON of every var's value."""
    return "\n".join(check_vars(json.loads(vars_json)))


def setting_json(vars_json: str, name: str) -> str:
    """A setting's value (as text) from the JSON of every var's value."""
    return str(getattr(Settings.from_mapping(json.loads(vars_json)), name))


def replace_file(src: str, dst: str) -> str:
    """Move `src` over `dst` atomically; readers of the old `dst` keep what they opened."""
    os.replace(src, dst)
    return dst


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
        pid = lock_holder(str(creds.path))
        if pid is not None:
            raise RuntimeError(
                f"demandcast: the warehouse {creds.path} is in use by another process "
                f"(PID {pid}): another dbt build on the same target, or a tool holding the "
                "file open. Wait for it to finish, or build another target. BI tools read the "
                "published copy (the var published_path), which no build locks."
            )

    def configure_connection(self, conn: Any) -> None:
        conn.create_function(
            "demandcast_check_vars", check_vars_json, ["VARCHAR"], "VARCHAR", side_effects=True
        )
        conn.create_function("demandcast_setting", setting_json, ["VARCHAR", "VARCHAR"], "VARCHAR")
        conn.create_function(
            "demandcast_replace_file",
            replace_file,
            ["VARCHAR", "VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
