"""Error hierarchy: every failure says what went wrong and what to do next."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: try again later


class LitmineError(Exception):
    """A failure the user can act on. ``hint`` says how to fix it."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  hint: {self.hint}" if self.hint else base


class TransientError(LitmineError):
    """A fault that a later retry can clear (network down, database locked)."""

    exit_code = EXIT_TRANSIENT


class DatabaseLocked(TransientError):
    """Another process holds the write lock on the database."""


class FetchError(TransientError):
    """The arXiv API could not be reached or kept failing after retries."""


class MalformedFeed(TransientError):
    """The API answered with XML that cannot be parsed."""


class UnknownLabel(LitmineError):
    """A label value that the taxonomy does not define."""


class SnapshotError(LitmineError):
    """A snapshot file that cannot be read."""
