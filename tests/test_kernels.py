"""The compiled kernels against the numpy reference, and the exact counters' two layouts.

The C loops must give the very registers and hashes the numpy code gives (so a bundle does
not depend on whether the extension was built), and must refuse buffers that
would make them read or write out of bounds.
"""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buckaroo_assets.build.arrow_checks import is_plain_ascii
from buckaroo_assets.stats import hashing, hll
from buckaroo_assets.stats.counts import NumpyCounts
from buckaroo_assets.stats.hashed_counts import HashedCounts
from buckaroo_assets.stats.hashing import (
    binary_hashes,
    binary_parts,
    hash_binary_like,
    hash_fixed,
    hashes_and_bounds,
    same_values,
)
from buckaroo_assets.stats.hll import HyperLogLog

# Not skipped when missing: without the extension the comparisons below would
# compare numpy with itself, so its absence is a failure here.
native = hll._native


def test_the_extension_is_built_and_used() -> None:
    assert hll.NATIVE_KERNELS and native is not None, "the C extension was not compiled"


def _reference(hashes: np.ndarray, precision: int) -> np.ndarray:
    registers = np.zeros(1 << precision, dtype=np.uint8)
    hll.add_hashes_numpy(registers, hashes, precision)
    return registers


@settings(max_examples=80, deadline=None)
@given(
    hashes=st.lists(st.integers(0, 2**64 - 1), max_size=400),
    precision=st.integers(4, 18),
    rounds=st.integers(1, 3),
)
def test_hash_registers_match_numpy(hashes: list[int], precision: int, rounds: int) -> None:
    array = np.array(hashes + [0, 2**64 - 1, 1 << (64 - precision)], dtype=np.uint64)
    sketch = HyperLogLog(precision)
    reference = np.zeros(1 << precision, dtype=np.uint8)
    for part in np.array_split(array, rounds):  # registers already raised stay as they are
        sketch.add_hashes(part)
        hll.add_hashes_numpy(reference, part, precision)
    assert np.array_equal(sketch.registers, reference)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=True, width=64), max_size=400),
    precision=st.integers(4, 18),
)
def test_float_registers_match_numpy(values: list[float], precision: int) -> None:
    array = np.array(values + [0.0, -0.0, 5e-324, -1.7976931348623157e308], dtype=np.float64)
    sketch = HyperLogLog(precision)
    sketch.add_numbers(array)
    assert np.array_equal(sketch.registers, _reference(hash_fixed(array), precision))


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.integers(-(2**63), 2**64 - 1), max_size=400),
    precision=st.integers(4, 18),
)
def test_integer_registers_match_numpy(values: list[int], precision: int) -> None:
    signed = np.array([v for v in values if v < 2**63] + [-(2**63), 2**63 - 1, 0], dtype=np.int64)
    unsigned = np.array([v for v in values if v >= 0] + [0, 2**64 - 1], dtype=np.uint64)
    for array in (signed, unsigned):
        sketch = HyperLogLog(precision)
        sketch.add_numbers(array)
        assert np.array_equal(sketch.registers, _reference(hash_fixed(array), precision))


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.one_of(st.text(max_size=40), st.just(""), st.just("a\x00")), max_size=200),
    offset=st.integers(0, 5),
)
def test_string_hashes_match_numpy(values: list[str], offset: int) -> None:
    base = pa.array(["pad"] * offset + values + ["tail", "\x00"])
    sliced = base.slice(offset, len(values) + 1)
    for array in (sliced, sliced.cast(pa.large_string()), sliced.cast(pa.binary()), sliced.cast(pa.string_view())):
        assert np.array_equal(binary_hashes(array), hash_binary_like(array))


_PAIRS = [bytes([a, b]) for a in range(256) for b in range(256)]
_STRUCTURED = {
    "two bytes at the top of two words": [b"x" * 7 + p[:1] + b"y" * 7 + p[1:] for p in _PAIRS],
    "two bytes at the bottom of two words": [p[:1] + b"x" * 7 + p[1:] + b"y" * 7 for p in _PAIRS],
    "numbered e-mails": [f"user-{i:08d}@example.com".encode() for i in range(65_536)],
    "a long shared prefix": [b"z" * 100 + p for p in _PAIRS],
    "trailing NUL bytes": [b"a" + b"\x00" * n for n in range(2_000)],
    "one word moved": [b"\x00" * (8 * (i % 64)) + i.to_bytes(8, "little") for i in range(65_536)],
}


@pytest.mark.parametrize("family", sorted(_STRUCTURED))
def test_string_hashes_keep_structured_values_apart(family: str) -> None:
    """Values that differ in a few fixed places (codes, padded numbers, shared
    prefixes) get distinct hashes, and the distinct count estimated from them is
    within three standard errors of the HyperLogLog (1.04 / 2**7 at precision 14)."""
    values = _STRUCTURED[family]
    hashes = binary_hashes(pa.array(values, pa.binary()))
    assert len(np.unique(hashes)) == len(values)
    sketch = HyperLogLog(14)
    sketch.add_hashes(hashes)
    assert abs(sketch.estimate() - len(values)) <= 3 * 1.04 / 2**7 * len(values)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.text(max_size=6) | st.just(""), min_size=1, max_size=60),
    offset=st.integers(0, 3),
)
def test_bounds_found_while_hashing_are_the_lowest_highest_and_empties(
    values: list[str], offset: int
) -> None:
    base = pa.array(["~"] * offset + values + ["\x00"])
    sliced = base.slice(offset, len(values))
    for array in (sliced, sliced.cast(pa.large_string()), sliced.cast(pa.binary())):
        hashes, lowest, highest, empties = hashes_and_bounds(array)
        as_python = array.to_pylist()
        # Python orders str by code point and bytes by byte: UTF-8 byte order either way.
        assert as_python[lowest] == min(as_python) and as_python.index(min(as_python)) == lowest
        assert as_python[highest] == max(as_python) and as_python.index(max(as_python)) == highest
        assert empties == sum(1 for v in as_python if len(v) == 0)
        assert (lowest, highest, empties) == hashing._bounds(array)
        assert np.array_equal(hashes, hash_binary_like(array))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.none() | st.text(max_size=5), max_size=40),
    offset=st.integers(0, 3),
    large=st.booleans(),
)
def test_plain_ascii_is_said_only_of_ascii_text(
    values: list[str | None], offset: int, large: bool
) -> None:
    base = pa.array(
        ["é"] * offset + values + ["é"], type=pa.large_string() if large else pa.string()
    )
    sliced = base.slice(offset, len(values))
    ascii_only = all(v.isascii() for v in values if v is not None)
    assert is_plain_ascii(sliced) == (ascii_only and len(values) > 0)


def test_plain_ascii_refuses_bytes_that_are_not_utf8_and_offsets_that_go_back() -> None:
    invalid = pa.Array.from_buffers(
        pa.string(), 2, [None, pa.py_buffer(np.array([0, 1, 2], np.int32)), pa.py_buffer(b"a\xff")]
    )
    assert not is_plain_ascii(invalid)
    assert native.plain_ascii(np.array([0, 2, 1], np.int32), b"abc", 4) is False
    assert native.plain_ascii(np.array([0, 4], np.int64), b"abc", 8) is False
    assert native.plain_ascii(np.array([0, 3], np.int64), b"abc", 8) is True


def test_a_million_distinct_values_estimate_within_two_percent() -> None:
    sketch = HyperLogLog(14)
    for start in range(0, 1_000_000, 65_536):
        sketch.add_numbers(np.arange(start, min(start + 65_536, 1_000_000), dtype=np.int64) * 7919)
    assert abs(sketch.estimate() - 1_000_000) / 1_000_000 < 0.02


@pytest.mark.parametrize(
    "call",
    [
        lambda: native.add_words(np.zeros(100, np.uint8), np.zeros(4, np.float64), 14, 2),
        lambda: native.add_words(np.zeros(1 << 14, np.uint8), np.zeros(3, np.uint8), 14, 1),
        lambda: native.add_words(np.zeros(8, np.uint8), np.zeros(1, np.int64), 3, 1),
        lambda: native.add_words(bytes(1 << 14), np.zeros(1, np.int64), 14, 1),
        lambda: native.add_words(np.zeros(1 << 14, np.uint8), np.zeros(1, np.int64), 14, 3),
        lambda: native.float_power_sums(np.zeros(71, np.int64), np.zeros(140, np.int64), np.zeros(1)),
        lambda: native.float_power_sums(np.zeros(72, np.int64), np.zeros(139, np.int64), np.zeros(1)),
        lambda: native.float_power_sums(np.zeros(72, np.int64), np.zeros(140, np.int64), np.zeros(3, np.uint8)),
        lambda: native.float_power_sums(bytes(72 * 8), np.zeros(140, np.int64), np.zeros(1)),
        lambda: native.hash_binary(np.zeros(1, np.uint64), np.array([0, 9], np.int64), np.zeros(8, np.uint8)),
        lambda: native.hash_binary(np.zeros(1, np.uint64), np.array([4, 2], np.int64), np.zeros(8, np.uint8)),
        lambda: native.hash_binary(np.zeros(1, np.uint64), np.array([-1, 2], np.int64), np.zeros(8, np.uint8)),
        lambda: native.hash_binary(np.zeros(0, np.uint64), np.zeros(0, np.int64), b""),
        lambda: native.hash_binary(np.zeros(2, np.uint64), np.array([0, 2], np.int64), np.zeros(8, np.uint8)),
        lambda: native.hash_binary(bytes(8), np.array([0, 2], np.int64), np.zeros(8, np.uint8)),
        lambda: native.plain_ascii(np.zeros(3, np.uint8), b"abc", 4),
        lambda: native.plain_ascii(np.zeros(1, np.int32), b"abc", 2),
        lambda: native.plain_ascii(b"", b"abc", 8),
    ],
)
def test_kernels_refuse_buffers_they_would_overrun(call) -> None:
    with pytest.raises((ValueError, TypeError)):
        call()


def _counted(blocks: list[np.ndarray], by_block: bool) -> tuple[list, list]:
    counts = NumpyCounts(blocks[0].dtype)
    for seen, block in enumerate(blocks, start=1):
        if by_block:
            counts.add_counts(*NumpyCounts.of_block(block))
        else:
            counts.add_values(block)
        assert counts.distinct_upper_bound() >= len(np.unique(np.concatenate(blocks[:seen])))
    counts.consolidate()
    return counts.values.tolist(), counts.counts.tolist()


@settings(max_examples=80, deadline=None)
@given(
    blocks=st.lists(st.lists(st.integers(-50, 50), min_size=1, max_size=300), min_size=1, max_size=6),
    spreads=st.lists(st.sampled_from([1, 3, 1_000, 10**9, 2**40]), min_size=6, max_size=6),
    shifts=st.lists(st.integers(-3000, 3000), min_size=6, max_size=6),
    by_block=st.booleans(),
)
def test_integer_counts_are_exact_in_table_and_sorted_layouts(
    blocks: list[list[int]], spreads: list[int], shifts: list[int], by_block: bool
) -> None:
    # Blocks of different ranges and offsets move the counts into, across and out of the table.
    arrays = [np.array(b, dtype=np.int64) * spreads[i] + shifts[i] for i, b in enumerate(blocks)]
    oracle = collections.Counter(v for b in arrays for v in b.tolist())
    assert _counted(arrays, by_block) == (sorted(oracle), [oracle[v] for v in sorted(oracle)])


@pytest.mark.parametrize("by_block", [True, False])
def test_counts_near_the_top_of_uint64_stay_exact(by_block: bool) -> None:
    top = np.uint64(2**64 - 1)
    blocks = [np.array([top, top - np.uint64(3), top], dtype=np.uint64), np.array([top - np.uint64(1)], dtype=np.uint64)]
    assert _counted(blocks, by_block) == ([2**64 - 4, 2**64 - 2, 2**64 - 1], [1, 1, 2])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=True), min_size=1, max_size=40),
    st.sampled_from([1, 2, 10, 37]),
)
def test_histogram_edges_are_numpys_bit_for_bit(values: list[float], bins: int) -> None:
    """The meat's edges come from its ends alone; numpy's own function is the oracle,
    refusals (a range that is not finite, too many bins for it) included."""
    from buckaroo_assets.stats.histogram import _equal_bins

    meat = np.sort(np.array(values, dtype=np.float64))
    try:
        with np.errstate(all="ignore"):
            expected = np.histogram_bin_edges(meat, bins=bins)
    except ValueError:
        expected = None
    with np.errstate(all="ignore"):
        got = _equal_bins(float(meat[0]), float(meat[-1]), bins)
    if expected is None:
        assert got is None
    else:
        assert got is not None and np.array_equal(got, expected, equal_nan=True)


@settings(max_examples=120, deadline=None)
@given(
    blocks=st.lists(
        st.lists(st.sampled_from(["", "a", "b", "ab", "é", "a\x00", "zz"]), max_size=30), max_size=6
    ),
    buckets=st.sampled_from([1, 2, 3, 2**64]),
    merged=st.booleans(),
    folded=st.sets(st.integers(0, 5)),
)
def test_counts_grouped_by_hash_stay_exact_when_different_values_share_a_hash(
    blocks: list[list[str]], buckets: int, merged: bool, folded: set[int]
) -> None:
    """Keys folded into a few buckets make different values share them: the counts must
    still be exact, by value, however the blocks come and whether parts are merged."""

    def keys(values: pa.Array) -> np.ndarray:
        return (
            (binary_hashes(values) % np.uint64(buckets))
            if buckets < 2**64
            else binary_hashes(values)
        )

    whole, parts = HashedCounts(pa.large_string(), keys), []
    for number, block in enumerate(blocks):
        values = pa.array(block, type=pa.large_string())
        part = HashedCounts(pa.large_string(), keys)
        for table in (whole, part):
            distinct = table.add_rows(values, keys(values))
            assert distinct == (len(set(block)) if table.keys is not None else len(block))
        if number in folded:  # what was counted meets later blocks as a table, not pending
            whole.consolidate()
            part.add_counts(values, np.ones(len(values), dtype=np.int64))  # counted twice
            part.consolidate()
        parts.append(part)
    if merged and parts:
        whole = parts[0]
        for part in parts[1:]:
            whole.merge(part)
    whole.consolidate()
    expected = collections.Counter(v for block in blocks for v in block)
    if merged:  # the folded blocks were added to their parts twice
        expected.update(v for number, block in enumerate(blocks) if number in folded for v in block)
    assert dict(zip(whole.values.to_pylist(), whole.counts.tolist(), strict=True)) == dict(expected)
    if whole.keys is not None:  # still keyed: ascending hashes, one per value
        assert len(set(whole.values.to_pylist())) == len(whole.values) == len(whole.keys)
        assert np.all(whole.keys[1:] > whole.keys[:-1])
    if buckets == 1 and len(expected) > 1:
        assert whole.keys is None  # two values shared the one key: grouped by value since


def test_same_values_compares_bytes_and_refuses_positions_out_of_bounds() -> None:
    array = pa.array(["ab", "ab", "a", "abc"], type=pa.large_string())
    assert same_values(array, np.array([1]), np.array([0]))
    assert not same_values(array, np.array([1, 2]), np.array([0, 0]))
    assert not same_values(array, np.array([3]), np.array([0]))
    offsets, data = binary_parts(array)
    with pytest.raises(ValueError):
        native.same_values(offsets, data, np.array([4], np.int64), np.array([0], np.int64))
    with pytest.raises(ValueError):
        native.same_values(offsets, data, np.array([0, 1], np.int64), np.array([0], np.int64))


def test_a_build_without_the_extension_gives_the_same_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension is optional: with every compiled kernel switched off, numpy and
    Arrow give the very same stats, exact and sketched, text counted by hash included."""
    import buckaroo_assets as ba
    from buckaroo_assets.build import arrow_checks
    from buckaroo_assets.stats import exact_sums

    rng = np.random.default_rng(3)
    rows = 30_000
    ids = rng.integers(0, 10**9, rows)
    table = pa.table(
        {
            "id": [f"u-{v:x}" if v % 9 else None for v in ids],  # past the threshold below
            "word": [f"w{v % 300}é" if v % 5 else "" for v in ids],  # exact, repeats, non-ASCII
            "blob": pa.array([bytes([v % 256, v % 7]) * (v % 4) for v in ids], pa.binary()),
            "x": rng.normal(size=rows) * 10.0 ** rng.integers(-5, 5, rows),
            "n": rng.integers(0, 20_000, rows),
        }
    )
    config = ba.StatsConfig(distinct_threshold=5_000, sketch_size=512, block_rows=7_000)
    compiled = ba.build_bundle(table, data_id="t", config=config)
    for module, name in ((hashing, "native"), (hll, "_native"), (exact_sums, "native"), (arrow_checks, "_native")):
        monkeypatch.setattr(module, name, None)
    assert ba.build_bundle(table, data_id="t", config=config).stats == compiled.stats
    assert compiled.column_stats("id").get("approximate") and not compiled.column_stats("word").get("approximate")
