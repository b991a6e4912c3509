"""Every error a user can fix, in one place.

Each type carries the message the user reads (naming the file, column, JSON path
or row, and what was expected). The CLI maps any :class:`AuditorError` to exit
code 2 and prints only its message; ``--debug`` adds the traceback.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_BLOCKING_FAILURE = 1
EXIT_BAD_INPUT = 2


class AuditorError(Exception):
    """Base of every error caused by the user's input or usage (exit code 2)."""

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AuditInputError(AuditorError):
    """Generic bad input (a file that cannot be read, a wrong option)."""


class SpecError(AuditInputError):
    """The audit spec is missing, unparsable or violates its schema."""


class DataError(AuditInputError):
    """The dataset is missing, corrupt, empty, or lacks a column the spec names."""


class ModelError(AuditInputError):
    """The model cannot be loaded safely or produced unusable scores."""


class PolicyError(AuditInputError):
    """A policy is missing, invalid, or cannot be evaluated on this audit."""


class ReportInputError(AuditInputError):
    """A report.json given as input (baseline, compare) is missing or invalid."""


class OutputError(AuditInputError):
    """The output folder cannot be written safely (exists, not empty, no --force)."""


class RegistryError(AuditInputError):
    """The audit registry cannot be opened or the request names an unknown entry."""


class SignatureError(AuditInputError):
    """A key cannot be read, or a signature is missing, malformed or from an untrusted key."""
