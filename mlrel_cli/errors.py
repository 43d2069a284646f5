"""The one family of exceptions the core raises.

Each carries *what* went wrong and *where* (a file, a column, a key path), so
the CLI can print one line, ``error: what (where)``, and exit 2.
"""

from __future__ import annotations


class MlrelError(Exception):
    """Bad input or usage: the run could not be evaluated; nothing was changed."""

    def __init__(self, what: str, where: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where

    def __str__(self) -> str:
        return f"{self.what} ({self.where})" if self.where else self.what

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        # raised on a Dask worker, it crosses to the client by pickle: keep where it happened
        return type(self), (self.what, self.where)


class PolicyError(MlrelError):
    """The policy file is unreadable or invalid."""


class LogError(MlrelError):
    """A prediction log, reference or labels file is missing, unreadable or unsuitable."""


class OutputError(MlrelError):
    """A report or history file could not be written."""


def first_line(exc: BaseException) -> str:
    """An exception's first line (pyarrow's messages run over several), or its type's name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
