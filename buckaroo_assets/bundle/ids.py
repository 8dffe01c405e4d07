"""The rules every id obeys before it touches a path, a URL or a Dagster partition key.

A ``data_id`` (and a dataset name) becomes an object-store path segment and a
Dagster partition key, and a ``config_id`` a path segment, so each is checked
against a narrow character set before any I/O: a hostile id can never address
another object or escape a prefix.
"""

from __future__ import annotations

import re

from buckaroo_assets.errors import UnsafeDataIdError

__all__ = ["DATA_ID_MAX_LENGTH", "validate_config_id", "validate_data_id"]

DATA_ID_MAX_LENGTH = 200

_SAFE_ID = re.compile(r"[A-Za-z0-9._@=-]+", re.ASCII)
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._@=-]", re.ASCII)
_CONFIG_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_SHOWN_CHARS = 60


def short_repr(value: object) -> str:
    if isinstance(value, str):
        if len(value) <= _SHOWN_CHARS:
            return repr(value)
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} chars)"
    try:
        shown = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        shown = f"<{type(value).__qualname__} object>"
    if len(shown) > _SHOWN_CHARS:
        shown = shown[: _SHOWN_CHARS - 3] + "..."
    return shown


def validate_data_id(s: object, *, what: str = "data_id") -> str:
    """Return ``s`` unchanged if it is safe as a path segment and a Dagster partition key.

    Allowed: 1 to 200 ASCII letters, digits and ``. _ - @ =``; it may not start
    with ``.`` or ``-`` and may not contain ``..``.  Checked before any I/O, so
    a hostile id can never address another object or escape a prefix.  ``what``
    names the value in the error (dataset names obey the same rule).
    """
    if not isinstance(s, str):
        raise UnsafeDataIdError(f"{what} must be a str, got {type(s).__qualname__}: {short_repr(s)}")
    if not s:
        raise UnsafeDataIdError(f"{what} must not be empty")
    if len(s) > DATA_ID_MAX_LENGTH:
        raise UnsafeDataIdError(
            f"{what} is {len(s)} characters long, the maximum is {DATA_ID_MAX_LENGTH}: {short_repr(s)}"
        )
    if not _SAFE_ID.fullmatch(s):
        bad = _UNSAFE_CHAR.search(s)
        char = bad.group() if bad else "?"
        raise UnsafeDataIdError(
            f"{what} may contain only ASCII letters, digits and '._-@=', "
            f"found {char!r}: {short_repr(s)}"
        )
    if s[0] in ".-":
        raise UnsafeDataIdError(f"{what} must not start with {s[0]!r}: {short_repr(s)}")
    if ".." in s:
        raise UnsafeDataIdError(f"{what} must not contain '..': {short_repr(s)}")
    return s


def validate_config_id(config_id: object) -> str:
    """A config_id is 32 lowercase hex characters; anything else is refused before any I/O."""
    if not isinstance(config_id, str) or not _CONFIG_ID.fullmatch(config_id):
        raise UnsafeDataIdError(
            f"config_id must be 32 lowercase hex characters, got {short_repr(config_id)}"
        )
    return config_id
