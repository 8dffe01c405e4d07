"""How the engine classifies a column by its Arrow type, which decides what it computes."""

from __future__ import annotations

from enum import Enum

import pyarrow as pa


class Kind(Enum):
    """How the engine summarises a column, decided by its Arrow type."""

    NUMBER = "number"  # ints, uints, floats: full numeric stats
    TEMPORAL = "temporal"  # dates, times, timestamps, durations: ordered ticks
    BOOL = "bool"
    BINARY_LIKE = "binary_like"  # strings, binary, decimals: hashed values
    NULL = "null"
    NESTED = "nested"  # lists, structs, maps, unions: counts only


def kind_of(t: pa.DataType) -> Kind:
    if pa.types.is_dictionary(t):
        return kind_of(t.value_type)
    if pa.types.is_boolean(t):
        return Kind.BOOL
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return Kind.NUMBER
    if pa.types.is_interval(t):
        return Kind.NESTED  # months, days and nanoseconds: no single order, counts only
    if pa.types.is_temporal(t):
        return Kind.TEMPORAL
    if pa.types.is_null(t):
        return Kind.NULL
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_decimal(t)
    ):
        return Kind.BINARY_LIKE
    return Kind.NESTED
