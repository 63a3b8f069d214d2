"""Exceptions of the dose checks."""

from __future__ import annotations


class LibraryError(ValueError):
    """A drug library file that cannot be read or does not follow the schema."""
