"""What Arrow's readers leave unchecked, checked before a build trusts a column.

Parquet and JSON readers hand over text without validating its UTF-8, a
timestamp may carry a zone this system's time-zone database does not know,
and a type may nest deeper than the window can be stored. Each would fail
far from its cause (a ``UnicodeDecodeError`` inside the stats, a ``KeyError``
formatting a minimum, an ``OSError`` storing the bundle); these checks name it.
"""

from __future__ import annotations

import functools

import pyarrow as pa

from ..stats.counts import value_offsets

try:
    from ..stats import _native
except ImportError:  # built without a C compiler: Arrow's full validation checks every value
    _native = None

__all__ = ["first_bad_text_row", "holds_text", "is_plain_ascii", "nesting", "with_known_zones"]

_TEXT = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
_BYTES_OF = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary(), pa.string_view(): pa.binary_view()}


def _children(t: pa.DataType) -> list[pa.DataType]:
    if pa.types.is_dictionary(t):
        return [t.value_type]
    if isinstance(t, pa.ExtensionType):
        return [t.storage_type]
    if pa.types.is_map(t):
        return [t.key_type, t.item_type]
    return [t.field(i).type for i in range(t.num_fields)]


def nesting(t: pa.DataType, limit: int) -> int:
    """Levels of lists, structs, maps and unions in ``t``, counted up to ``limit + 1``."""
    if limit < 0:
        return 0
    level = 1 if pa.types.is_nested(t) else 0
    return level + max((nesting(c, limit - level) for c in _children(t)), default=0)


def holds_text(t: pa.DataType) -> bool:
    """Whether ``t`` has string values anywhere (in a dictionary, a list, a struct, ...)."""
    return any(test(t) for test in _TEXT) or any(holds_text(c) for c in _children(t))


def is_plain_ascii(column: pa.Array) -> bool:
    """Whether a plain text column's offsets ascend and all its bytes are ASCII, and so
    valid UTF-8: one vectorised pass over the bytes, several times cheaper than Arrow's
    check value by value. False says nothing: Arrow's full validation is then needed."""
    if _native is None or column.type not in (pa.string(), pa.large_string()) or not len(column):
        return False
    column.validate()  # the buffers are as long as the length says
    bounds = value_offsets(column, 0, len(column))
    data = column.buffers()[2]
    return _native.plain_ascii(bounds, b"" if data is None else data, bounds.itemsize)


def first_bad_text_row(column: pa.Array) -> int | None:
    """The first row of a plain or dictionary-encoded text column whose bytes are not UTF-8.

    Called once validation failed. None when the rows cannot be told: text
    nested in lists or structs, or an array whose layout itself is broken
    (then its bytes are not read at all).
    """
    encoded = isinstance(column, pa.DictionaryArray)
    values = column.dictionary if encoded else column
    if values.type not in _BYTES_OF:
        return None
    raw = values.view(_BYTES_OF[values.type])
    try:  # the same checks but UTF-8: if they fail, the layout is broken
        (pa.DictionaryArray.from_arrays(column.indices, raw) if encoded else raw).validate(full=True)
    except pa.ArrowInvalid:
        return None
    bad: set[int] = set()
    for i, data in enumerate(raw.to_pylist()):
        try:
            if data is not None:
                data.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(i)
    if not encoded:
        return min(bad, default=None)
    return next((row for row, i in enumerate(column.indices.to_pylist()) if i in bad), None)


@functools.lru_cache(maxsize=256)
def _zone_known(zone: str) -> bool:
    """Whether both Arrow (formatting) and Python (``as_py``) find ``zone`` in their databases."""
    probe = pa.array([0], pa.timestamp("s", tz=zone))
    try:
        probe.cast(pa.string())
        probe[0].as_py()
    except (pa.ArrowException, LookupError, ValueError, OSError):  # pytz and zoneinfo: KeyError
        return False
    return True


def with_known_zones(t: pa.DataType, unknown: set[str]) -> pa.DataType:
    """``t`` with every timestamp zone this system does not know replaced by UTC.

    A timestamp's values are UTC instants whatever its zone, which only says
    how to show them: shown in UTC they stay exact. The zones replaced are
    added to ``unknown``.
    """
    if pa.types.is_timestamp(t):
        if not t.tz or _zone_known(t.tz):
            return t
        unknown.add(t.tz)
        return pa.timestamp(t.unit, tz="UTC")
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, with_known_zones(t.value_type, unknown), t.ordered)
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(with_known_zones(f.type, unknown)) for f in t])
    if pa.types.is_map(t):
        key, item = t.key_field, t.item_field
        return pa.map_(
            key.with_type(with_known_zones(key.type, unknown)),
            item.with_type(with_known_zones(item.type, unknown)),
            t.keys_sorted,
        )
    lists = {
        pa.types.is_list: pa.list_,
        pa.types.is_large_list: pa.large_list,
        pa.types.is_list_view: pa.list_view,
        pa.types.is_large_list_view: pa.large_list_view,
    }
    for test, make in lists.items():
        if test(t):
            return make(t.value_field.with_type(with_known_zones(t.value_type, unknown)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(with_known_zones(t.value_type, unknown)), t.list_size)
    return t
