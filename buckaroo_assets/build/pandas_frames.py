"""pandas frames as Arrow tables: each column as Arrow converts it, or as exactly as it can be.

Object columns are where pandas holds what Arrow has no type for. Integers
past 64 bits become the ``decimal256(76, 0)`` they equal; other columns Arrow
cannot type are summarised as the text of their cells, as Buckaroo shows
them. Refused, with the column named: a cell with no stable form (an
``object()``, whose text is a process address) or nested deeper than Arrow
converts without crashing, exactly as ``data_id_for`` refuses them (see
:mod:`.object_cells`); and, because a bundle cannot store them, a value
whose ``str()`` fails, text with lone surrogates, integers of more than 76
digits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

import pyarrow as pa

from ..bundle.codec import dumps
from ..errors import UnsupportedColumnError
from .digests import qualified_name
from .faults import column_fault, source_name
from .object_cells import CellFault, identities, nesting_fault

__all__ = ["BIG_INTEGER", "pandas_table"]

BIG_INTEGER = pa.decimal256(76, 0)  # the widest Arrow integer: 76 decimal digits

# What pandas infers for object columns that hold no lists, dicts or arrays: Arrow's
# converter cannot recurse without end on those, so their cells need no depth check.
_FLAT_KINDS = frozenset(
    {"string", "bytes", "floating", "integer", "mixed-integer-float", "decimal", "complex", "boolean",
     "datetime64", "datetime", "date", "timedelta64", "timedelta", "time", "period", "interval", "empty"}
)  # fmt: skip

Fault = Callable[[str], UnsupportedColumnError]


def pandas_table(frame: Any) -> tuple[pa.Table, list[Hashable], dict[int, str]]:
    """The frame's columns as Arrow, their storable labels, and a note per column treated."""
    source = source_name(frame)
    arrays, names, notes = [], [], {}
    for position, label in enumerate(frame.columns):
        series = frame.iloc[:, position]
        fault = partial(column_fault, source, label, position, str(series.dtype))
        array, note = _series_to_arrow(series, fault)
        arrays.append(array)
        name = _storable_label(label, fault)
        names.append(name)
        if note:
            notes[position] = note
        elif isinstance(label, str) and name != label:
            notes[position] = "label with lone surrogates stored with them escaped"
        elif isinstance(name, str) and not isinstance(label, str):
            notes[position] = f"label {type(label).__name__} stored as its text"
    fields = [pa.field(_field_name(n), a.type) for n, a in zip(names, arrays, strict=True)]
    if arrays:
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), names, notes
    rows = pa.StructArray.from_buffers(pa.struct([]), len(frame), [None], children=[])
    return pa.Table.from_batches([pa.RecordBatch.from_struct_array(rows)]), names, notes


def _series_to_arrow(series: Any, fault: Fault) -> tuple[pa.Array, str | None]:
    """Arrow's own conversion; else decimals for integers past 64 bits; else the text of each cell.

    A column like ``[1, "a", 2.5]`` has no Arrow type. Buckaroo shows such
    cells as text, so they are summarised as text too (nulls stay null), and
    the note says so.
    """
    import pandas as pd

    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) not in _FLAT_KINDS:
        deep = nesting_fault(series.to_numpy())
        if deep is not None:
            raise fault(str(deep))
    try:
        array = pa.array(series, from_pandas=True)
        return (array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array), None
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass  # no Arrow type holds these values as they are
    missing = series.isna().to_numpy()
    values = [None if gone else value for value, gone in zip(series.to_numpy(), missing, strict=True)]
    try:
        for _ in identities(values):
            pass
    except CellFault as cell:
        raise fault(str(cell)) from None
    present = [v for v in values if v is not None]
    if present and all(_is_integer(v) for v in present):
        try:
            return pa.array([None if v is None else int(v) for v in values], BIG_INTEGER), (
                f"integers beyond 64 bits: summarised as {BIG_INTEGER}"
            )
        except (pa.ArrowInvalid, OverflowError, ValueError):  # ValueError: past Python's digit limit
            raise fault("holds integers of more than 76 digits, which no Arrow type holds") from None
    return _as_text(values, fault), _text_note(present)


def _is_integer(value: object) -> bool:
    import numpy as np

    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _as_text(values: list[object], fault: Fault) -> pa.Array:
    text = []
    for row, value in enumerate(values):
        try:
            text.append(None if value is None else str(value))
        except Exception as error:  # str() of a cell may itself fail
            raise fault(f"row {row}: str() of its {qualified_name(value)} fails: {error}") from None
    try:
        return pa.array(text, type=pa.large_string())
    except UnicodeEncodeError:
        row = next(i for i, t in enumerate(text) if t is not None and not _utf8(t))
        raise fault(
            f"row {row} holds text with a lone surrogate, which is not Unicode and cannot be "
            "stored as UTF-8"
        ) from None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_note(present: list[object]) -> str:
    if len({type(v) for v in present}) == 1:
        return f"{qualified_name(present[0])} values Arrow cannot type: summarised as text"
    return "mixed types: summarised as text"


def _storable_label(label: Hashable, fault: Fault) -> Hashable:
    """A column label the bundle codec can store, equal to the original where it can be.

    pandas and numpy scalars (a pivot by date has Timestamp labels) become the
    Python values they equal; a label with no stored form but a stable one
    (a Period, text with lone surrogates) is stored as its text. A label with
    neither is refused, as ``data_id_for`` refuses it.
    """
    if _storable(label):
        return label
    if isinstance(label, tuple):
        return tuple(_storable_label(part, fault) for part in label)
    try:
        next(identities([label]))
    except CellFault as cell:
        raise fault(f"its label {cell.problem}") from None
    for convert in ("to_pydatetime", "to_pytimedelta", "item"):
        method = getattr(label, convert, None)
        if method is None:
            continue
        try:
            with warnings.catch_warnings():  # pandas warns before dropping nanoseconds
                warnings.simplefilter("ignore")
                plain = method()
        except Exception:  # a conversion that fails
            continue
        if _storable(plain) and plain == label:
            return plain
    # Lone surrogates have no UTF-8 form: kept as escapes, so the label stays readable.
    return str(label).encode("utf-8", "backslashreplace").decode("utf-8")


def _storable(label: object) -> bool:
    try:
        dumps(label)
    except (TypeError, ValueError):  # no codec form; text that is not UTF-8
        return False
    return True


def _field_name(label: Hashable) -> str:
    return label if isinstance(label, str) else str(label)
