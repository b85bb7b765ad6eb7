"""A memory plan: each training stage's estimated peak on one GPU, before anything runs.

    from cogstar.study.memory import memory_plan, check_fits
    plans = memory_plan(spec)        # one StagePlan per distinct stage of the sweep
    check_fits(spec, plans)          # ConfigError naming the stage, its peak and the fixes

``cogstar run SPEC --dry-run`` prints the plan; ``cogstar run`` refuses a spec whose
``[launch]`` declares ``gpu_memory_gb`` and whose plan does not fit it.

What is counted, per GPU (``b`` micro-batch rows, ``s`` their tokens, ``P`` parameters):

* **State**: weights, gradients and AdamW's two moments (and its step counters), in the dtype
  each is kept in (PPO: fp32 master weights under bf16 autocast; SFT: the model's dtype;
  DeepSpeed: bf16 weights and gradients with fp32 master weights in the optimizer), divided
  by the GPUs where the launch shards them (FSDP full-shard: all three; ZeRO-1/2/3: the
  optimizer, then gradients, then weights). DDP keeps a second copy of the gradients in its
  communication buckets. PPO's frozen reference is whole under FSDP (the trainer moves it to
  each GPU) and sharded under ZeRO-3.
* **Activations** saved for the backward pass of a Llama/Qwen2 layer, per token: the two
  RMSNorms' input, normalised and scaled tensors (fp32, as transformers computes them, plus
  the bf16 copy autocast feeds the next matmul; the final norm keeps two), the rotated queries and keys, the values, the
  attention output before and after its reshape (``3q + 2kv``), the four SwiGLU tensors
  (``4 x intermediate``), and attention's log-sum-exp per head (flash / memory-efficient
  attention: nothing of size ``s^2``, only the boolean padding mask). With activation
  checkpointing a layer keeps only its input, and one layer at a time is recomputed in the
  backward pass.
* **Logits**: PPO's log-prob passes compute them only at response positions, in the compute
  dtype, and their fp32 log-softmax one chunk of 128 positions at a time; SFT's loss
  (transformers) upcasts the whole ``b x s x vocab`` tensor to fp32 and keeps its
  log-softmax.
* **Rollouts**: the key/value cache (``rows x tokens x 2 x layers x kv``; the fast engine
  holds every row of a step at once, ``model.generate`` one micro-batch), or vLLM's reserved
  share of the GPU.

Tested against the embedded model on CPU: parameter, gradient and optimizer bytes exactly,
saved activations within 25% (``tests/study/test_memory.py``). On GPUs the estimate is
checked by ``tools/gpu_check.py``, which reports measured peaks beside it. An estimate leaves
out the CUDA context and allocator fragmentation; :data:`USABLE` of each GPU is what a plan
may fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cogstar.errors import ConfigError
from cogstar.study.launch import Launch, launch_of
from cogstar.train.shapes import ModelShape, model_shape

if TYPE_CHECKING:
    from rich.console import Console

    from cogstar.study.spec import Spec
    from cogstar.study.sweep import Cell

__all__ = [
    "GIB",
    "USABLE",
    "Launch",
    "Precision",
    "StagePlan",
    "Term",
    "activation_bytes",
    "check_fits",
    "launch_of",
    "memory_plan",
    "plan_eval",
    "plan_ppo",
    "plan_sft",
    "render_memory",
    "state_bytes",
]

GIB = 1 << 30
#: The share of a GPU's memory a plan may fill (the rest: CUDA context, NCCL buffers,
#: allocator fragmentation).
USABLE = 0.9
_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_LOGIT_CHUNK = 128  # positions per fp32 log-softmax chunk (cogstar.train.ppo.rollout)


@dataclass(frozen=True)
class Precision:
    """Bytes per element: ``weights`` (what the optimizer steps), ``compute`` (activations,
    logits), ``norms`` per hidden unit of one RMSNorm's saved tensors, and whether the run
    autocasts over wider weights."""

    weights: int
    compute: int
    autocast: bool

    @property
    def norm(self) -> int:
        """Bytes per hidden unit an RMSNorm saves: fp32 input (a copy when the input is
        16-bit), fp32 normalised, the scaled output (and under autocast its 16-bit copy)."""
        if self.compute == 4:
            return 12
        return 14 if self.autocast else 10

    @classmethod
    def of(cls, trained: str, compute: str) -> Precision:
        return cls(_BYTES[trained], _BYTES[compute], trained != compute)


@dataclass(frozen=True)
class Term:
    """One line of a plan: ``what`` takes ``bytes`` on each GPU."""

    what: str
    bytes: float


@dataclass
class StagePlan:
    """One stage's memory on each GPU: ``resident`` terms held throughout, and ``phases``
    (rollout, update, ...) of which the largest comes on top."""

    stage: str
    model: str
    launch: Launch
    resident: list[Term]
    phases: dict[str, list[Term]] = field(default_factory=dict)
    cells: list[str] = field(default_factory=list)
    note: str = ""
    on_gpu: bool = True

    @property
    def resident_bytes(self) -> float:
        return sum(t.bytes for t in self.resident)

    def phase_bytes(self, name: str) -> float:
        return sum(t.bytes for t in self.phases[name])

    @property
    def peak_phase(self) -> str | None:
        return max(self.phases, key=self.phase_bytes) if self.phases else None

    @property
    def peak(self) -> float:
        top = self.peak_phase
        return self.resident_bytes + (self.phase_bytes(top) if top is not None else 0.0)


# -- the pieces ------------------------------------------------------------------------


def state_bytes(
    parameters: int, tensors: int, precision: Precision, launch: Launch, *, trained: bool = True
) -> list[Term]:
    """Weights, gradients and AdamW state of a model of ``parameters`` in ``tensors`` tensors
    (a frozen model: its weights only), on one GPU."""
    if not trained:
        return [Term("weights", parameters * precision.compute / launch.shards("weights"))]
    weights, grads, moments = precision.weights, precision.weights, 2 * precision.weights
    if launch.deepspeed and precision.compute == 2:  # bf16 engine, fp32 master in the optimizer
        weights = grads = 2
        moments = 12
    steps = tensors * 4  # one fp32 step counter per parameter tensor (torch's AdamW)
    terms = [
        Term("weights", parameters * weights / launch.shards("weights")),
        Term("gradients", parameters * grads / launch.shards("grads")),
        Term("AdamW moments", (parameters * moments + steps) / launch.shards("optimizer")),
    ]
    if launch.sharding == "ddp" and launch.gpus > 1:
        terms.append(Term("DDP gradient buckets", parameters * grads))
    return terms


def _layer_bytes_per_token(shape: ModelShape, precision: Precision) -> float:
    saved = (3 * shape.q_dim + 2 * shape.kv_dim + 4 * shape.intermediate) * precision.compute
    return 2 * precision.norm * shape.hidden + saved + 4 * shape.heads


def activation_bytes(
    shape: ModelShape,
    rows: int,
    tokens: int,
    precision: Precision,
    *,
    checkpointed: bool,
    padded: bool = True,
) -> float:
    """Bytes a forward pass of the decoder (embeddings to final norm) over ``rows`` x ``tokens``
    saves for its backward pass, at its peak (checkpointed: the layers' inputs and one layer
    recomputed)."""
    n = rows * tokens
    residual = precision.weights if precision.autocast else precision.compute
    per_layer = _layer_bytes_per_token(shape, precision)
    if checkpointed:  # each layer keeps its input; one is recomputed at a time
        body = shape.layers * shape.hidden * residual * n + per_layer * n
    else:
        body = shape.layers * per_layer * n
    rotary = 2 * shape.head_dim * residual * n  # cos and sin, shared by the layers
    final_norm = 8 * shape.hidden * n  # its fp32 input and normalised tensor
    mask = rows * tokens * tokens if padded else 0  # transformers' boolean 4-D mask
    return body + rotary + final_norm + 8 * n + mask  # + the int64 token ids


def _activation_terms(
    shape: ModelShape, rows: int, tokens: int, precision: Precision, checkpointed: bool
) -> list[Term]:
    """:func:`activation_bytes` as plan lines: under checkpointing, what the forward pass
    keeps and the one layer the backward pass recomputes at a time."""
    total = activation_bytes(shape, rows, tokens, precision, checkpointed=checkpointed)
    if not checkpointed:
        return [Term("activations", total)]
    layer = rows * tokens * _layer_bytes_per_token(shape, precision)
    return [
        Term("activations (checkpointed: layer inputs)", total - layer),
        Term("one layer recomputed", layer),
    ]


def _fits_in(plan: StagePlan) -> float | None:
    memory = plan.launch.gpu_memory_gb
    return None if memory is None else memory * GIB * USABLE


# -- per stage -------------------------------------------------------------------------


def plan_ppo(shape: ModelShape, ppo: object, launch: Launch) -> StagePlan:
    """PPO (``ppo`` a :class:`~cogstar.train.ppo.config.PPOConfig`): actor, critic and the
    frozen reference; rollout, log-prob pass, actor and critic updates."""
    from cogstar.train.ppo.config import PPOConfig

    assert isinstance(ppo, PPOConfig)
    precision = Precision.of("float32", ppo.dtype)
    checkpointed = ppo.activation_checkpointing or launch.checkpointing
    resident = [
        replace(t, what=f"actor {t.what}")
        for t in state_bytes(shape.parameters(), shape.tensors(), precision, launch)
    ]
    resident += [
        replace(t, what=f"critic {t.what}")
        for t in state_bytes(shape.critic_parameters(), shape.critic_tensors(), precision, launch)
    ]
    ref_shards = launch.gpus if launch.sharding == "zero3" else 1
    resident.append(Term("reference weights", shape.parameters() * precision.compute / ref_shards))
    if launch.sharding in ("fsdp", "zero3"):
        largest = max(shape.layer_parameters(), shape.vocab * shape.hidden)
        resident.append(Term("gathered shards (2 units)", 2 * largest * precision.compute))
    if ppo.rollout == "vllm" and launch.gpu_memory_gb is not None:
        resident.append(Term("vLLM share", ppo.vllm_gpu_memory * launch.gpu_memory_gb * GIB))
    mb = ppo.micro_batch
    tokens = ppo.max_prompt_tokens + ppo.max_response_tokens
    logits = mb * (ppo.max_response_tokens + 1) * shape.vocab * precision.compute
    chunk = 3 * mb * _LOGIT_CHUNK * shape.vocab * 4  # fp32 log-softmax, exp, product
    phases: dict[str, list[Term]] = {}
    if ppo.rollout != "vllm":
        rows = (
            ppo.prompts_per_step * ppo.samples_per_prompt // launch.gpus
            if ppo.rollout == "fast"
            else mb
        )
        kv = rows * tokens * 2 * shape.layers * shape.kv_dim * precision.compute
        phases["rollout"] = [
            Term(f"key/value cache ({rows} rows)", kv),
            Term("sampling logits (fp32)", 2 * rows * shape.vocab * 4),
        ]
    phases["log-prob pass"] = [Term("logits at response tokens", logits), Term("fp32 chunk", chunk)]
    head_input = mb * (ppo.max_response_tokens + 1) * shape.hidden * precision.compute
    phases["actor update"] = [
        *_activation_terms(shape, mb, tokens, precision, checkpointed),
        Term("LM-head input at response tokens", head_input),
        Term("logits at response tokens", logits),
        Term("fp32 chunk (recomputed)", chunk),
    ]
    phases["critic update"] = [
        *_activation_terms(shape, mb, tokens, precision, checkpointed),
        Term("value-head input (fp32)", mb * tokens * shape.hidden * 4),
    ]
    return StagePlan("ppo", shape.name, launch, resident, phases)


def plan_sft(
    shape: ModelShape, sft: object, launch: Launch, stage: str = "sft", on_gpu: bool = True
) -> StagePlan:
    """SFT priming or continued pretraining (``sft`` an
    :class:`~cogstar.train.sft.SFTConfig`): TRL's trainer on ``micro_batch`` x ``max_length``
    (an upper bound: batches are padded to their longest record)."""
    from cogstar.train.sft import SFTConfig

    assert isinstance(sft, SFTConfig)
    dtype = sft.dtype if on_gpu else "float32"
    precision = Precision.of(dtype, dtype)
    checkpointed = sft.activation_checkpointing or launch.checkpointing
    resident = state_bytes(shape.parameters(), shape.tensors(), precision, launch)
    mb, tokens = sft.micro_batch, sft.max_length
    logits = mb * tokens * shape.vocab
    phases = {
        "update": [
            *_activation_terms(shape, mb, tokens, precision, checkpointed),
            Term("LM-head input", mb * tokens * shape.hidden * precision.compute),
            Term("logits", logits * precision.compute),
            Term("fp32 logits and log-softmax (loss)", logits * (4 + 4 * (precision.compute < 4))),
        ]
    }
    return StagePlan(stage, shape.name, launch, resident, phases)


def plan_eval(
    shape: ModelShape, evaluation: object, prompt_tokens: int, gpu_memory_gb: float | None = None
) -> StagePlan:
    """Evaluation on one GPU (``evaluation`` an :class:`~cogstar.train.evaluate.EvalConfig`):
    the policy's weights, then the key/value cache of one batch."""
    from cogstar.train.evaluate import EvalConfig

    assert isinstance(evaluation, EvalConfig)
    cb = _BYTES[evaluation.dtype]
    rows, tokens = evaluation.batch_size, prompt_tokens + evaluation.max_new_tokens
    kv = rows * tokens * 2 * shape.layers * shape.kv_dim * cb
    resident = [Term("weights", shape.parameters() * cb)]
    phases = {
        "generation": [
            Term(f"key/value cache ({rows} rows)", kv),
            Term("sampling logits (fp32)", 2 * rows * shape.vocab * 4),
        ]
    }
    launch = Launch(gpu_memory_gb=gpu_memory_gb, source="the main process")
    return StagePlan("eval", shape.name, launch, resident, phases)


def plan_grpo(shape: ModelShape, grpo: object, launch: Launch) -> StagePlan:
    """GRPO with TRL's trainer (``grpo`` a :class:`~cogstar.train.grpo.GRPOConfig`): the
    policy in its dtype, a frozen reference when the KL term is on, full logits in the loss."""
    from cogstar.train.grpo import GRPOConfig

    assert isinstance(grpo, GRPOConfig)
    precision = Precision.of(grpo.dtype, grpo.dtype)
    resident = state_bytes(shape.parameters(), shape.tensors(), precision, launch)
    if grpo.kl_coef > 0:
        resident.append(Term("reference weights", shape.parameters() * precision.compute))
    mb, tokens = grpo.micro_batch, 256 + grpo.max_response_tokens
    logits = mb * tokens * shape.vocab
    phases = {
        "update": [
            Term("activations", activation_bytes(shape, mb, tokens, precision, checkpointed=False)),
            Term("logits", logits * precision.compute),
            Term("fp32 log-softmax", logits * 4),
        ]
    }
    return StagePlan("grpo", shape.name, launch, resident, phases, note="TRL's GRPOTrainer")


# -- the spec ---------------------------------------------------------------------------


def _stage_plans(cell: Cell, launch: Launch, on_gpu: bool) -> list[StagePlan]:
    spec = cell.spec
    shape = model_shape(spec.model.source, spec.model.tiny_size)
    plans = []
    if spec.curation.pool != "none":
        plans.append(plan_sft(shape, spec.curation.training, launch, "pretrain", on_gpu))
    if cell.condition != "unprimed":
        plans.append(plan_sft(shape, spec.sft, launch, "sft", on_gpu))
    if spec.rl.algorithm == "ppo":
        ppo = spec.ppo if on_gpu else spec.ppo.model_copy(update={"dtype": "float32"})
        plans.append(plan_ppo(shape, ppo, launch))
    else:
        grpo = spec.grpo if on_gpu else spec.grpo.model_copy(update={"dtype": "float32"})
        plans.append(plan_grpo(shape, grpo, launch))
    evaluation = spec.eval if on_gpu else spec.eval.model_copy(update={"dtype": "float32"})
    prompts = spec.ppo.max_prompt_tokens
    plans.append(plan_eval(shape, evaluation, prompts, spec.launch.gpu_memory_gb))
    for p in plans:
        p.cells.append(cell.name)
    return plans


def memory_plan(spec: Spec, cells: Sequence[str] = ()) -> list[StagePlan]:
    """The plan of every distinct training stage of ``spec``'s sweep (cells with the same
    settings share one; only the ``cells`` named, if any). A spec that declares no GPUs and runs the tiny model is planned for
    the CPU it runs on (fp32); any other for GPUs, in each stage's ``dtype``."""
    from cogstar.study.sweep import choose_cells, expand_cells

    launch = launch_of(spec.launch)
    on_gpu = spec.launch.gpu_memory_gb is not None or spec.model.source != "tiny"
    out: list[StagePlan] = []
    seen: dict[tuple[object, ...], StagePlan] = {}
    for cell in choose_cells(expand_cells(spec), cells):
        for p in _stage_plans(cell, launch, on_gpu):
            key = (
                p.stage,
                p.model,
                tuple(p.resident),
                tuple((k, tuple(v)) for k, v in p.phases.items()),
            )
            if key in seen:
                seen[key].cells.append(cell.name)
            else:
                p.on_gpu = on_gpu
                seen[key] = p
                out.append(p)
    order = ("pretrain", "sft", "ppo", "grpo", "eval")
    return sorted(out, key=lambda p: order.index(p.stage))


def _fixes(spec: Spec, plan: StagePlan, room: float) -> list[str]:
    """What would bring ``plan`` under ``room`` bytes, each with the peak it gives."""
    from cogstar.study.sweep import expand_cells
    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.sft import SFTConfig

    shape = model_shape(spec.model.source, spec.model.tiny_size)
    cell = next(c for c in expand_cells(spec) if c.name == plan.cells[0]).spec
    section: PPOConfig | SFTConfig
    if plan.stage == "ppo":
        section = cell.ppo
    elif plan.stage in ("sft", "pretrain"):
        section = cell.sft if plan.stage == "sft" else cell.curation.training
    else:
        return []

    def again(config: PPOConfig | SFTConfig, launch: Launch) -> StagePlan:
        if plan.stage == "ppo":
            return plan_ppo(shape, config, launch)
        return plan_sft(shape, config, launch, plan.stage)

    key = {"pretrain": "curation.training"}.get(plan.stage, plan.stage)
    found: list[str] = []
    launch = plan.launch
    if launch.gpus > 1 and launch.sharding not in ("fsdp", "zero3"):
        sharded = replace(launch, sharding="fsdp")
        peak = again(section, sharded).peak
        shipped = f"configs/accelerate/fsdp_{launch.gpus}gpu.yaml"
        where = (
            f'accelerate_config = "{shipped}"'
            if Path(shipped).exists()
            else "an Accelerate config with distributed_type: FSDP"
        )
        found.append(
            f"shard the models: launch with FSDP full-shard, {where} ({peak / GIB:.1f} GiB)"
        )
        launch = sharded
    config = section
    if not (getattr(config, "activation_checkpointing", False) or launch.checkpointing):
        config = config.model_copy(update={"activation_checkpointing": True})
        found.append(
            f"checkpoint activations: {key}.activation_checkpointing = true "
            f"({again(config, launch).peak / GIB:.1f} GiB with the fixes before it)"
        )
    micro = config.micro_batch
    while micro > 1 and again(config, launch).peak > room:
        micro //= 2
        config = config.model_copy(update={"micro_batch": micro})
    if micro != section.micro_batch:
        found.append(
            f"a smaller micro-batch: {key}.micro_batch = {micro} "
            f"({again(config, launch).peak / GIB:.1f} GiB with the fixes before it)"
        )
    return found


def check_fits(spec: Spec, plans: Sequence[StagePlan] | None = None) -> None:
    """Refuse ``spec`` (:class:`ConfigError`) if a stage's peak exceeds :data:`USABLE` of
    ``[launch].gpu_memory_gb``, with the fixes that would make it fit; without a declared
    GPU memory there is nothing to check."""
    if spec.launch.gpu_memory_gb is None:
        return
    plans = memory_plan(spec) if plans is None else plans
    lines = []
    for p in plans:
        room = _fits_in(p)
        if room is None or p.peak <= room:
            continue
        fixes = _fixes(spec, p, room)
        lines.append(
            f"{p.stage} ({p.model}, {p.launch.describe()}): estimated peak "
            f"{p.peak / GIB:.1f} GiB per GPU ({p.peak_phase}), over the "
            f"{room / GIB:.1f} GiB usable of launch.gpu_memory_gb = {spec.launch.gpu_memory_gb:g}"
            + ("; fix: " + "; then ".join(fixes) if fixes else "")
        )
    if lines:
        lines[-1] += " (cogstar run SPEC --dry-run prints the whole memory plan)"
        raise ConfigError(lines)


def _unit(plan: StagePlan) -> tuple[str, int]:
    return ("GiB", GIB) if plan.peak >= GIB else ("MiB", 1 << 20)


def render_memory(plans: Sequence[StagePlan], console: Console) -> None:
    """Print each stage's plan as a Rich table: resident terms, each phase, the peak."""
    from rich.table import Table

    for p in plans:
        unit, scale = _unit(p)
        cells = ", ".join(p.cells) if len(p.cells) <= 3 else f"{len(p.cells)} cells"
        where = p.launch.describe() if p.on_gpu else "one CPU process, fp32"
        title = f"memory per {'GPU' if p.on_gpu else 'process'}: {p.stage} ({p.model}; {where}; {cells})"
        console.print(f"[bold]{title}[/]")
        table = Table()
        table.add_column("held")
        table.add_column(unit, justify="right")
        for t in p.resident:
            table.add_row(t.what, f"{t.bytes / scale:.2f}")
        for name, terms in p.phases.items():
            table.add_section()
            style = "bold" if name == p.peak_phase else "dim"
            table.add_row(f"{name}:", f"+{p.phase_bytes(name) / scale:.2f}", style=style)
            for t in terms:
                table.add_row(f"  {t.what}", f"{t.bytes / scale:.2f}", style=style)
        table.add_section()
        room = _fits_in(p)
        verdict = ""
        if room is not None:
            verdict = "fits" if p.peak <= room else "DOES NOT FIT"
            verdict = f": {verdict} in {room / GIB:.1f} GiB usable"
        table.add_row(f"peak ({p.peak_phase}){verdict}", f"{p.peak / scale:.2f}", style="bold")
        console.print(table)
    console.print(
        f"memory estimates (cogstar.study.memory); a GPU's usable share is {USABLE:.0%} of "
        "launch.gpu_memory_gb"
    )
