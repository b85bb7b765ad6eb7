"""Text for the embedded tiny model: its tokenizer's training text and its pretraining corpus.

Everything is generated here from seeds, offline. The pretraining corpus teaches the format
and arithmetic but **no behaviors**: Countdown prompts followed by direct step derivations
(the ``negative_control`` style, right and wrong answers mixed) and lines of arithmetic facts.
A model pretrained on it is a behavior-free base, like the paper's Llama, so that priming and
RL are what add verification, backtracking, subgoals and backward chaining.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cogstar
from cogstar.priming import CONDITIONS, priming_puzzles
from cogstar.tasks import priming_prompt, rl_prompt

__all__ = [
    "TINY_VERSION",
    "arithmetic_lines",
    "default_dir",
    "pretrain",
    "pretraining_corpus",
    "tokenizer_corpus",
]

# Bump when the corpus, tokenizer or recipe changes, so a stale cache is not reused.
TINY_VERSION = 3


def arithmetic_lines(count: int, seed: int) -> list[str]:
    """Lines of true equations ``a op b = c`` over small integers (exact division only)."""
    rng = random.Random(seed)
    lines: list[str] = []
    while len(lines) < count:
        a, b = rng.randint(0, 100), rng.randint(1, 100)
        op = rng.choice("+-*/")
        if op == "/" and a % b:
            continue
        c = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
        lines.append(f"{a} {op} {b} = {c}")
    return lines


def tokenizer_corpus(count: int = 600, seed: int = 0) -> list[str]:
    """Prompts, synthesized traces of every condition and arithmetic: what the tokenizer sees."""
    puzzles = priming_puzzles(count, seed=seed)
    texts = [priming_prompt(p.numbers, p.target) for p in puzzles[: count // 4]]
    texts += [rl_prompt(p.numbers, p.target) for p in puzzles[count // 4 : count // 2]]
    for k, condition in enumerate(CONDITIONS):
        traces = cogstar.synthesize_traces(puzzles, condition, seed=seed + k)
        texts += [t.text for t in traces[: count // len(CONDITIONS)]]
    texts += ["\n".join(arithmetic_lines(20, seed + i)) for i in range(count // 10)]
    return texts


def pretraining_corpus(count: int, seed: int = 0) -> list[str]:
    """``count`` documents: 3/4 Countdown prompt + direct derivation, 1/4 arithmetic facts.

    Derivations are correct for half of the puzzles and end on a wrong answer for the other
    half, so the base model knows the format but is not yet a good solver.
    """
    rng = random.Random(seed)
    n_puzzles = count * 3 // 4
    puzzles = cogstar.generate_puzzles(
        n_puzzles, seed=seed, sizes=(3, 4), rules="classic", value_range=(1, 100)
    )
    right = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed)
    wrong = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed, wrong_answer=True)
    docs = []
    for p, r, w in zip(puzzles, right, wrong, strict=True):
        trace = r if rng.random() < 0.5 else w
        docs.append(priming_prompt(p.numbers, p.target) + trace.text)
    docs += ["\n".join(arithmetic_lines(24, seed * 7919 + i)) for i in range(count - n_puzzles)]
    rng.shuffle(docs)
    return docs


def default_dir() -> Path:
    """Where the pretrained tiny model is cached (``$COGSTAR_CACHE`` or ``~/.cache/cogstar``)."""
    root = os.environ.get("COGSTAR_CACHE") or str(Path.home() / ".cache" / "cogstar")
    return Path(root) / f"tiny-base-v{TINY_VERSION}"


def pretrain(
    out: str | Path | None = None,
    *,
    steps: int = 600,
    batch_size: int = 16,
    seq_len: int = 384,
    lr: float = 3e-3,
    size: str = "tiny",
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Pretrain the tiny base model on :func:`pretraining_corpus` and save it to ``out``.

    A causal LM on packed sequences (documents joined by EOS), AdamW with a cosine schedule
    and 5% warm-up, fp32 on CPU. Writes the model and tokenizer with ``save_pretrained``
    into a temporary folder and renames it into place, so ``out`` is complete or absent.
    Returns ``out``. About 0.55 s per step on two CPU cores with the defaults.
    """
    import math
    import shutil
    import time

    import torch
    from transformers import AutoModelForCausalLM

    from cogstar import models

    out = Path(out) if out is not None else default_dir()
    torch.manual_seed(seed)
    tok = models.tiny_tokenizer()
    model = AutoModelForCausalLM.from_config(models.tiny_config(tok, size=size))  # type: ignore[no-untyped-call]
    docs = pretraining_corpus(max(2000, steps * batch_size * seq_len // 300), seed=seed)
    ids: list[int] = []
    for d in docs:
        ids += tok(d)["input_ids"] + [tok.eos_token_id]
    data = torch.tensor(ids[: len(ids) // seq_len * seq_len]).view(-1, seq_len)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    warm = max(1, steps // 20)

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    start = time.time()
    from rich.progress import Progress

    with Progress(disable=not progress) as bar:
        task = bar.add_task("pretraining the tiny base model", total=steps)
        for _ in range(steps):
            rows = torch.randint(0, data.shape[0], (batch_size,), generator=gen)
            batch = data[rows]
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            bar.update(task, advance=1, description=f"pretraining (loss {loss.item():.3f})")
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "cogstar_pretrain.json").write_text(
        json.dumps(
            {
                "steps": steps,
                "batch_size": batch_size,
                "seq_len": seq_len,
                "lr": lr,
                "size": size,
                "seed": seed,
                "final_loss": loss.item(),
                "seconds": round(time.time() - start, 1),
                "tokens": steps * batch_size * seq_len,
            },
            indent=2,
        )
    )
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out
