"""The settings that decide what a stats bundle contains, and their stable ``config_id``.

A bundle is keyed by ``(data_id, config_id)``.  Only settings that change
what is *computed* belong here; display options do not, so changing how
stats are shown never invalidates stored bundles.  ``config_id`` is a digest
of a canonical encoding, identical across processes, machines and hash seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Hashable, Iterable, Mapping
from functools import cached_property
from typing import Any, ClassVar

from ..project import ProjectConfigError, find_project
from ..version import STATS_ENGINE_VERSION
from .codec import dumps

__all__ = ["StatsConfig"]

_CONFIG_KIND = "buckaroo_assets.StatsConfig"
_NOT_IN_ID = frozenset({"block_rows"})  # fields that change how fast, never what


def _plain_name(name: object) -> object:
    """numpy scalars equal their Python twins, so store the Python value and one encoding."""
    if type(name).__module__ == "numpy" and hasattr(name, "item"):
        return name.item()  # type: ignore[attr-defined]
    if isinstance(name, tuple):
        return tuple(_plain_name(part) for part in name)
    return name


def _from_json_name(name: object) -> object:
    """Plain JSON turns tuple names into lists; lists are never hashable names, so undo that."""
    if isinstance(name, list):
        return tuple(_from_json_name(part) for part in name)
    return name


def _encode_name(name: object) -> bytes:
    try:
        return dumps(name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"skip_columns: cannot store column name {name!r}: {exc}") from None


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatsConfig:
    """Every setting that changes computed stats; its ``config_id`` keys stored bundles.

    ``skip_columns`` accepts any iterable of column names (str, int, tuple for
    MultiIndex columns, ...) and is stored as a frozenset.  Equality is
    equality of ``config_id``, so two configs are equal exactly when their
    bundles are interchangeable.
    """

    window_rows: int = 1000
    """Rows of the first window of data stored in a bundle."""
    histogram_bins: int = 10
    """Bins of numeric histograms."""
    top_k: int = 5
    """Most frequent values reported (most_freq ... 5th_freq), 0 to 10."""
    categorical_histogram_top: int = 7
    """Named categories in a categorical histogram; the rest are lumped together."""
    distinct_threshold: int = 100_000
    """Per column, distinct/unique counts, top-k, median and histograms are exact while
    the column has at most this many distinct non-null values; beyond it they come
    from sketches and the stats say so."""
    hll_precision: int = 14
    """HyperLogLog precision p (2**p registers), used past ``distinct_threshold``."""
    sketch_size: int = 16_384
    """Past ``distinct_threshold``: counters of the frequent-values sketch, and 4x the
    quantile sketch's k; its bounds are in docs/stats.md."""
    block_rows: int = 65_536
    """Rows read per block: memory and speed only, never the stats (sums are exact and
    sketches take rows in fixed units), so it is not part of the ``config_id``."""
    skip_columns: frozenset[Hashable] = frozenset()
    """Original column names whose stats are not computed."""
    engine_version: str = STATS_ENGINE_VERSION
    """Stats engine version; bumping it makes every older bundle stale."""

    # (minimum, maximum or None); inclusive.
    _INT_RANGES: ClassVar[dict[str, tuple[int, int | None]]] = {
        "window_rows": (0, None),
        "histogram_bins": (1, 1000),
        "top_k": (0, 10),
        "categorical_histogram_top": (0, 1000),
        "distinct_threshold": (1, None),
        "hll_precision": (4, 18),
        "sketch_size": (64, None),
        "block_rows": (1, None),
    }

    def __post_init__(self) -> None:
        for name, (low, high) in self._INT_RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an int, got {type(value).__qualname__}")
            if value < low or (high is not None and value > high):
                bound = f">= {low}" if high is None else f"between {low} and {high}"
                raise ValueError(f"{name} must be {bound}, got {value}")
            object.__setattr__(self, name, int(value))  # IntEnum and friends become plain ints
        if not isinstance(self.engine_version, str) or not self.engine_version:
            raise ValueError(f"engine_version must be a non-empty str, got {self.engine_version!r}")
        object.__setattr__(self, "skip_columns", self._normalise_skip_columns(self.skip_columns))

    @staticmethod
    def _normalise_skip_columns(names: object) -> frozenset[Hashable]:
        if isinstance(names, str | bytes) or not isinstance(names, Iterable):
            raise ValueError(
                f"skip_columns must be a collection of column names, got {type(names).__qualname__}"
            )
        plain = [_plain_name(n) for n in names]
        try:
            result = frozenset(plain)
        except TypeError as exc:
            raise ValueError(f"skip_columns: column names must be hashable: {exc}") from None
        encodings = {_encode_name(n) for n in plain}
        if len(encodings) != len(result):
            # e.g. 1, 1.0 and True are one set member but three encodings: the id would
            # depend on which one happened to be kept.
            raise ValueError(
                "skip_columns holds names that compare equal but have different types "
                f"(such as 1, 1.0 and True): {sorted(map(repr, plain))}"
            )
        return result

    def _sorted_skip_columns(self) -> list[Hashable]:
        return sorted(self.skip_columns, key=_encode_name)

    @cached_property
    def config_id(self) -> str:
        """32 lowercase hex chars: BLAKE2b-128 of every field that changes the stats
        (all but ``block_rows``), by name, canonically encoded."""
        fields = {name: value for name, value in self.to_dict().items() if name not in _NOT_IN_ID}
        payload = {"kind": _CONFIG_KIND, "fields": fields}
        return hashlib.blake2b(dumps(payload), digest_size=16).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatsConfig):
            return NotImplemented
        return self.config_id == other.config_id

    def __hash__(self) -> int:
        return hash(self.config_id)

    def to_dict(self) -> dict[str, Any]:
        """Fields by name, skip_columns as a sorted list, ready to store in a bundle manifest."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["skip_columns"] = self._sorted_skip_columns()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatsConfig:
        """Inverse of to_dict(); absent fields take their defaults, unknown ones are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known, key=str)
        if unknown:
            raise ValueError(f"unknown StatsConfig fields: {unknown}")
        kwargs = dict(d)
        if "skip_columns" in kwargs:
            names = kwargs["skip_columns"]
            if isinstance(names, list | tuple):
                kwargs["skip_columns"] = [_from_json_name(n) for n in names]
        return cls(**kwargs)

    @classmethod
    def from_project(cls, start: str | os.PathLike[str] | None = None, **overrides: Any) -> StatsConfig:
        """The project configuration's ``stats`` settings, then ``overrides``; defaults elsewhere.

        The project file is the nearest ``buckaroo.toml`` or ``pyproject.toml``
        with ``[tool.buckaroo-assets]`` above ``start`` (the working directory),
        so the CLI, Python, the YAML component and Dagster get one config_id.
        """
        project = find_project(start)
        try:
            return cls.from_dict({**project.stats, **overrides})
        except (TypeError, ValueError) as exc:
            where = f"{project.path}: " if project.path and not overrides else ""
            raise ProjectConfigError(f"{where}stats: {exc}") from None

    def replace(self, **changes: Any) -> StatsConfig:
        """A copy with some fields changed, validated like a new config."""
        return dataclasses.replace(self, **changes)
