"""What every ``cogstar`` command shares: where output and errors go."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console", "err_console"]

# Off a terminal (a log file, a pipe, SLURM) Rich would lay tables out in 80 columns and cut
# them; a wide page keeps every column whole.
_WIDE = 240


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else _WIDE
    return Console(stderr=stderr, soft_wrap=True, width=width)


console = _console(stderr=False)
err_console = _console(stderr=True)
