"""Behavior-curated continued pretraining: label, select, rewrite, budget and train.

The pipeline (each step a module; each reads and writes JSONL, resumable by document id):

* ``sources``: documents from a Hugging Face dataset (streamed), a local JSONL/Parquet file,
  or the project's own generated math sample; truncated at a token budget on a line boundary;
* ``label``: per document, the four behavior counts and whether it holds a problem and a
  solution, by an LLM judge or a fast heuristic labeller;
* ``select``: a behavior-rich pool and a behavior-minimized pool;
* ``rewrite``: an LLM rewrites each selected document into question / thoughts / answer;
* ``budget``: query/completion records in the priming format, a fixed token budget per pool,
  a train/test split;
* ``train``: continued pretraining on the records (causal LM), whose checkpoint feeds PPO;
* ``curate``: the whole pipeline as one resumable stage of a study (``[curation]``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cogstar._core import BEHAVIORS

__all__ = ["BEHAVIORS", "Document", "Label", "Rewrite"]


@dataclass(frozen=True)
class Document:
    """One source document. ``id`` is stable across runs (resume and caching key on it)."""

    id: str
    text: str
    source: str = ""
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Label:
    """What the labeller found in one document (``judge``: "heuristic" or the LLM's name)."""

    id: str
    verification: int
    backtracking: int
    subgoal: int
    backward: int
    has_problem: bool
    has_solution: bool
    judge: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.verification + self.backtracking + self.subgoal + self.backward

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rewrite:
    """A document rewritten for one pool (``pool``: "rich" or "minimized")."""

    id: str
    pool: str
    question: str
    thoughts: str
    answer: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
