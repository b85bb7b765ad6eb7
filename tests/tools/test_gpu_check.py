"""tools/gpu_check.py: its refusal on a machine without a GPU (what CI can run), and the
pieces of its GPU path that need no GPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.py"


def _module() -> object:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "report.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 3
    assert "gpu_check: no CUDA GPU here" in done.stderr
    report = json.loads(out.read_text())
    assert report["ok"] is False and report["gpu"] is None


def test_the_gpu_path_plans_every_part_and_its_fsdp_launch_is_fsdp(tmp_path: Path) -> None:
    from cogstar.study.memory import launch_of
    from cogstar.study.spec import LaunchSpec

    check = _module()
    for key, shape in check.SHAPES.items():  # type: ignore[attr-defined]
        for part in check.DEFAULT[key]:  # type: ignore[attr-defined]
            if part != "eval":  # what an 80 GB GPU leaves usable
                assert 0 < check.planned_gib(shape, part, 80.0) < 72  # type: ignore[attr-defined]
    config = tmp_path / "fsdp.yaml"
    config.write_text(check.FSDP_ONE)  # type: ignore[attr-defined]
    launch = launch_of(LaunchSpec(launcher="accelerate", accelerate_config=str(config)))
    assert (launch.gpus, launch.sharding, launch.checkpointing) == (1, "fsdp", True)
    assert set(check.DEFAULT["qwen"]) == set(check.PARTS)  # type: ignore[attr-defined]
