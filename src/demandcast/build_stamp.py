"""Nothing new, nothing built: the stamp `demandcast build` leaves beside the warehouse.

A build that passes writes `<warehouse>_last_build.json` beside the warehouse file
(warehouse/dev.duckdb -> warehouse/dev_last_build.json): a fingerprint of everything the
build read, and the size and modification time of the warehouse and its published copy
as the build left them. The next `demandcast build` computes the fingerprint again; when
it is the same and neither file has been written since, dbt is not started: the last
build's tables, forecast and published copy stand, as a build would have left them
(every series `reuse`, nothing fitted), and the command says so in a line.

The fingerprint covers:
- the raw files: every file under the raw folder, by path, size and content (BLAKE2b);
- the vars as given, the target, every DEMANDCAST_* environment variable;
- the project: dbt_project.yml, profiles/, models/, python_models/, macros/, seeds/,
  tests/data/, gx/ (not gx/uncommitted) and the demandcast package's own files
  (catalog.yml and the code);
- the versions of dbt-core, dbt-duckdb, duckdb, statsforecast and great_expectations;
- the day: the build reads `current_date` (order lines dated after it wait).

Any other dbt option than the log and artifact paths, a profiles folder
other than the project's, or `--force` builds as usual.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

PROJECT_PARTS = (
    "dbt_project.yml",
    "profiles",
    "models",
    "python_models",
    "macros",
    "seeds",
    "tests/data",
    "gx",
)
PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb", "statsforecast", "great_expectations")
NEUTRAL_OPTIONS = ("--target-path", "--log-path", "--log-format", "--printer-width")
NEUTRAL_FLAGS = ("-q", "--quiet", "--use-colors", "--no-use-colors")


def _hash_file(digest: hashlib.blake2b, path: Path, root: Path) -> None:
    digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_size}\0".encode())
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)


def _files(root: Path, skip: Iterable[str] = ()) -> list[Path]:
    if root.is_file():
        return [root]
    skipped = [root / s for s in skip]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not any(p.is_relative_to(s) for s in skipped)
    )


def fingerprint(
    project: Path,
    raw: Path,
    vars_text: str | None,
    target: str,
    env: Mapping[str, str],
    today: dt.date | None = None,
) -> str:
    """The hex digest of everything a build reads (see the module's docstring)."""
    digest = hashlib.blake2b(digest_size=20)
    settings = {
        "vars": vars_text,
        "target": target,
        "env": {k: v for k, v in sorted(env.items()) if k.startswith("DEMANDCAST_")},
        "versions": {p: _version(p) for p in PACKAGES},
        "today": (today or dt.date.today()).isoformat(),
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for part in PROJECT_PARTS:
        for path in _files(project / part, skip=("uncommitted",)):
            _hash_file(digest, path, project)
    package = Path(__file__).resolve().parent  # the demandcast package
    for path in _files(package):
        _hash_file(digest, path, package.parent)
    digest.update(b"\0raw\0")
    for path in _files(raw):
        _hash_file(digest, path, raw)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def neutral(dbt_args: list[str]) -> bool:
    """Whether the dbt options passed through change nothing a build makes."""
    i = 0
    while i < len(dbt_args):
        arg = dbt_args[i]
        if arg in NEUTRAL_FLAGS or any(arg.startswith(o + "=") for o in NEUTRAL_OPTIONS):
            i += 1
        elif arg in NEUTRAL_OPTIONS:
            i += 2
        else:
            return False
    return True


def stamp_path(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.stem}_last_build.json")


def _state(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def unchanged(warehouse: Path, published: Path, digest: str) -> dict | None:
    """The last build's stamp when nothing it read has changed since and neither the
    warehouse nor its published copy has been written by anything else; else None."""
    path = stamp_path(warehouse)
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = (_state(warehouse), _state(published))
    same = (
        None not in files
        and stamp.get("fingerprint") == digest
        and [stamp.get("warehouse"), stamp.get("published")] == list(files)
        and stamp.get("published_path") == str(published)
    )
    return stamp if same else None


def write(warehouse: Path, published: Path, digest: str, started: dt.datetime) -> None:
    """After a build that passed: the stamp, written whole or not at all."""
    stamp = {
        "fingerprint": digest,
        "built_at": started.isoformat(timespec="seconds"),
        "warehouse": _state(warehouse),
        "published": _state(published),
        "published_path": str(published),
    }
    path = stamp_path(warehouse)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def forget(warehouse: Path) -> None:
    """Before a build: a stamp must not outlive the files it describes."""
    stamp_path(warehouse).unlink(missing_ok=True)


def published_for(project: Path, warehouse: Path, vars_: Mapping) -> Path:
    """Where the build publishes (the macro published_path): the var published_path,
    relative to the project, or beside the warehouse file."""
    if vars_.get("published_path"):
        return (project / str(vars_["published_path"])).resolve()
    name = warehouse.name
    stem = name[: -len(".duckdb")] if name.endswith(".duckdb") else name
    return warehouse.with_name(f"{stem}_published.duckdb")
