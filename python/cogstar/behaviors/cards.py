"""Dataset cards: what a priming set holds, measured on its records.

    from cogstar.behaviors.cards import dataset_card, write_card
    write_card("data/only_backtracking.card.md", dataset_card(records, "only_backtracking"))

A card (Markdown with a JSON twin) gives a set's size, the share of its answers that are
correct under the reward (``accuracy``; 0 by design for ``no_positive``), its mean length and
the behaviors the rule-based counter finds (and the synthesizer's ground truth when every
record has it). The Markdown opens with a Hugging Face dataset card's YAML metadata
(licence, task, tags, size category, and the data file as the ``train`` split), so a folder
holding a set and its card, the card renamed ``README.md``, uploads as a Hub dataset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cogstar.behaviors import BEHAVIORS, count_behaviors_batch
from cogstar.behaviors.priming import CONTROLS, describe
from cogstar.errors import ArgumentError
from cogstar.io import Record, atomic_write_json, atomic_write_text

__all__ = ["DatasetCard", "card_markdown", "dataset_card", "hub_metadata", "write_card"]


@dataclass(frozen=True)
class DatasetCard:
    """What a priming set holds, measured on its records.

    ``accuracy`` is the share of records whose answer the reward scores correct (1.0).
    ``mean_counts`` and ``share_with`` (fraction of records with at least one instance) come
    from the rule-based counter on the completions; ``truth_counts`` is the mean of the
    records' ground-truth counts when every record has them (synthetic sets).
    """

    condition: str
    size: int
    accuracy: float
    mean_chars: float
    mean_counts: dict[str, float]
    share_with: dict[str, float]
    truth_counts: dict[str, float] | None
    sources: list[str]
    description: str
    generation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _generation(records: Sequence[Record], condition: str) -> str:
    sources = sorted({r.source for r in records})
    parts = []
    if "synthetic" in sources:
        parts.append(
            "Synthesized offline by cogstar's trace synthesizer (cogstar.synthesize_traces), "
            "one seeded trace per puzzle; each record stores the synthesizer's ground-truth "
            "behavior counts."
        )
    if "llm" in sources:
        parts.append(
            "Written by an LLM prompted with cogstar's system prompt for the condition "
            "(cogstar.behaviors.priming.SYSTEM_PROMPTS), one reply per puzzle."
        )
    if condition in CONTROLS:
        parts.append(f"The {condition} control is built from all_strategies traces.")
    parts.append(
        "Prompts are cogstar.tasks.priming_prompt; 'correct' is the TinyZero reward (value 1.0) "
        "on prompt + completion."
    )
    return " ".join(parts)


def dataset_card(
    records: Sequence[Record], condition: str, *, generation: str | None = None
) -> DatasetCard:
    """Measure a priming set: size, accuracy, mean length, behaviors (rule-based counter).

    ``generation`` is a sentence on how the set was made (e.g. the command line); by default
    it is written from the records' sources.
    """
    records = list(records)
    counted = count_behaviors_batch(
        [r.completion for r in records],
        [r.numbers for r in records],
        [r.target for r in records],
        judge="rules",
    )
    per = [c.as_dict() for c in counted]
    truth = None
    if records and all(r.counts is not None for r in records):
        truth = {b: _mean([float(r.counts[b]) for r in records if r.counts]) for b in BEHAVIORS}
    return DatasetCard(
        condition=condition,
        size=len(records),
        accuracy=_mean([float(r.correct) for r in records]),
        mean_chars=_mean([float(len(r.completion)) for r in records]),
        mean_counts={b: _mean([float(c[b]) for c in per]) for b in BEHAVIORS},
        share_with={b: _mean([float(c[b] > 0) for c in per]) for b in BEHAVIORS},
        truth_counts=truth,
        sources=sorted({r.source for r in records}),
        description=describe(condition),
        generation=generation if generation is not None else _generation(records, condition),
    )


_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
          (1_000_000, "100K<n<1M"))  # fmt: skip


def hub_metadata(card: DatasetCard, data_file: str | None = None) -> dict[str, Any]:
    """The Hugging Face dataset card metadata of a set (``data_file``: the data's file name,
    next to the card)."""
    size = next((name for limit, name in _SIZES if card.size < limit), "n>1M")
    synthetic = set(card.sources) <= {"synthetic"}
    meta: dict[str, Any] = {
        # cogstar's synthesizer writes the synthetic traces; an LLM's follow its terms
        "license": "apache-2.0" if synthetic else "other",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["countdown", "reasoning", "cognitive-behaviors", "cogstar", card.condition],
        "size_categories": [size],
        "pretty_name": f"cogstar priming set: {card.condition}",
    }
    if data_file is not None:
        meta["configs"] = [
            {"config_name": "default", "data_files": [{"split": "train", "path": data_file}]}
        ]
    return meta


def _by_design(condition: str) -> str:
    """A note on the correct share where the condition fixes it."""
    if condition == "no_positive":
        return " (no_positive: wrong by design)"
    return ""


def card_markdown(card: DatasetCard, data_file: str | None = None) -> str:
    """The card as Markdown: the Hub's YAML metadata (:func:`hub_metadata`), the title, a
    table of the numbers, what it asks for, how it was made."""
    import yaml  # type: ignore[import-untyped]

    front = yaml.safe_dump(hub_metadata(card, data_file), sort_keys=False, allow_unicode=True)
    lines = [
        "---",
        front.rstrip("\n"),
        "---",
        "",
        f"# Priming set: {card.condition}",
        "",
        "| | |",
        "|---|---|",
        f"| records | {card.size:,} |",
        f"| answers correct (reward 1.0) | {card.accuracy:.1%}{_by_design(card.condition)} |",
        f"| mean completion length | {card.mean_chars:,.1f} characters |",
        f"| source | {', '.join(card.sources) or '-'} |",
        "",
        "| behavior | mean count (rules) | share with ≥ 1 | mean count (ground truth) |",
        "|---|---:|---:|---:|",
    ]
    for b in BEHAVIORS:
        truth = "-" if card.truth_counts is None else f"{card.truth_counts[b]:.2f}"
        lines.append(f"| {b} | {card.mean_counts[b]:.2f} | {card.share_with[b]:.1%} | {truth} |")
    lines += [
        "",
        "## What it asks for",
        "",
        card.description,
        "",
        "## How it was generated",
        "",
        card.generation,
        "",
    ]
    return "\n".join(lines)


def write_card(
    path: str | Path, card: DatasetCard, data_file: str | None = None
) -> tuple[Path, Path]:
    """Write the card as Markdown at ``path`` and its JSON twin beside it (suffix ``.json``);
    ``data_file`` names the set's file for the Hub metadata.

    ``data/x.card.md`` gives ``data/x.card.md`` and ``data/x.card.json``. Returns both paths.
    """
    md = Path(path)
    js = md.with_suffix(".json")
    if js == md:
        raise ArgumentError(
            f"{md}: a card's Markdown file needs a suffix other than .json, e.g. .md"
        )
    atomic_write_text(md, card_markdown(card, data_file))
    atomic_write_json(js, card.to_dict())
    return md, js
