"""Budgeting and format: rewrites as priming-format records, a token budget per pool, a split.

Each rewrite becomes one prompt/completion record in the Countdown-style template, so the
continued-pretraining text looks like what SFT priming and PPO show the model::

    <PREAMBLE>
    User: <question>
    Assistant: Let me solve this step by step.
    <think>
    <thoughts>
    </think>
    <answer><answer></answer>

Both pools are cut to the same number of tokens (of the model to be trained), so that a
difference after training comes from what the text shows, not how much of it there was::

    from cogstar.pretrain.budget import build_pool_dataset

    ds = build_pool_dataset(read_rewrites("rich.jsonl"), "rich", "pretrain/data",
                            budget_tokens=2_000_000, tokenizer_source="meta-llama/Llama-3.2-3B",
                            test_fraction=0.05, seed=0)
    # pretrain/data/rich/train.jsonl, test.jsonl, card.json
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError
from cogstar.io import Record, atomic_write_json, write_records
from cogstar.pretrain import Rewrite
from cogstar.tasks import ASSISTANT_PREFIX, PREAMBLE

__all__ = [
    "PoolDataset",
    "budget_records",
    "build_pool_dataset",
    "split",
    "to_record",
]


def to_record(rw: Rewrite) -> Record:
    """One rewrite as a training record (the format priming sets have too).

    The prompt is the priming prompt with the rewrite's question as the user's message; the
    completion is the thoughts in ``<think>`` and the answer in ``<answer>``. There is no
    Countdown puzzle behind it, so ``numbers`` is empty, ``target`` 0 and ``correct`` False
    (nothing checked the answer); ``condition`` is ``pretrain_<pool>``, ``source`` ``"llm"``.
    """
    prompt = f"{PREAMBLE}\nUser: {rw.question}\nAssistant: {ASSISTANT_PREFIX}\n"
    completion = f"<think>\n{rw.thoughts}\n</think>\n<answer>{rw.answer}</answer>"
    return Record(
        prompt=prompt,
        completion=completion,
        numbers=[],
        target=0,
        condition=f"pretrain_{rw.pool}",
        correct=False,
        source="llm",
    )


def _record_tokens(records: Sequence[Record], count_tokens: Callable[[str], int]) -> list[int]:
    return [count_tokens(r.prompt + r.completion) for r in records]


def _fill(tokens: Sequence[int], budget: int, seed: int) -> list[int]:
    """Indices (in input order) of a seeded greedy fill: take records in a shuffled order,
    skipping any that would overshoot, until nothing more fits."""
    if budget < 0:
        raise ArgumentError(f"budget_tokens must be >= 0, got {budget}")
    order = list(range(len(tokens)))
    random.Random(seed).shuffle(order)
    chosen, used = [], 0
    smallest = min(tokens, default=0)
    for i in order:
        if used + tokens[i] <= budget:
            chosen.append(i)
            used += tokens[i]
            if budget - used < smallest:
                break
    if sum(tokens) < budget:
        warnings.warn(
            f"the pool holds only {sum(tokens):,} tokens in {len(tokens):,} records, short of "
            f"the budget of {budget:,}; every record is used. Rewrite more documents, or lower "
            "the budget for every pool alike",
            stacklevel=3,
        )
    return sorted(chosen)


def budget_records(
    records: Sequence[Record],
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    *,
    seed: int = 0,
) -> list[Record]:
    """A seeded subset whose prompt + completion tokens sum to at most ``budget_tokens``.

    Records are visited in a shuffled order (``seed``) and each is taken if it still fits.
    ``count_tokens`` is the trained model's tokenizer, e.g.
    ``lambda s: len(tok(s, add_special_tokens=False).input_ids)`` (the EOS that training
    appends is not counted). Warns when the whole pool is smaller than the budget. The result
    keeps the input order.
    """
    tokens = _record_tokens(records, count_tokens)
    return [records[i] for i in _fill(tokens, budget_tokens, seed)]


def _split_indices(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    if not 0.0 <= test_fraction < 1.0:
        raise ArgumentError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n_test = round(n * test_fraction)
    if test_fraction > 0 and n >= 2:
        n_test = max(1, n_test)  # a non-zero fraction always gets a test record
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[n_test:]), sorted(order[:n_test])


def split(
    records: Sequence[Record], test_fraction: float = 0.05, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    """``(train, test)``: a seeded random ``test_fraction`` of the records held out (rounded,
    and at least one when the fraction is non-zero and there are two or more records); each
    part keeps the input order."""
    train, test = _split_indices(len(records), test_fraction, seed)
    return [records[i] for i in train], [records[i] for i in test]


@dataclass(frozen=True)
class PoolDataset:
    """One pool's training data on disk and what it holds."""

    pool: str
    train: Path
    test: Path
    card: Path
    train_records: int
    test_records: int
    train_tokens: int
    test_tokens: int
    dropped_by_budget: int


def _part(tokens: Sequence[int]) -> dict[str, Any]:
    return {
        "records": len(tokens),
        "tokens": sum(tokens),
        "mean_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0.0,
        "max_tokens": max(tokens, default=0),
    }


def build_pool_dataset(
    rewrites: Sequence[Rewrite],
    pool: str,
    out_dir: str | Path,
    *,
    budget_tokens: int,
    tokenizer_source: str | Path,
    test_fraction: float = 0.05,
    seed: int = 0,
) -> PoolDataset:
    """Format, budget and split one pool's rewrites; write ``out_dir/<pool>/``.

    Writes ``train.jsonl`` and ``test.jsonl`` (priming records, :func:`cogstar.behaviors.priming.
    write_records`), ``ids.json`` (the document ids in each part) and ``card.json`` (records,
    tokens, mean and longest record, how many rewrites the budget left out). The budget is
    taken first, then ``test_fraction`` of the chosen records is held out, so both pools of a
    study get the same budget and the same split. Tokens are counted with the tokenizer at
    ``tokenizer_source`` (hub id or folder), without special tokens.
    """
    from cogstar.train.models import load_tokenizer

    rewrites = list(rewrites)
    other = sorted({rw.pool for rw in rewrites} - {pool})
    if other:
        raise ArgumentError(
            f"rewrites for pool(s) {', '.join(other)} given to the {pool!r} dataset; pass one "
            "pool's rewrites at a time"
        )
    ids = [rw.id for rw in rewrites]
    if len(set(ids)) != len(ids):
        raise ArgumentError(f"the {pool!r} rewrites repeat document ids; each document once")
    tok = load_tokenizer(tokenizer_source)
    records = [to_record(rw) for rw in rewrites]
    texts = [r.prompt + r.completion for r in records]
    tokens = [len(x) for x in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []
    chosen = _fill(tokens, budget_tokens, seed)
    train_i, test_i = _split_indices(len(chosen), test_fraction, seed)
    train = [chosen[i] for i in train_i]
    test = [chosen[i] for i in test_i]
    folder = Path(out_dir) / pool
    paths = {"train": folder / "train.jsonl", "test": folder / "test.jsonl"}
    write_records(paths["train"], [records[i] for i in train])
    write_records(paths["test"], [records[i] for i in test])
    atomic_write_json(
        folder / "ids.json", {"train": [ids[i] for i in train], "test": [ids[i] for i in test]}
    )
    card = {
        "pool": pool,
        "condition": f"pretrain_{pool}",
        "tokenizer": str(tokenizer_source),
        "budget_tokens": budget_tokens,
        "seed": seed,
        "test_fraction": test_fraction,
        "available": _part(tokens),
        "selected": _part([tokens[i] for i in chosen]),
        "dropped_by_budget": len(records) - len(chosen),
        "short_of_budget": sum(tokens) < budget_tokens,
        "train": _part([tokens[i] for i in train]),
        "test": _part([tokens[i] for i in test]),
        "format": (
            "prompt: cogstar.tasks PREAMBLE, 'User: ' + question, 'Assistant: Let me solve this "
            "step by step.'; completion: '<think>\\n' + thoughts + '\\n</think>\\n<answer>' + "
            "answer + '</answer>'; tokens counted without special tokens (training adds EOS)"
        ),
    }
    atomic_write_json(folder / "card.json", card)
    return PoolDataset(
        pool=pool,
        train=paths["train"],
        test=paths["test"],
        card=folder / "card.json",
        train_records=len(train),
        test_records=len(test),
        train_tokens=sum(tokens[i] for i in train),
        test_tokens=sum(tokens[i] for i in test),
        dropped_by_budget=len(records) - len(chosen),
    )
