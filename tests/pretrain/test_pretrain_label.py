"""Labelling documents (heuristic and LLM judge, resumable) and selecting the two pools."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogstar.errors import DataError
from cogstar.llm import OpenAIBackend, Price, Reply
from cogstar.pretrain import BEHAVIORS, Document, Label
from cogstar.pretrain.label import (
    DEFINITIONS,
    explain_heuristic,
    heuristic_label,
    label_documents,
    label_requests,
    parse_label,
    read_labels,
)
from cogstar.pretrain.sample import sample_math_corpus, sample_math_corpus_with_truth
from cogstar.pretrain.select import (
    POOLS_FILE,
    Pools,
    SelectionRules,
    read_pools,
    select_pools,
    write_pools,
)
from loopback import openai_server

# --- the heuristic labeller -----------------------------------------------------------------


def test_heuristic_agrees_with_the_sample_truth() -> None:
    """Presence accuracy of the heuristic on 1,000 generated documents per seed.

    Measured (seeds 0 / 1 / 2): verification 0.974 / 0.980 / 0.973, backtracking 0.980 / 0.978
    / 0.983, subgoal 1.000, backward 1.000, has_problem 1.000, has_solution 0.988 / 0.986 /
    0.993. The misses are the sample's deliberate traps: expository text that mentions
    verifying or "a common mistake" without doing either, and conclusions stated without a cue
    word ("The sale price is $196."). The sample and the rules are both ours, so these figures
    bound what to expect on real web pages from above; the LLM judge is the labeller of record.
    """
    for seed in (0, 1):
        rows = sample_math_corpus_with_truth(1000, seed=seed)
        present: Counter[str] = Counter()
        for doc, truth in rows:
            label = heuristic_label(doc)
            assert label.id == doc.id and label.judge == "heuristic"
            for b in BEHAVIORS:
                present[b] += (getattr(label, b) > 0) == (truth[b] > 0)
            present["has_problem"] += label.has_problem == truth["has_problem"]
            present["has_solution"] += label.has_solution == truth["has_solution"]
        accuracy = {k: v / len(rows) for k, v in present.items()}
        for b in BEHAVIORS:
            assert accuracy[b] >= 0.95, (seed, accuracy)
        assert accuracy["has_problem"] >= 0.97, (seed, accuracy)
        assert accuracy["has_solution"] >= 0.97, (seed, accuracy)


@pytest.mark.parametrize(
    ("sentence", "behavior", "expected"),
    [
        ("Plugging x = 3 into the first equation gives 9 = 9.", "verification", 1),
        ("We can check this: 4 * 6 = 24, which matches.", "verification", 1),
        ("Hence x = 3.", "verification", 0),
        ("Hmm, that gives a negative length, so that's wrong.", "backtracking", 1),
        ("Let me go back to the factored form and try something else.", "backtracking", 1),
        ("Instead of expanding, we factor the quadratic.", "backtracking", 0),
        ("To find the volume, we first need the radius.", "subgoal", 1),
        ("Step 2: find the common ratio r.", "subgoal", 1),
        ("Step 1: subtract 5 from both sides.", "subgoal", 0),
        ("To reach 100, we need 25 more from the remaining terms.", "backward", 1),
        (
            "Working backwards from the final amount of $50, the price before tax was $40.",
            "backward",
            1,
        ),
        ("We start with 3 apples and add 4 more.", "backward", 0),
    ],
)
def test_heuristic_rules_on_single_sentences(sentence: str, behavior: str, expected: int) -> None:
    label = heuristic_label(Document("s", sentence))
    assert getattr(label, behavior) == expected, explain_heuristic(sentence)


def test_heuristic_counts_distinct_sentences() -> None:
    text = (
        "Problem 1. Solve 2x + 4 = 10.\n"
        "Subtract 4: 2x = 6, so x = 3. Check: 2*3 + 4 = 10, which matches.\n"
        "Check: 2*3 + 4 = 10, which matches.\n"  # the same sentence again: counted once
        "Let's verify once more by plugging x = 3 back in: 10 = 10."
    )
    label = heuristic_label(Document("d", text))
    assert label.verification == 2
    assert (label.has_problem, label.has_solution) == (True, True)
    assert explain_heuristic(text)["verification"][0].startswith("Check:")


@pytest.mark.parametrize(
    ("text", "problem", "solution"),
    [
        ("A prime has exactly two divisors. Therefore 9 = 3 * 3 is not prime.", False, False),
        ("## What is a prime?\nA prime has exactly two divisors.", False, False),
        ("Exercise 4:\nSolve x^2 = 49. Give your answer as a whole number.", True, False),
        ("Tom has 12 apples and gives away 5.\nHow many are left?", True, False),
        ("How many are left?\nTom has 7.", False, False),
        ("Find 15% of 80.\n15% of 80 is 0.15 * 80, which gives 12.", True, True),
        (
            "Prove that the sum of two odd numbers is even.\nWrite them as 2a+1 and 2b+1. QED",
            True,
            True,
        ),
    ],
)
def test_heuristic_problem_and_solution(text: str, problem: bool, solution: bool) -> None:
    label = heuristic_label(Document("p", text))
    assert (label.has_problem, label.has_solution) == (problem, solution)


def test_heuristic_is_bounded_on_adversarial_text() -> None:
    # Long lines with many cue words and no digits must not blow up the regexes.
    text = ("so therefore thus hence we get " * 20_000) + "\n" + ("wait " * 50_000)
    label = heuristic_label(Document("big", text))
    assert label.backtracking == 1 and not label.has_problem


# --- the LLM judge: prompts and parsing -----------------------------------------------------


def test_label_requests_one_per_behavior_then_problem() -> None:
    doc = Document("d1", "Solve 3x = 12.\nx = 4.")
    requests = label_requests(doc)
    assert len(requests) == len(BEHAVIORS) + 1
    for behavior, request in zip(BEHAVIORS, requests, strict=False):
        assert DEFINITIONS[behavior] in request.user
        assert "<document>\nSolve 3x = 12.\nx = 4.\n</document>" in request.user
        assert "<count>" in request.user and request.temperature == 0.0
    assert "<problem>yes</problem>" in requests[-1].user
    assert "<solution>no</solution>" in requests[-1].user
    assert "<document>\nSolve 3x = 12." in requests[-1].user


def test_parse_label_contract() -> None:
    replies: list[Reply | str] = [
        "- 'check: ...'\n<count>2</count>",
        "first <count>1</count>, on reflection <COUNT> 3 </COUNT>",
        "none here\n<count>0</count>",
        Reply(text="<count>1</count>", input_tokens=5, output_tokens=2),
        "Both present.\n<problem>yes</problem>\n<solution> YES </solution>",
    ]
    label = parse_label("d", replies, "qwen")
    assert label == Label("d", 2, 3, 0, 1, True, True, "qwen", {})
    broken = parse_label(
        "e", ["no tag", "<count>x</count>", "<count>1</count>", "", "<problem>no</problem>"], "qwen"
    )
    assert (broken.verification, broken.backtracking, broken.subgoal, broken.backward) == (
        0,
        0,
        1,
        0,
    )
    assert (broken.has_problem, broken.has_solution) == (False, False)
    assert broken.extra == {
        "parse_failures": ["verification", "backtracking", "backward", "solution"]
    }
    with pytest.raises(ValueError, match="needs 5 replies"):
        parse_label("d", replies[:4], "qwen")


# --- the LLM judge against a real (loopback) server ------------------------------------------

PLANTED = {"verification": 2, "backtracking": 1, "subgoal": 0, "backward": 3}


def _judge(prompt: str) -> str:
    """Answers like a judge: a count per behavior (by its definition), yes/no for problem and
    solution (a document saying 'no solution' has none); documents saying NOTAG get no tag."""
    if "NOTAG" in prompt:
        return "I cannot tell."
    if "<problem>yes</problem>" in prompt:
        solution = "no" if "no solution" in prompt else "yes"
        return f"It asks and answers.\n<problem>yes</problem><solution>{solution}</solution>"
    behavior = next(b for b in BEHAVIORS if DEFINITIONS[b] in prompt)
    return f"- an instance\n<count>{PLANTED[behavior]}</count>"


@pytest.fixture
def judge_server() -> Iterator[tuple[str, list[dict[str, object]]]]:
    with openai_server(_judge) as served:
        yield served


def _docs(n: int) -> list[Document]:
    return [Document(f"doc-{i}", f"Document {i}: solve x + {i} = {i + 1}.") for i in range(n)]


def _requested_docs(bodies: list[dict[str, object]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for body in bodies:
        messages = body["messages"]
        assert isinstance(messages, list)
        found.update(re.findall(r"Document (\d+):", messages[-1]["content"]))
    return found


def test_llm_labelling_resumes_after_a_torn_write(
    judge_server: tuple[str, list[dict[str, object]]], tmp_path: Path
) -> None:
    url, seen = judge_server
    out = tmp_path / "labels.jsonl"
    docs = _docs(5)
    with OpenAIBackend(
        model="judge-7b", base_url=url, api_key_env=None, price=Price(1.0, 2.0), max_concurrency=4
    ) as backend:
        ticks: list[tuple[int, int]] = []
        stats = label_documents(
            docs,
            out,
            backend=backend,
            judge="llm",
            batch=2,
            progress=lambda d, t: ticks.append((d, t)),
        )
        assert (stats.done, stats.skipped) == (5, 0)
        assert len(seen) == 25
        assert stats.usage is not None
        assert (stats.usage.requests, stats.usage.input_tokens, stats.usage.output_tokens) == (
            25,
            250,
            75,
        )
        assert stats.cost == pytest.approx((250 * 1.0 + 75 * 2.0) / 1e6)
        assert stats.docs_per_second > 0 and "5 labelled" in str(stats)
        assert ticks[-1] == (5, 5) and [d for d, _ in ticks] == sorted(d for d, _ in ticks)

        labels = read_labels(out)
        assert list(labels) == [d.id for d in docs]
        assert labels["doc-0"] == Label("doc-0", 2, 1, 0, 3, True, True, "judge-7b", {})

        # A kill in the middle of writing the fourth line: lines 1-3 whole, line 4 torn.
        data = out.read_bytes()
        lines = data.split(b"\n")
        cut = len(b"\n".join(lines[:3])) + 1 + len(lines[3]) // 2
        out.write_bytes(data[:cut])

        seen.clear()
        with pytest.warns(UserWarning, match="torn last line"):
            again = label_documents(docs, out, backend=backend, judge="llm", batch=2)
        assert (again.done, again.skipped) == (2, 3)
        assert _requested_docs(seen) == Counter({"3": 5, "4": 5})  # only the missing ones
        assert again.usage is not None and again.usage.requests == 10

    labels = read_labels(out)
    assert sorted(labels) == [d.id for d in docs]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5  # the torn line is gone, nothing doubled

    seen.clear()
    with OpenAIBackend(model="judge-7b", base_url=url, api_key_env=None) as backend:
        third = label_documents(docs, out, backend=backend, judge="llm")
    assert (third.done, third.skipped, len(seen)) == (0, 5, 0)
    assert third.cost is None  # no price known for this model


def test_llm_labelling_records_parse_failures_and_uses_the_cache(
    judge_server: tuple[str, list[dict[str, object]]], tmp_path: Path
) -> None:
    url, seen = judge_server
    docs = [Document("a", "Find x. NOTAG"), Document("b", "Find y; no solution given.")]
    with OpenAIBackend(
        model="j", base_url=url, api_key_env=None, cache_dir=tmp_path / "cache"
    ) as b:
        label_documents(docs, tmp_path / "one.jsonl", backend=b, judge="llm")
        stats = label_documents(docs, tmp_path / "two.jsonl", backend=b, judge="llm")
    assert len(seen) == 10  # the second file was answered from the cache
    assert stats.usage is not None and (stats.usage.requests, stats.usage.cache_hits) == (0, 10)
    labels = read_labels(tmp_path / "two.jsonl")
    assert labels["a"].total == 0
    assert labels["a"].extra["parse_failures"] == [*BEHAVIORS, "problem", "solution"]
    assert (labels["b"].has_problem, labels["b"].has_solution) == (True, False)


def test_heuristic_labelling_stream_duplicates_and_progress(tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    docs = sample_math_corpus(30)
    ticks: list[tuple[int, int]] = []
    stream = (d for d in [*docs, docs[0]])  # no len(); one id repeated
    stats = label_documents(stream, out, batch=7, progress=lambda d, t: ticks.append((d, t)))
    assert (stats.done, stats.skipped, stats.usage, stats.cost) == (30, 1, None, None)
    assert ticks[-1] == (31, 0)
    labels = read_labels(out)
    assert labels == {d.id: heuristic_label(d) for d in docs}
    assert label_documents(docs, out).skipped == 30


def test_labelling_refuses_mixed_judges_and_bad_arguments(
    judge_server: tuple[str, list[dict[str, object]]], tmp_path: Path
) -> None:
    url, _ = judge_server
    out = tmp_path / "labels.jsonl"
    label_documents(_docs(2), out)
    with (
        OpenAIBackend(model="judge-7b", base_url=url, api_key_env=None) as backend,
        pytest.raises(
            DataError, match=r"row 1 was labelled by 'heuristic', this run's judge is 'judge-7b'"
        ),
    ):
        label_documents(_docs(3), out, backend=backend, judge="llm")
    with pytest.raises(ValueError, match="judge='llm' needs a backend"):
        label_documents([], out, judge="llm")
    with pytest.raises(ValueError, match="judge must be 'heuristic' or 'llm'"):
        label_documents([], out, judge="rules")
    with pytest.raises(ValueError, match="batch must be >= 1"):
        label_documents([], out, batch=0)


def test_read_labels_errors(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    with pytest.raises(DataError, match="no such labels file"):
        read_labels(path)
    good = Label("a", 1, 0, 0, 0, True, True, "heuristic").to_json()
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "b", "subgoal": -1}) + "\n")
    with pytest.raises(
        DataError, match=r"labels.jsonl: row 2: not a label \(subgoal is not a count >= 0\)"
    ):
        read_labels(path)
    path.write_text(json.dumps({k: v for k, v in good.items() if k != "judge"}) + "\n")
    with pytest.raises(DataError, match="row 1: not a label, no 'judge' field"):
        read_labels(path)


# --- selection -------------------------------------------------------------------------------


def _label(
    doc_id: str, counts: tuple[int, int, int, int], problem: bool = True, solution: bool = True
) -> Label:
    return Label(doc_id, *counts, has_problem=problem, has_solution=solution, judge="t")


def test_selection_rules_and_reasons() -> None:
    labels = {
        lab.id: lab
        for lab in [
            _label("r-3-2", (2, 1, 0, 0)),  # exactly the rich thresholds
            _label("r-many", (3, 2, 1, 4)),
            _label("m-zero", (0, 0, 0, 0)),
            _label("m-zero-2", (0, 0, 0, 0)),
            _label("d-one-kind", (5, 0, 0, 0)),  # many instances, one behavior
            _label("d-two", (1, 1, 0, 0)),  # two kinds, too few instances
            _label("d-one", (0, 0, 1, 0)),
            _label("d-noprob", (3, 3, 3, 3), problem=False),
            _label("d-nosol", (0, 0, 0, 0), solution=False),
            _label("d-neither", (0, 0, 0, 0), problem=False, solution=False),
        ]
    }
    pools = select_pools(labels)
    assert pools.rich == ["r-3-2", "r-many"]
    assert pools.minimized == ["m-zero", "m-zero-2"]
    assert pools.dropped == 6
    assert pools.reasons == Counter(
        {"few_behaviors": 2, "few_distinct_behaviors": 1, "no_problem": 2, "no_solution": 1}
    )
    # Order of the mapping does not matter.
    assert select_pools(dict(reversed(list(labels.items())))) == pools

    loose = select_pools(
        labels, SelectionRules(min_total_rich=2, min_distinct_rich=1, max_total_minimized=1)
    )
    assert loose.rich == ["d-one-kind", "d-two", "r-3-2", "r-many"]
    assert loose.minimized == ["d-one", "m-zero", "m-zero-2"]
    assert select_pools({}) == Pools([], [], 0, Counter())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_total_rich": 1, "max_total_minimized": 1}, "must exceed max_total_minimized"),
        ({"min_distinct_rich": 5}, "between 0 and 4"),
        ({"max_total_minimized": -1}, "must be >= 0"),
    ],
)
def test_selection_rules_are_validated(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SelectionRules(**kwargs)


def test_pools_round_trip(tmp_path: Path) -> None:
    rules = SelectionRules(min_total_rich=4)
    pools = Pools(["a", "b"], ["c"], 3, Counter({"no_problem": 2, "few_behaviors": 1}), rules)
    path = write_pools(pools, tmp_path / "curation")
    assert path == tmp_path / "curation" / POOLS_FILE
    assert read_pools(tmp_path / "curation") == pools
    with pytest.raises(DataError, match="no pools file"):
        read_pools(tmp_path)
    path.write_text('{"rich": [1], "minimized": [], "dropped": 0}')
    with pytest.raises(DataError, match="not a pools file"):
        read_pools(tmp_path / "curation")
    path.write_text("{")
    with pytest.raises(DataError, match=r"pools.json:1: invalid JSON"):
        read_pools(tmp_path / "curation")


def test_sample_pipeline_pools_follow_the_truth(tmp_path: Path) -> None:
    """Heuristic labels of the sample: the rich pool is rich documents, the minimized pool is
    plain worked problems."""
    rows = sample_math_corpus_with_truth(600, seed=5)
    truth = {doc.id: t for doc, t in rows}
    out = tmp_path / "labels.jsonl"
    label_documents((doc for doc, _ in rows), out)
    pools = select_pools(read_labels(out))
    assert len(pools.rich) > 20 and len(pools.minimized) > 100
    assert all(truth[i]["kind"] == "rich" for i in pools.rich)
    plain = sum(truth[i]["kind"] == "plain" for i in pools.minimized)
    assert plain / len(pools.minimized) >= 0.95
    assert pools.dropped + len(pools.rich) + len(pools.minimized) == 600
