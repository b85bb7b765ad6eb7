"""The embedded tiny model: its tokenizer, its architecture, its text and its pretraining.

The tiny default is a small Qwen2-style decoder with a byte-level BPE tokenizer trained here
(no network) on generated Countdown prompts, traces and arithmetic, every number below 1,000 a
single token. It is the "base model" of every offline experiment; the shipped weights come
from :func:`pretrain` (``cogstar tiny-pretrain``).

Everything is generated here from seeds, offline. The pretraining corpus teaches the format
and arithmetic but **no behaviors**: Countdown prompts followed by direct step derivations
(the ``negative_control`` style, right and wrong answers mixed) and lines of arithmetic facts.
A model pretrained on it is a behavior-free base, like the paper's Llama, so that priming and
RL are what add verification, backtracking, subgoals and backward chaining.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cogstar
from cogstar.behaviors.priming import CONDITIONS, priming_puzzles
from cogstar.errors import ArgumentError
from cogstar.io import atomic_dir, atomic_write_json
from cogstar.tasks import SHARE_BUCKETS, in_share, priming_prompt, rl_prompt
from cogstar.train.models import EOS, PAD

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "PRETRAIN_SHARE",
    "PRETRAIN_STEPS",
    "TINY_SIZES",
    "TINY_VERSION",
    "WIDE_TASK",
    "arithmetic_lines",
    "base_dir",
    "default_dir",
    "pack",
    "packaged_dir",
    "pretrain",
    "pretraining_corpus",
    "pretraining_puzzles",
    "pretraining_share",
    "prose_derivation",
    "tiny_config",
    "tiny_tokenizer",
    "tokenizer_corpus",
    "train_tiny_tokenizer",
    "wide_puzzles",
]

# Bump when the corpus, tokenizer or recipe changes, so a stale cache is not reused.
TINY_VERSION = 6

# Optimizer steps of the shipped model's pretraining (the default of :func:`pretrain`).
PRETRAIN_STEPS = 3000

# Puzzle sizes of the tiny model's task (see ``pretraining_puzzles``).
TINY_SIZES_TASK: tuple[int, ...] = (3,)

# The share of the puzzle space (:func:`cogstar.tasks.puzzle_share`) the tiny base's
# pretraining text is written on; its recipe records it, and a study refuses RL or test
# puzzles from it (:func:`pretraining_share`).
PRETRAIN_SHARE = "pretrain"


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


def pretraining_puzzles(count: int, seed: int = 0) -> list[cogstar.Puzzle]:
    """Puzzles of the tiny model's task from the ``pretrain`` share of the puzzle space
    (:data:`PRETRAIN_SHARE`): the RL puzzles and the test set are never among them.

    The task is the priming distribution with three numbers (targets 10 to 25, numbers
    below the target, classic rules): a small space (3,261 puzzles, 2,040 of them in the
    pretraining share) that a model of a million parameters can learn to work in.
    """
    pool = priming_puzzles(2 * count + 64, seed=seed, sizes=TINY_SIZES_TASK)
    return in_share(pool, PRETRAIN_SHARE)[:count]


_OPENINGS = (
    "The numbers are {numbers} and the target is {target}.",
    "We have {numbers} and need to reach {target}.",
    "Let me use {numbers} to make {target}.",
)
_LINKS = (("First,", "Then", "Next,", "Finally,"), ("Start with", "Then", "After that,", "Last,"))


def prose_derivation(trace: str, numbers: list[int], target: int, rng: random.Random) -> str:
    """A ``negative_control`` trace retold as prose: the numbers and target restated, then
    the same steps joined by plain connectives, then the same answer. No checking, going
    back, intermediate goals or working backward: still behavior-free (the rule-based
    counter finds none), but in sentences rather than ``Step k:`` lines."""
    steps = re.findall(r"Step \d+: (.+)", trace)
    answer = trace[trace.index("<answer>") :]
    listed = ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"
    opening = rng.choice(_OPENINGS).format(numbers=listed, target=target)
    links = rng.choice(_LINKS)
    said = " ".join(f"{links[min(i, 3)]} {step}." for i, step in enumerate(steps))
    return f"<think>\n{opening}\n{said}\n</think>\n{answer}"


# The wider puzzles a share of the pretraining text is written on (``wide_share``): targets
# from 1 to 100 and numbers to 50, where guessing a target from the task's narrow range
# (10 to 25) fails, so the base must learn to copy the prompt's target and numbers.
WIDE_TASK: dict[str, Any] = {
    "sizes": (3,), "value_range": (1, 50), "target_range": (1, 100), "rules": "classic",
}  # fmt: skip


def wide_puzzles(count: int, seed: int = 0) -> list[cogstar.Puzzle]:
    """``count`` puzzles of :data:`WIDE_TASK` from the pretraining share."""
    pool = cogstar.generate_puzzles(2 * count + 64, seed=seed + 1, **WIDE_TASK)
    return in_share(pool, PRETRAIN_SHARE)[:count]


def pretraining_corpus(
    count: int, seed: int = 0, prose_share: float = 0.0, wide_share: float = 0.0
) -> list[str]:
    """``count`` documents: a Countdown prompt followed by a direct derivation.

    Each derivation is the ``negative_control`` style (``Step k: a op b = c`` lines, then
    the answer), correct for about half of the puzzles and ending on a wrong answer for the
    rest. So the base model learns the format, to take the numbers from the prompt and to
    do the arithmetic, without any of the four behaviors, and is not yet a good solver.
    ``prose_share`` of the derivations are retold as prose (:func:`prose_derivation`), which
    gives the base some language before priming; ``wide_share`` of the documents pose wider
    puzzles (:data:`WIDE_TASK`) so that copying the prompt pays where guessing does not. Every
    puzzle is from the pretraining share. Version 4 used neither, versions 5 and 6 (shipped)
    prose 0.5 and no wide share; ``wide_share`` is an experiment (docs/design_log.md).
    """
    rng = random.Random(seed)
    n_wide = round(count * wide_share)
    puzzles = pretraining_puzzles(count - n_wide, seed=seed) + wide_puzzles(n_wide, seed=seed)
    rng.shuffle(puzzles)
    right = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed)
    wrong = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed, wrong_answer=True)
    docs = []
    for p, r, w in zip(puzzles, right, wrong, strict=True):
        text = (r if rng.random() < 0.5 else w).text
        if prose_share > 0 and rng.random() < prose_share:
            text = prose_derivation(text, list(p.numbers), p.target, rng)
        docs.append(priming_prompt(p.numbers, p.target) + text)
    return docs


# name -> (hidden, layers, heads, kv heads, intermediate)
TINY_SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (128, 4, 4, 2, 384),
    "small": (256, 6, 8, 4, 768),
}

_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def train_tiny_tokenizer(
    texts: list[str], vocab_size: int = 512, whole_numbers: int = 1000
) -> PreTrainedTokenizerBase:
    """A byte-level BPE tokenizer trained on ``texts`` (deterministic for the same texts).

    The integers below ``whole_numbers`` are single tokens (a small model copies a number
    from the prompt by copying one token); longer digit runs split one digit per token.
    ``<think>``, ``</think>``, ``<answer>`` and ``</answer>`` are single tokens too.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken

    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 4,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    # The tags are ordinary (not special) single tokens: decoding never drops them.
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in _TAGS])
    tok.add_tokens(
        [AddedToken(str(n), special=False, normalized=False) for n in range(whole_numbers)]
    )
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, eos_token=EOS, pad_token=PAD
    )
    wrapped.padding_side = "left"  # generation pads on the left
    return wrapped


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    """The embedded tokenizer, trained on the fly from generated text (about a second)."""
    return train_tiny_tokenizer(tokenizer_corpus())


def tiny_config(tokenizer: PreTrainedTokenizerBase, size: str = "tiny", max_len: int = 2048) -> Any:
    """A small Qwen2 configuration sized by ``size`` (see :data:`TINY_SIZES`)."""
    from transformers import Qwen2Config

    if size not in TINY_SIZES:
        raise ArgumentError(f"size must be one of {', '.join(TINY_SIZES)}, got {size!r}")
    hidden, layers, heads, kv, inter = TINY_SIZES[size]
    return Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        max_position_embeddings=max_len,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )


def default_dir(size: str = "tiny") -> Path:
    """Where a locally pretrained tiny model is cached (``$COGSTAR_CACHE`` or ``~/.cache/cogstar``)."""
    root = os.environ.get("COGSTAR_CACHE") or str(Path.home() / ".cache" / "cogstar")
    suffix = "" if size == "tiny" else f"-{size}"
    return Path(root) / f"tiny-base-v{TINY_VERSION}{suffix}"


def packaged_dir() -> Path:
    """The pretrained tiny model shipped inside the package (about 2 MB, fp16 weights)."""
    return Path(__file__).parents[1] / "data" / "tiny"


def pack(source: str | Path, out: str | Path | None = None) -> Path:
    """Write a pretrained tiny model in the shipped form: fp16 weights, tokenizer, recipe.

    ``out`` defaults to :func:`packaged_dir`. fp16 halves the size (about 2 MB); loading
    casts back to the dtype asked for.
    """
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from cogstar.train.models import load_tokenizer

    source, out = Path(source), Path(out) if out is not None else packaged_dir()
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float16)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        load_tokenizer(source).save_pretrained(tmp)
        for extra in ("cogstar_pretrain.json",):
            if (source / extra).exists():
                shutil.copy(source / extra, tmp / extra)
    return out


def pretraining_share(model: str | Path) -> str | None:
    """The share of the puzzle space a cogstar-pretrained base model was pretrained on (its
    ``cogstar_pretrain.json``), ``None`` for any other model. A recipe from before the
    three-way split (version 5 and older) names none: such a base saw every share but the
    test's, so it is reported as ``"rl"``, the share RL would draw from."""
    recipe = Path(model) / "cogstar_pretrain.json"
    if not recipe.exists():
        return None
    import json

    share = json.loads(recipe.read_text(encoding="utf-8")).get("puzzle_share", "rl")
    return str(share)


def base_dir(size: str = "tiny", *, progress: bool = True) -> Path:
    """The tiny base model: the shipped one, else the cached one, else pretrained now.

    The shipped model is the ``tiny`` size made by ``cogstar tiny-pretrain`` with the
    defaults of :func:`pretrain` (its ``cogstar_pretrain.json`` records the recipe); the
    ``small`` size is pretrained on first use and cached.
    """
    shipped = packaged_dir()
    if size == "tiny" and (shipped / "model.safetensors").exists():
        return shipped
    cached = default_dir(size)
    if not (cached / "config.json").exists():
        pretrain(cached, size=size, progress=progress)
    return cached


def pretrain(
    out: str | Path | None = None,
    *,
    steps: int = PRETRAIN_STEPS,
    batch_size: int = 16,
    seq_len: int = 256,
    lr: float = 3e-3,
    size: str = "tiny",
    seed: int = 0,
    prose_share: float = 0.5,
    wide_share: float = 0.0,
    progress: bool = True,
) -> Path:
    """Pretrain the tiny base model on :func:`pretraining_corpus` and save it to ``out``.

    A causal LM on packed sequences (documents joined by EOS), AdamW with a cosine schedule
    and 5% warm-up, fp32 on CPU. Writes the model and tokenizer with ``save_pretrained``
    into a temporary folder and renames it into place, so ``out`` is complete or absent.
    Returns ``out``. About 0.55 s per step on two CPU cores with the defaults.
    """
    import math
    import time

    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out) if out is not None else default_dir()
    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    model = AutoModelForCausalLM.from_config(tiny_config(tok, size=size))  # type: ignore[no-untyped-call]
    docs = pretraining_corpus(
        max(2000, steps * batch_size * seq_len // 150),
        seed=seed,
        prose_share=prose_share,
        wide_share=wide_share,
    )
    ids: list[int] = []
    for d in docs:
        ids += tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
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
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        recipe = {
            "steps": steps,
            "batch_size": batch_size,
            "seq_len": seq_len,
            "lr": lr,
            "size": size,
            "seed": seed,
            "prose_share": prose_share,
            "wide_share": wide_share,
            "puzzle_share": PRETRAIN_SHARE,
            "split": {name: list(b) for name, b in SHARE_BUCKETS.items()},
            "final_loss": loss.item(),
            "seconds": round(time.time() - start, 1),
            "tokens": steps * batch_size * seq_len,
        }
        atomic_write_json(tmp / "cogstar_pretrain.json", recipe)
    return out
