"""polars frames as Arrow tables, for builds and data_ids alike.

Two polars types have no Arrow form pyarrow reads: ``Int128``/``UInt128``
export under polars' own format strings (pyarrow refuses them), and
``Object`` exports as the 8-byte addresses of Python objects, which would
be summarised as meaningless bytes and written to the store. 128-bit
integers become the ``decimal256(39, 0)`` they equal, exactly; Object
columns are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pyarrow as pa

from .faults import column_fault, source_name

__all__ = ["WIDE_INTEGER", "polars_table"]

WIDE_INTEGER = pa.decimal256(39, 0)  # holds every Int128 and UInt128 value


def polars_table(df: Any, *, oldest: bool) -> tuple[pa.Table, dict[int, str]]:
    """The frame as Arrow, with a note for each column converted.

    ``oldest`` exports polars' oldest layout (no view types, whose buffers
    vary with a frame's history): what data_ids hash.
    """
    import polars as pl

    wide: dict[int, Any] = {}
    for position, (name, dtype) in enumerate(df.schema.items()):
        leaves = set(_leaf_types(dtype))
        at = partial(column_fault, source_name(df), name, position, f"polars {dtype}")
        if pl.Object in leaves:
            raise at(
                "its values are Python objects, of which polars exports only their addresses; "
                "convert the column to a polars type first"
            )
        if dtype in (pl.Int128, pl.UInt128):
            wide[position] = dtype
        elif leaves & {pl.Int128, pl.UInt128}:
            raise at(
                "128-bit integers inside a nested column have no Arrow form pyarrow reads; "
                "cast them to Int64 or Decimal first"
            )
    if wide:
        df = df.with_columns(pl.col(df.columns[p]).cast(pl.String) for p in wide)
    table = _to_arrow(df, oldest)
    notes = {}
    for position, dtype in wide.items():
        field = table.schema.field(position).with_type(WIDE_INTEGER)
        table = table.set_column(position, field, table.column(position).cast(WIDE_INTEGER))
        notes[position] = f"polars {dtype}: summarised as {WIDE_INTEGER}"
    return table, notes


def _to_arrow(df: Any, oldest: bool) -> pa.Table:
    import polars as pl

    if not oldest:
        return df.to_arrow()
    try:
        return df.to_arrow(compat_level=pl.CompatLevel.oldest())
    except (AttributeError, TypeError):  # a polars without compatibility levels
        return df.to_arrow()


def _leaf_types(dtype: Any) -> Iterator[Any]:
    """The dtype's own class and those of every type nested inside it."""
    yield dtype.base_type()
    inner = getattr(dtype, "inner", None)
    if inner is not None:
        yield from _leaf_types(inner)
    for field in getattr(dtype, "fields", None) or []:
        yield from _leaf_types(field.dtype)
