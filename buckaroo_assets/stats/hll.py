"""HyperLogLog distinct-count sketch over 64-bit hashes.

Used only once a column has more distinct values than the configured
threshold. With ``p`` = 14 (16,384 one-byte registers) the standard error is
1.04 / sqrt(2**14) ~= 0.8 %. Registers merge by element-wise max, so sketches of
parts combine into exactly the sketch of the whole.
"""

from __future__ import annotations

import math

import numpy as np

from .hashing import hash_fixed
from .hashing import native as _native

NATIVE_KERNELS = _native is not None
_HASHES, _INTEGERS, _FLOATS = 0, 1, 2  # what add_words is given: hashes, or values to hash

# _LIMIT[r]: the largest shifted hash that can still raise a register holding r
# (rank(w) > r <=> w has at least r leading zeros <=> w <= 2**(64 - r) - 1).
_LIMIT = np.array(
    [np.iinfo(np.uint64).max] + [(1 << (64 - r)) - 1 for r in range(1, 64)] + [0] * 2,
    dtype=np.uint64,
)


class HyperLogLog:
    """Mergeable distinct counter; state is ``2**p`` small registers."""

    def __init__(self, precision: int) -> None:
        self.precision = precision
        self.registers = np.zeros(1 << precision, dtype=np.uint8)

    def add_numbers(self, values: np.ndarray) -> None:
        """Ints, uints and floats (NaN already removed), hashed as ``hash_fixed`` does."""
        if _native is not None and values.dtype in _NATIVE_WORDS:
            mode = _FLOATS if values.dtype.kind == "f" else _INTEGERS
            _native.add_words(self.registers, np.ascontiguousarray(values), self.precision, mode)
        else:
            self.add_hashes(hash_fixed(values))

    def add_hashes(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        if _native is not None:
            hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
            _native.add_words(self.registers, hashes, self.precision, _HASHES)
        else:
            add_hashes_numpy(self.registers, hashes, self.precision)

    def merge(self, other: HyperLogLog) -> None:
        if other.precision != self.precision:
            raise ValueError("cannot merge HyperLogLog sketches of different precision")
        np.maximum(self.registers, other.registers, out=self.registers)

    def restore(self, registers: np.ndarray) -> None:
        """Registers as ``registers`` held them (copied: merging updates them in place)."""
        if len(registers) != len(self.registers):
            raise ValueError("cannot restore HyperLogLog registers of a different precision")
        self.registers = np.array(registers, dtype=np.uint8)

    def estimate(self) -> int:
        """Ertl's improved estimator: unbiased from tiny to huge cardinalities."""
        m = len(self.registers)
        q = 64 - self.precision
        histogram = np.bincount(self.registers, minlength=q + 2).astype(np.float64)
        z = m * _tau(1.0 - histogram[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + histogram[k])
        z += m * _sigma(histogram[0] / m)
        if z == 0 or math.isinf(z):
            return 0
        return round(m * m / (2.0 * math.log(2.0)) / z)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


_NATIVE_WORDS = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.uint64))


def add_hashes_numpy(registers: np.ndarray, hashes: np.ndarray, precision: int) -> None:
    """The registers' update without the C extension (and the reference its loops match)."""
    index = (hashes >> np.uint64(64 - precision)).astype(np.intp)
    words = hashes << np.uint64(precision)
    # Most values cannot raise their register; rank only those that can.
    better = np.flatnonzero(words <= _LIMIT[registers[index]])
    if len(better) == 0:
        return
    np.maximum.at(registers, index[better], _leading_zeros_plus_one(words[better], 64 - precision))


def _leading_zeros_plus_one(words: np.ndarray, width: int) -> np.ndarray:
    """Position of the first 1-bit in the top ``width`` bits (width + 1 if none)."""
    # float64 conversion gives the bit length up to rounding; fix the rare
    # round-up at the top of a binade so the result is exact.
    _, exponent = np.frexp(words.astype(np.float64))
    exponent = np.minimum(exponent.astype(np.int64), 64)  # words near 2**64 round up to it
    nonzero = words != 0
    shift = np.clip(exponent - 1, 0, 63).astype(np.uint64)
    exponent -= ((words >> shift) == 0) & nonzero
    rank = 65 - exponent
    return np.minimum(rank, width + 1).astype(np.uint8)
