"""PPO with a critic on Accelerate: the loop, its checkpoints and its metrics.

    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.ppo.trainer import run_ppo
    run_ppo("runs/x/sft/final", train_puzzles, "runs/x/ppo", PPOConfig())

Each step (the paper's defaults in :class:`~cogstar.train.ppo.config.PPOConfig`):

1. rollout: ``prompts_per_step`` puzzles x ``samples_per_prompt`` samples at temperature 1;
2. reward: the Countdown reward of prompt + response (tinyzero mode unless ``strict``);
3. old log-probs (actor), reference log-probs (frozen copy of the start), values (critic);
4. token rewards = -kl_coef * k1 on every token + the score on the last one; GAE (gamma,
   lambda); advantages whitened over the whole batch (across processes);
5. ``ppo_epochs`` passes of actor mini-batches (clipped surrogate - entropy bonus) and critic
   mini-batches (clipped value loss), gradient norms clipped.

Every ``save_every`` steps the run writes ``OUT/step_XXXXXX/`` (actor, critic, optimizers,
schedulers, RNG states, data position) atomically; rerunning resumes from the newest one and
takes exactly the step an uninterrupted run would have taken. Metrics go to
``OUT/metrics.jsonl`` (one line per step) and to Accelerate trackers when asked for.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import cogstar
from cogstar import io
from cogstar.errors import StageError
from cogstar.layout import PPOLayout
from cogstar.tasks import OUTCOMES, rl_prompt, score_puzzles
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.ppo.core import (
    explained_variance,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)
from cogstar.train.ppo.critic import Critic, load_critic
from cogstar.train.ppo.rollout import (
    Batch,
    HFRollout,
    decode_responses,
    encode_prompts,
    token_logprobs,
    truncated_rows,
)
from cogstar.train.tracking import Tracking, flatten

__all__ = ["latest_checkpoint", "run_ppo"]

_STATE = "accelerate"  # the resumable state inside a checkpoint folder


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete ``step_XXXXXX`` folder (it has ``state.json``), or None."""
    return PPOLayout(Path(out)).latest()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _checkpoint_activations(model: Any) -> None:
    """Recompute ``model``'s layers in the backward pass (transformers 5 renamed the call)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _rng_name(rank: int) -> str:
    """The RNG state file of process ``rank`` in a checkpoint (``rng.pt`` for the first)."""
    return "rng.pt" if rank == 0 else f"rng_{rank}.pt"


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _order(n: int, seed: int, epoch: int) -> list[int]:
    idx = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(idx)
    return idx


def _prompt_order(rows: int, samples: int) -> torch.Tensor:
    """The rows of a step in a random order of prompts, each prompt's ``samples`` rows
    together (they are consecutive in the batch), so that every mini-batch and micro-batch
    holds whole prompts, as ``actor_minibatch_prompts`` says, and computes each one once."""
    return (torch.randperm(rows // samples)[:, None] * samples + torch.arange(samples)).flatten()


def _slice(batch: Batch, idx: Any) -> Batch:
    """Rows ``idx`` of ``batch``, without the columns that are padding in every one of them.

    Prompts are left-padded and responses right-padded to the widest of the whole step; a
    micro-batch's own rows usually need fewer columns. Positions come from the attention mask
    and attention is causal, so dropping columns that no row uses changes no real token's
    log-prob or value, only the cost. The response keeps its first columns, so the step's
    per-token tensors line up with it as ``t[idx, :width]``.
    """
    prompt_mask = batch.prompt_mask[idx]
    response_mask = batch.response_mask[idx]
    start = int((prompt_mask.shape[1] - prompt_mask.sum(dim=1)).min())
    width = max(1, int(response_mask.sum(dim=1).max()))
    return Batch(
        batch.prompt_ids[idx][:, start:],
        prompt_mask[:, start:],
        batch.response_ids[idx][:, :width],
        response_mask[:, :width],
    )


def _values(critic: Any, batch: Batch, share: bool) -> torch.Tensor:
    """The critic's values of ``batch``'s response states; ``share``: each distinct prompt
    once (an unwrapped critic only)."""
    if share:
        return critic.response_values(batch, share_prompts=True)  # type: ignore[no-any-return]
    return critic(batch.input_ids, batch.attention_mask, batch.prompt_ids.shape[1])  # type: ignore[no-any-return]


def _widen(x: torch.Tensor, width: int) -> torch.Tensor:
    """``x [B, T]`` padded with zeros on the right to ``width`` columns."""
    return torch.nn.functional.pad(x, (0, width - x.shape[1]))


def run_ppo(
    model: str | Path,
    puzzles: Sequence[cogstar.Puzzle],
    out: str | Path,
    config: PPOConfig | None = None,
    *,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    stop_after: int | None = None,
    tracking: Tracking | None = None,
) -> Path:
    """Train ``model`` (a policy folder) with PPO on ``puzzles``; returns the last checkpoint.

    ``stop_after`` ends the call after that many steps in this call (the run can be resumed);
    ``on_step`` receives each step's metrics (live progress); ``tracking`` names experiment
    trackers that get every step's metrics, flattened (:mod:`cogstar.train.tracking`).
    """
    from accelerate import Accelerator  # type: ignore[import-untyped]
    from accelerate.utils import gather_object  # type: ignore[import-untyped]
    from transformers import AutoModelForCausalLM

    from cogstar.train.models import load_tokenizer, torch_dtype
    from cogstar.train.ppo import distributed as dist

    settings = config if config is not None else PPOConfig()
    out = Path(out)
    layout = PPOLayout(out)
    out.mkdir(parents=True, exist_ok=True)
    on_gpu = torch.cuda.is_available()
    prec = dist.precision(settings.dtype, on_gpu)
    world_env = int(os.environ.get("WORLD_SIZE", "1"))
    settings.check_launch(
        world_env,
        deepspeed=dist.deepspeed_launched(),
        sharded=dist.deepspeed_launched() or dist.fsdp_launched(),
    )
    resume = layout.latest()
    if resume is not None and not (resume / _STATE).is_dir():
        raise StageError(
            f"{resume}: checkpoint written by an older cogstar (no {_STATE}/ folder); "
            "move it aside and rerun PPO, or finish the run with the cogstar that wrote it"
        )
    tok = load_tokenizer(model)
    mixed = prec.mixed if on_gpu else None  # on CPU Accelerate follows the launcher
    tracking = tracking if tracking is not None else Tracking()
    log_with = list(tracking.trackers) or None
    project_dir = str(tracking.directory) if tracking and tracking.directory else None
    deepspeed = dist.deepspeed_launched()
    if deepspeed:
        actor_rows = settings.minibatch_rows("actor", world_env)
        critic_rows = settings.minibatch_rows("critic", world_env)
        plugins = dist.deepspeed_plugins(
            micro_batch=settings.micro_batch,
            actor_accumulation=actor_rows // settings.micro_batch,
            critic_accumulation=critic_rows // settings.micro_batch,
            processes=world_env,
            grad_clip=settings.grad_clip,
            mixed=prec.mixed,
        )
        acc = Accelerator(
            log_with=log_with,
            project_dir=project_dir,
            mixed_precision=mixed,
            deepspeed_plugins=plugins,
        )
        critic_acc, ref_acc = Accelerator(), Accelerator()
    else:
        acc = Accelerator(
            log_with=log_with, project_dir=project_dir, cpu=not on_gpu, mixed_precision=mixed
        )
        critic_acc = ref_acc = acc
    rank, world = acc.process_index, acc.num_processes
    # what Accelerate settled on (on CPU: the launcher's choice)
    prec = dist.precision(
        settings.dtype, on_gpu, {"ACCELERATE_MIXED_PRECISION": acc.mixed_precision}
    )
    if deepspeed:
        acc.state.select_deepspeed_plugin("actor")
    actor = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype(prec.trained))
    actor_opt = torch.optim.AdamW(
        actor.parameters(), lr=settings.actor_lr, weight_decay=settings.weight_decay
    )
    if deepspeed:
        actor, actor_opt = acc.prepare(actor, actor_opt)
        acc.state.select_deepspeed_plugin("critic")
    critic: Critic = load_critic(model, dtype=prec.trained)
    if settings.activation_checkpointing and not dist.fsdp_checkpointing():
        for backbone in (actor, critic.backbone):
            _checkpoint_activations(backbone)
    critic_opt = torch.optim.AdamW(
        critic.parameters(), lr=settings.critic_lr, weight_decay=settings.weight_decay
    )
    if deepspeed:
        critic, critic_opt = critic_acc.prepare(critic, critic_opt)
        acc.state.select_deepspeed_plugin("reference")
    else:
        actor, critic, actor_opt, critic_opt = acc.prepare(actor, critic, actor_opt, critic_opt)
    reference = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype(prec.frozen))
    reference.requires_grad_(False)
    reference.train(False)
    reference = ref_acc.prepare(reference) if deepspeed else reference.to(acc.device)
    if deepspeed:
        acc.state.select_deepspeed_plugin("actor")
    states = {"shared": acc} if critic_acc is acc else {"actor": acc, "critic": critic_acc}
    step = 0
    if resume is not None:
        state = io.read_json(resume / "state.json", f"move {resume} aside and rerun PPO")
        step = state["step"]
        for name, owner in states.items():
            owner.load_state(str(resume / _STATE / name))
        own = resume / _rng_name(rank)
        _set_rng_state(torch.load(own if own.exists() else resume / "rng.pt", weights_only=False))
    else:
        # each process samples its own rollouts: one seed per process
        torch.manual_seed(settings.seed + rank)
        random.seed(settings.seed + rank)
        if acc.is_main_process:
            io.atomic_write_json(layout.config, settings.model_dump(mode="json"))
    if acc.is_main_process:
        io.atomic_write_json(
            layout.run_info,
            {
                "precision": prec.describe(),
                "mixed_precision": prec.mixed,
                "distributed": acc.distributed_type.value,
                "processes": world,
                "device": str(acc.device),
                "rollout": settings.rollout,
            },
        )
    if tracking:
        acc.init_trackers(
            "cogstar",
            config=flatten(settings.model_dump(mode="json")),
            init_kwargs={"wandb": {"name": tracking.run_name, "dir": project_dir}},
        )
    engine = _engine(settings, model, tok, rank=rank, synced=dist.fsdp_launched() and world > 1)
    # each distinct prompt once per micro-batch (rollout.after_prompt): one plain process,
    # whose layers keep their activations (a key/value cache and recomputed layers don't mix)
    shared = settings.share_prompts and world == 1 and not deepspeed
    shared = shared and not dist.fsdp_launched() and not settings.activation_checkpointing
    if resume is not None and hasattr(engine, "calls"):  # fast, vLLM: their seeds go on
        engine.calls = int(state.get("rollout_calls", 0))
    n = len(puzzles)
    per = settings.prompts_per_step
    if acc.is_main_process:
        _trim_metrics(layout.metrics, step)
    done_here = 0
    last = resume
    while step < settings.steps and (stop_after is None or done_here < stop_after):
        t0 = time.perf_counter()
        # Data position: epoch and offset follow from the step, so resume needs no cursor.
        start = step * per
        order = _order(n, settings.seed, start // n)
        chosen = [puzzles[order[(start + k) % n]] for k in range(per)]
        chosen = chosen[rank::world]  # this process's share of the step's prompts
        chosen = [p for p in chosen for _ in range(settings.samples_per_prompt)]
        texts = [rl_prompt(p.numbers, p.target) for p in chosen]
        prompt_ids, prompt_mask = encode_prompts(tok, texts, acc.device, settings.max_prompt_tokens)
        # 1. rollout
        # model.generate runs micro-batches; the fast and vLLM engines batch every prompt of
        # this process at once
        chunk = settings.micro_batch if settings.rollout == "hf" else len(texts)
        with dist.generation_model(actor, acc) as policy:
            engine.sync_weights(policy)
            parts = [
                engine.generate(prompt_ids[i : i + chunk], prompt_mask[i : i + chunk])
                for i in range(0, len(texts), chunk)
            ]
        width = max(b.response_ids.shape[1] for b in parts)

        def pad(x: Any, value: float, width: int = width) -> Any:
            return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

        batch = Batch(
            prompt_ids,
            prompt_mask,
            torch.cat([pad(b.response_ids, tok.pad_token_id) for b in parts]),
            torch.cat([pad(b.response_mask, 0.0) for b in parts]),
        )
        t_rollout = time.perf_counter()
        # 2. reward
        responses = decode_responses(tok, batch)
        cut = truncated_rows(batch, tok.eos_token_id, settings.max_response_tokens)
        batch_scores = score_puzzles(responses, chosen, mode=settings.reward_mode)
        scored = [batch_scores[k] for k in range(len(batch_scores))]
        scores = torch.tensor([s.value for s in scored], dtype=torch.float32, device=acc.device)
        t_reward = time.perf_counter()
        # 3. old log-probs, reference log-probs, values
        mask = batch.response_mask
        with torch.no_grad():
            old_lp, ref_lp, values = [], [], []
            for i in range(0, len(texts), settings.micro_batch):
                mb = _slice(batch, slice(i, i + settings.micro_batch))
                lp = token_logprobs(actor, mb, settings.temperature, share_prompts=shared)[0]
                old_lp.append(_widen(lp, width))
                with acc.autocast():  # the same arithmetic as the prepared actor
                    ref = token_logprobs(reference, mb, settings.temperature, share_prompts=shared)
                ref_lp.append(_widen(ref[0], width))
                values.append(_widen(_values(critic, mb, shared), width))
            old_logprobs = torch.cat(old_lp)
            ref_logprobs = torch.cat(ref_lp)
            old_values = torch.cat(values) * mask
        t_logprobs = time.perf_counter()
        # 4. advantages
        rewards, kl = token_rewards(scores, old_logprobs, ref_logprobs, mask, settings.kl_coef)
        advantages, returns = gae(rewards, old_values, mask, settings.gamma, settings.lam)
        advantages = masked_whiten(advantages, mask, lambda t: acc.reduce(t, "sum"))
        # 5. updates
        stats: dict[str, list[float]] = {
            k: [] for k in ("pg_loss", "clipfrac", "entropy", "vf_loss", "vf_clipfrac")
        }
        rows = len(texts)  # this process's rollouts
        actor_mb = settings.minibatch_rows("actor", world)
        critic_mb = settings.minibatch_rows("critic", world)
        # DeepSpeed divides each micro-batch loss by its accumulation count itself
        actor_gas = actor_mb // settings.micro_batch if deepspeed else 1  # check() made exact
        critic_gas = critic_mb // settings.micro_batch if deepspeed else 1
        for _ in range(settings.ppo_epochs):
            perm = _prompt_order(rows, settings.samples_per_prompt)
            for s in range(0, rows, actor_mb):
                idx = perm[s : s + actor_mb]
                actor_opt.zero_grad(set_to_none=True)
                for m0 in range(0, len(idx), settings.micro_batch):
                    sub = idx[m0 : m0 + settings.micro_batch]
                    mb = _slice(batch, sub)
                    w = mb.response_ids.shape[1]
                    lp, ent = token_logprobs(
                        actor,
                        mb,
                        settings.temperature,
                        with_entropy=True,
                        entropy_grad=settings.entropy_coef > 0,
                        share_prompts=shared,
                    )
                    assert ent is not None
                    loss_pi, clipfrac = policy_loss(
                        lp,
                        old_logprobs[sub, :w],
                        advantages[sub, :w],
                        mb.response_mask,
                        settings.clip,
                    )
                    ent_mean = masked_mean(ent, mb.response_mask)
                    share = len(sub) / len(idx) * actor_gas
                    acc.backward((loss_pi - settings.entropy_coef * ent_mean) * share)
                    stats["pg_loss"].append(loss_pi.item())
                    stats["clipfrac"].append(clipfrac.item())
                    stats["entropy"].append(ent_mean.item())
                acc.clip_grad_norm_(actor.parameters(), settings.grad_clip)
                actor_opt.step()
            for s in range(0, rows, critic_mb):
                idx = perm[s : s + critic_mb]
                critic_opt.zero_grad(set_to_none=True)
                for m0 in range(0, len(idx), settings.micro_batch):
                    sub = idx[m0 : m0 + settings.micro_batch]
                    mb = _slice(batch, sub)
                    w = mb.response_ids.shape[1]
                    v = _values(critic, mb, shared)
                    loss_v, vclip = value_loss(
                        v,
                        old_values[sub, :w],
                        returns[sub, :w],
                        mb.response_mask,
                        settings.value_clip,
                    )
                    critic_acc.backward(loss_v * len(sub) / len(idx) * critic_gas)
                    stats["vf_loss"].append(loss_v.item())
                    stats["vf_clipfrac"].append(vclip.item())
                critic_acc.clip_grad_norm_(critic.parameters(), settings.grad_clip)
                critic_opt.step()
        t_update = time.perf_counter()
        step += 1
        done_here += 1
        # reward, outcomes, lengths and KL over every process's rollouts; losses are this one's
        everyone = gather_object(
            [
                (s.value, str(s.outcome), len(r), c)
                for s, r, c in zip(scored, responses, cut, strict=True)
            ]
        )
        sums = acc.reduce(
            torch.stack([mask.sum(), (kl * mask).sum()]).to(torch.float32), "sum"
        ).tolist()
        n_tokens, kl_sum = float(sums[0]), float(sums[1])
        total = len(everyone)  # rollouts of every process
        outcome_counts = Counter(o for _, o, _, _ in everyone)
        record: dict[str, Any] = {
            "step": step,
            "reward": sum(v for v, _, _, _ in everyone) / total,
            "accuracy": sum(v == 1.0 for v, _, _, _ in everyone) / total,
            "truncated": sum(c for _, _, _, c in everyone) / total,
            "outcomes": dict(sorted(outcome_counts.items())),
            "kl": kl_sum / max(1.0, n_tokens),
            **{name: sum(xs) / max(1, len(xs)) for name, xs in stats.items()},
            "explained_variance": explained_variance(old_values, returns, mask).item(),
            "response_tokens": n_tokens / total,
            "response_chars": sum(n for _, _, n, _ in everyone) / total,
            "rollout_tokens_per_s": n_tokens / max(1e-9, t_rollout - t0),
            "seconds": {
                "rollout": t_rollout - t0,
                "reward": t_reward - t_rollout,
                "logprobs": t_logprobs - t_reward,
                "update": t_update - t_logprobs,
            },
        }
        if acc.device.type == "cuda":  # this process's peak, reset for the next step
            record["peak_memory_gib"] = torch.cuda.max_memory_allocated(acc.device) / 2**30
            torch.cuda.reset_peak_memory_stats(acc.device)
        if acc.is_main_process:
            io.append_jsonl(layout.metrics, record)
        if tracking:  # every outcome, zeros too, so each is one continuous curve
            outcomes = dict.fromkeys(OUTCOMES, 0) | record["outcomes"]
            acc.log(flatten({**record, "outcomes": outcomes}), step=step)
        if step % settings.save_every == 0 or step == settings.steps:
            last = _save(out, step, acc, critic_acc, states, actor, critic, tok, engine)
        if on_step is not None:
            on_step(record)
    if stop_after is not None and step > 0 and (last is None or int(last.name[5:]) != step):
        last = _save(out, step, acc, critic_acc, states, actor, critic, tok, engine)
    acc.wait_for_everyone()
    if tracking:
        acc.end_training()
    assert last is not None or settings.steps == 0
    return last if last is not None else Path(model)


def _trim_metrics(path: Path, step: int) -> None:
    """Keep the metrics of steps up to ``step`` (the checkpoint a run resumes from).

    A run killed after logging a step but before checkpointing it redoes that step; its
    old line (and a torn last line) must not stay behind as a duplicate.
    """
    if path.exists():
        kept = [row for row in io.read_jsonl(path) if row.get("step", step + 1) <= step]
        io.write_jsonl(path, kept)


def _save(
    out: Path,
    step: int,
    acc: Any,
    critic_acc: Any,
    states: dict[str, Any],
    actor: Any,
    critic: Any,
    tok: Any,
    engine: Any,
) -> Path:
    """Write ``step_XXXXXX`` atomically: a temp folder renamed into place, ``state.json`` last.

    ``_STATE/`` holds what resuming needs (Accelerate's ``save_state`` per accelerator:
    weights, optimizers, RNG; FSDP shards and DeepSpeed engines in their own formats);
    ``actor/`` and ``critic/`` are full model folders for evaluation and for users.
    """
    from cogstar.train.ppo.distributed import full_state_dict

    layout = PPOLayout(out)
    final, tmp = layout.step(step), layout.temp_step(step)
    acc.wait_for_everyone()
    if acc.is_main_process:
        if tmp.exists():  # left by a killed run
            shutil.rmtree(tmp)
        tmp.mkdir()
    acc.wait_for_everyone()
    torch.save(_rng_state(), tmp / _rng_name(acc.process_index))  # every process its own
    for name, owner in states.items():  # collectives: every process takes part
        owner.save_state(str(tmp / _STATE / name))
    actor_state = full_state_dict(actor, acc)
    critic_state = full_state_dict(critic, critic_acc)
    if acc.is_main_process:
        acc.unwrap_model(actor).save_pretrained(tmp / "actor", state_dict=actor_state)
        tok.save_pretrained(tmp / "actor")
        acc.unwrap_model(critic).save(tmp / "critic", state_dict=critic_state)
        calls = int(getattr(engine, "calls", 0))
        io.atomic_write_json(tmp / "state.json", {"step": step, "rollout_calls": calls})
        io.publish_dir(tmp, final)
    acc.wait_for_everyone()
    return final


def _engine(settings: PPOConfig, model: str | Path, tok: Any, *, rank: int, synced: bool) -> Any:
    """The rollout engine ``ppo.rollout`` names; the actor is handed over each step."""
    if settings.rollout == "vllm":
        from cogstar.train.ppo.vllm_engine import VLLMRollout

        return VLLMRollout(
            str(model),
            tok,
            max_new_tokens=settings.max_response_tokens,
            temperature=settings.temperature,
            seed=settings.seed + rank,
            dtype=settings.dtype,
            gpu_memory_utilization=settings.vllm_gpu_memory,
        )
    if settings.rollout == "fast":
        from cogstar.train.ppo.fast_rollout import FastRollout

        return FastRollout(
            None,
            tok,
            max_new_tokens=settings.max_response_tokens,
            temperature=settings.temperature,
            seed=settings.seed + rank,
        )
    return HFRollout(
        None,
        tok,
        max_new_tokens=settings.max_response_tokens,
        temperature=settings.temperature,
        synced_gpus=synced,
    )
