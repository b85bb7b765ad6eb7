"""The PPO command line and the shipped Accelerate configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cogstar.train.ppo.__main__ import main

CONFIGS = sorted((Path(__file__).parents[3] / "configs" / "accelerate").glob("*.yaml"))


def test_the_config_comes_from_a_file_and_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--config FILE" in text and "--set KEY=VALUE" in text
    assert "--steps" not in text  # no hand-built mirror of the config's fields


def test_bad_configs_and_puzzle_files_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    puzzles = tmp_path / "p.jsonl"
    puzzles.write_text('{"numbers": [1, 2], "target": 3}\n')
    config = tmp_path / "ppo.toml"
    config.write_text("[ppo]\nstpes = 3\n")
    assert main(["m", "o", "--puzzles", str(puzzles), "--config", str(config)]) == 2
    assert "ppo.toml: ppo.stpes: unknown key; fix: did you mean 'steps'?" in capsys.readouterr().err
    assert main(["m", "o", "--puzzles", str(puzzles), "--set", "actor_minibatch_prompts=100"]) == 2
    err = capsys.readouterr().err
    assert "(--set actor_minibatch_prompts=100): ppo.actor_minibatch_prompts: 100 does not" in err
    assert main(["m", "o", "--puzzles", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl: no such file" in capsys.readouterr().err
    puzzles.write_text('{"numbers": [1, 2], "target": 3}\n{"numbers": [1, 2]}\n')
    assert main(["m", "o", "--puzzles", str(puzzles)]) == 2
    assert "p.jsonl:2: not a puzzle row" in capsys.readouterr().err


def test_the_resolved_json_a_run_writes_reads_back(tmp_path: Path) -> None:
    from cogstar.config import load_config
    from cogstar.train.ppo.config import PPOConfig

    config = PPOConfig(steps=7, prompts_per_step=8, actor_minibatch_prompts=4,
                       critic_minibatch_prompts=8, seed=12)  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"ppo": config.model_dump(mode="json")}))
    assert load_config(PPOConfig, path) == config
    assert load_config(PPOConfig, path, ["ppo.steps=9"]).steps == 9
    flat = tmp_path / "flat.toml"
    flat.write_text("steps = 5\n")
    assert load_config(PPOConfig, flat).steps == 5


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
