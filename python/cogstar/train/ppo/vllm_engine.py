"""Rollouts with vLLM: a colocated ``vllm.LLM`` in the trainer's process, on the same GPU.

    from cogstar.train.ppo.vllm_engine import VLLMRollout
    engine = VLLMRollout(policy_dir, tok, max_new_tokens=1024, seed=settings.seed + rank)
    engine.sync_weights(actor)  # before each step's rollouts
    batch = engine.generate(prompt_ids, prompt_mask)

Needs a CUDA GPU and the optional extra (``pip install -e ".[vllm]"``, which pins its own
torch). The engine returns the same :class:`~cogstar.train.ppo.rollout.Batch` as
:class:`~cogstar.train.ppo.rollout.HFRollout`: it only samples, and the actor recomputes the old
log-probabilities, so vLLM's kernels never enter the PPO ratio.

Targets vLLM 0.25 to 0.31 (the V1 engine). Three things are relied on:

* ``distributed_executor_backend="external_launcher"`` keeps the engine core and its one
  worker in this process (vLLM then turns ``VLLM_ENABLE_V1_MULTIPROCESSING`` off), and joins
  torch.distributed through ``env://``: the process group the trainer already has, or a
  one-process group. This is how TRL's colocate mode builds its engine.
* ``LLM.apply_model(fn)`` runs ``fn`` on the worker's ``nn.Module``; in process, ``fn`` and
  the tensors it closes over are not serialized, so weights go GPU to GPU. The model's
  ``load_weights`` takes Hugging Face names and handles vLLM's fused layers (qkv, gate/up).
  TRL reaches the same method through
  ``llm.llm_engine.model_executor.driver_worker.model_runner.model``.
* ``LLM.reset_prefix_cache()``: cached prompt blocks were computed with the old weights.

vLLM's newer weight-transfer API (``init_weight_transfer_engine``/``update_weights``) is for
engines in other processes (NCCL, CUDA IPC); nothing here needs it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from cogstar.errors import ArgumentError, StageError
from cogstar.train.ppo.rollout import Batch, response_mask

__all__ = [
    "VLLMRollout",
    "pack_responses",
    "request_seeds",
    "require_vllm",
    "unpad_prompts",
    "vllm_weight_name",
]

MISSING_VLLM = (
    'vLLM rollouts need a CUDA GPU and the vllm extra: pip install -e ".[vllm]" '
    '(note it pins its own torch), or set ppo.rollout = "hf"'
)

# Prefixes that wrappers put before a model's own parameter names: DDP/DeepSpeed
# (``module.``) and torch.compile (``_orig_mod.``).
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def require_vllm() -> ModuleType:
    """The ``vllm`` module, or an ``ImportError`` that says how to get it or do without."""
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise ImportError(MISSING_VLLM) from exc


def unpad_prompts(prompt_ids: Tensor, prompt_mask: Tensor) -> list[list[int]]:
    """Each row's prompt tokens without its padding (the tokens where the mask is 1)."""
    if prompt_ids.shape != prompt_mask.shape:
        raise ArgumentError(
            f"prompt_ids {tuple(prompt_ids.shape)} and prompt_mask "
            f"{tuple(prompt_mask.shape)} must have the same shape"
        )
    return [
        [t for t, m in zip(ids, mask, strict=True) if m]
        for ids, mask in zip(prompt_ids.tolist(), prompt_mask.tolist(), strict=True)
    ]


def pack_responses(
    token_lists: list[list[int]], eos_id: int, pad_id: int, device: Any
) -> tuple[Tensor, Tensor]:
    """Right-padded response ids ``[B, T]`` and their float mask ``[B, T]``.

    ``T`` is the longest response (1 when every response is empty). The mask follows
    :func:`~cogstar.train.ppo.rollout.response_mask` (1 up to and including the first EOS) and is
    also 0 past each response's own length, which matters when ``eos_id == pad_id``: there
    the padding would otherwise read as an EOS. Ids under a 0 mask are ``pad_id``.
    """
    width = max((len(t) for t in token_lists), default=0) or 1
    ids = torch.full((len(token_lists), width), pad_id, dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    lengths = torch.tensor([len(t) for t in token_lists], dtype=torch.long)
    within = torch.arange(width)[None, :] < lengths[:, None]  # [B, T]
    mask = response_mask(ids, eos_id, pad_id) * within
    ids = torch.where(mask > 0, ids, torch.full_like(ids, pad_id))
    return ids.to(device), mask.to(device)


def request_seeds(seed: int, call: int, rows: int) -> list[int]:
    """One sampling seed per request, a hash of ``(seed, call, row)``.

    Every request of a run gets its own stream (the copies of one prompt differ), and a
    rerun with the same seed makes the same calls get the same seeds.
    """
    out = []
    for row in range(rows):
        digest = hashlib.blake2b(f"{seed}:{call}:{row}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little") & 0x7FFF_FFFF)  # fits any int32 field
    return out


def vllm_weight_name(name: str) -> str:
    """A parameter name as the Hugging Face checkpoint spells it, wrapper prefixes removed."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                stripped = True
    return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _set_launcher_env() -> None:
    """The variables vLLM's ``external_launcher`` executor reads (``env://`` rendezvous).

    Inside an initialised process group vLLM reuses it, so rank and world size come from it;
    otherwise this is a one-process group on a free local port.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        os.environ["RANK"] = str(dist.get_rank())
        os.environ["WORLD_SIZE"] = str(dist.get_world_size())
        os.environ.setdefault("LOCAL_RANK", os.environ["RANK"])
    else:
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("LOCAL_RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    # sync_weights hands tensors to the worker by reference: the engine core must be here
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"


class VLLMRollout:
    """Sampling with a colocated ``vllm.LLM`` (temperature, optional top-p, or greedy).

    ``model_path`` is the policy folder the engine starts from (its tokenizer is not loaded:
    prompts go in as token ids and responses come back as token ids); ``tokenizer`` gives
    the EOS and pad ids. Sampling is reproducible: request ``k`` of the ``n``-th
    :meth:`generate` call is seeded from ``(seed, n, k)`` (see :func:`request_seeds`).
    ``calls`` counts the calls; a resumed run that must repeat an uninterrupted one restores
    it along with the other RNG state.
    """

    def __init__(
        self,
        model_path: str | Path,
        tokenizer: Any,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        seed: int = 0,
        dtype: str = "bfloat16",
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
    ) -> None:
        if max_new_tokens < 1:
            raise ArgumentError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if not greedy and temperature <= 0:
            raise ArgumentError(
                f"temperature must be > 0 for sampling, got {temperature}; "
                "use greedy=True for greedy decoding"
            )
        if not 0 < top_p <= 1:
            raise ArgumentError(f"top_p must be in (0, 1], got {top_p}")
        if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
            raise ArgumentError(
                f"the tokenizer needs an EOS and a pad token, got eos_token_id="
                f"{tokenizer.eos_token_id}, pad_token_id={tokenizer.pad_token_id}"
            )
        vllm = require_vllm()
        if not torch.cuda.is_available():
            raise StageError(
                "vLLM rollouts need a CUDA GPU and torch sees none "
                '(torch.cuda.is_available() is False); set ppo.rollout = "hf"'
            )
        self.vllm = vllm
        self.eos_id: int = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.greedy = greedy
        self.seed = seed
        self.calls = 0
        _set_launcher_env()
        self.llm: Any = vllm.LLM(
            model=str(model_path),
            skip_tokenizer_init=True,
            dtype=dtype,
            seed=seed,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            tensor_parallel_size=1,
            distributed_executor_backend="external_launcher",
        )

    def _sampling_params(self, seed: int) -> Any:
        return self.vllm.SamplingParams(
            n=1,
            temperature=0.0 if self.greedy else self.temperature,
            top_p=1.0 if self.greedy else self.top_p,
            top_k=-1,  # off: HFRollout samples from the whole vocabulary too
            seed=seed,
            max_tokens=self.max_new_tokens,
            # EOS ends a response and stays in its token_ids; named here because without
            # a tokenizer vLLM only learns it from generation_config.json, if there is one
            stop_token_ids=[self.eos_id],
            detokenize=False,  # we decode ourselves
        )

    def generate(self, prompt_ids: Tensor, prompt_mask: Tensor) -> Batch:
        prompts = unpad_prompts(prompt_ids, prompt_mask)
        empty = [row for row, p in enumerate(prompts) if not p]
        if empty:
            raise ArgumentError(f"rows {empty} have no prompt token; vLLM needs at least one")
        seeds = request_seeds(self.seed, self.calls, len(prompts))
        self.calls += 1
        # TokensPrompt is a TypedDict: its instances are plain dicts
        make_prompt = getattr(self.vllm, "TokensPrompt", dict)
        outputs = self.llm.generate(
            [make_prompt(prompt_token_ids=p) for p in prompts],
            sampling_params=[self._sampling_params(s) for s in seeds],
            use_tqdm=False,
        )
        if len(outputs) != len(prompts):
            raise StageError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        tokens = [list(out.outputs[0].token_ids) for out in outputs]
        response, mask = pack_responses(tokens, self.eos_id, self.pad_id, prompt_ids.device)
        return Batch(prompt_ids, prompt_mask, response, mask)

    @torch.no_grad()
    def sync_weights(self, model: Any, group_bytes: int = 1 << 29) -> None:
        """Copy ``model``'s parameters into the engine's model, then drop cached prompts.

        ``model`` is the actor (a ``transformers`` causal LM, possibly wrapped) with its full
        parameters on every process (one GPU, DDP, ZeRO-3 inside its gathering context) or
        sharded by FSDP2, whose parameters are gathered one at a time
        (:func:`~cogstar.train.ppo.distributed.full_parameters`, a collective). Weights go
        over in groups of about ``group_bytes``, so a sharded actor is never whole here.
        """
        from cogstar.train.ppo.distributed import full_parameters

        def load(group: list[tuple[str, Tensor]]) -> int:
            def fn(vllm_model: Any) -> int | None:
                loaded = vllm_model.load_weights(group)
                return None if loaded is None else len(loaded)  # some models return nothing

            counts = self.llm.apply_model(fn)
            return 0 if any(c == 0 for c in counts) else 1

        group: list[tuple[str, Tensor]] = []
        size = 0
        names: list[str] = []
        groups = empty = 0
        for name, tensor in full_parameters(model):
            if tensor.numel() == 0:
                raise ArgumentError(
                    f"parameter {name} is empty here (a ZeRO-3 shard outside its gathering "
                    "context?); VLLMRollout needs whole or FSDP2-sharded weights"
                )
            group.append((vllm_weight_name(name), tensor))
            names.append(name)
            size += tensor.numel() * tensor.element_size()
            if size >= group_bytes:
                groups, empty = groups + 1, empty + 1 - load(group)
                group, size = [], 0
        if group:
            groups, empty = groups + 1, empty + 1 - load(group)
        if groups and empty == groups:
            first = ", ".join(names[:3])
            raise StageError(
                f"vLLM loaded none of the {len(names)} weights (first names: {first}); "
                "the names do not match the engine's model"
            )
        reset = getattr(self.llm, "reset_prefix_cache", None)
        if callable(reset):
            reset()
