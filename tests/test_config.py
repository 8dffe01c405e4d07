"""StatsConfig: validation, and a config_id that changes with every field and nothing else."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buckaroo_assets.bundle.codec import dumps, loads
from buckaroo_assets.bundle.config import StatsConfig
from buckaroo_assets.version import STATS_ENGINE_VERSION

REPO_ROOT = Path(__file__).resolve().parents[1]

# One alternative value per field; the completeness test keeps this in step with the class.
ALTERNATIVES = {
    "window_rows": 0,
    "histogram_bins": 11,
    "top_k": 10,
    "categorical_histogram_top": 8,
    "distinct_threshold": 100_001,
    "hll_precision": 12,
    "sketch_size": 8_192,
    "block_rows": 65_535,
    "skip_columns": ["a"],
    "engine_version": STATS_ENGINE_VERSION + ".1",
}


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_defaults() -> None:
    c = StatsConfig()
    assert (c.window_rows, c.histogram_bins, c.top_k, c.categorical_histogram_top) == (
        1000,
        10,
        5,
        7,
    )
    assert (c.distinct_threshold, c.hll_precision, c.sketch_size) == (100_000, 14, 16_384)
    assert c.block_rows == 65_536
    assert c.skip_columns == frozenset()
    assert c.engine_version == STATS_ENGINE_VERSION


def test_default_config_id_is_32_lowercase_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", StatsConfig().config_id)


def test_config_id_stable_across_processes_and_hash_seeds() -> None:
    names = ["b", "a", 3, ("x", 1), ("x", "1"), "zz", 0, None, 2.5]
    code = f"""
        from buckaroo_assets.bundle.config import StatsConfig
        names = {names!r}
        ids = {{StatsConfig(skip_columns=names).config_id,
                StatsConfig(skip_columns=list(reversed(names))).config_id,
                StatsConfig(skip_columns=set(names)).config_id}}
        assert len(ids) == 1, ids
        print(ids.pop(), StatsConfig().config_id)
    """
    outputs = {run_python(code, PYTHONHASHSEED=seed) for seed in ("0", "1", "4242")}
    assert len(outputs) == 1
    skip_id, default_id = outputs.pop().split()
    assert skip_id == StatsConfig(skip_columns=names).config_id
    assert default_id == StatsConfig().config_id


def test_alternatives_cover_every_field() -> None:
    assert set(ALTERNATIVES) == {f.name for f in dataclasses.fields(StatsConfig)}


# Fields that change how a build runs, never what it computes.
NOT_IN_ID = {"block_rows"}


@pytest.mark.parametrize("field", sorted(set(ALTERNATIVES) - NOT_IN_ID))
def test_config_id_changes_with_every_field_that_changes_the_stats(field: str) -> None:
    base = StatsConfig()
    changed = base.replace(**{field: ALTERNATIVES[field]})
    assert changed.config_id != base.config_id
    assert changed != base


@pytest.mark.parametrize("field", sorted(NOT_IN_ID))
def test_config_id_ignores_fields_that_only_change_speed(field: str) -> None:
    changed = StatsConfig().replace(**{field: ALTERNATIVES[field]})
    assert changed.config_id == StatsConfig().config_id
    assert changed.to_dict()[field] == ALTERNATIVES[field]  # still recorded in the manifest


def test_equal_configs_equal_ids() -> None:
    a = StatsConfig(top_k=3, skip_columns={"x", 1})
    b = StatsConfig(skip_columns=[1, "x"], top_k=3)
    assert a == b
    assert hash(a) == hash(b)
    assert a.config_id == b.config_id
    assert a is not b


@pytest.mark.parametrize(
    "names",
    [
        ["a", 1, ("m", 2)],
        {"a", 1, ("m", 2)},
        ("a", 1, ("m", 2)),
        frozenset({("m", 2), "a", 1}),
        (n for n in [("m", 2), 1, "a"]),
        {"a": 0, 1: 0, ("m", 2): 0},
        ["a", "a", 1, ("m", 2)],
    ],
)
def test_skip_columns_input_kind_does_not_matter(names) -> None:
    config = StatsConfig(skip_columns=names)
    assert isinstance(config.skip_columns, frozenset)
    assert config.config_id == StatsConfig(skip_columns=["a", 1, ("m", 2)]).config_id


def test_skip_column_name_types_matter() -> None:
    ids = {
        StatsConfig(skip_columns=names).config_id
        for names in ([1], ["1"], [(1,)], [("1",)], [1.5], [None], [(1, 2)], [((1,), 2)])
    }
    assert len(ids) == 8


def test_numpy_names_are_plain_values() -> None:
    config = StatsConfig(skip_columns=[np.int64(1), ("a", np.int32(2))])
    assert config.config_id == StatsConfig(skip_columns=[1, ("a", 2)]).config_id
    assert all(type(n) is not np.int64 for n in config.skip_columns)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_rows", -1),
        ("window_rows", 1.0),
        ("window_rows", "10"),
        ("window_rows", None),
        ("histogram_bins", 0),
        ("histogram_bins", 1001),
        ("histogram_bins", True),
        ("top_k", -1),
        ("top_k", 11),
        ("top_k", False),
        ("categorical_histogram_top", -1),
        ("distinct_threshold", 0),
        ("hll_precision", 3),
        ("hll_precision", 19),
        ("sketch_size", 63),
        ("block_rows", 0),
        ("block_rows", np.int64(10)),
        ("engine_version", ""),
        ("engine_version", 1),
        ("skip_columns", "abc"),
        ("skip_columns", b"abc"),
        ("skip_columns", 5),
        ("skip_columns", [["unhashable"]]),
        ("skip_columns", [1, True]),
        ("skip_columns", [0, 0.0]),
        ("skip_columns", [object()]),
    ],
)
def test_invalid_values_raise_value_error(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        StatsConfig(**{field: value})


def test_boundaries_are_accepted() -> None:
    StatsConfig(window_rows=0, histogram_bins=1, top_k=0, distinct_threshold=1)
    StatsConfig(histogram_bins=1000, top_k=10, hll_precision=4, sketch_size=64, block_rows=1)
    StatsConfig(hll_precision=18)


def test_frozen() -> None:
    config = StatsConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.top_k = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.skip_columns = frozenset({"a"})  # type: ignore[misc]


def test_replace_validates_and_leaves_original() -> None:
    base = StatsConfig()
    changed = base.replace(top_k=2, skip_columns=["a"])
    assert (base.top_k, base.skip_columns) == (5, frozenset())
    assert (changed.top_k, changed.skip_columns) == (2, frozenset({"a"}))
    with pytest.raises(ValueError, match="top_k"):
        base.replace(top_k=99)


def test_round_trip_through_codec_and_plain_json() -> None:
    config = StatsConfig(window_rows=10, top_k=3, skip_columns=["b", 2, ("m", 1), ("m", "1"), None])
    d = config.to_dict()
    assert isinstance(d["skip_columns"], list)
    assert set(d) == {f.name for f in dataclasses.fields(StatsConfig)}
    via_codec = StatsConfig.from_dict(loads(dumps(d)))
    assert via_codec.config_id == config.config_id
    via_json = StatsConfig.from_dict(json.loads(json.dumps(d)))  # tuples come back as lists
    assert via_json.config_id == config.config_id
    assert via_json.skip_columns == config.skip_columns


def test_to_dict_is_deterministic() -> None:
    a = StatsConfig(skip_columns=["b", "a", 1]).to_dict()
    b = StatsConfig(skip_columns=[1, "a", "b"]).to_dict()
    assert a["skip_columns"] == b["skip_columns"]


def test_from_dict_defaults_and_unknown_fields() -> None:
    assert StatsConfig.from_dict({}) == StatsConfig()
    assert StatsConfig.from_dict({"top_k": 2}).top_k == 2
    with pytest.raises(ValueError, match="colour"):
        StatsConfig.from_dict({"colour": "red"})


def test_import_is_light() -> None:
    out = run_python(
        """
        import sys
        import buckaroo_assets.bundle.config
        heavy = {"pandas", "polars", "dagster"}
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
        """
    )
    assert out == "[]"


# ---------------------------------------------------------------- property-based

_names = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.text(alphabet="ab1", max_size=2),
    st.tuples(st.text(alphabet="ab", max_size=1), st.integers(0, 1)),
)
_configs = st.fixed_dictionaries(
    {
        "window_rows": st.integers(0, 2),
        "histogram_bins": st.integers(1, 2),
        "top_k": st.integers(0, 1),
        "categorical_histogram_top": st.integers(6, 7),
        "distinct_threshold": st.integers(1, 2),
        "hll_precision": st.integers(13, 14),
        "sketch_size": st.integers(64, 65),
        "block_rows": st.integers(1, 2),
        "skip_columns": st.lists(_names, max_size=3),
        "engine_version": st.sampled_from(["1", "2"]),
    }
)


def _typed(value: object) -> object:
    """Type-aware comparison key, independent of the codec under test."""
    if isinstance(value, tuple):
        return ("tuple", tuple(_typed(v) for v in value))
    return (type(value).__name__, value)


def _field_key(config: StatsConfig) -> tuple:
    return tuple(
        frozenset(_typed(n) for n in config.skip_columns)
        if f.name == "skip_columns"
        else _typed(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.name not in NOT_IN_ID
    )


@settings(max_examples=400, deadline=None)
@given(a=_configs, b=_configs)
def test_ids_equal_exactly_when_fields_equal(a: dict, b: dict) -> None:
    ca, cb = StatsConfig(**a), StatsConfig(**b)
    same_fields = _field_key(ca) == _field_key(cb)
    assert (ca.config_id == cb.config_id) == same_fields
    assert (ca == cb) == same_fields
    assert StatsConfig.from_dict(ca.to_dict()).config_id == ca.config_id


@settings(max_examples=100, deadline=None)
@given(a=_configs, data=st.data())
def test_shuffled_skip_columns_same_id(a: dict, data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(a["skip_columns"]))
    assert StatsConfig(**a).config_id == StatsConfig(**{**a, "skip_columns": shuffled}).config_id
