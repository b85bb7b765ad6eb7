"""`cogstar run … > log`: off a terminal the run writes plain lines (each stage's start and
end, step lines with the latest metrics), whole tables, and none of Accelerate's per-save
notices."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from micro import DATA_AND_MODEL, RL_AND_EVAL, TRAINING


def test_a_run_into_a_file_reads_as_a_log(tmp_path: Path) -> None:
    spec = tmp_path / "logged.toml"
    spec.write_text(
        f'[experiment]\nname = "logged"\nout = "{tmp_path / "runs"}"\n\n{DATA_AND_MODEL}\n'
        f"[priming]\ncount = 8\nvalidation = 0\nbudget = 200\n\n[sft]\n{TRAINING}\n{RL_AND_EVAL}"
        '\n[sweep]\ncondition = ["all_strategies"]\n'
    )
    log = tmp_path / "run.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    env.pop("FORCE_COLOR", None)
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "cogstar.cli", "run", str(spec)],
            stdout=out, stderr=subprocess.STDOUT, env=env, timeout=600,
        )  # fmt: skip
    text = log.read_text()
    assert done.returncode == 0, text[-3000:]
    lines = text.splitlines()
    stamp = r"^\d\d:\d\d:\d\d "
    for stage in ("sft", "rl"):
        assert any(re.match(stamp + rf"all_strategies · {stage}: started$", x) for x in lines)
        assert any(
            re.match(stamp + rf"all_strategies · {stage}: finished in \d+", x) for x in lines
        )
    steps = [x for x in lines if re.match(stamp + r"all_strategies · ppo: 2/2 .*reward", x)]
    assert len(steps) == 1 and "accuracy" in steps[0]
    assert len([x for x in lines if re.match(stamp + r"all_strategies · sft: 2/2 ", x)]) == 1
    assert "Removed shared tensor" not in text
    assert "\x1b[" not in text  # no terminal control codes in a file
    assert "…" not in text  # no column cut short
