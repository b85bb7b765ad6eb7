"""The TRL reward function, fed exactly what TRL's GRPOTrainer passes: standard and
conversational prompts and completions, extra dataset columns, trainer_state and the
log_metric / log_extra hooks."""

from __future__ import annotations

from collections import defaultdict

import cogstar
from cogstar.integrations.trl import countdown_reward
from cogstar.tasks import OUTCOMES, chat_messages, rl_prompt
from rollouts import make_completions

ITEMS = [x for x in make_completions(400, seed=11) if "Assistant:" in x[0]]


def _hooks() -> tuple[dict[str, list[float]], dict[str, list[object]], object, object]:
    metrics: dict[str, list[float]] = defaultdict(list)
    extra: dict[str, list[object]] = defaultdict(list)
    return metrics, extra, lambda k, v: metrics[k].append(v), lambda k, v: extra[k].extend(v)


def test_standard_format_scores_as_the_full_text_and_logs_the_outcomes() -> None:
    metrics, extra, log_metric, log_extra = _hooks()
    numbers = [n for *_, n, _ in ITEMS]
    targets = [t for *_, t in ITEMS]
    prompts = [rl_prompt(n, t) for n, t in zip(numbers, targets, strict=True)]
    completions = [c for _, c, _, _ in ITEMS]
    got = countdown_reward()(
        prompts=prompts, completions=completions, numbers=numbers, target=targets,
        completion_ids=[[0]] * len(prompts), trainer_state=None,
        log_metric=log_metric, log_extra=log_extra,
    )  # fmt: skip
    full = [cogstar.score(p + c, n, t).value for p, c, n, t in
            zip(prompts, completions, numbers, targets, strict=True)]  # fmt: skip
    assert got == full
    outcomes = [str(cogstar.score(p + c, n, t).outcome) for p, c, n, t in
                zip(prompts, completions, numbers, targets, strict=True)]  # fmt: skip
    assert extra["countdown_outcome"] == outcomes
    assert metrics["countdown/accuracy"] == [outcomes.count("correct") / len(outcomes)]
    assert set(metrics) == {"countdown/accuracy", *(f"countdown/outcome/{o}" for o in OUTCOMES)}
    assert sum(v[0] for k, v in metrics.items() if "/outcome/" in k) == 1.0


def test_conversational_format() -> None:
    """TRL's conversational form: prompts and completions are lists of messages."""
    numbers = [n for *_, n, _ in ITEMS[:40]]
    targets = [t for *_, t in ITEMS[:40]]
    completions = [[{"role": "assistant", "content": c}] for _, c, _, _ in ITEMS[:40]]
    prompts = [chat_messages(n, t) for n, t in zip(numbers, targets, strict=True)]
    got = countdown_reward("strict")(
        prompts=prompts, completions=completions, numbers=numbers, target=targets
    )
    want = [cogstar.score(rl_prompt(n, t) + c[0]["content"], n, t, mode="strict").value
            for c, n, t in zip(completions, numbers, targets, strict=True)]  # fmt: skip
    assert got == want and any(v == 1.0 for v in got)
    # content given as typed parts, and several assistant messages, are joined
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "<answer>1 + 2"}]},
             {"role": "assistant", "content": "</answer>"}]  # fmt: skip
    assert countdown_reward()(prompts=[""], completions=[parts], numbers=[[1, 2]], target=[3]) == [
        1.0
    ]
