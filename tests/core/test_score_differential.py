"""The Rust scorer (``cogstar.score``/``score_batch``) against the pure-Python reference.

The reference (``reference_tinyzero.py``) is itself checked against TinyZero's
eval()-based original in ``test_reference_tinyzero.py``; here every one of 100,000
realistic rollouts must get the same value, outcome label and extracted answer from
Rust as from the reference. Skipped until the extension module is built.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("cogstar._core")

import cogstar
import rollouts
from reference_tinyzero import OUTCOMES, reference_score

N_RESPONSES = 100_000
SEED = 20240601
EXPECTED_VALUE = {
    "correct": 1.0,
    "no_answer": 0.0,
    "answer_not_last_line": 0.0,
    "no_assistant": 0.0,
}


def _label(outcome: object) -> str:
    return str(outcome)


def _abbrev(s: str | None, keep: int = 70) -> str:
    if s is None or len(s) <= 2 * keep:
        return repr(s)
    return f"{s[:keep]!r} ...({len(s)} chars)... {s[-keep:]!r}"


def _describe(i: int, text: str, numbers, target, fields: list[str]) -> str:
    answer = reference_score(text, numbers, target).answer
    return (
        f"  #{i}: {'; '.join(fields)}\n      numbers={numbers} target={target}"
        f" answer={_abbrev(answer)}\n      text ends {_abbrev(text[-300:], 60)}"
    )


def _summary(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


@pytest.fixture(scope="module")
def corpus():
    items = rollouts.make_responses(N_RESPONSES, SEED)
    texts = [t for t, _, _ in items]
    numbers = [n for _, n, _ in items]
    targets = [g for _, _, g in items]
    return texts, numbers, targets


@pytest.fixture(scope="module")
def reference(corpus):
    texts, numbers, targets = corpus
    return [reference_score(t, n, g) for t, n, g in zip(texts, numbers, targets, strict=True)]


@pytest.fixture(scope="module")
def rust_batch(corpus):
    texts, numbers, targets = corpus
    return cogstar.score_batch(texts, numbers, targets)


# ------------------------------------------------------------------ (a)


def test_batch_matches_reference_on_100k_rollouts(corpus, reference, rust_batch):
    texts, numbers, targets = corpus
    assert len(rust_batch) == len(texts)
    values = list(rust_batch.values)
    outcomes = [_label(o) for o in rust_batch.outcomes]
    assert len(values) == len(outcomes) == len(texts)

    mismatches = []
    kinds: dict[str, int] = {}
    first_of_kind: list[str] = []
    for i, want in enumerate(reference):
        fields = []
        if values[i] != want.value:
            fields.append(f"value {values[i]!r} != reference {want.value!r}")
        if outcomes[i] != want.outcome:
            fields.append(f"outcome {outcomes[i]!r} != reference {want.outcome!r}")
        got_answer = rust_batch[i].answer
        if got_answer != want.answer:
            fields.append(f"answer {got_answer!r} != reference {want.answer!r}")
        if fields:
            kind = f"rust {outcomes[i]} / reference {want.outcome}"
            kinds[kind] = kinds.get(kind, 0) + 1
            if kinds[kind] <= 2 and len(first_of_kind) < 24:
                first_of_kind.append(_describe(i, texts[i], numbers[i], targets[i], fields))
            mismatches.append(i)

    assert not mismatches, (
        f"{len(mismatches)} of {len(texts)} rollouts differ from the reference "
        f"({_summary(kinds)}); examples of each:\n" + "\n".join(first_of_kind)
    )


def test_corpus_exercises_every_outcome(reference):
    seen = {r.outcome for r in reference}
    assert seen == set(OUTCOMES)


def test_results_match_the_reference(corpus, reference, rust_batch):
    """The evaluated result, where there is a real one, agrees to the last bits."""
    texts, numbers, targets = corpus
    mismatches = []
    for i, want in enumerate(reference):
        if want.outcome not in ("correct", "wrong_value"):
            continue
        got = rust_batch[i].result
        if want.result is None:  # a complex result
            ok = got is None
        elif math.isinf(want.result):  # an int wider than a float
            ok = got is None or got == want.result
        elif math.isnan(want.result):
            ok = got is not None and math.isnan(got)
        else:
            ok = got is not None and math.isclose(got, want.result, rel_tol=1e-12, abs_tol=0.0)
        if not ok:
            mismatches.append(
                _describe(
                    i, texts[i], numbers[i], targets[i], [f"result {got!r} != {want.result!r}"]
                )
            )
    assert not mismatches, f"{len(mismatches)} results differ; first ones:\n" + "\n".join(
        mismatches[:12]
    )


# ------------------------------------------------------------------ (b)


def test_batch_equals_mapping_score(corpus, rust_batch):
    texts, numbers, targets = corpus
    batch_values = list(rust_batch.values)
    mismatches = []
    for i in range(0, len(texts), 25):  # 4,000 of them
        single = cogstar.score(texts[i], numbers[i], targets[i])
        batched = rust_batch[i]
        a = (single.value, _label(single.outcome), single.answer)
        b = (batched.value, _label(batched.outcome), batched.answer)
        same_result = single.result == batched.result or (
            single.result is not None
            and batched.result is not None
            and math.isnan(single.result)
            and math.isnan(batched.result)
        )
        if a != b or not same_result or batch_values[i] != single.value:
            mismatches.append(
                f"  #{i}: score {(*a, single.result)} != batch {(*b, batched.result)}"
            )
    assert not mismatches, "\n".join(mismatches[:12])


def test_batch_of_nothing_and_of_one():
    empty = cogstar.score_batch([], [], [])
    assert len(empty) == 0
    assert list(empty.values) == []
    text = rollouts.make_prompt([44, 19, 35], 98) + "</think>\n<answer> 44 + 19 + 35 </answer>"
    one = cogstar.score_batch([text], [[44, 19, 35]], [98])
    assert len(one) == 1
    assert (one[0].value, _label(one[0].outcome), one[0].answer) == (1.0, "correct", "44 + 19 + 35")


# ------------------------------------------------------------------ (c)


def _adversarial_names() -> list[str]:
    return [c.name for c in rollouts.make_adversarial()]


@pytest.fixture(scope="module")
def adversarial():
    return {c.name: c for c in rollouts.make_adversarial()}


@pytest.mark.parametrize("name", _adversarial_names())
def test_adversarial_inputs_get_the_expected_outcome(adversarial, name):
    case = adversarial[name]
    got = cogstar.score(case.text, case.numbers, case.target)
    assert _label(got.outcome) == case.outcome
    assert got.value == EXPECTED_VALUE.get(case.outcome, 0.1)


def test_adversarial_inputs_in_one_batch(adversarial):
    cases = list(adversarial.values())
    batch = cogstar.score_batch(
        [c.text for c in cases], [c.numbers for c in cases], [c.target for c in cases]
    )
    assert [_label(o) for o in batch.outcomes] == [c.outcome for c in cases]


# ------------------------------------------------------------------ (d)


@pytest.mark.parametrize(
    ("format_score", "correct_score"), [(0.25, 2.0), (0.0, 1.0), (-1.5, 0.5), (1.0, 1.0)]
)
def test_non_default_scores_pass_through(corpus, format_score, correct_score):
    texts, numbers, targets = (x[:5_000] for x in corpus)
    batch = cogstar.score_batch(
        texts,
        numbers,
        targets,
        mode="tinyzero",
        format_score=format_score,
        correct_score=correct_score,
    )
    values = list(batch.values)
    labels = [_label(o) for o in batch.outcomes]
    mismatches = []
    for i, (t, n, g) in enumerate(zip(texts, numbers, targets, strict=True)):
        want = reference_score(t, n, g, format_score=format_score, correct_score=correct_score)
        if values[i] != want.value or labels[i] != want.outcome:
            mismatches.append(
                _describe(
                    i, t, n, g, [f"{values[i]!r}/{labels[i]} != {want.value!r}/{want.outcome}"]
                )
            )
        if i % 50 == 0:
            single = cogstar.score(
                t, n, g, mode="tinyzero", format_score=format_score, correct_score=correct_score
            )
            if single.value != want.value:
                mismatches.append(
                    _describe(i, t, n, g, [f"score() {single.value!r} != {want.value!r}"])
                )
    assert not mismatches, "\n".join(mismatches[:12])


def test_explicit_tinyzero_mode_is_the_default(corpus, rust_batch):
    texts, numbers, targets = (x[:2_000] for x in corpus)
    explicit = cogstar.score_batch(
        texts, numbers, targets, mode="tinyzero", format_score=0.1, correct_score=1.0
    )
    assert list(explicit.values) == list(rust_batch.values)[:2_000]
    assert [_label(o) for o in explicit.outcomes] == [_label(o) for o in rust_batch.outcomes][
        :2_000
    ]
