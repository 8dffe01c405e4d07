"""The project configuration: one file that the CLI, Python, YAML and Dagster all read.

It is the nearest ``buckaroo.toml`` (top-level keys) or ``pyproject.toml``
with a ``[tool.buckaroo-assets]`` table, looking in the working directory and
then its parents, so a command run anywhere in a project finds it::

    [tool.buckaroo-assets]
    store = "s3://bundles/prod"          # or a path, relative to this file
    [tool.buckaroo-assets.storage_options]
    client_kwargs = { endpoint_url = "http://127.0.0.1:9000" }
    [tool.buckaroo-assets.stats]         # any StatsConfig setting
    window_rows = 500
    distinct_threshold = 50000

A foundation module: it reads TOML and knows nothing of stores or stats.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BuckarooAssetsError

__all__ = ["PROJECT_FILES", "Project", "ProjectConfigError", "find_project"]

PROJECT_FILES = ("buckaroo.toml", "pyproject.toml")
_TOOL = "buckaroo-assets"
_KEYS = {"store", "storage_options", "stats"}


class ProjectConfigError(BuckarooAssetsError, ValueError):
    """The project configuration file cannot be read or holds something it should not."""


@dataclass(frozen=True)
class Project:
    """What the project configuration file says (empty when there is none)."""

    path: Path | None = None
    store: str | None = None  # a URL, or an absolute path once read
    storage_options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def find_project(start: str | os.PathLike[str] | None = None) -> Project:
    """The configuration of the project around ``start`` (default: the working directory)."""
    folder = Path(start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        for name in PROJECT_FILES:
            path = candidate / name
            if path.is_file():
                table = _table(path)
                if table is not None:
                    return _project(path, table)
    return Project()


def _table(path: Path) -> dict[str, Any] | None:
    """The buckaroo-assets settings in ``path``; None when a pyproject.toml has none."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectConfigError(f"{path}: cannot read the project configuration: {exc}") from exc
    if path.name == "pyproject.toml":
        document = document.get("tool", {}).get(_TOOL)
        if document is None:
            return None
    if not isinstance(document, dict):
        raise ProjectConfigError(f"{path}: [tool.{_TOOL}] must be a table")
    return document


def _project(path: Path, table: dict[str, Any]) -> Project:
    where = f"{path} [tool.{_TOOL}]" if path.name == "pyproject.toml" else str(path)
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ProjectConfigError(f"{where}: unknown keys {unknown}; known: {sorted(_KEYS)}")
    store = table.get("store")
    if store is not None and (not isinstance(store, str) or not store):
        raise ProjectConfigError(f"{where}: store must be a non-empty string (a URL or a path)")
    if store is not None and "://" not in store:
        store = str((path.parent / store).resolve())  # relative to the file, not the caller
    options, stats = table.get("storage_options", {}), table.get("stats", {})
    for name, value in (("storage_options", options), ("stats", stats)):
        if not isinstance(value, dict):
            raise ProjectConfigError(f"{where}: {name} must be a table")
    return Project(path=path, store=store, storage_options=options, stats=stats)
