"""Exact integer sums and sums of squares with numpy, never wrapping around int64."""

from __future__ import annotations

import numpy as np

_CHUNK = 1 << 16  # int64 sums of 2**16 products below 2**46 cannot overflow
_LIMB = 21


def exact_sum(values: np.ndarray, bound: int | None = None) -> int:
    """Sum of int64/uint64 values as a Python int, never wrapping around.

    ``bound``, when given, is the largest absolute value: small enough, the
    plain int64 sum cannot overflow and one pass does.
    """
    if bound is not None and bound * len(values) < 2**63:
        return int(values.sum(dtype=np.int64))
    kind = values.dtype.type
    total = 0
    for start in range(0, len(values), _CHUNK):  # 2**16 halves of 32 bits fit in 64
        chunk = values[start : start + _CHUNK]
        high = chunk >> kind(32)
        low = chunk & kind(0xFFFFFFFF)
        total += (int(high.sum(dtype=high.dtype)) << 32) + int(low.sum(dtype=low.dtype))
    return total


def exact_square_sum(values: np.ndarray, bound: int | None = None) -> int:
    """Sum of squares as a Python int, via 21-bit limbs whose products fit int64."""
    if bound is not None and bound * bound * len(values) < 2**63:
        small = values.astype(np.int64, copy=False)
        return int(np.dot(small, small))
    total = 0
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        if chunk.min() > -(1 << 23) and chunk.max() < (1 << 23):
            small = chunk.astype(np.int64)
            total += int(np.dot(small, small))
            continue
        mask = chunk.dtype.type((1 << _LIMB) - 1)
        c = (chunk & mask).astype(np.int64)
        b = ((chunk >> chunk.dtype.type(_LIMB)) & mask).astype(np.int64)
        a = (chunk >> chunk.dtype.type(2 * _LIMB)).astype(np.int64)
        total += (
            (int(np.dot(a, a)) << (4 * _LIMB))
            + (2 * int(np.dot(a, b)) << (3 * _LIMB))
            + ((2 * int(np.dot(a, c)) + int(np.dot(b, b))) << (2 * _LIMB))
            + (2 * int(np.dot(b, c)) << _LIMB)
            + int(np.dot(c, c))
        )
    return total
