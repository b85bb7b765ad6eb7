"""What every ``cogstar`` command shares: where output and errors go."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console", "err_console"]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
