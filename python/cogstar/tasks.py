"""Countdown tasks: the prompts, the held-out share of the puzzle space, scoring a model's
completions, and the data stage (:class:`DataConfig`, :func:`make_puzzles`).

The contract (see the paper's setup): a preamble in which a User asks and the Assistant
reasons and then answers; a user line with the numbers as a Python list and the target,
the four operations, each number once, work inside ``<think> </think>`` and the final
expression inside ``<answer> </answer>`` with an example; then ``Assistant: Let me solve
this step by step.`` and a newline. The priming (SFT) prompt stops there and its completion
starts with ``<think>``; the RL prompt adds ``<think>`` itself, which the model continues. So
a primed model sees at RL time exactly the text it was trained on. The wording is cogstar's
own.

Base models get no chat template and no BOS token; instruct models get the same user text
through their chat template (``chat_messages``), with the assistant turn prefilled.

The reward reads what follows the first ``Assistant:``, so the preamble never writes
that marker itself (it says "Assistant" without a colon).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field

from cogstar import io
from cogstar._core import (
    Outcome,
    Puzzle,
    ScoreBatch,
    generate_puzzles,
    score_completions,
    split_puzzles,
)
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import ArgumentError, DataError

__all__ = [
    "ASSISTANT_PREFIX",
    "OUTCOMES",
    "SHARES",
    "SHARE_BUCKETS",
    "DataConfig",
    "Posed",
    "chat_messages",
    "check_unseen",
    "in_share",
    "is_heldout",
    "make_puzzles",
    "priming_prompt",
    "puzzle_share",
    "rl_prompt",
    "score_puzzles",
    "user_text",
]

PREAMBLE = (
    "A conversation between User and Assistant. The User poses a problem, and the Assistant "
    "first works it out step by step in its head and then gives the User the answer."
)

ASSISTANT_PREFIX = "Let me solve this step by step."


def _check(numbers: Sequence[int], target: int) -> list[int]:
    nums = [int(n) for n in numbers]
    if not nums:
        raise ArgumentError("a Countdown prompt needs at least one number")
    if isinstance(target, bool) or int(target) != target:
        raise ArgumentError(f"target must be an integer, got {target!r}")
    return nums


def user_text(numbers: Sequence[int], target: int) -> str:
    """The user's request: numbers as a Python list, the target, the rules, the format."""
    nums = _check(numbers, target)
    return (
        f"Using the numbers {nums}, create an equation that equals {target}. You may use "
        "+, -, * and /, and each number must be used exactly once. Show your reasoning "
        "inside <think> </think> tags, then give the final equation inside <answer> </answer> "
        "tags, for example <answer> (1 + 2) / 3 </answer>."
    )


def priming_prompt(numbers: Sequence[int], target: int) -> str:
    """The SFT prompt: ends with "step by step." and a newline; the completion starts ``<think>``."""
    return f"{PREAMBLE}\nUser: {user_text(numbers, target)}\nAssistant: {ASSISTANT_PREFIX}\n"


def rl_prompt(numbers: Sequence[int], target: int) -> str:
    """The RL / evaluation prompt for base models: the model continues after ``<think>``."""
    return f"{priming_prompt(numbers, target)}<think>"


def chat_messages(numbers: Sequence[int], target: int) -> list[dict[str, str]]:
    """The instruct-model form: same user text, assistant turn prefilled up to ``<think>``.

    Render with ``tokenizer.apply_chat_template(messages, continue_final_message=True)``.
    """
    return [
        {"role": "system", "content": PREAMBLE},
        {"role": "user", "content": user_text(numbers, target)},
        {"role": "assistant", "content": f"{ASSISTANT_PREFIX}\n<think>"},
    ]


class Posed(Protocol):
    """Anything that names a puzzle: a :class:`~cogstar.Puzzle`, a record, a completion row."""

    @property
    def numbers(self) -> Sequence[int]: ...
    @property
    def target(self) -> int: ...


P = TypeVar("P", bound=Posed)


# The puzzle space is cut in three shares by a hash of each puzzle, the same for every seed
# and every process: buckets (of SPLIT_BUCKETS) -> share. The test set draws only from "test",
# RL training only from "rl", and everything the tiny base and the priming sets are made of
# only from "pretrain", so neither RL nor the test rewards recalling a puzzle seen earlier.
SPLIT_BUCKETS = 8
SHARE_BUCKETS: dict[str, tuple[int, ...]] = {
    "test": (0,),
    "rl": (1, 2),
    "pretrain": (3, 4, 5, 6, 7),
}
SHARES: tuple[str, ...] = tuple(SHARE_BUCKETS)
_SHARE_OF = {b: name for name, buckets in SHARE_BUCKETS.items() for b in buckets}


def puzzle_share(numbers: Sequence[int], target: int) -> str:
    """The share of the puzzle space a puzzle belongs to: ``"test"``, ``"rl"`` or
    ``"pretrain"`` (:data:`SHARE_BUCKETS`).

    Decided by a hash of the sorted numbers and the target, so the order of the numbers and
    the seed that drew the puzzle do not matter. A small puzzle space (the tiny model's task
    has 3,261 puzzles) can then be sampled heavily for pretraining and priming without the RL
    puzzles or the test set leaking into them.
    """
    key = ",".join(str(n) for n in sorted(_check(numbers, target))) + f"|{int(target)}"
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return _SHARE_OF[int.from_bytes(digest, "little") % SPLIT_BUCKETS]


def is_heldout(numbers: Sequence[int], target: int) -> bool:
    """Whether a puzzle is in the test share (:func:`puzzle_share`)."""
    return puzzle_share(numbers, target) == "test"


def in_share(puzzles: Sequence[P], share: str) -> list[P]:
    """The puzzles of ``puzzles`` in ``share``, in order."""
    if share not in SHARE_BUCKETS:
        raise ArgumentError(f"share must be one of {', '.join(SHARES)}, got {share!r}")
    return [p for p in puzzles if puzzle_share(p.numbers, p.target) == share]


def check_unseen(puzzles: Sequence[Posed], where: str, seen_share: str | None) -> None:
    """Refuse RL or test puzzles in the share a base model was pretrained on.

    ``seen_share`` is that share (a cogstar-pretrained base records it, see
    :func:`cogstar.train.tiny.pretraining_share`), ``None`` for a base whose pretraining
    data is unknown. ``where`` names the puzzle file in the error.
    """
    if seen_share is None:
        return
    seen = in_share(puzzles, seen_share)
    if seen:
        examples = "; ".join(f"{list(p.numbers)} -> {p.target}" for p in seen[:3])
        raise DataError(
            f"{where}: {len(seen)} of {len(puzzles)} puzzles are in the base model's "
            f"pretraining share (e.g. {examples}), so RL or the test would reward recall; "
            'use data.source = "generate" (it draws RL puzzles from the "rl" share and the '
            'test set from the "test" share) or drop those puzzles from the file'
        )


#: The reward's outcome labels (``str(cogstar.Outcome.CORRECT) == "correct"``), sorted.
OUTCOMES: tuple[str, ...] = tuple(
    sorted(str(getattr(Outcome, name)) for name in dir(Outcome) if name.isupper())
)


def score_puzzles(
    completions: Sequence[str],
    puzzles: Sequence[Posed],
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
) -> ScoreBatch:
    """The reward of each completion of the RL (or priming) prompt of its puzzle:
    :func:`cogstar.score_completions`, in parallel. ``format_score=0.0`` gives the binary
    accuracy that evaluation reports."""
    numbers = [list(p.numbers) for p in puzzles]
    targets = [p.target for p in puzzles]
    return score_completions(completions, numbers, targets, mode=mode, format_score=format_score)


# -- the data stage ------------------------------------------------------------------------


class DataConfig(StageConfig):
    """The RL puzzles and the test set, shared by every cell and every replicate.

    ``source``: ``generate`` (with the generator's settings below), a local ``.jsonl`` or
    ``.parquet`` file of puzzle rows, or ``hub:<dataset id>`` (rows with ``nums`` or
    ``numbers`` and ``target``, as Countdown datasets on the Hugging Face Hub have them). The
    test set is ``test`` of them; ``seed`` fixes both.
    """

    SECTION = "data"

    source: str = "generate"
    train: int = Field(default=4096, ge=1)
    test: int = Field(default=1024, ge=1)
    sizes: list[int] = Field(default_factory=lambda: [3, 4], min_length=1)
    value_range: tuple[int, int] = (1, 100)
    target_range: tuple[int, int] = (1, 100)
    numbers_below_target: bool = False
    rules: Literal["rational", "classic"] = "rational"
    seed: int = Field(default=0, ge=0)

    def problems(self) -> list[Problem]:
        found = Found()
        hub_example = '"hub:Jiayi-Pan/Countdown-Tasks-3to4"'
        if self.source.startswith("hub:"):
            if not self.source[4:].strip():
                found.add(("source",), "'hub:' names no dataset", f"write e.g. {hub_example}")
        elif self.source != "generate":
            if Path(self.source).suffix not in (".jsonl", ".parquet"):
                found.add(
                    ("source",),
                    f"{self.source!r} is not 'generate', 'hub:<dataset id>' or a .jsonl/.parquet "
                    "file",
                    f'use "generate", {hub_example} or a path ending in .jsonl or .parquet',
                )
            elif not Path(self.source).expanduser().exists():
                found.add(
                    ("source",),
                    f"no file {self.source!r} (a relative path starts at the current directory)",
                    "give the path of an existing puzzle file",
                )
        for i, size in enumerate(self.sizes):
            if not 2 <= size <= 6:
                found.add(("sizes", i), f"{size} numbers is outside 2..6", "use 2 to 6")
        for key in ("value_range", "target_range"):
            low, high = getattr(self, key)
            if not 0 <= low <= high <= 1_000_000:
                found.add(
                    (key,),
                    f"[{low}, {high}] is not [low, high] with 0 <= low <= high <= 1000000",
                    f"order it as [low, high], e.g. {key} = [1, 100]",
                )
        return found


def _external_rows(source: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` of a hub dataset or a local JSONL/Parquet file."""
    if source.startswith("hub:"):
        from datasets import load_dataset  # type: ignore[import-untyped]

        return [
            (f"{source}: row {i}", r)
            for i, r in enumerate(load_dataset(source[4:], split="train"), 1)
        ]
    path = Path(source)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        return [(f"{path}: row {i}", r) for i, r in enumerate(pq.read_table(path).to_pylist(), 1)]
    return [(f"{path}:{n}", r) for n, r in io.iter_jsonl(path)]


def _load_external(source: str) -> list[Puzzle]:
    """Puzzle rows from ``hub:<dataset id>`` or a local file; a hub dataset's ``nums`` column
    is read as ``numbers`` (the one place another field name is accepted)."""
    out = []
    for where, row in _external_rows(source):
        if "numbers" not in row and "nums" in row:
            row = {**row, "numbers": list(row["nums"])}
        try:
            out.append(io.puzzle_from_row(row))
        except (KeyError, TypeError) as err:
            raise DataError(
                f"{where}: not a puzzle row ({err}); give puzzles as "
                '{"numbers": [...], "target": N}'
            ) from None
    return out


def _distinct(puzzles: Sequence[Puzzle]) -> list[Puzzle]:
    seen: dict[tuple[tuple[int, ...], int], Puzzle] = {}
    for p in puzzles:
        seen.setdefault((tuple(sorted(p.numbers)), p.target), p)
    return list(seen.values())


def make_puzzles(config: DataConfig) -> tuple[list[Puzzle], list[Puzzle]]:
    """(train, test) RL puzzles. Generated data trains on the ``rl`` share of the puzzle
    space and tests on the ``test`` share (:func:`puzzle_share`); a file or hub dataset is
    split by ``config.seed``."""
    d = config
    if d.source != "generate":
        pool = _load_external(d.source)
        if len(pool) < d.train + d.test:
            raise DataError(
                f"{d.source}: {len(pool)} puzzles, but data.train + data.test = "
                f"{d.train + d.test}; lower them"
            )
        kept, held = split_puzzles(pool, d.test, seed=d.seed)
        return kept[: d.train], held
    test: list[Puzzle] = []
    train: list[Puzzle] = []
    count = 4 * d.train + 8 * d.test
    for attempt in range(4):
        pool = generate_puzzles(
            count,
            seed=d.seed + attempt * 7919,
            sizes=tuple(d.sizes),
            value_range=(d.value_range[0], d.value_range[1]),
            target_range=(d.target_range[0], d.target_range[1]),
            rules=d.rules,
            numbers_below_target=d.numbers_below_target,
        )
        test = _distinct(test + in_share(pool, "test"))[: d.test]
        train += in_share(pool, "rl")
        if len(test) >= d.test and len(train) >= d.train:
            return train[: d.train], test
        count *= 2
    if len(test) < d.test:
        raise DataError(
            f"data: only {len(test)} distinct test puzzles exist in this puzzle space (the "
            f"test share is one bucket in {SPLIT_BUCKETS}); lower data.test to {len(test)} or "
            "widen data.target_range"
        )
    raise DataError(
        f"data: only {len(train)} RL puzzles were drawn from the rl share of this puzzle "
        f"space; lower data.train to {len(train)} or widen data.target_range"
    )
