"""Exact sums and sums of squares of integers and floats, never wrapping or rounding.

Exact sums are what make a column's mean and std independent of how its rows
are cut into blocks, split into fragments or merged back: any order gives the
same integers, and the only rounding is the final one.
"""

from __future__ import annotations

import numpy as np

try:
    from . import _native as native
except ImportError:  # built without a C compiler: numpy gives the same sums, slower
    native = None

# A finite float64 is an integer multiple of 2**-1074, and its square of 2**-2148.
FLOAT_SUM_SCALE = 1074
FLOAT_SQUARE_SCALE = 2148
_SUM_DIGITS, _SQUARE_DIGITS = 72, 140  # base-2**32 digits the C kernel fills

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


def exact_float_sums(values: np.ndarray) -> tuple[int, int]:
    """(sum, sum of squares) of finite float64 values, exactly, as integers in units of
    ``2**-FLOAT_SUM_SCALE`` and ``2**-FLOAT_SQUARE_SCALE``."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if native is None:
        return _float_sums_numpy(values)
    sums = np.zeros(_SUM_DIGITS, dtype=np.int64)
    squares = np.zeros(_SQUARE_DIGITS, dtype=np.int64)
    native.float_power_sums(sums, squares, values)
    return _from_digits(sums), _from_digits(squares)


def _from_digits(digits: np.ndarray) -> int:
    """The integer whose base-2**32 digits these are (all in [0, 2**32) but the signed last)."""
    low = int.from_bytes(digits[:-1].astype("<u4").tobytes(), "little")
    return low + (int(digits[-1]) << (32 * (len(digits) - 1)))


def _float_sums_numpy(values: np.ndarray) -> tuple[int, int]:
    """Each value as mantissa * 2**(exponent - 1075); mantissas summed exactly per exponent."""
    bits = values.view(np.uint64)
    exponents = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    if np.any(exponents == 0x7FF):
        raise ValueError("values must be finite")
    mantissas = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
    mantissas[exponents > 0] |= np.int64(1 << 52)
    exponents = np.maximum(exponents, 1)  # subnormals: m * 2**-1074, like exponent 1
    signed = np.where(bits >> np.uint64(63), -mantissas, mantissas)
    total = square_total = 0
    for exponent in np.unique(exponents).tolist():
        part = signed[exponents == exponent]
        total += exact_sum(part, 1 << 53) << (exponent - 1)
        square_total += exact_square_sum(part) << (2 * exponent - 2)
    return total, square_total
