"""Vectorised, seed-free 64-bit hashes of column values.

The HyperLogLog sketch needs one well-mixed 64-bit hash per value, identical in
every process (Python's ``hash`` is salted, so it cannot be used). Fixed-width
values are mixed with splitmix64; variable-width values (strings, binary) get a
polynomial hash over their bytes computed with prefix sums, so no Python loop
runs per value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .counts import value_offsets

try:
    from . import _native as native
except ImportError:  # built without a C compiler: the numpy code gives the same hashes
    native = None

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# An odd multiplier is invertible modulo 2**64, which lets a substring's hash be
# recovered from prefix sums.
_POLY = np.uint64(0x100000001B3)
_POLY_INV = np.uint64(pow(0x100000001B3, -1, 2**64))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole word."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True)
        z += _GOLDEN
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
    return z


def hash_fixed(values: np.ndarray) -> np.ndarray:
    """Hash ints, floats and bools by their canonical 64-bit pattern."""
    if values.dtype.kind == "f":
        canonical = values.astype(np.float64) + 0.0  # -0.0 hashes like 0.0
        return mix64(canonical.view(np.uint64))
    if values.dtype.kind == "u":
        return mix64(values.astype(np.uint64))
    return mix64(values.astype(np.int64).view(np.uint64))


def hash_binary_like(array: pa.Array) -> np.ndarray:
    """Hash each non-null string/binary value by its bytes (nulls must be dropped)."""
    offsets, data = binary_parts(array)
    lengths = np.diff(offsets)
    start, stop = int(offsets[0]), int(offsets[-1])
    data = data[start:stop]
    n = stop - start
    with np.errstate(over="ignore"):
        powers = _powers(_POLY, n)
        # prefix[i] = sum_{j<i} (byte_j + 1) * P**j  (mod 2**64); the +1 makes
        # trailing NUL bytes count.
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers, out=prefix[1:])
        rel = offsets - start
        spans = prefix[rel[1:]] - prefix[rel[:-1]]
        # Divide out P**start so equal strings hash equally wherever they sit.
        inv = _powers(_POLY_INV, n + 1)[rel[:-1]]
        raw = spans * inv + lengths.astype(np.uint64) * _GOLDEN
    return mix64(raw)


def binary_hashes(array: pa.Array) -> np.ndarray:
    """``hash_binary_like``, computed in one C pass when the extension is built."""
    return hashes_and_bounds(array)[0]


def hashes_and_bounds(array: pa.Array) -> tuple[np.ndarray, int, int, int]:
    """``binary_hashes``, with the positions of the lowest and highest values (-1 if
    none) and the count of empty ones: in the same pass over the bytes when compiled."""
    if native is None:
        return hash_binary_like(array), *_bounds(array)
    offsets, data = binary_parts(array)
    out = np.empty(len(offsets) - 1, dtype=np.uint64)
    lowest, highest, empties = native.hash_binary(out, offsets, data)
    return out, lowest, highest, empties


def same_values(array: pa.Array, rows: np.ndarray, firsts: np.ndarray) -> bool:
    """Whether each value ``rows[i]`` of a string or binary array equals value ``firsts[i]``."""
    if len(rows) == 0:
        return True
    if native is None:
        import pyarrow.compute as pc

        left, right = (array.take(pa.array(p, type=pa.int64())) for p in (rows, firsts))
        return bool(pc.all(pc.equal(left, right)).as_py())
    offsets, data = binary_parts(array)
    rows, firsts = rows.astype(np.int64, copy=False), firsts.astype(np.int64, copy=False)
    return native.same_values(offsets, data, rows, firsts)


def _bounds(array: pa.Array) -> tuple[int, int, int]:
    import pyarrow.compute as pc

    if len(array) == 0:
        return -1, -1, 0
    extremes = pc.min_max(array)
    lowest, highest = (pc.index(array, extremes[end]).as_py() for end in ("min", "max"))
    return lowest, highest, int(pc.sum(pc.equal(pc.binary_length(array), 0)).as_py() or 0)


def binary_parts(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """int64 offsets (len + 1) into a uint8 data buffer, for any string/binary array."""
    array = _as_plain_binary(array)
    offsets = value_offsets(array, 0, len(array)).astype(np.int64, copy=False)
    data_buffer = array.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets, data


def hash_fixed_size_bytes(array: pa.Array, width: int) -> np.ndarray:
    """Hash decimals and fixed-size binary by their raw little-endian words."""
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    raw = raw[array.offset * width : (array.offset + len(array)) * width]
    words = raw.reshape(len(array), width)
    pad = (-width) % 8
    if pad:
        words = np.concatenate([words, np.zeros((len(array), pad), np.uint8)], axis=1)
    lanes = np.ascontiguousarray(words).view(np.uint64)
    h = np.zeros(len(array), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lane in range(lanes.shape[1]):
            h = mix64(h ^ lanes[:, lane])
    return h


def _powers(base: np.uint64, n: int) -> np.ndarray:
    powers = np.empty(n, dtype=np.uint64)
    if n:
        powers[0] = 1
        with np.errstate(over="ignore"):
            np.multiply.accumulate(np.full(n - 1, base, dtype=np.uint64), out=powers[1:])
    return powers


def _as_plain_binary(array: pa.Array) -> pa.Array:
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array.view(pa.binary() if pa.types.is_string(t) else pa.large_binary())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return array
    # string_view / binary_view and anything exotic: normalise through a cast.
    return array.cast(pa.large_binary())
