"""One small exception hierarchy, so callers can catch precisely."""


class BuckarooAssetsError(Exception):
    """Base of every error raised on purpose by buckaroo-assets."""


class UnsafeDataIdError(BuckarooAssetsError, ValueError):
    """A data_id outside the safe charset; raised before any I/O happens."""


class UnsupportedSourceError(BuckarooAssetsError, TypeError):
    """build_bundle was handed something it cannot read as a table."""


class UnsupportedColumnError(BuckarooAssetsError, TypeError):
    """A column whose values cannot be represented as one Arrow type."""
