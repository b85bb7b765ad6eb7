"""The Countdown reward and data for verl.

In a verl PPO/GRPO config::

    custom_reward_function.path=<site-packages>/cogstar/integrations/verl.py
    custom_reward_function.name=compute_score          # verl's naive reward manager
    # or, batched (one call per rollout batch, scored in parallel in Rust):
    reward_model.reward_manager=batch custom_reward_function.name=compute_score_batch

and data written by ``cogstar generate puzzles --format verl --out train.parquet`` (verl's
columns: ``data_source``, ``prompt`` as chat messages, ``ability``, ``reward_model`` with
``ground_truth`` ``{"target", "numbers"}``, ``extra_info``; the layout TinyZero used).

verl hands the reward the decoded *response* only (``solution_str``) and the ground truth as
it read it from Parquet (``numbers`` a numpy array). The response is scored alone, as if the
standard prompt preceded it. Each call returns verl's dict: ``score`` (the reward), ``acc``
(1.0 when correct) and ``outcome`` (its name: ``correct``, ``wrong_value``, ...), which verl
keeps as extra reward information.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import cogstar
from cogstar.errors import ArgumentError, DataError
from cogstar.tasks import PREAMBLE, rl_prompt, user_text

__all__ = ["DATA_SOURCE", "compute_score", "compute_score_batch", "verl_rows", "write_verl"]

#: The ``data_source`` of cogstar's rows (TinyZero's name for the task).
DATA_SOURCE = "countdown"


def _ground_truth(truth: Any) -> tuple[Any, int]:
    if not isinstance(truth, Mapping) or "numbers" not in truth or "target" not in truth:
        raise ArgumentError(
            f"ground_truth must be a mapping with 'numbers' and 'target' (the reward_model."
            f"ground_truth column of cogstar's verl rows), got {truth!r:.200}"
        )
    return truth["numbers"], int(truth["target"])


def _result(score: cogstar.Score) -> dict[str, Any]:
    outcome = str(score.outcome)
    return {"score": score.value, "acc": float(outcome == "correct"), "outcome": outcome}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Mapping[str, Any],
    extra_info: Mapping[str, Any] | None = None,
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
    **_: Any,
) -> dict[str, Any]:
    """verl's per-response reward function (``data_source`` and ``extra_info`` are not
    needed; further keywords verl may add are ignored)."""
    numbers, target = _ground_truth(ground_truth)
    batch = cogstar.score_completions(
        [solution_str], [numbers], [target], mode=mode, format_score=format_score
    )
    return _result(batch[0])


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Mapping[str, Any]],
    extra_infos: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
    **_: Any,
) -> list[dict[str, Any]]:
    """verl's batch reward manager's function: the whole batch in one parallel call."""
    truths = [_ground_truth(t) for t in ground_truths]
    batch = cogstar.score_completions(
        solution_strs, [n for n, _ in truths], [t for _, t in truths],
        mode=mode, format_score=format_score,
    )  # fmt: skip
    return [_result(batch[i]) for i in range(len(batch))]


Style = Literal["base", "chat"]


def verl_rows(
    puzzles: Iterable[cogstar.Puzzle], split: str = "train", style: Style = "base"
) -> list[dict[str, Any]]:
    """verl's rows for ``puzzles``. ``base``: one user message holding the whole base-model
    prompt up to ``<think>`` (as TinyZero; serve it without a chat template, e.g. verl's
    ``data.apply_chat_template_kwargs`` or a pass-through template); ``chat``: the system and
    user turns for an instruct model's template."""
    if style not in ("base", "chat"):
        raise ArgumentError(f"style must be 'base' or 'chat', got {style!r}")
    rows = []
    for index, p in enumerate(puzzles):
        if style == "base":
            prompt = [{"role": "user", "content": rl_prompt(p.numbers, p.target)}]
        else:
            prompt = [
                {"role": "system", "content": PREAMBLE},
                {"role": "user", "content": user_text(p.numbers, p.target)},
            ]
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": prompt,
                "ability": "math",
                "reward_model": {
                    "style": "rule",
                    "ground_truth": {"target": p.target, "numbers": list(p.numbers)},
                },
                "extra_info": {"split": split, "index": index},
            }
        )
    return rows


def write_verl(
    path: str | Path, puzzles: Iterable[cogstar.Puzzle], split: str = "train", style: Style = "base"
) -> int:
    """Write verl's rows as Parquet, atomically; returns how many."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    from cogstar.io import atomic_file

    target = Path(path)
    if target.suffix.lower() != ".parquet":
        raise DataError(
            f"{target}: verl reads its data as Parquet; give a .parquet file (--out train.parquet)"
        )
    rows = verl_rows(puzzles, split, style)
    with atomic_file(target) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    return len(rows)
