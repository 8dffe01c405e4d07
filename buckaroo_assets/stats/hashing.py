"""Vectorised, seed-free 64-bit hashes of column values.

The HyperLogLog sketch needs one well-mixed 64-bit hash per value, identical in
every process (Python's ``hash`` is salted, so it cannot be used). Fixed-width
values are mixed with splitmix64; variable-width values (strings, binary) get a
hash over their eight-byte words, each mixed with its position and summed,
so no Python loop runs per value.
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
_STRIDE = np.uint64(0xD6E8FEB86659FD93)  # sets each word position apart
# The low ``n`` bytes of a little-endian word, for n = 0..8.
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)


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
    """Hash each non-null string/binary value by its bytes (nulls must be dropped).

    ``mix64(sum_j mix64(word_j + j * STRIDE) + length * GOLDEN)``, the words being
    the value's eight-byte little-endian pieces, the last zero-padded: the C
    kernel's hash, here one vectorised pass per word position modulo eight.
    """
    offsets, data = binary_parts(array)
    start, stop = int(offsets[0]), int(offsets[-1])
    offsets = offsets - start
    padded = np.zeros(stop - start + 16, dtype=np.uint8)
    padded[: stop - start] = data[start:stop]
    lengths = np.diff(offsets)
    words = (lengths + 7) // 8
    first_word = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(words, out=first_word[1:])
    owner = np.repeat(np.arange(len(lengths)), words)
    index = np.arange(first_word[-1]) - first_word[:-1][owner]  # each word's place in its value
    at = offsets[:-1][owner] + 8 * index
    values = np.empty(len(at), dtype=np.uint64)
    for shift in range(8):  # the words starting at each byte offset modulo eight, as one view
        chosen = np.flatnonzero(at % 8 == shift)
        aligned = padded[shift : shift + (len(padded) - shift) // 8 * 8].view("<u8")
        values[chosen] = aligned[at[chosen] // 8]
    values &= _LOW_BYTES[np.minimum(lengths[owner] - 8 * index, 8)]
    with np.errstate(over="ignore"):
        mixed = mix64(values + index.astype(np.uint64) * _STRIDE)
        total = np.zeros(len(mixed) + 1, dtype=np.uint64)
        np.cumsum(mixed, out=total[1:])
        sums = total[first_word[1:]] - total[first_word[:-1]]
        return mix64(sums + lengths.astype(np.uint64) * _GOLDEN)


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


def _as_plain_binary(array: pa.Array) -> pa.Array:
    t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return array.view(pa.binary() if pa.types.is_string(t) else pa.large_binary())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return array
    # string_view / binary_view and anything exotic: normalise through a cast.
    return array.cast(pa.large_binary())
