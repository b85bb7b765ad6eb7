"""PPO at scale, as far as a CPU can check it: precision rules, the DeepSpeed config the
trainer builds for each model, and bf16 autocast over fp32 master weights run end to end
on CPU under ``accelerate launch --mixed_precision bf16``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.errors import ConfigError  # noqa: E402
from cogstar.train.ppo import distributed as dist  # noqa: E402
from cogstar.train.ppo.config import PPOConfig  # noqa: E402
from cogstar.train.ppo.trainer import run_ppo  # noqa: E402
from micro import random_policy  # noqa: E402

ROOT = Path(__file__).parents[3]


def test_precision_on_gpu_is_autocast_over_fp32_master_weights() -> None:
    bf16 = dist.precision("bfloat16", on_gpu=True, environ={})
    assert (bf16.mixed, bf16.trained, bf16.frozen) == ("bf16", "float32", "bfloat16")
    assert dist.precision("auto", on_gpu=True, environ={}) == bf16
    fp16 = dist.precision("float16", on_gpu=True, environ={})
    assert (fp16.mixed, fp16.trained, fp16.frozen) == ("fp16", "float32", "float16")
    fp32 = dist.precision("float32", on_gpu=True, environ={})
    assert (fp32.mixed, fp32.trained, fp32.frozen) == ("no", "float32", "float32")
    assert bf16.describe() == "bf16 autocast, float32 master weights, bfloat16 reference"


def test_precision_on_cpu_follows_the_launcher() -> None:
    assert dist.precision("bfloat16", on_gpu=False, environ={}).mixed == "no"
    launched = dist.precision("bfloat16", False, {"ACCELERATE_MIXED_PRECISION": "bf16"})
    assert (launched.mixed, launched.trained, launched.frozen) == ("bf16", "float32", "float32")
    with pytest.raises(ValueError, match=r"ppo\.dtype must be"):
        dist.precision("int8", on_gpu=True, environ={})


def test_deepspeed_config_sets_what_the_trainer_owns() -> None:
    config = dist.deepspeed_config(
        None, micro_batch=8, accumulation=4, processes=4, grad_clip=1.0, mixed="bf16"
    )
    assert config["zero_optimization"]["stage"] == 3
    assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["train_micro_batch_size_per_gpu"] == 8
    assert config["gradient_accumulation_steps"] == 4
    assert config["train_batch_size"] == 8 * 4 * 4
    assert config["gradient_clipping"] == 1.0
    assert config["bf16"] == {"enabled": True} and config["fp16"] == {"enabled": False}
    reference = dist.deepspeed_config(
        config, micro_batch=8, accumulation=1, processes=4, grad_clip=None, mixed="bf16"
    )
    assert "gradient_clipping" not in reference  # the frozen model has no gradients
    assert config["gradient_accumulation_steps"] == 4  # the input is not modified


def test_one_deepspeed_plugin_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accelerate's own DeepSpeedPlugin objects (no DeepSpeed install needed to build them),
    from the shipped ZeRO-3 JSON: the actor and critic accumulate their own mini-batches, the
    frozen reference has no clipping."""
    shipped = ROOT / "configs" / "deepspeed" / "zero3.json"
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(shipped))
    plugins = dist.deepspeed_plugins(
        micro_batch=4,
        actor_accumulation=2,
        critic_accumulation=4,
        processes=2,
        grad_clip=1.0,
        mixed="bf16",
    )
    assert sorted(plugins) == ["actor", "critic", "reference"]
    actor, critic, reference = (
        plugins[k].deepspeed_config for k in ("actor", "critic", "reference")
    )
    assert {plugins[k].zero_stage for k in plugins} == {3}
    assert (actor["gradient_accumulation_steps"], actor["train_batch_size"]) == (2, 16)
    assert (critic["gradient_accumulation_steps"], critic["train_batch_size"]) == (4, 32)
    assert actor["gradient_clipping"] == 1.0 and "gradient_clipping" not in reference
    assert actor["bf16"]["enabled"] is True


def test_deepspeed_config_refuses_an_optimizer_section() -> None:
    with pytest.raises(ValueError, match=r"ds\.json: remove the 'optimizer' section"):
        dist.deepspeed_config(
            {"optimizer": {"type": "AdamW"}},
            micro_batch=1,
            accumulation=1,
            processes=1,
            grad_clip=1.0,
            mixed="no",
            source="ds.json",
        )


def test_the_launch_configs_deepspeed_file_is_read_with_clear_errors(tmp_path: Path) -> None:
    shipped = ROOT / "configs" / "deepspeed" / "zero3.json"
    config, source = dist.user_deepspeed_config({"ACCELERATE_DEEPSPEED_CONFIG_FILE": str(shipped)})
    assert source == str(shipped) and config is not None
    built = dist.deepspeed_config(
        config, micro_batch=4, accumulation=2, processes=4, grad_clip=1.0, mixed="bf16"
    )
    assert built["zero_optimization"]["stage"] == 3
    assert dist.user_deepspeed_config({}) == (None, "the default ZeRO-3 config")
    with pytest.raises(ValueError, match=r"nope\.json: DeepSpeed config file not found"):
        dist.user_deepspeed_config(
            {"ACCELERATE_DEEPSPEED_CONFIG_FILE": str(tmp_path / "nope.json")}
        )
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "zero_optimization": {\n')
    with pytest.raises(ValueError, match=r"broken\.json:3: not valid JSON"):
        dist.user_deepspeed_config({"ACCELERATE_DEEPSPEED_CONFIG_FILE": str(broken)})


def test_deepspeed_needs_whole_micro_batches() -> None:
    fits = PPOConfig(
        prompts_per_step=8,
        actor_minibatch_prompts=4,
        critic_minibatch_prompts=4,
        samples_per_prompt=4,
        micro_batch=4,
        rollout="hf",
    )
    fits.check_launch(2, deepspeed=True, sharded=True)
    assert fits.minibatch_rows("actor", 2) == 8
    with pytest.raises(
        ConfigError, match=r"ppo\.micro_batch: under DeepSpeed 3 must divide the actor"
    ):
        PPOConfig(
            prompts_per_step=8,
            actor_minibatch_prompts=4,
            critic_minibatch_prompts=4,
            samples_per_prompt=4,
            micro_batch=3,
            rollout="hf",
        ).check_launch(2, deepspeed=True, sharded=True)
    with pytest.raises(
        ConfigError, match=r"ppo\.prompts_per_step: 8 is not a multiple of .* \(3\)"
    ):
        fits.check_launch(3, deepspeed=False, sharded=False)


def test_fast_rollouts_are_refused_under_sharding_and_vllm_is_not() -> None:
    vllm = PPOConfig(
        rollout="vllm", prompts_per_step=8, actor_minibatch_prompts=8, critic_minibatch_prompts=8
    )
    vllm.check_launch(1, deepspeed=False, sharded=False)
    vllm.check_launch(4, deepspeed=False, sharded=True)  # weights gathered once a step
    with pytest.raises(ConfigError, match=r'ppo\.rollout: "fast" runs on one device or under DDP'):
        PPOConfig(prompts_per_step=8, actor_minibatch_prompts=8, critic_minibatch_prompts=8
                  ).check_launch(1, deepspeed=False, sharded=True)  # fmt: skip
    with pytest.raises(ValueError, match=r"rollout\n.*Input should be 'fast', 'hf' or 'vllm'"):
        PPOConfig(rollout="sglang")  # type: ignore[arg-type]


SETTINGS = PPOConfig(
    steps=2,
    prompts_per_step=4,
    samples_per_prompt=2,
    max_response_tokens=24,
    actor_lr=1e-4,
    critic_lr=1e-3,
    actor_minibatch_prompts=2,
    critic_minibatch_prompts=2,
    micro_batch=4,
    save_every=2,
)


def _config_file(settings: PPOConfig, path: Path) -> Path:
    """The config as the stage command reads it (what a run writes beside the stage)."""
    path.write_text(json.dumps({"ppo": settings.model_dump(mode="json")}))
    return path


def test_bf16_autocast_over_fp32_master_weights_under_accelerate_launch(tmp_path: Path) -> None:
    """`accelerate launch --mixed_precision bf16` on CPU: forward passes autocast to bf16, the
    weights the optimizer steps stay fp32, and the run trains."""
    policy = random_policy(tmp_path / "policy")
    puzzles = cogstar.generate_puzzles(16, seed=3, sizes=(3,), rules="classic")
    data = tmp_path / "puzzles.jsonl"
    data.write_text(
        "".join(json.dumps({"numbers": p.numbers, "target": p.target}) + "\n" for p in puzzles)
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1",
        "--num_machines", "1", "--mixed_precision", "bf16", "--dynamo_backend", "no",
        "-m", "cogstar.train.ppo", str(policy), str(tmp_path / "bf16"), "--puzzles", str(data),
        "--config", str(_config_file(SETTINGS, tmp_path / "ppo.json")),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((tmp_path / "bf16" / "run.json").read_text())
    assert run["mixed_precision"] == "bf16"
    assert run["precision"] == "bf16 autocast, float32 master weights, float32 reference"
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "bf16" / "step_000002" / "actor" / "model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.float32}  # master weights
    start = load_file(policy / "model.safetensors")
    moved = [not torch.equal(start[k], saved[k]) for k in start]
    assert sum(moved) > len(moved) // 2
    bf16 = [json.loads(x) for x in (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()]
    for row in bf16:
        for key in ("reward", "kl", "entropy", "pg_loss", "vf_loss"):
            assert torch.isfinite(torch.tensor(row[key])), (key, row)

    # the same first step in fp32: same prompts and seed, so only the arithmetic differs
    first = run_ppo(policy, puzzles, tmp_path / "fp32", SETTINGS, stop_after=1)
    assert first.name == "step_000001"  # stopping saves, even between save_every steps
    fp32 = json.loads((tmp_path / "fp32" / "metrics.jsonl").read_text().splitlines()[0])
    assert json.loads((tmp_path / "fp32" / "run.json").read_text())["mixed_precision"] == "no"
    # bf16 logits are close to fp32 ones but not bit-equal: the actor ran under autocast
    assert bf16[0]["entropy"] != fp32["entropy"]
    assert bf16[0]["entropy"] == pytest.approx(fp32["entropy"], rel=0.05)


@pytest.mark.gpu
def test_short_ppo_on_a_gpu_in_bf16(tmp_path: Path) -> None:
    """Opt-in (`-m gpu`): three PPO steps of the shipped tiny model on a CUDA GPU, bf16
    autocast over fp32 master weights, HF rollouts; prints seconds per step and tokens/s."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from cogstar.tasks import is_heldout
    from cogstar.train import tiny

    pool = cogstar.generate_puzzles(2000, seed=1, sizes=(3,))
    puzzles = [p for p in pool if not is_heldout(p.numbers, p.target)][:512]
    settings = PPOConfig(
        steps=3,
        prompts_per_step=64,
        samples_per_prompt=8,
        max_response_tokens=256,
        actor_lr=1e-4,
        critic_lr=1e-3,
        actor_minibatch_prompts=32,
        critic_minibatch_prompts=32,
        micro_batch=128,
        save_every=3,
        dtype="bfloat16",
    )
    run_ppo(tiny.packaged_dir(), puzzles, tmp_path / "gpu", settings)
    run = json.loads((tmp_path / "gpu" / "run.json").read_text())
    assert run["device"].startswith("cuda") and run["mixed_precision"] == "bf16"
    rows = [json.loads(x) for x in (tmp_path / "gpu" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        seconds = sum(row["seconds"].values())
        print(
            f"step {row['step']}: {seconds:.2f} s, rollout {row['rollout_tokens_per_s']:.0f} "
            f"tokens/s, reward {row['reward']:.3f}"
        )
        assert torch.isfinite(torch.tensor(row["pg_loss"]))


def test_full_parameters_gathers_fsdp2_shards_whole(tmp_path: Path) -> None:
    """What vLLM's weight sync reads under FSDP: every parameter whole and equal to the
    model's (one process with gloo on CPU; FSDP2 makes each a DTensor)."""
    import torch.distributed as tdist
    from torch.distributed.fsdp import fully_shard

    policy = random_policy(tmp_path / "policy")
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(policy), dtype=torch.float32)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tdist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0,
                             world_size=1)  # fmt: skip
    try:
        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        assert all(hasattr(p, "full_tensor") for p in model.parameters())  # sharded
        got = dict(dist.full_parameters(model))
    finally:
        tdist.destroy_process_group()
    assert got.keys() == before.keys()
    assert all(type(t) is torch.Tensor and torch.equal(t, before[n]) for n, t in got.items())


def test_activation_checkpointing_changes_memory_not_the_update(tmp_path: Path) -> None:
    policy = random_policy(tmp_path / "policy")
    puzzles = cogstar.generate_puzzles(16, seed=3, sizes=(3,), rules="classic")
    from safetensors.torch import load_file

    weights = []
    for on in (False, True):
        settings = SETTINGS.model_copy(update={"activation_checkpointing": on, "steps": 1})
        last = run_ppo(policy, puzzles, tmp_path / f"ckpt_{on}", settings)
        weights.append(load_file(last / "actor" / "model.safetensors"))
    plain, checkpointed = weights
    assert all(torch.allclose(plain[k], checkpointed[k], atol=1e-6) for k in plain)
    assert any(not torch.equal(plain[k], load_file(policy / "model.safetensors")[k]) for k in plain)
