"""Exceptions raised by metacore.

Every exception derives from :class:`ValueError`, so callers that only know
the standard library can still catch them, and every message is a sentence a
clinician can act on.
"""

from __future__ import annotations

__all__ = ["MetacoreError", "DataError", "MeasureError", "OptionError", "MissingExtra"]


class MetacoreError(ValueError):
    """Base class of every error metacore raises on purpose."""


class DataError(MetacoreError):
    """The study table cannot be analysed at all (no usable column or row)."""


class MeasureError(MetacoreError):
    """The effect measure is unknown or does not fit the kind of data."""


class OptionError(MetacoreError):
    """An analysis option (model, estimator, level, ...) is not valid."""


class MissingExtra(MetacoreError, ImportError):
    """A feature needs an optional package that is not installed; the message names the
    extra that brings it (``pip install "metacore[batch]"``). Also an :class:`ImportError`,
    so code that guards an import with ``except ImportError`` keeps working."""
