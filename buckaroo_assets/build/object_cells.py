"""One rule for the cells of pandas object columns, shared by data_ids and builds.

``data_id_for`` hashes an object cell through a type-tagged, repr-free form
(so ``1`` and ``"1"`` differ), and a build summarises an object column Arrow
cannot type as the text of its cells. Both accept exactly the cells that
have such a form: None, str, bytes, numbers, decimals, dates and times,
UUIDs, enum members, pandas and numpy scalars, and lists, tuples, dicts, sets
and arrays of them nested at most ``MAX_NESTING`` levels. Anything else (an
``object()``, whose text is a process address) is refused by both alike, so
an id and a build never disagree about a column.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .digests import json_bytes, qualified_name
from .faults import MAX_NESTING

__all__ = ["CellFault", "cell_identity", "identities", "nesting_fault"]

_CONTAINERS = (list, tuple, dict, set, frozenset)


class CellFault(Exception):
    """A cell without a stable form: its row, and what is wrong with it."""

    def __init__(self, row: int, problem: str) -> None:
        super().__init__(f"row {row} {problem}")
        self.row = row
        self.problem = problem


class _NoForm(Exception):
    """Raised inside :func:`cell_identity`; :func:`identities` adds the row."""


def cell_identity(v: object, depth: int = 0) -> object:
    """Type-tagged, repr-free JSON for one cell, so ``1`` and ``"1"`` never collide."""
    cls = type(v)
    module = cls.__module__
    if v is None:
        return None
    if isinstance(v, str):
        return str(v)
    if module.startswith("pandas"):
        return _pandas_scalar(v, depth)
    if module == "numpy":
        return _numpy_value(v, depth)
    if isinstance(v, bool):
        return ["bool", bool(v)]
    if isinstance(v, int):
        return ["int", format(int(v), "x")]  # hex has no int-to-str digit limit
    if isinstance(v, float):
        return ["float", repr(float(v))]
    if isinstance(v, complex):
        return ["complex", repr(v.real), repr(v.imag)]
    if isinstance(v, bytes | bytearray | memoryview):
        return ["bytes", bytes(v).hex()]
    if isinstance(v, decimal.Decimal):
        return ["decimal", str(v)]
    if isinstance(v, _dt.datetime):
        return ["datetime", v.isoformat(), v.tzname()]
    if isinstance(v, _dt.date):
        return ["date", v.isoformat()]
    if isinstance(v, _dt.time):
        return ["time", v.isoformat(), v.tzname()]
    if isinstance(v, _dt.timedelta):
        return ["timedelta", v.days, v.seconds, v.microseconds]
    if isinstance(v, uuid.UUID):
        return ["uuid", str(v)]
    if isinstance(v, _CONTAINERS):
        return _container(v, depth)
    if isinstance(v, enum.Enum):
        return ["enum", qualified_name(v), v.name]
    raise _NoForm(_no_form(v))


def _no_form(v: object) -> str:
    return f"holds a value of type {qualified_name(v)}, which has no stable form (its text may be a process address)"


def _container(v: Any, depth: int) -> object:
    if depth >= MAX_NESTING:
        raise _NoForm(f"nests more than {MAX_NESTING} levels deep (or contains itself)")
    inner = depth + 1
    if isinstance(v, tuple):
        return ["tuple", [cell_identity(i, inner) for i in v]]
    if isinstance(v, list):
        return ["list", [cell_identity(i, inner) for i in v]]
    if isinstance(v, dict):
        pairs = [[cell_identity(k, inner), cell_identity(i, inner)] for k, i in v.items()]
        return ["dict", sorted(pairs, key=json_bytes)]
    return ["set", sorted((cell_identity(i, inner) for i in v), key=json_bytes)]


def _pandas_scalar(v: Any, depth: int) -> object:
    name = type(v).__name__
    if name in ("NAType", "NaTType"):
        return ["null", name]
    if name == "Timestamp":
        return ["Timestamp", v.isoformat(), v.tzname()]  # isoformat keeps nanoseconds
    if name == "Timedelta":
        return ["Timedelta", int(v.value), str(v.unit)]
    if name == "Period":
        return ["Period", v.freqstr, int(v.ordinal)]
    if name == "Interval":
        return ["Interval", cell_identity(v.left, depth), cell_identity(v.right, depth), v.closed]
    raise _NoForm(_no_form(v))


def _numpy_value(v: Any, depth: int) -> object:
    import numpy as np

    if isinstance(v, np.ndarray):
        if v.ndim > MAX_NESTING - depth:
            raise _NoForm(f"nests more than {MAX_NESTING} levels deep (or contains itself)")
        if v.dtype.kind == "O":
            return ["ndarray", "O", list(v.shape), [cell_identity(i, depth + v.ndim) for i in v.ravel()]]
        raw = np.ascontiguousarray(v).tobytes().hex()
        return ["ndarray", str(v.dtype), list(v.shape), raw]
    if isinstance(v, np.generic):
        if v.dtype.kind in "mM":
            return ["numpy", v.dtype.str, str(v)]
        return ["numpy", v.dtype.str, cell_identity(v.item(), depth)]
    raise _NoForm(_no_form(v))


def identities(values: Iterable[object]) -> Iterator[object]:
    """Each cell's form, in order; the first cell without one raises ``CellFault``."""
    for row, value in enumerate(values):
        try:
            yield cell_identity(value)
        except _NoForm as exc:
            raise CellFault(row, str(exc)) from None
        except Exception as exc:  # a hostile __eq__, isoformat, items(), ...
            raise CellFault(row, f"holds a value of type {qualified_name(value)} that cannot be read: {exc}") from exc


def nesting_fault(values: Iterable[object]) -> CellFault | None:
    """The first cell nested deeper than ``MAX_NESTING`` levels, or contained in itself.

    Checked before pyarrow converts Python objects: its converter recurses
    without a limit and crashes the process on such a cell.
    """
    for row, value in enumerate(values):
        if _too_deep(value):
            return CellFault(row, f"nests more than {MAX_NESTING} levels deep (or contains itself)")
    return None


def _too_deep(value: object) -> bool:
    """Depth first, so a cell that contains itself is caught after ``MAX_NESTING`` steps."""
    import numpy as np

    nested = (*_CONTAINERS, np.ndarray)
    stack: list[tuple[Any, int]] = [(value, 0)] if isinstance(value, nested) else []
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any] = item
        if isinstance(item, np.ndarray):
            if item.dtype.kind != "O":
                if depth + item.ndim > MAX_NESTING:
                    return True
                continue
            depth += item.ndim - 1  # an n-dimensional array is n levels of lists
            children = item.ravel()
        elif isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        if depth >= MAX_NESTING:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, nested))
    return False
