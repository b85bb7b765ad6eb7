"""The memory planner against hand-computed cases and against the embedded model on CPU:
parameter, gradient and optimizer bytes exactly; saved activations within 25%."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar.errors import ConfigError  # noqa: E402
from cogstar.study import memory  # noqa: E402
from cogstar.study.memory import GIB, Launch, Precision  # noqa: E402
from cogstar.study.spec import LaunchSpec, load_spec  # noqa: E402
from cogstar.train.ppo.config import PPOConfig  # noqa: E402
from cogstar.train.shapes import model_shape, shipped_config, shipped_shapes  # noqa: E402
from cogstar.train.tiny import packaged_dir  # noqa: E402

ROOT = Path(__file__).parents[2]
FP32 = Precision.of("float32", "float32")
PUBLISHED = {  # parameter counts on the models' hub pages
    "Qwen/Qwen2.5-0.5B": 494_032_768,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
}


@pytest.mark.parametrize("hub_id", shipped_shapes())
def test_shapes_count_the_parameters_transformers_builds(hub_id: str) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = shipped_config(hub_id)
    assert config is not None
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    shape = model_shape(hub_id)
    params = list(model.parameters())  # tied weights once
    assert shape.parameters() == sum(p.numel() for p in params)
    assert shape.tensors() == len(params)
    if hub_id in PUBLISHED:
        assert shape.parameters() == PUBLISHED[hub_id]


def test_state_bytes_by_sharding_hand_computed() -> None:
    p, n = 3_212_749_824, 255  # Llama-3.2-3B: parameters, tensors
    four = {s: Launch(4, s) for s in ("ddp", "fsdp", "zero1", "zero2", "zero3")}
    ddp = {t.what: t.bytes for t in memory.state_bytes(p, n, FP32, four["ddp"])}
    assert ddp == {
        "weights": 4 * p,
        "gradients": 4 * p,
        "AdamW moments": 8 * p + 4 * n,
        "DDP gradient buckets": 4 * p,
    }
    fsdp = {t.what: t.bytes for t in memory.state_bytes(p, n, FP32, four["fsdp"])}
    assert fsdp == {"weights": p, "gradients": p, "AdamW moments": (8 * p + 4 * n) / 4}
    zero2 = {t.what: t.bytes for t in memory.state_bytes(p, n, FP32, four["zero2"])}
    assert zero2 == {"weights": 4 * p, "gradients": p, "AdamW moments": (8 * p + 4 * n) / 4}
    bf16 = Precision.of("float32", "bfloat16")  # a bf16 DeepSpeed engine: fp32 master copy
    zero3 = {t.what: t.bytes for t in memory.state_bytes(p, n, bf16, four["zero3"])}
    assert zero3 == {"weights": p / 2, "gradients": p / 2, "AdamW moments": (12 * p + 4 * n) / 4}


def test_the_ppo_reference_is_whole_under_fsdp_and_sharded_under_zero3() -> None:
    shape = model_shape("meta-llama/Llama-3.2-3B")
    ppo = PPOConfig(rollout="hf")
    ref = {}
    for sharding in ("fsdp", "zero3"):
        plan = memory.plan_ppo(shape, ppo, Launch(4, sharding))  # type: ignore[arg-type]
        ref[sharding] = next(t.bytes for t in plan.resident if t.what == "reference weights")
    assert ref == {"fsdp": 2 * shape.parameters(), "zero3": 2 * shape.parameters() / 4}


def test_activations_hand_computed() -> None:
    """Tiny-model sizes, by hand: per token and layer 2 norms x 12 bytes x hidden,
    (3q + 2kv + 4i) x 4 bytes, 4 bytes of log-sum-exp per head; once: the rotary tables,
    the final norm's two tensors, the ids, and the b x s x s mask."""
    shape = model_shape("tiny")
    h, q, kv, i, heads, hd = 128, 128, 64, 384, 4, 32
    assert (shape.hidden, shape.q_dim, shape.kv_dim, shape.intermediate) == (h, q, kv, i)
    b, s = 2, 10
    layer = 2 * 12 * h + (3 * q + 2 * kv + 4 * i) * 4 + 4 * heads
    once = 2 * hd * 4 + 8 * h + 8
    want = b * s * (4 * layer + once) + b * s * s
    assert memory.activation_bytes(shape, b, s, FP32, checkpointed=False) == want
    kept = b * s * (4 * h * 4 + layer + once) + b * s * s
    assert memory.activation_bytes(shape, b, s, FP32, checkpointed=True) == kept


# -- against the embedded model on CPU ----------------------------------------------------


def _saved_bytes(fn: object, exclude: set[int]) -> int:
    """Bytes of the distinct storages autograd saves for the backward pass while ``fn`` runs
    (parameters excluded)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in exclude:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()  # type: ignore[operator]
    return sum(seen.values())


def _batch(rows: int, prompt: int, response: int) -> object:
    from cogstar.train.ppo.rollout import Batch

    g = torch.Generator().manual_seed(0)
    prompt_mask = torch.ones(rows, prompt, dtype=torch.long)
    prompt_mask[1:, : prompt // 4] = 0  # left padding, as the trainer's prompts
    response_mask = torch.ones(rows, response)
    response_mask[::2, response // 2 :] = 0  # finished early
    return Batch(
        torch.randint(2, 1000, (rows, prompt), generator=g),
        prompt_mask,
        torch.randint(2, 1000, (rows, response), generator=g),
        response_mask,
    )


@pytest.fixture(scope="module")
def tiny() -> object:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(packaged_dir()), dtype=torch.float32)


def test_state_bytes_equal_the_tiny_actor_and_critic_on_cpu(tiny: object) -> None:
    from cogstar.train.ppo.critic import load_critic

    shape = model_shape("tiny")
    plan = memory.plan_ppo(shape, PPOConfig(dtype="float32"), Launch())
    planned = {t.what: t.bytes for t in plan.resident}
    critic = load_critic(packaged_dir(), dtype="float32")
    for name, model in (("actor", tiny), ("critic", critic)):
        params = list(model.parameters())  # type: ignore[attr-defined]
        opt = torch.optim.AdamW(params, lr=1e-3)
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
        weights = sum(p.numel() * p.element_size() for p in params)
        grads = sum(p.grad.numel() * p.grad.element_size() for p in params)
        state = sum(
            t.numel() * t.element_size()
            for s in opt.state.values()
            for t in s.values()
            if isinstance(t, torch.Tensor)
        )
        assert planned[f"{name} weights"] == weights
        assert planned[f"{name} gradients"] == grads
        assert planned[f"{name} AdamW moments"] == state
        opt.zero_grad(set_to_none=True)
    assert planned["reference weights"] == shape.parameters() * 4


@pytest.mark.parametrize("checkpointed", [False, True])
def test_saved_activations_of_a_ppo_micro_batch_within_25_percent(
    tiny: object, checkpointed: bool
) -> None:
    from cogstar.train.ppo.critic import load_critic
    from cogstar.train.ppo.rollout import token_logprobs

    shape = model_shape("tiny")
    rows, prompt, response = 4, 32, 96
    batch = _batch(rows, prompt, response)
    ppo = PPOConfig(dtype="float32", micro_batch=rows, max_prompt_tokens=prompt,
                    max_response_tokens=response, activation_checkpointing=checkpointed)  # fmt: skip
    plan = memory.plan_ppo(shape, ppo, Launch())
    model = tiny
    critic = load_critic(packaged_dir(), dtype="float32")
    for m in (model, critic.backbone):
        m.train()  # type: ignore[attr-defined]
        if checkpointed:
            m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # type: ignore[attr-defined]
    try:
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}  # type: ignore[attr-defined]
        actor = _saved_bytes(lambda: token_logprobs(model, batch, with_entropy=True), params)
        params = {p.untyped_storage().data_ptr() for p in critic.parameters()}
        values = _saved_bytes(
            lambda: critic(batch.input_ids, batch.attention_mask, prompt),  # type: ignore[attr-defined]
            params,
        )
    finally:
        if checkpointed:
            for m in (model, critic.backbone):
                m.gradient_checkpointing_disable()  # type: ignore[attr-defined]
    actor_plan = sum(t.bytes for t in plan.phases["actor update"] if "recomputed" not in t.what)
    critic_plan = sum(t.bytes for t in plan.phases["critic update"] if "recomputed" not in t.what)
    assert actor == pytest.approx(actor_plan, rel=0.25)  # the forward pass's share
    assert values == pytest.approx(critic_plan, rel=0.25)


# -- launches and specs -------------------------------------------------------------------


def test_launch_of_reads_the_shipped_accelerate_configs() -> None:
    def of(name: str) -> Launch:
        config = str(ROOT / "configs" / "accelerate" / name)
        return memory.launch_of(LaunchSpec(launcher="accelerate", accelerate_config=config))

    assert (of("ddp_4gpu.yaml").gpus, of("ddp_4gpu.yaml").sharding) == (4, "ddp")
    fsdp = of("fsdp_4gpu.yaml")
    assert (fsdp.gpus, fsdp.sharding, fsdp.checkpointing) == (4, "fsdp", True)
    assert of("zero3_4gpu.yaml").sharding == "zero3"
    assert of("single_gpu.yaml").gpus == 1
    torchrun = memory.launch_of(LaunchSpec(launcher="torchrun", args=["--nproc_per_node", "2"]))
    assert (torchrun.gpus, torchrun.sharding) == (2, "ddp")


def test_the_old_ddp_paper_spec_is_refused_with_the_planners_numbers() -> None:
    spec = load_spec(
        ROOT / "experiments" / "paper" / "llama_priming.toml",
        ["launch.accelerate_config=configs/accelerate/ddp_4gpu.yaml", "ppo.rollout=hf",
         "ppo.activation_checkpointing=false", "ppo.micro_batch=16"],
    )  # fmt: skip
    with pytest.raises(ConfigError) as err:
        memory.check_fits(spec)
    text = str(err.value)
    assert "ppo (meta-llama/Llama-3.2-3B, 4 GPUs, DDP): estimated peak" in text
    assert "over the 72.0 GiB usable of launch.gpu_memory_gb = 80" in text
    assert "fix: shard the models" in text and "checkpoint activations" in text


@pytest.mark.parametrize(
    "name", ["paper/llama_priming.toml", "paper/qwen_priming.toml", "paper/qwen_1gpu.toml",
             "pretraining_curation.toml"],
)  # fmt: skip
def test_the_paper_specs_fit_their_declared_gpus(name: str) -> None:
    spec = load_spec(ROOT / "experiments" / name)
    assert spec.launch.gpu_memory_gb is not None
    plans = memory.memory_plan(spec)
    memory.check_fits(spec, plans)  # raises if any stage does not fit
    assert {p.stage for p in plans} >= {"ppo", "eval"}
    assert all(p.peak < spec.launch.gpu_memory_gb * GIB * memory.USABLE for p in plans)


SHIPPED = sorted(
    p.relative_to(ROOT / "experiments") for p in (ROOT / "experiments").rglob("*.toml")
)


@pytest.mark.parametrize("name", [str(p) for p in SHIPPED])
def test_dry_run_of_every_shipped_spec_prints_a_memory_plan(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cogstar.cli import main

    monkeypatch.chdir(ROOT)  # the specs name their Accelerate configs from the repository root
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["run", f"experiments/{name}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "memory per" in out and "peak (" in out
    for stage in ("ppo", "eval"):
        assert f": {stage} (" in out
    if "paper" in name:
        assert "DOES NOT FIT" not in out and "fits in 72.0 GiB usable" in out


def test_a_spec_that_does_not_fit_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cogstar.cli import main
    from cogstar.study.runner import run_experiment

    monkeypatch.chdir(ROOT)
    spec = "experiments/paper/llama_priming.toml"
    old = [f"experiment.out={tmp_path}", "launch.accelerate_config=configs/accelerate/ddp_4gpu.yaml",
           "ppo.rollout=hf"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"ppo \(meta-llama/Llama-3.2-3B, 4 GPUs, DDP\)"):
        run_experiment(spec, overrides=old)
    assert list(tmp_path.iterdir()) == []  # no run folder, no data
    assert main(["run", spec, "--dry-run", *[x for o in old for x in ("--set", o)]]) == 2
    captured = capsys.readouterr()
    assert "DOES NOT FIT" in captured.out
    assert "fix: shard the models" in captured.err
