"""Errors that describe a bad input file; their message is what the user reads in the tables."""

from __future__ import annotations


class BookError(Exception):
    """A comic file that cannot be read. The message names the reason; callers add the path."""


class UnsafeArchiveError(BookError):
    """An archive that tries to escape its folder or exhaust resources (zip-slip, bombs)."""
