"""PPO with a critic on Accelerate: the loop, its checkpoints and its metrics.

    from cogstar.ppo.trainer import PPOSettings, run_ppo
    run_ppo("runs/x/sft/final", train_puzzles, "runs/x/ppo", PPOSettings())

Each step (the paper's defaults in :class:`PPOSettings`):

1. rollout: ``prompts_per_step`` puzzles x ``samples_per_prompt`` samples at temperature 1;
2. reward: ``cogstar.score_batch`` on prompt + response (tinyzero mode unless ``strict``);
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

import json
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import cogstar
from cogstar.ppo.core import (
    explained_variance,
    gae,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)
from cogstar.ppo.critic import Critic, load_critic
from cogstar.ppo.rollout import (
    Batch,
    HFRollout,
    decode_responses,
    encode_prompts,
    token_logprobs,
)
from cogstar.tasks import rl_prompt

__all__ = ["PPOSettings", "latest_checkpoint", "run_ppo"]


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyper-parameters; the defaults are the paper's (see PAPER.md)."""

    steps: int = 250
    prompts_per_step: int = 256
    samples_per_prompt: int = 4
    temperature: float = 1.0
    max_prompt_tokens: int = 256
    max_response_tokens: int = 1024
    actor_lr: float = 1e-6
    critic_lr: float = 1e-5
    actor_minibatch_prompts: int = 128
    critic_minibatch_prompts: int = 128
    micro_batch: int = 16  # sequences per forward/backward (memory, not maths)
    ppo_epochs: int = 1
    clip: float = 0.2
    value_clip: float = 0.5
    entropy_coef: float = 0.001
    kl_coef: float = 0.001
    gamma: float = 1.0
    lam: float = 1.0
    grad_clip: float = 1.0
    reward_mode: str = "tinyzero"
    save_every: int = 10
    seed: int = 0
    dtype: str = "bfloat16"  # on GPU; CPU runs use float32

    def check(self, processes: int = 1) -> None:
        if self.prompts_per_step % processes:
            raise ValueError(
                f"ppo.prompts_per_step ({self.prompts_per_step}) must be a multiple of the "
                f"number of processes ({processes}): each takes an equal share of the prompts"
            )
        for name in ("actor_minibatch_prompts", "critic_minibatch_prompts"):
            if getattr(self, name) % processes:
                raise ValueError(
                    f"ppo.{name} ({getattr(self, name)}) must be a multiple of the number of "
                    f"processes ({processes}); change one"
                )
        for name in ("actor_minibatch_prompts", "critic_minibatch_prompts"):
            mb = getattr(self, name)
            if self.prompts_per_step % mb:
                raise ValueError(
                    f"ppo.{name} ({mb}) must divide ppo.prompts_per_step "
                    f"({self.prompts_per_step}) so every update sees full groups; change one"
                )
        if self.reward_mode not in ("tinyzero", "strict"):
            raise ValueError(
                f"ppo.reward_mode must be 'tinyzero' or 'strict', got {self.reward_mode!r}"
            )


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete ``step_XXXXXX`` folder (it has ``state.json``), or None."""
    done = [p for p in Path(out).glob("step_*") if (p / "state.json").exists()]
    return max(done, key=lambda p: int(p.name[5:])) if done else None


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


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


def _slice(batch: Batch, idx: Any) -> Batch:
    return Batch(
        batch.prompt_ids[idx],
        batch.prompt_mask[idx],
        batch.response_ids[idx],
        batch.response_mask[idx],
    )


def run_ppo(
    model: str | Path,
    puzzles: Sequence[cogstar.Puzzle],
    out: str | Path,
    settings: PPOSettings | None = None,
    *,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    stop_after: int | None = None,
    trackers: Sequence[str] = (),
) -> Path:
    """Train ``model`` (a policy folder) with PPO on ``puzzles``; returns the last checkpoint.

    ``stop_after`` ends the call after that many steps in this call (the run can be resumed);
    ``on_step`` receives each step's metrics (live progress).
    """
    from accelerate import Accelerator  # type: ignore[import-untyped]
    from accelerate.utils import gather_object  # type: ignore[import-untyped]
    from transformers import AutoModelForCausalLM

    from cogstar.models import load_tokenizer, torch_dtype

    settings = settings or PPOSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    acc = Accelerator(log_with=list(trackers) or None, cpu=not torch.cuda.is_available())
    rank, world = acc.process_index, acc.num_processes
    settings.check(world)
    on_gpu = acc.device.type == "cuda"
    dtype = settings.dtype if on_gpu else "float32"
    resume = latest_checkpoint(out)
    source = resume / "actor" if resume else Path(model)
    tok = load_tokenizer(source)
    tok.padding_side = "left"
    actor = AutoModelForCausalLM.from_pretrained(str(source), dtype=torch_dtype(dtype))
    critic: Critic = load_critic(resume / "critic" if resume else model, dtype=dtype)
    reference = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch_dtype(dtype))
    reference.requires_grad_(False)
    reference.train(False)
    actor_opt = torch.optim.AdamW(actor.parameters(), lr=settings.actor_lr, weight_decay=0.0)
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=settings.critic_lr, weight_decay=0.0)
    actor, critic, actor_opt, critic_opt = acc.prepare(actor, critic, actor_opt, critic_opt)
    reference = reference.to(acc.device)
    step = 0
    if resume is not None:
        state = json.loads((resume / "state.json").read_text())
        step = state["step"]
        actor_opt.load_state_dict(torch.load(resume / "actor_opt.pt", weights_only=False))
        critic_opt.load_state_dict(torch.load(resume / "critic_opt.pt", weights_only=False))
        own = resume / _rng_name(rank)
        _set_rng_state(torch.load(own if own.exists() else resume / "rng.pt", weights_only=False))
    else:
        # each process samples its own rollouts: one seed per process
        torch.manual_seed(settings.seed + rank)
        random.seed(settings.seed + rank)
        if acc.is_main_process:
            (out / "settings.json").write_text(json.dumps(asdict(settings), indent=2))
    if trackers:
        acc.init_trackers("cogstar-ppo", config=asdict(settings))
    engine = HFRollout(
        acc.unwrap_model(actor),
        tok,
        max_new_tokens=settings.max_response_tokens,
        temperature=settings.temperature,
    )
    n = len(puzzles)
    per = settings.prompts_per_step
    metrics_file = out / "metrics.jsonl"
    if acc.is_main_process:
        _trim_metrics(metrics_file, step)
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
        engine.sync_weights(acc.unwrap_model(actor))
        parts = [
            engine.generate(
                prompt_ids[i : i + settings.micro_batch], prompt_mask[i : i + settings.micro_batch]
            )
            for i in range(0, len(texts), settings.micro_batch)
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
        batch_scores = cogstar.score_batch(
            [t + r for t, r in zip(texts, responses, strict=True)],
            [p.numbers for p in chosen],
            [p.target for p in chosen],
            mode=settings.reward_mode,
        )
        scored = [batch_scores[k] for k in range(len(batch_scores))]
        scores = torch.tensor([s.value for s in scored], dtype=torch.float32, device=acc.device)
        t_reward = time.perf_counter()
        # 3. old log-probs, reference log-probs, values
        mask = batch.response_mask
        with torch.no_grad():
            old_lp, ref_lp, values = [], [], []
            for i in range(0, len(texts), settings.micro_batch):
                mb = _slice(batch, slice(i, i + settings.micro_batch))
                old_lp.append(token_logprobs(actor, mb, settings.temperature)[0])
                ref_lp.append(token_logprobs(reference, mb, settings.temperature)[0])
                values.append(critic(mb.input_ids, mb.attention_mask, mb.prompt_ids.shape[1]))
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
        # per process; gradients are averaged across processes, so an update sees the
        # configured number of prompts in all
        actor_mb = settings.actor_minibatch_prompts // world * settings.samples_per_prompt
        critic_mb = settings.critic_minibatch_prompts // world * settings.samples_per_prompt
        for _ in range(settings.ppo_epochs):
            perm = torch.randperm(rows)
            for s in range(0, rows, actor_mb):
                idx = perm[s : s + actor_mb]
                actor_opt.zero_grad(set_to_none=True)
                for m0 in range(0, len(idx), settings.micro_batch):
                    sub = idx[m0 : m0 + settings.micro_batch]
                    mb = _slice(batch, sub)
                    lp, ent = token_logprobs(actor, mb, settings.temperature, with_entropy=True)
                    assert ent is not None
                    loss_pi, clipfrac = policy_loss(
                        lp, old_logprobs[sub], advantages[sub], mb.response_mask, settings.clip
                    )
                    ent_mean = masked_mean(ent, mb.response_mask)
                    loss = (loss_pi - settings.entropy_coef * ent_mean) * len(sub) / len(idx)
                    acc.backward(loss)
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
                    v = critic(mb.input_ids, mb.attention_mask, mb.prompt_ids.shape[1])
                    loss_v, vclip = value_loss(
                        v, old_values[sub], returns[sub], mb.response_mask, settings.value_clip
                    )
                    acc.backward(loss_v * len(sub) / len(idx))
                    stats["vf_loss"].append(loss_v.item())
                    stats["vf_clipfrac"].append(vclip.item())
                acc.clip_grad_norm_(critic.parameters(), settings.grad_clip)
                critic_opt.step()
        t_update = time.perf_counter()
        step += 1
        done_here += 1
        # reward, outcomes, lengths and KL over every process's rollouts; losses are this one's
        everyone = gather_object(
            [(s.value, str(s.outcome), len(r)) for s, r in zip(scored, responses, strict=True)]
        )
        sums = acc.reduce(
            torch.stack([mask.sum(), (kl * mask).sum()]).to(torch.float32), "sum"
        ).tolist()
        n_tokens, kl_sum = float(sums[0]), float(sums[1])
        total = len(everyone)  # rollouts of every process
        outcome_counts = Counter(o for _, o, _ in everyone)
        record: dict[str, Any] = {
            "step": step,
            "reward": sum(v for v, _, _ in everyone) / total,
            "accuracy": sum(v == 1.0 for v, _, _ in everyone) / total,
            "outcomes": dict(sorted(outcome_counts.items())),
            "kl": kl_sum / max(1.0, n_tokens),
            **{name: sum(xs) / max(1, len(xs)) for name, xs in stats.items()},
            "explained_variance": explained_variance(old_values, returns, mask).item(),
            "response_tokens": n_tokens / total,
            "response_chars": sum(c for _, _, c in everyone) / total,
            "rollout_tokens_per_s": n_tokens / max(1e-9, t_rollout - t0),
            "seconds": {
                "rollout": t_rollout - t0,
                "reward": t_reward - t_rollout,
                "logprobs": t_logprobs - t_reward,
                "update": t_update - t_logprobs,
            },
        }
        if acc.is_main_process:
            with metrics_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if trackers:
            flat = {k: v for k, v in record.items() if isinstance(v, int | float)}
            acc.log(flat, step=step)
        if step % settings.save_every == 0 or step == settings.steps:
            last = _save(out, step, acc, actor, critic, actor_opt, critic_opt, tok)
        if on_step is not None:
            on_step(record)
    if stop_after is not None and last is not None and int(last.name[5:]) != step:
        last = _save(out, step, acc, actor, critic, actor_opt, critic_opt, tok)
    acc.wait_for_everyone()
    if trackers:
        acc.end_training()
    assert last is not None or settings.steps == 0
    return last if last is not None else Path(model)


def _trim_metrics(path: Path, step: int) -> None:
    """Keep the metrics of steps up to ``step`` (the checkpoint a run resumes from).

    A run killed after logging a step but before checkpointing it redoes that step; its
    old line (and a torn last line) must not stay behind as a duplicate.
    """
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", step + 1) <= step:
            kept.append(line + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, path)


def _save(
    out: Path,
    step: int,
    acc: Any,
    actor: Any,
    critic: Any,
    actor_opt: Any,
    critic_opt: Any,
    tok: Any,
) -> Path:
    """Write ``step_XXXXXX`` atomically: a temp folder renamed into place, ``state.json`` last."""
    final = out / f"step_{step:06d}"
    tmp = out / f".step_{step:06d}.tmp"
    acc.wait_for_everyone()
    if acc.is_main_process:
        if tmp.exists():  # left by a killed run
            shutil.rmtree(tmp)
        tmp.mkdir()
    acc.wait_for_everyone()
    torch.save(_rng_state(), tmp / _rng_name(acc.process_index))  # every process its own
    acc.wait_for_everyone()
    if acc.is_main_process:
        acc.unwrap_model(actor).save_pretrained(tmp / "actor")
        tok.save_pretrained(tmp / "actor")
        acc.unwrap_model(critic).save(tmp / "critic")
        torch.save(actor_opt.state_dict(), tmp / "actor_opt.pt")
        torch.save(critic_opt.state_dict(), tmp / "critic_opt.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    acc.wait_for_everyone()
    return final
