"""Experiment trackers: a one-cell study with report.trackers = ["tensorboard"] writes
TensorBoard event files for SFT and PPO under each stage's tracking/ folder, PPO's nested
metrics flattened."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
pytest.importorskip("tensorboard")

from cogstar.errors import ConfigError  # noqa: E402
from cogstar.study.progress import Reporter  # noqa: E402
from cogstar.study.runner import run_experiment  # noqa: E402
from cogstar.study.spec import load_spec  # noqa: E402
from cogstar.train.tracking import flatten  # noqa: E402
from micro import DATA_AND_MODEL, RL_AND_EVAL, TRAINING  # noqa: E402


def _tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_tensorboard_gets_every_training_stage(tmp_path: Path) -> None:
    spec = tmp_path / "tracked.toml"
    spec.write_text(
        f'[experiment]\nname = "tracked"\nout = "{tmp_path / "runs"}"\n\n{DATA_AND_MODEL}\n'
        f"[priming]\ncount = 8\nvalidation = 0\nbudget = 200\n\n[sft]\n{TRAINING}\n"
        + RL_AND_EVAL.replace('paper = "none"', 'paper = "none"\ntrackers = ["tensorboard"]')
        + '\n[sweep]\ncondition = ["all_strategies"]\n'
    )
    run = run_experiment(spec, report=Reporter("quiet"))
    ppo = _tags(run / "all_strategies" / "ppo" / "tracking")
    assert {"reward", "accuracy", "outcomes/correct", "seconds/rollout", "kl"} <= ppo
    sft = _tags(run / "all_strategies" / "sft" / "tracking")
    assert any("loss" in t for t in sft)


def test_flatten_and_a_tracker_that_is_not_installed(tmp_path: Path) -> None:
    assert flatten({"reward": 1, "outcomes": {"correct": 2, "no": {"x": True}}, "s": "text"}) == {
        "reward": 1.0, "outcomes/correct": 2.0, "outcomes/no/x": 1.0}  # fmt: skip
    import importlib.util

    if importlib.util.find_spec("aim") is None:
        spec = tmp_path / "s.toml"
        spec.write_text('[experiment]\nname = "x"\n[report]\ntrackers = ["aim"]\n')
        with pytest.raises(ConfigError, match=r"report\.trackers: aim is not installed"):
            load_spec(spec)


def test_a_launched_stage_gets_the_same_tracking(tmp_path: Path) -> None:
    import argparse

    from cogstar.train.tracking import Tracking, add_tracking_arguments

    tracking = Tracking(("tensorboard", "wandb"), tmp_path / "tracking", "x/cell/ppo")
    ap = argparse.ArgumentParser()
    add_tracking_arguments(ap)
    assert Tracking.from_args(ap.parse_args(tracking.cli_args())) == tracking
    assert Tracking.from_args(ap.parse_args([])) == Tracking()
