"""One small exception hierarchy, so callers can catch precisely."""


class BuckarooAssetsError(Exception):
    """Base of every error raised on purpose by buckaroo-assets."""


class UnsafeDataIdError(BuckarooAssetsError, ValueError):
    """A data_id outside the safe charset; raised before any I/O happens."""


class UnsupportedSourceError(BuckarooAssetsError, TypeError):
    """build_bundle was handed something it cannot read as a table."""


class UnsupportedColumnError(BuckarooAssetsError, TypeError):
    """A column whose values cannot be represented as one Arrow type.

    The message names the source, the column's label and position and its
    type; so do ``source``, ``column``, ``position`` and ``column_type``
    (``position`` is ``None`` for an index level).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: object = None,
        position: int | None = None,
        column_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.column = column
        self.position = position
        self.column_type = column_type


class UnreadableSourceError(UnsupportedSourceError, ValueError):
    """A source whose bytes are not what its format says: a truncated or corrupt
    file, a malformed line, names that are not UTF-8. Names the source; the
    reader's own exception is kept as ``__cause__``.
    """


class PartialStatsError(BuckarooAssetsError, ValueError):
    """Partial stats that cannot be read or merged: bytes that fail their checksum or come
    from another format or engine version, or fragments missing, repeated, overlapping,
    or built with another config or schema than the rest."""


class BundleError(BuckarooAssetsError):
    """Base of the errors a store or reader raises about one stored bundle."""


class BundleNotFound(BundleError, LookupError):
    """No published bundle (or dataset pointer) under the requested key."""


class BundleMismatch(BundleError):
    """A bundle exists but does not fit the caller's handshake (format, config or schema)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BundleCorrupted(BundleError):
    """Stored bytes fail verification: a reader never returns them."""


class StoreUnavailable(BundleError, OSError):
    """The store could not be read or written (outage, credentials, full disk, read-only).

    Names the object and the operation; the backend's own exception (botocore,
    OSError, ...) is kept as ``__cause__``.
    """


class BundleLoadTimeout(BundleError, TimeoutError):
    """Waited longer than the caller allowed for a free slot to fetch from the store."""


class ViewerUnavailable(BuckarooAssetsError, ImportError):
    """Buckaroo's viewer files are needed: the ``viewer`` extra, i.e. ``buckaroo>=0.15.11,<0.16``."""
