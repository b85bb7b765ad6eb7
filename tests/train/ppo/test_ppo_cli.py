"""The PPO command line and the shipped Accelerate configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cogstar.train.ppo.__main__ import main

CONFIGS = sorted((Path(__file__).parents[3] / "configs" / "accelerate").glob("*.yaml"))


def test_every_setting_is_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--steps", "--prompts-per-step", "--kl-coef", "--reward-mode", "--save-every"):
        assert option in text


def test_bad_puzzle_files_name_file_and_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.jsonl"
    with pytest.raises(SystemExit, match="no such file"):
        main(["m", "o", "--puzzles", str(missing)])
    broken = tmp_path / "p.jsonl"
    broken.write_text('{"numbers": [1, 2], "target": 3}\n{"numbers": [1, 2]}\n')
    with pytest.raises(SystemExit, match=r"p\.jsonl:2: expected"):
        main(["m", "o", "--puzzles", str(broken)])


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_accelerate_configs_parse_and_name_their_launch_command(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert config["mixed_precision"] == "bf16"
    assert config["num_processes"] >= 1
    assert f"accelerate launch --config_file configs/accelerate/{path.name}" in path.read_text()
    if config["distributed_type"] == "FSDP":
        assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    if config["distributed_type"] == "DEEPSPEED":
        ds = config["deepspeed_config"]["deepspeed_config_file"]
        assert (Path(__file__).parents[3] / ds).is_file(), ds
