"""The rule-based behavior counter and the trace synthesizer, from Python.

The central property: on every synthesized trace the counter returns the synthesizer's
ground-truth counts exactly, for every condition, with and without a wrong final answer,
over thousands of puzzles and seeds. The rest pins the counter on text in the wild
(tags, markdown, numbered lists, LaTeX-ish operators, truncation) and the API's errors.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cogstar
from cogstar.behaviors import BEHAVIORS, count_behaviors, count_behaviors_batch
from cogstar.behaviors.priming import CONDITIONS, priming_puzzles
from cogstar.tasks import priming_prompt

DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "eval" / "countdown_traces_dev.jsonl"


def _counts(c: cogstar.BehaviorCounts) -> tuple[int, int, int, int]:
    return (c.verification, c.backtracking, c.subgoal, c.backward)


@pytest.mark.parametrize("wrong_answer", [False, True])
@pytest.mark.parametrize("condition", CONDITIONS)
def test_counter_reads_back_the_ground_truth(condition: str, wrong_answer: bool) -> None:
    puzzles = priming_puzzles(1500, seed=101)
    traces = cogstar.synthesize_traces(puzzles, condition, seed=7, wrong_answer=wrong_answer)
    counted = count_behaviors_batch(
        [t.text for t in traces], [p.numbers for p in puzzles], [p.target for p in puzzles]
    )
    wrong = [
        (t.numbers, t.target, _counts(t.counts), _counts(c))
        for t, c in zip(traces, counted, strict=True)
        if _counts(t.counts) != _counts(c)
    ]
    assert not wrong, f"{len(wrong)} of {len(traces)} differ, e.g. {wrong[:3]}"


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    condition=st.sampled_from(CONDITIONS),
    wrong_answer=st.booleans(),
    budget=st.one_of(st.none(), st.integers(100, 4000)),
)
def test_ground_truth_property_over_seeds(
    seed: int, condition: str, wrong_answer: bool, budget: int | None
) -> None:
    puzzles = priming_puzzles(40, seed=seed % 1000, sizes=(3, 4, 5))
    traces = cogstar.synthesize_traces(
        puzzles, condition, seed=seed, wrong_answer=wrong_answer, budget=budget
    )
    for t in traces:
        assert _counts(count_behaviors(t.text, t.numbers, t.target)) == _counts(t.counts), t.text


def test_behaviors_appear_only_in_the_conditions_that_ask_for_them() -> None:
    asked = {
        "all_strategies": set(BEHAVIORS),
        "only_backtracking": {"backtracking"},
        "backtracking_verification": {"backtracking", "verification"},
        "backtracking_subgoal": {"backtracking", "subgoal"},
        "backtracking_backward": {"backtracking", "backward"},
        "negative_control": set(),
    }
    puzzles = priming_puzzles(400, seed=3)
    for condition in CONDITIONS:
        traces = cogstar.synthesize_traces(puzzles, condition, seed=1)
        for behavior in BEHAVIORS:
            share = sum(getattr(t.counts, behavior) > 0 for t in traces) / len(traces)
            if behavior in asked[condition]:
                assert share > 0.6, (condition, behavior, share)
            else:
                assert share == 0.0, (condition, behavior, share)


def test_traces_are_correct_or_wrong_as_asked_and_in_the_priming_format() -> None:
    puzzles = priming_puzzles(200, seed=5)
    for condition in CONDITIONS:
        for wrong in (False, True):
            traces = cogstar.synthesize_traces(puzzles, condition, seed=2, wrong_answer=wrong)
            texts = ["Assistant: Let me solve this step by step.\n" + t.text for t in traces]
            batch = cogstar.score_batch(
                texts, [p.numbers for p in puzzles], [p.target for p in puzzles], mode="strict"
            )
            for t, s in zip(traces, batch, strict=True):
                assert t.text.startswith("<think>\n")
                assert t.text.endswith(f"</think>\n<answer>{t.answer}</answer>")
                assert (s.value == 1.0) is (not wrong), (condition, wrong, t.text)


# The checks the correct traces end on (rust/traces.rs, final_solution).
CHECKS = (", exactly the target.", "That matches the target.", "That hits the target.")


def _slip(answer: str, numbers: list[int], target: int) -> str:
    """What a wrong answer does with the numbers: ``reuses`` one more often than given or
    ``omits`` some, while reaching the target; ``near_miss`` when it does not reach it."""
    expr = cogstar.parse_expression(answer)
    if expr.value != target:
        return "near_miss"
    used = expr.numbers
    assert sorted(used) != sorted(numbers), answer  # a right answer is no slip
    if any(used.count(u) > numbers.count(u) for u in used):
        return "reuses"
    assert Counter(used) <= Counter(numbers), answer
    return "omits"


def test_no_positive_traces_believe_they_succeeded() -> None:
    """no_positive (all_strategies, wrong_answer=True): no answer is right, yet nearly every
    trace ends on the check a correct trace ends on, for a line that reaches the target from
    the numbers used wrongly. Measured here (400 puzzles, seed 6): 30% leave a number out,
    70% use one more often than given, 1 near miss; 399 of 400 (99.8%) end on a
    successful-looking check."""
    puzzles = priming_puzzles(400, seed=12)
    traces = cogstar.synthesize_traces(puzzles, "all_strategies", seed=6, wrong_answer=True)
    kinds: Counter[str] = Counter()
    checked = 0
    for t, p in zip(traces, puzzles, strict=True):
        text = priming_prompt(p.numbers, p.target) + t.text
        scored = cogstar.score(text, p.numbers, p.target)
        assert scored.outcome in (cogstar.Outcome.WRONG_NUMBERS, cogstar.Outcome.WRONG_VALUE)
        assert cogstar.score(text, p.numbers, p.target, format_score=0.0).value == 0.0
        assert cogstar.score(text, p.numbers, p.target, mode="strict").value < 1.0
        kind = _slip(t.answer, p.numbers, p.target)
        kinds[kind] += 1
        thoughts = t.text.split("</think>")[0].rstrip()
        if thoughts.endswith(CHECKS):
            checked += 1
            assert kind != "near_miss", t.text
    n = len(traces)
    assert kinds["omits"] > 0.2 * n and kinds["reuses"] > 0.2 * n, kinds
    assert kinds["near_miss"] <= 0.02 * n, kinds
    assert checked == kinds["omits"] + kinds["reuses"] >= 0.95 * n, (checked, kinds)


def test_every_written_step_is_correct_arithmetic() -> None:
    import re

    step = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")
    puzzles = priming_puzzles(300, seed=8)
    for condition in CONDITIONS:
        for t in cogstar.synthesize_traces(puzzles, condition, seed=4, wrong_answer=True):
            for a, op, b, r in step.findall(t.text):
                x, y, z = int(a), int(b), int(r)
                if op == "/":  # exact division, as the rules ask
                    assert y != 0 and x == y * z, (condition, f"{a} / {b} = {r}", t.text)
                else:
                    value = {"+": x + y, "-": x - y, "*": x * y}[op]
                    assert value == z, (condition, f"{a} {op} {b} = {r}", t.text)


def test_budget_controls_length_and_seeds_control_everything() -> None:
    puzzles = priming_puzzles(200, seed=9)
    short = cogstar.synthesize_traces(puzzles, "all_strategies", seed=1, budget=300)
    long = cogstar.synthesize_traces(puzzles, "all_strategies", seed=1, budget=2000)
    mean = lambda ts: sum(len(t.text) for t in ts) / len(ts)  # noqa: E731
    assert mean(short) < 600 < 1400 < mean(long) < 2600
    again = cogstar.synthesize_traces(puzzles, "all_strategies", seed=1, budget=300)
    assert [t.text for t in again] == [t.text for t in short]
    other = cogstar.synthesize_traces(puzzles, "all_strategies", seed=2, budget=300)
    assert [t.text for t in other] != [t.text for t in short]
    one = cogstar.synthesize_trace(
        puzzles[0].numbers, puzzles[0].target, "negative_control", seed=0
    )
    assert one.text.startswith("<think>\nStep 1: ")


def test_wording_varies_across_seeds() -> None:
    texts = {
        cogstar.synthesize_trace([3, 5, 7], 26, "backtracking_verification", seed=s).text
        for s in range(30)
    }
    assert len(texts) == 30


def test_synthesis_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown condition 'al_strategies'; choose one of"):
        cogstar.synthesize_trace([1, 2, 3], 6, "al_strategies", seed=0)
    with pytest.raises(ValueError, match="cannot reach 1000 under classic rules"):
        cogstar.synthesize_trace([1, 2, 3], 1000, "all_strategies", seed=0)
    with pytest.raises(ValueError, match=r"puzzle 1: .*cannot reach"):
        cogstar.synthesize_traces(
            [cogstar.Puzzle([1, 2, 3], 6), cogstar.Puzzle([1, 1], 99)], "all_strategies", seed=0
        )
    with pytest.raises(ValueError, match="2 to 6 numbers"):
        cogstar.synthesize_trace([1], 1, "all_strategies", seed=0)


# --- the counter on text in the wild ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        # verdicts, then a fresh attempt that does not build on the last result
        (
            "25 + 5 = 30, which is too high. Let's try 25 - 5 = 20. 20 * 3 = 60, exactly right.",
            60,
            (2, 1, 0, 0),
        ),
        # <reasoning> tags, markdown bold and a numbered list
        (
            "<reasoning>\n1. **Try** 79 - 70 = 9, which is far from 77.\n"
            "2. Trying 79 - 68 = 11, which isn't 77 either.\n</reasoning>",
            77,
            (2, 1, 0, 0),
        ),
        # LaTeX-ish and Unicode operators
        (
            "\\[ 37 \\times 51 = 1887 \\] is way off. 6 \u00d7 4 = 24 matches the target.",
            24,
            (2, 1, 0, 0),
        ),
        # backward chaining that names what is needed
        ("72 - 52 = 20. Then we need 20 from 31 and 51. 51 - 31 = 20.", 72, (0, 0, 1, 1)),
        ("10 * 4 = 40. We still need 58 more to reach 98.", 98, (0, 0, 1, 1)),
        # exploration side by side is not backtracking; 'exactly once' is not a verdict
        (
            "Use each number exactly once. 80 - 54 = 26, 80 - 38 = 42, 54 - 38 = 16.",
            10,
            (0, 0, 0, 0),
        ),
        # a plain derivation has none of the four
        ("Step 1: 25 - 5 = 20\nStep 2: 20 * 3 = 60", 60, (0, 0, 0, 0)),
        # verbal arithmetic
        (
            "Subtracting 31 from 57 gives 26, which is too low. Instead, adding 9 to 40 gives 49.",
            60,
            (1, 1, 0, 0),
        ),
    ],
)
def test_counter_on_text_in_the_wild(
    text: str, target: int, expected: tuple[int, int, int, int]
) -> None:
    assert _counts(count_behaviors(text, None, target)) == expected


def test_truncated_and_hostile_text_is_handled() -> None:
    trace = cogstar.synthesize_trace([3, 5, 7], 26, "all_strategies", seed=1).text
    for cut in range(0, len(trace), 37):
        count_behaviors(trace[:cut], [3, 5, 7], 26)  # never raises
    for text in [
        "",
        "(((((",
        "1 = = = 2",
        "\x00" * 1000,
        "9" * 5000,
        "=" * 10_000,
        "(" * 10_000 + "1" + ")" * 10_000,
        "\u00e9\u2211\u2248\u2212\u00d7\u00f7" * 500,
    ]:
        assert isinstance(count_behaviors(text, None, 24), cogstar.BehaviorCounts)


def test_spans_locate_instances_in_characters() -> None:
    text = "Ünïcode first: 25 + 5 = 30, which is too high."
    c = count_behaviors(text, None, 60)
    assert c.spans == [("verification", text.index("too high"), text.index("too high") + 8)]
    assert c.as_dict() == {"verification": 1, "backtracking": 0, "subgoal": 0, "backward": 0}


def test_batch_equals_single_and_target_is_inferred() -> None:
    puzzles = priming_puzzles(50, seed=4)
    traces = cogstar.synthesize_traces(puzzles, "all_strategies", seed=3)
    texts = [t.text for t in traces]
    batch = count_behaviors_batch(texts, [p.numbers for p in puzzles], [p.target for p in puzzles])
    assert batch == [
        count_behaviors(t, p.numbers, p.target) for t, p in zip(texts, puzzles, strict=True)
    ]
    # without a target the counter reads it from the text ("... the target is 60")
    text = "The numbers are 25, 5 and 3 and the target is 60. 25 + 5 = 30, which is not 60."
    assert count_behaviors(text).verification == 1
    assert count_behaviors_batch([text])[0].verification == 1


def test_counter_errors() -> None:
    with pytest.raises(ValueError, match="judge must be 'rules' or 'llm'"):
        count_behaviors("x", judge="gpt")
    with pytest.raises(ValueError, match="judge='llm' needs a backend"):
        count_behaviors("x", judge="llm")
    with pytest.raises(ValueError, match="targets has 1 entries but texts has 2"):
        count_behaviors_batch(["a", "b"], None, [1])
    with pytest.raises(ValueError, match="numbers has 1 entries but texts has 2"):
        count_behaviors_batch(["a", "b"], [[1, 2]], None)


@pytest.mark.skipif(not DEV_SET.exists(), reason="needs ../shared/eval (the labelled dev set)")
def test_dev_set_presence_accuracy() -> None:
    """The hand-labelled real traces: presence agrees on at least 85% for each behavior."""
    rows = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    predicted = count_behaviors_batch(
        [r["trace"] for r in rows], [r["numbers"] for r in rows], [r["target"] for r in rows]
    )
    for behavior in BEHAVIORS:
        agree = sum(
            (r["labels"][behavior] > 0) == (getattr(p, behavior) > 0)
            for r, p in zip(rows, predicted, strict=True)
        )
        assert agree / len(rows) >= 0.85, (behavior, agree, len(rows))
