"""The errors a build or a data_id raises about its input, worded alike everywhere.

A user with a thousand-column frame must learn from the message alone which
source, which column (its label and its position: labels may repeat) and
which type is at fault.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Hashable

from ..bundle.ids import short_repr
from ..errors import BuckarooAssetsError, UnreadableSourceError, UnsupportedColumnError

__all__ = ["MAX_NESTING", "column_fault", "index_fault", "is_damage", "source_name", "unreadable"]

# Levels of lists, structs, maps and unions a column may nest: Parquet, which stores the
# window, holds 49 levels of lists and Arrow's IPC reader 64; deeper values (or a list
# that contains itself) crash pyarrow's conversion of Python objects outright.
MAX_NESTING = 32
_SHOWN_TYPE = 80  # characters of a column's type in a message (a wide struct's name is long)


def source_name(source: object) -> str:
    """What messages call a source: its path or URL, else the kind of object it is."""
    if isinstance(source, str | os.PathLike):
        return os.fsdecode(source)
    cls = type(source)
    return f"{cls.__module__.partition('.')[0]} {cls.__qualname__}"


def column_fault(
    source: str, label: Hashable, position: int, column_type: str, problem: str
) -> UnsupportedColumnError:
    """An ``UnsupportedColumnError`` naming the source, the column and its type."""
    shown = column_type if len(column_type) <= _SHOWN_TYPE else column_type[: _SHOWN_TYPE - 3] + "..."
    return UnsupportedColumnError(
        f"{source}: column {short_repr(label)} at position {position} ({shown}): {problem}",
        source=source,
        column=label,
        position=position,
        column_type=column_type,
    )


def index_fault(source: str, level: int, name: Hashable, dtype: str, problem: str) -> UnsupportedColumnError:
    """An index level at fault (data_ids hash the index; builds only count its rows)."""
    return UnsupportedColumnError(
        f"{source}: index level {level} named {short_repr(name)} ({dtype}): {problem}",
        source=source,
        column=name,
        column_type=dtype,
    )


def unreadable(source: str, error: BaseException) -> UnreadableSourceError:
    """The reader's own complaint about a damaged source, with the source named."""
    reason = " ".join(str(error).split()) or type(error).__name__
    return UnreadableSourceError(f"{source}: cannot be read: {reason}")


def is_damage(error: BaseException) -> bool:
    """Whether a reader's exception says the source's bytes are damaged.

    Not a missing file, a refused permission or a failing network: those
    keep their own exceptions.
    """
    import pyarrow as pa

    if isinstance(error, BuckarooAssetsError | MemoryError):
        return False
    if isinstance(error, pa.ArrowException | UnicodeDecodeError | EOFError | zlib.error | gzip.BadGzipFile):
        return True
    return type(error) is OSError and error.errno is None  # Arrow's status for a corrupt page
