"""Errors that describe a bad input file; their message is what the user reads in the tables."""

from __future__ import annotations


class BookError(Exception):
    """A comic file that cannot be read. The message names the reason; callers add the path."""


class UnsafeArchiveError(BookError):
    """An archive that tries to escape its folder or exhaust resources (zip-slip, bombs)."""


def describe_failure(error: BaseException) -> str:
    """The message an error row carries: ours as written, anything else with its type, so an
    unexpected failure still says what happened (``LZMAError: Corrupt input data``)."""
    if isinstance(error, BookError):
        return str(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
