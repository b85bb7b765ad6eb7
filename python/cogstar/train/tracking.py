"""Experiment trackers (TensorBoard, Weights & Biases, MLflow, ...) for every training stage.

    tracking = Tracking(("tensorboard",), Path("runs/x/all_strategies/ppo/tracking"), "x/all_strategies/ppo")
    run_ppo(..., tracking=tracking)

SFT and GRPO hand the trackers to transformers' ``report_to``; PPO to Accelerate's
``log_with``. Everything a tracker writes locally goes under ``directory`` (in a study: the
stage's own ``tracking/`` folder in the run directory). PPO's nested metrics are flattened
(``outcomes/correct``, ``seconds/rollout``). A stage launched as its own process gets the same
settings through ``--trackers``, ``--tracking-dir`` and ``--run-name``
(:func:`add_tracking_arguments`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TRACKERS",
    "Tracking",
    "add_tracking_arguments",
    "flatten",
    "hf_environment",
    "missing_trackers",
]

#: Tracker names as transformers and Accelerate spell them, with the module each needs.
TRACKERS: dict[str, str] = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "comet_ml": "comet_ml",
    "aim": "aim",
    "clearml": "clearml",
    "trackio": "trackio",
}


def missing_trackers(trackers: Iterable[str]) -> list[str]:
    """The trackers whose package is not installed."""
    return [t for t in trackers if importlib.util.find_spec(TRACKERS.get(t, t)) is None]


@dataclass(frozen=True)
class Tracking:
    """Which trackers a stage reports to, where they write, and the run's name."""

    trackers: tuple[str, ...] = ()
    directory: Path | None = None
    run_name: str = "cogstar"

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def cli_args(self) -> list[str]:
        """The arguments that give a stage launched as its own process these settings."""
        if not self.trackers:
            return []
        args = ["--trackers", ",".join(self.trackers), "--run-name", self.run_name]
        if self.directory is not None:
            args += ["--tracking-dir", str(self.directory)]
        return args

    @classmethod
    def from_args(cls, args: Any) -> Tracking:
        trackers = tuple(t for t in (args.trackers or "").split(",") if t)
        directory = Path(args.tracking_dir) if args.tracking_dir else None
        return cls(trackers, directory, args.run_name)


def add_tracking_arguments(parser: Any) -> None:
    parser.add_argument(
        "--trackers",
        default="",
        help=f"comma-separated experiment trackers ({', '.join(TRACKERS)})",
    )
    parser.add_argument("--tracking-dir", default=None, help="where trackers write locally")
    parser.add_argument("--run-name", default="cogstar", help="the run's name in the trackers")


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a (nested) metrics record, one level per ``/``: ``{"outcomes":
    {"correct": 3}}`` becomes ``{"outcomes/correct": 3.0}``; other values are left out."""
    out: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        elif isinstance(value, int | float):  # bool included
            out[name] = float(value)
    return out


@contextlib.contextmanager
def hf_environment(tracking: Tracking) -> Iterator[None]:
    """While a transformers trainer is built: its trackers' local files under
    ``tracking.directory`` (the variables they read, restored afterwards; a value the user
    set is kept)."""
    if not tracking or tracking.directory is None:
        yield
        return
    directory = str(tracking.directory)
    wanted = {
        "TENSORBOARD_LOGGING_DIR": directory,
        "WANDB_DIR": directory,
        "MLFLOW_TRACKING_URI": Path(directory, "mlruns").resolve().as_uri(),
        "AIM_REPO": directory,
    }
    saved = {k: os.environ.get(k) for k in wanted}
    Path(directory).mkdir(parents=True, exist_ok=True)
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
