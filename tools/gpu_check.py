"""Check cogstar's GPU paths on one GPU, with no network, and write what they measured.

    python tools/gpu_check.py --out gpu_check.json          # every part, about 8 minutes
    python tools/gpu_check.py --parts ppo_fast,eval         # some of them

Models are random-initialised from the configs shipped in ``cogstar/data/shapes/`` (a
Qwen2.5-0.5B shape and a Llama-3.2-1B shape, their real vocabulary sizes) with the embedded
tokenizer, so nothing is downloaded. The parts:

* ``ppo_fast``, ``ppo_hf``, ``ppo_vllm``: 3 bf16 PPO steps (autocast over fp32 master
  weights) with each rollout engine (vLLM only when it is importable), one process;
* ``ppo_fsdp``: the same under ``accelerate launch`` with FSDP2 on one process (HF rollouts);
* ``eval``: evaluation with 4 samples per puzzle, pass@1 and pass@4.

Each PPO part runs in its own process (its memory and a crash stay its own) and reports step
time, rollout tokens/s and the measured peak memory next to the memory planner's estimate
(:mod:`cogstar.study.memory`). The JSON report has one entry per part with ``ok``; the exit
status is 0 when every part passed, 1 when one failed, 3 on a machine without a CUDA GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SHAPES = {"qwen": "Qwen/Qwen2.5-0.5B", "llama": "meta-llama/Llama-3.2-1B"}
PARTS = ("ppo_fast", "ppo_hf", "ppo_vllm", "ppo_fsdp", "eval")
# which parts run on which shape by default: everything on the Qwen shape; the Llama shape
# (another architecture, no pad token in its real tokenizer) through the default engine
DEFAULT = {"qwen": PARTS, "llama": ("ppo_fast", "eval")}
PPO = {
    "steps": 3, "prompts_per_step": 16, "samples_per_prompt": 4, "max_prompt_tokens": 256,
    "max_response_tokens": 256, "actor_minibatch_prompts": 8, "critic_minibatch_prompts": 8,
    "micro_batch": 8, "save_every": 3, "dtype": "bfloat16", "vllm_gpu_memory": 0.3,
}  # fmt: skip
FSDP_ONE = """compute_environment: LOCAL_MACHINE
distributed_type: FSDP
mixed_precision: bf16
num_machines: 1
num_processes: 1
gpu_ids: '0'
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: SHARDED_STATE_DICT
  fsdp_activation_checkpointing: true
"""


def build_model(hub_id: str, out: Path) -> Path:
    """A random-initialised model of ``hub_id``'s shape with the embedded tokenizer, in bf16."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from cogstar.train.models import load_tokenizer
    from cogstar.train.shapes import shipped_config
    from cogstar.train.tiny import packaged_dir

    config = dict(shipped_config(hub_id) or {})
    tok = load_tokenizer(packaged_dir())
    config.update(bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(
            AutoConfig.for_model(**config), dtype=torch.bfloat16
        )
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out


def planned_gib(hub_id: str, part: str, memory_gb: float) -> float:
    from cogstar.study.memory import GIB, Launch, plan_ppo
    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.shapes import model_shape

    rollout = {"ppo_fast": "fast", "ppo_vllm": "vllm"}.get(part, "hf")
    fsdp = part == "ppo_fsdp"
    launch = Launch(1, "fsdp" if fsdp else "single", fsdp, memory_gb)
    plan = plan_ppo(model_shape(hub_id), PPOConfig(**PPO, rollout=rollout), launch)
    return plan.peak / GIB


def run_ppo_part(part: str, model: Path, puzzles: Path, work: Path, timeout: int) -> dict[str, Any]:
    rollout = {"ppo_fast": "fast", "ppo_vllm": "vllm"}.get(part, "hf")
    config = work / f"{part}.json"
    config.write_text(json.dumps({"ppo": {**PPO, "rollout": rollout}}))
    out = work / f"{model.name}-{part}"
    stage = ["-m", "cogstar.train.ppo", str(model), str(out), "--puzzles", str(puzzles),
             "--config", str(config)]  # fmt: skip
    if part == "ppo_fsdp":
        accelerate = work / "fsdp_1gpu.yaml"
        accelerate.write_text(FSDP_ONE)
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                   str(accelerate), *stage]  # fmt: skip
    else:
        command = [sys.executable, *stage]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"over {timeout} s", "seconds": time.perf_counter() - start}
    result: dict[str, Any] = {"seconds": round(time.perf_counter() - start, 1)}
    metrics = out / "metrics.jsonl"
    rows = [json.loads(x) for x in metrics.read_text().splitlines()] if metrics.exists() else []
    result["ok"] = done.returncode == 0 and len(rows) == PPO["steps"]
    if rows:
        result["step_seconds"] = [round(sum(r["seconds"].values()), 2) for r in rows]
        result["seconds_by_phase_last_step"] = {
            k: round(v, 2) for k, v in rows[-1]["seconds"].items()
        }
        result["rollout_tokens_per_s"] = round(rows[-1]["rollout_tokens_per_s"], 1)
        peaks = [r["peak_memory_gib"] for r in rows if "peak_memory_gib" in r]
        if peaks:
            result["peak_memory_gib"] = round(max(peaks), 2)
        result["finite"] = all(
            isinstance(r[k], float) and abs(r[k]) < float("inf")
            for r in rows
            for k in ("reward", "kl", "entropy", "pg_loss", "vf_loss")
        )
        result["ok"] = result["ok"] and result["finite"]
    if done.returncode != 0:
        result["error"] = done.stderr[-3000:]
    return result


def run_eval_part(model: Path, puzzles: list[Any]) -> dict[str, Any]:
    import torch

    from cogstar.train.evaluate import EvalConfig, evaluate

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    config = EvalConfig(samples=4, k=[1, 4], max_new_tokens=256, batch_size=64)
    result = evaluate(model, puzzles[:32], config)
    seconds = time.perf_counter() - start
    tokens = result.mean_tokens * result.n * config.samples
    return {
        "ok": set(result.pass_at_k) == {1, 4} and result.n == 32,
        "seconds": round(seconds, 1),
        "pass_at_k": {str(k): v for k, v in result.pass_at_k.items()},
        "tokens_per_s": round(tokens / max(result.seconds, 1e-9), 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("gpu_check.json"), help="the JSON report")
    ap.add_argument("--shapes", default=",".join(SHAPES), help="qwen, llama or both")
    ap.add_argument("--parts", default="", help=f"comma-separated, of {', '.join(PARTS)}")
    ap.add_argument("--timeout", type=int, default=240, help="seconds for one PPO part")
    args = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        reason = (
            "no CUDA GPU here (torch.cuda.is_available() is False): this script checks "
            "cogstar's GPU paths; run it on a machine with one"
        )
        print(f"gpu_check: {reason}", file=sys.stderr)
        args.out.write_text(json.dumps({"ok": False, "gpu": None, "reason": reason}, indent=2))
        return 3
    import cogstar

    chosen = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    props = torch.cuda.get_device_properties(0)
    memory_gb = props.total_memory / 2**30
    report: dict[str, Any] = {
        "gpu": props.name,
        "gpu_memory_gib": round(memory_gb, 1),
        "torch": torch.__version__,
        "vllm": importlib.util.find_spec("vllm") is not None,
        "ppo": PPO,
        "parts": [],
    }
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = Path(tmp)
        puzzles = cogstar.generate_puzzles(256, seed=0, sizes=(3, 4), rules="rational")
        puzzle_file = work / "puzzles.jsonl"
        puzzle_file.write_text(
            "".join(json.dumps({"numbers": p.numbers, "target": p.target}) + "\n" for p in puzzles)
        )
        for key in [s for s in args.shapes.split(",") if s]:
            hub_id = SHAPES[key]
            model = build_model(hub_id, work / key)
            for part in chosen or DEFAULT[key]:
                entry: dict[str, Any] = {"part": part, "shape": hub_id}
                print(f"gpu_check: {part} on the {hub_id} shape ...", file=sys.stderr, flush=True)
                if part == "ppo_vllm" and not report["vllm"]:
                    entry.update(
                        ok=None, skipped='vllm is not installed (pip install -e ".[vllm]")'
                    )
                elif part == "eval":
                    try:
                        entry.update(run_eval_part(model, puzzles))
                    except Exception as err:  # reported, not raised: the other parts go on
                        entry.update(ok=False, error=f"{type(err).__name__}: {err}")
                else:
                    entry["planned_peak_gib"] = round(planned_gib(hub_id, part, memory_gb), 2)
                    entry.update(run_ppo_part(part, model, puzzle_file, work, args.timeout))
                report["parts"].append(entry)
                args.out.write_text(json.dumps(report, indent=2))  # a partial report survives
                print(f"gpu_check: {part}: {json.dumps(entry)[:400]}", file=sys.stderr, flush=True)
    ran = [p for p in report["parts"] if p.get("ok") is not None]
    report["ok"] = bool(ran) and all(p["ok"] for p in ran)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"gpu_check: wrote {args.out}; {'all parts passed' if report['ok'] else 'FAILED'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
