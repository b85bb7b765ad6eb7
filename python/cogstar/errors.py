"""Every error cogstar raises, in one hierarchy under :class:`CogstarError`.

    CogstarError
    ├── ExpressionError   an answer that cannot be parsed or evaluated          (Rust core)
    ├── PuzzleError       numbers and a target the core cannot work with        (Rust core)
    ├── GenerateError     generator settings that yield no puzzles              (Rust core)
    ├── ArgumentError     any other argument outside what a function accepts    (Rust core)
    ├── ConfigError       a spec or stage config that cannot run; ``problems``
    ├── DataError         a file that is missing, damaged or of the wrong shape
    ├── RunError          a run directory that cannot be used now
    │   ├── RunLocked     another live process works in the same cell
    │   └── RunMismatch   the folder holds the results of another spec
    ├── StageError        a stage that cannot run (an upstream output is missing, a job failed)
    ├── LLMError          an LLM request that failed for good
    └── UsageError        a mistake on the ``cogstar`` command line

The first four are created by the Rust core (``cogstar._core``), which raises them itself;
they, :class:`ConfigError` and :class:`DataError` are also ``ValueError`` subclasses, as
Python code expects of a bad argument or a bad file. Each message says what is wrong, where
(file and line, key path or argument) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cogstar._core import ArgumentError, CogstarError, ExpressionError, GenerateError, PuzzleError

__all__ = [
    "ArgumentError",
    "CogstarError",
    "ConfigError",
    "DataError",
    "ExpressionError",
    "GenerateError",
    "LLMError",
    "PuzzleError",
    "RunError",
    "RunLocked",
    "RunMismatch",
    "StageError",
    "UsageError",
]


class ConfigError(CogstarError, ValueError):
    """A spec or stage config that cannot run.

    ``problems`` holds one line per problem, ``SOURCE: key.path: what is wrong; fix: how``;
    the message lists them all, so one run of the loader reports everything at once.
    """

    def __init__(self, problems: Sequence[str], subject: str = "config") -> None:
        self.problems = list(problems)
        self.subject = subject
        head = "1 problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid {subject} ({head}):\n{lines}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[str], str]]:
        return ConfigError, (self.problems, self.subject)


class DataError(CogstarError, ValueError):
    """A data file (puzzles, records, completions, documents, labels, a run's manifest or
    metrics) that is missing, damaged or of the wrong shape; the message names the file (and
    line) and what to rerun or fix."""


class RunError(CogstarError):
    """A run directory that cannot be used now."""


class RunLocked(RunError):
    """Another live process holds the lock of the cell (or ``shared``) folder."""


class RunMismatch(RunError):
    """The run directory holds the results of a different spec."""


class StageError(CogstarError):
    """A stage that cannot run: an output it needs is missing, or its launched job failed."""


class LLMError(CogstarError):
    """An LLM request failed for good: a status that is not retried, or retries exhausted."""


class UsageError(CogstarError):
    """A mistake in a ``cogstar`` command's input, reported without a traceback."""
