"""Lossless, type-tagged JSON for summary-stat values.

Stats are computed once and read back much later, by other processes and
other languages, so a value must return as the *same type* with the *same
value*: a ``tuple`` column name must not come back as a list, a ``Decimal``
must not become a float, and a 64-bit int must not lose precision in a
JavaScript reader.  Plain JSON stays plain; everything else becomes a
single-key object whose key is a ``$tag``.

Only exact types are accepted (``type(v) is int``, not ``isinstance``):
subclasses such as ``numpy.float64``, ``pandas.Timestamp`` or an ``IntEnum``
would otherwise be silently decoded as their base class.  numpy and pyarrow
are imported only when one of their values is met, so reading a bundle of
plain values stays cheap.
"""

from .decode import MalformedEncodingError, decode, loads
from .encode import UnsupportedValueError, dumps, encode

__all__ = [
    "MalformedEncodingError",
    "UnsupportedValueError",
    "decode",
    "dumps",
    "encode",
    "loads",
]
