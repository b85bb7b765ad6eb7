"""The four cognitive behaviors, and counting them: the rule-based counter (Rust, offline,
instant) and an LLM judge (:mod:`cogstar.behaviors.judge`) behind one interface, and the
behavior-counting stage of a study (:class:`BehaviorsConfig`, :func:`count_checkpoint`).

    from cogstar import count_behaviors
    count_behaviors(text, [25, 5, 3], 60)                    # judge="rules": with spans
    count_behaviors(text, [25, 5, 3], 60, judge="llm", backend=judge)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from cogstar._core import (
    BEHAVIORS,
    BehaviorCounts,
    count_behaviors_rules,
    count_behaviors_rules_batch,
)
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import ArgumentError
from cogstar.io import Completion
from cogstar.llm import Backend, BackendConfig, make_backend

__all__ = [
    "BEHAVIORS",
    "BehaviorCounts",
    "BehaviorsConfig",
    "count_behaviors",
    "count_behaviors_batch",
    "count_checkpoint",
]


def count_behaviors(
    text: str,
    numbers: Sequence[int] | None = None,
    target: int | None = None,
    *,
    judge: str = "rules",
    backend: Backend | None = None,
) -> BehaviorCounts:
    """Count verification, backtracking, subgoal setting and backward chaining in one text.

    ``judge="rules"`` is the Rust counter (offline, instant; ``spans`` locates each instance);
    ``judge="llm"`` asks ``backend`` four questions (one per behavior) and has no spans.
    """
    if judge == "rules":
        return count_behaviors_rules(text, None if numbers is None else list(numbers), target)
    return count_behaviors_batch([text], [numbers], [target], judge=judge, backend=backend)[0]


def count_behaviors_batch(
    texts: Sequence[str],
    numbers: Sequence[Sequence[int] | None] | None = None,
    targets: Sequence[int | None] | None = None,
    *,
    judge: str = "rules",
    backend: Backend | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> list[BehaviorCounts]:
    """:func:`count_behaviors` over many texts (``rules``: in parallel, GIL released)."""
    n = len(texts)
    nums: list[list[int] | None] = (
        [None] * n if numbers is None else [None if x is None else list(x) for x in numbers]
    )
    tgts: list[int | None] = [None] * n if targets is None else list(targets)
    if judge == "rules":
        return count_behaviors_rules_batch(list(texts), nums, tgts)
    if judge == "llm":
        if backend is None:
            raise ArgumentError(
                "judge='llm' needs a backend, e.g. backend=OpenAIBackend(model='gpt-4o-mini') "
                "from cogstar.llm"
            )
        from cogstar.behaviors.judge import judge_counts

        counts = judge_counts(list(texts), nums, tgts, backend, progress=progress)
        return [
            BehaviorCounts(
                verification=c["verification"],
                backtracking=c["backtracking"],
                subgoal=c["subgoal"],
                backward=c["backward"],
            )
            for c in counts
        ]
    raise ArgumentError(f"judge must be 'rules' or 'llm', got {judge!r}")


# -- the behavior-counting stage -----------------------------------------------------------


class BehaviorsConfig(StageConfig):
    """How a study counts the behaviors in each evaluated checkpoint's completions.

    ``judge``: ``rules`` (the Rust counter, offline) or ``llm`` (four questions per
    completion to ``backend``); ``sample``: the completions counted per checkpoint (the
    first ones, in the evaluation's order; 0 counts them all).
    """

    SECTION = "behaviors"

    judge: Literal["rules", "llm"] = "rules"
    sample: int = Field(default=200, ge=0)
    backend: BackendConfig | None = None  # required when judge = "llm"

    def problems(self) -> list[Problem]:
        found = Found()
        if self.judge == "llm" and self.backend is None:
            found.add(
                ("backend",),
                'behaviors.judge = "llm" needs an LLM backend and none is given',
                'add [behaviors.backend] with provider = "openai" and model = "gpt-4o-mini", '
                'or use judge = "rules"',
            )
        return found


def count_checkpoint(
    config: BehaviorsConfig, completions: Sequence[Completion], cache_dir: Path | None = None
) -> dict[str, Any]:
    """The stage: count the behaviors in (the first ``config.sample`` of) ``completions``;
    returns the summary a study keeps per checkpoint: ``n``, ``judge``, the ``mean`` count
    and the ``share`` of completions with at least one instance, per behavior."""
    rows = list(completions)[: config.sample] if config.sample else list(completions)
    texts = [r.completion for r in rows]
    numbers = [r.numbers for r in rows]
    targets = [r.target for r in rows]
    if config.judge == "rules":
        counted = count_behaviors_batch(texts, numbers, targets)
    else:
        assert config.backend is not None  # problems() refuses an llm judge without one
        with make_backend(config.backend, cache_dir) as backend:
            counted = count_behaviors_batch(texts, numbers, targets, judge="llm", backend=backend)
    table = [c.as_dict() for c in counted]
    n = max(1, len(table))
    return {
        "n": len(table),
        "judge": config.judge,
        "mean": {b: sum(row[b] for row in table) / n for b in BEHAVIORS},
        "share": {b: sum(row[b] > 0 for row in table) / n for b in BEHAVIORS},
    }
