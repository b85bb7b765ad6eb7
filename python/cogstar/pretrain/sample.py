"""A generated corpus of web-math-like documents, offline and seeded, with ground truth.

    from cogstar.pretrain.sample import sample_math_corpus, sample_math_corpus_with_truth
    docs = sample_math_corpus(400, seed=0)     # what curation.source = "sample:400" reads

:func:`sample_math_corpus` writes documents of four kinds (see :data:`KINDS`) with real
arithmetic; :func:`sample_math_corpus_with_truth` returns, beside each document, what was written
into it (its kind, the count of each behavior, whether it holds a problem and a solution): the
ground truth the labeller tests measure against.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cogstar import parse_expression
from cogstar.errors import ArgumentError
from cogstar.pretrain import BEHAVIORS, Document

__all__ = ["KINDS", "sample_math_corpus", "sample_math_corpus_with_truth"]

KINDS = ("plain", "rich", "expository", "problem_only")
"""``plain``: a worked problem with a plain solution; ``rich``: a worked problem whose author
checks, backtracks, sets subgoals or works backward; ``expository``: explanation, no problem;
``problem_only``: a problem statement without a solution."""

_KIND_WEIGHTS = (3, 4, 2, 2)


@dataclass
class _Worked:
    """A problem with its solution, and the material for writing each behavior into it."""

    topic: str
    statement: list[str]
    steps: list[str]
    answer: str
    wrong: str  # a wrong step, written as if believed
    wrong_reason: str | None  # why it is wrong (None: the author just sees it leads nowhere)
    check: str  # an arithmetic check of the answer
    check_ref: str  # what the check agrees with
    subgoals: list[tuple[str, str]]  # (intermediate goal, why it helps)
    goal: str  # what is asked, as a noun phrase
    need: str  # what reaching it requires
    back: str  # a derivation from the goal back to the data
    end: str  # where the backward derivation starts


def _times(rng: random.Random) -> str:
    return rng.choice(["\u00d7", "*", "\u00b7"])  # the times sign, an asterisk, a dot


def _linear(rng: random.Random) -> _Worked:
    a, x, b = rng.randint(2, 9), rng.randint(2, 15), rng.randint(1, 30)
    c = a * x + b
    v = rng.choice("xynt")
    t = _times(rng)
    eq = f"{a}{v} + {b} = {c}"
    statement = rng.choice(
        [
            [f"Solve {eq} for {v}."],
            [f"Find {v} if {eq}."],
            [f"Consider the equation {eq}.", f"What value of {v} makes it true?"],
            [f"Solve for {v}: ${eq}$"],
        ]
    )
    steps = [
        rng.choice(
            [
                f"Subtract {b} from both sides: {a}{v} = {c - b}.",
                f"Taking {b} away from both sides leaves {a}{v} = {c - b}.",
            ]
        ),
        rng.choice([f"Divide both sides by {a}: {v} = {x}.", f"Dividing by {a} gives {v} = {x}."]),
    ]
    answer = rng.choice(
        [
            f"So {v} = {x}.",
            f"The solution is {v} = {x}.",
            f"Therefore {v} = {x}.",
            f"Answer: {v} = {x}",
        ]
    )
    return _Worked(
        topic="Linear equations",
        statement=statement,
        steps=steps,
        answer=answer,
        wrong=f"Adding {b} to both sides gives {a}{v} = {c + b}.",
        wrong_reason=f"the {b} has to be subtracted from both sides, not added",
        check=f"{a} {t} {x} + {b} = {a * x} + {b} = {c}",
        check_ref="the right-hand side",
        subgoals=[(f"the value of {a}{v}", f"once {a}{v} is known we can divide by {a}")],
        goal=f"the value of {v}",
        need=f"the number that {a}{v} equals",
        back=(
            f"the left side reaches {c} only after {b} is added, so before that it was "
            f"{c} - {b} = {c - b}, and {c - b} / {a} = {x}"
        ),
        end=f"{c}",
    )


def _percent(rng: random.Random) -> _Worked:
    d = rng.choice([10, 20, 25, 30, 40, 50])
    price = rng.choice([p for p in range(40, 301, 20) if p * d % 100 == 0])
    off = price * d // 100
    final = price - off
    item = rng.choice(["jacket", "bicycle", "lamp", "pair of shoes", "board game", "backpack"])
    t = _times(rng)
    statement = rng.choice(
        [
            [f"A {item} costs ${price} and is on sale for {d}% off.", "What is the sale price?"],
            [f"How much does a ${price} {item} cost after a {d}% discount?"],
            [f"Find the price of a {item} marked ${price} after a discount of {d}%."],
        ]
    )
    steps = [
        f"{d}% of {price} is {d / 100:g} {t} {price} = {off}.",
        rng.choice(
            [
                f"Taking the discount off, {price} - {off} = {final}.",
                f"The price drops by {off}, from {price} to {final}.",
            ]
        ),
    ]
    answer = rng.choice(
        [
            f"The sale price is ${final}.",
            f"So the {item} costs ${final} after the discount.",
            f"The answer is ${final}.",
        ]
    )
    return _Worked(
        topic="Percentages",
        statement=statement,
        steps=steps,
        answer=answer,
        wrong=f"{d}% of {price} is {off}, so the {item} now costs ${off}.",
        wrong_reason=f"${off} is the size of the discount, not the price that is left",
        check=f"{final} + {off} = {price}",
        check_ref="the original price",
        subgoals=[("the size of the discount", "the sale price is the original price minus it")],
        goal="the sale price",
        need=f"the share of the price that remains, {100 - d}% of ${price}",
        back=(
            f"the sale price is what is left after the discount, {100 - d}% of the original, "
            f"so it is {(100 - d) / 100:g} {t} {price} = {final}"
        ),
        end="the sale price",
    )


def _series(rng: random.Random) -> _Worked:
    a, d, k = rng.randint(1, 9), rng.randint(2, 6), rng.randint(4, 12)
    last = a + (k - 1) * d
    total = k * (a + last) // 2
    t = _times(rng)
    terms = [a + i * d for i in range(k)]
    statement = rng.choice(
        [
            [f"Find the sum of the {k} terms {terms[0]} + {terms[1]} + {terms[2]} + ... ."],
            [
                f"What is the sum of the first {k} terms of the arithmetic sequence "
                f"{terms[0]}, {terms[1]}, {terms[2]}, ...?"
            ],
            [
                f"Compute the total of the arithmetic series that starts at {a}, goes up by "
                f"{d} each time and has {k} terms."
            ],
        ]
    )
    steps = [
        f"The last term is {a} + ({k} - 1) {t} {d} = {last}.",
        rng.choice(
            [
                f"Pairing the first and last terms, the sum is {k} {t} ({a} + {last}) / 2 = {total}.",
                f"Each pair of terms from the two ends adds to {a + last}, and there are {k}/2 "
                f"such pairs, which gives {total}.",
            ]
        ),
    ]
    answer = rng.choice(
        [
            f"So the sum is {total}.",
            f"The answer is {total}.",
            f"Hence the series adds up to {total}.",
        ]
    )
    if k <= 7:
        check = f"adding the terms one by one, {' + '.join(map(str, terms))} = {total}"
    else:
        mean = (a + last) / 2
        check = f"the average term is ({a} + {last}) / 2 = {mean:g}, and {k} {t} {mean:g} = {total}"
    return _Worked(
        topic="Arithmetic series",
        statement=statement,
        steps=steps,
        answer=answer,
        wrong=f"The last term is {a} + {k} {t} {d} = {a + k * d}.",
        wrong_reason=f"{k} terms have only {k - 1} gaps between them, so {d} is added {k - 1} times",
        check=check,
        check_ref="the result of the formula",
        subgoals=[("the last term", "the pairing formula uses the first and last terms")],
        goal="the sum",
        need="the number of terms and the last term",
        back=(
            f"the sum is {k} {t} (first + last) / 2, so the only missing piece is the last "
            f"term, {a} + {k - 1} {t} {d} = {last}"
        ),
        end="the sum",
    )


def _rectangle(rng: random.Random) -> _Worked:
    length = rng.randint(5, 20)
    width = rng.randint(2, length - 1)
    perimeter, area = 2 * (length + width), length * width
    u = rng.choice(["cm", "m", "in", "ft"])
    t = _times(rng)
    statement = rng.choice(
        [
            [
                f"A rectangle has a perimeter of {perimeter} {u} and one side of length "
                f"{length} {u}.",
                "Find its area.",
            ],
            [
                f"The perimeter of a rectangular garden is {perimeter} {u} and its length is "
                f"{length} {u}.",
                "What is its area?",
            ],
            [
                f"Compute the area of a rectangle whose perimeter is {perimeter} {u} and whose "
                f"length is {length} {u}."
            ],
        ]
    )
    steps = [
        f"Half the perimeter is {perimeter} / 2 = {length + width} {u}, one length plus one width.",
        f"The width is {length + width} - {length} = {width} {u}.",
        f"The area is {length} {t} {width} = {area} square {u}.",
    ]
    answer = rng.choice(
        [
            f"So the area is {area} {u}².",
            f"The answer is {area} square {u}.",
            f"Therefore the area of the rectangle is {area} {u}².",
        ]
    )
    return _Worked(
        topic="Area and perimeter",
        statement=statement,
        steps=steps,
        answer=answer,
        wrong=f"The width is {perimeter} - {length} = {perimeter - length} {u}.",
        wrong_reason="the perimeter runs round all four sides, so it has to be halved first",
        check=f"2 {t} ({length} + {width}) = {perimeter}",
        check_ref="the given perimeter",
        subgoals=[
            ("the width", "the area is length times width and only the length is given"),
            ("half the perimeter", "it is exactly one length plus one width"),
        ],
        goal="the area",
        need="the width, as the length is already known",
        back=(
            f"the area is {length} {t} W, so W is what we lack, and W is half the perimeter "
            "minus the length"
        ),
        end="the area",
    )


_OPS: dict[str, Callable[[int, int], float]] = {
    "+": lambda p, q: p + q,
    "-": lambda p, q: p - q,
    "*": lambda p, q: p * q,
    "/": lambda p, q: p / q,
}
_INVERSE = {"+": "-", "-": "+", "*": "/", "/": "*"}


def _countdown(rng: random.Random) -> _Worked:
    while True:
        a, b, c = rng.randint(2, 50), rng.randint(2, 50), rng.randint(2, 12)
        op1, op2 = rng.choice("+-*"), rng.choice("+-*/")
        v1 = _OPS[op1](a, b)
        if v1 <= 0 or v1 > 150:
            continue
        target = _OPS[op2](int(v1), c)
        if target != int(target) or not 0 < target <= 200:
            continue
        v1, target = int(v1), int(target)
        if target in (a, b, c) or target == a + b + c:
            continue
        break
    expression = f"({a} {op1} {b}) {op2} {c}"
    assert parse_expression(expression).value == target  # the arithmetic we print is right
    numbers = [a, b, c]
    rng.shuffle(numbers)
    shown = f"{numbers[0]}, {numbers[1]} and {numbers[2]}"
    statement = rng.choice(
        [
            [f"Using the numbers {shown} exactly once each, with +, -, * and /, make {target}."],
            [f"Countdown puzzle: reach {target} with {shown}, each used once."],
            [f"Can you make {target} from {shown} using each number once and only + - * /?"],
        ]
    )
    return _Worked(
        topic="Number puzzles",
        statement=statement,
        steps=[f"{a} {op1} {b} = {v1}.", f"{v1} {op2} {c} = {target}."],
        answer=rng.choice(
            [
                f"So {expression} = {target}.",
                f"The answer is {expression}.",
                f"That gives {target}: {expression}.",
            ]
        ),
        wrong=f"Adding all three, {a} + {b} + {c} = {a + b + c}.",
        wrong_reason=None,
        check=f"{expression} = {v1} {op2} {c} = {target}",
        check_ref="the target",
        subgoals=[(f"a way to make {v1} from {a} and {b}", f"{v1} {op2} {c} = {target}")],
        goal=f"{target}",
        need=f"{v1} from {a} and {b}",
        back=f"{target} {_INVERSE[op2]} {c} = {v1}, so {a} and {b} have to give {v1}",
        end=f"the target {target}",
    )


_FAMILIES: tuple[Callable[[random.Random], _Worked], ...] = (
    _linear,
    _percent,
    _series,
    _rectangle,
    _countdown,
)

_VERIFY = (
    "Check: {check}, which matches {ref}.",
    "Let's verify the result: {check}, as required.",
    "Substituting back, {check} ✓",
    "To double-check, {check}, the same as {ref}.",
    "Plugging the answer back in, {check}, consistent with {ref}.",
    "As a sanity check, {check}, in agreement with {ref}.",
)
_BACKTRACK = (
    "Wait, that's not right: {reason}, so let me redo this step.",
    "Hmm, that can't be correct, because {reason}; I'll go back and start this part again.",
    "Oops, I made a mistake there: {reason}.",
    "No, scratch that, {reason}.",
    "Actually that step is wrong, since {reason}, so let me try again.",
)
_BACKTRACK_NO_REASON = (
    "That is a dead end, so let me go back and try a different combination.",
    "Scratch that; let me start again from the original numbers.",
    "That doesn't work, so I'll try another pairing instead.",
    "Wait, that leads nowhere, so let me try something else.",
)
_SUBGOAL = (
    "First we need to find {q}, because {why}.",
    "To find {goal}, we first need {q}.",
    "Our first goal is {q}, since {why}.",
    "Step 1: find {q}.",
    "It suffices to find {q}, since {why}.",
    "Let's break the problem down: before anything else we want {q}.",
)
_SUBGOAL_SECOND = (
    "We also need {q}, since {why}.",
    "Next we need to find {q}, because {why}.",
)
_BACKWARD = (
    "Working backwards from {end}: {back}.",
    "We want {goal}, so we need {need}.",
    "To get {goal}, we need {need}.",
    "Let's start from the end and work back: {back}.",
    "Reasoning backwards, {back}.",
)

_HEADERS = ("Problem {k}.", "Exercise {k}:", "Question:", "Example {k}", "## {topic}", "")
_SOLUTION_HEADERS = ("Solution.", "Solution:", "**Solution**", "A:", "")
_PREFACES = (
    "Here is a typical exercise on {topic_lower}.",
    "This one came up in class today.",
    "",
    "",
)
_CODAS = ("", "", "Questions of this kind come up often in exams.", "Hope this helps!")
_ASIDES = (
    "I have been stuck on this for a while, any hints?",
    "Give your answer as a whole number.",
    "Show your working.",
    "Thanks in advance!",
    "(From a worksheet on {topic_lower}.)",
)


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    """Sentences grouped into lines, as a page would: some on their own, some run together."""
    lines: list[str] = []
    for s in sentences:
        if lines and rng.random() < 0.55:
            lines[-1] += " " + s
        else:
            lines.append(s)
    return lines


def _fill(template: str, **values: Any) -> str:
    return template.format(**values)


def _worked_document(
    rng: random.Random, work: _Worked, counts: dict[str, int], k: int
) -> list[str]:
    names = {"topic": work.topic, "topic_lower": work.topic.lower(), "k": k}
    lines: list[str] = []
    header = _fill(rng.choice(_HEADERS), **names)
    if header:
        lines.append(header)
    preface = _fill(rng.choice(_PREFACES), **names)
    if preface:
        lines.append(preface)
    lines.append(" ".join(work.statement))
    solution_header = rng.choice(_SOLUTION_HEADERS)
    if solution_header:
        lines.append(solution_header)
    body: list[str] = []
    for i in range(counts["subgoal"]):
        q, why = work.subgoals[i]
        template = rng.choice(_SUBGOAL if i == 0 else _SUBGOAL_SECOND)
        body.append(_fill(template, q=q, why=why, goal=work.goal))
    if counts["backward"]:
        body.append(
            _fill(
                rng.choice(_BACKWARD), end=work.end, back=work.back, goal=work.goal, need=work.need
            )
        )
    if counts["backtracking"]:
        body.append(work.wrong)
        if work.wrong_reason is None:
            body.append(rng.choice(_BACKTRACK_NO_REASON))
        else:
            body.append(_fill(rng.choice(_BACKTRACK), reason=work.wrong_reason))
    body.extend(work.steps)
    check = (
        _fill(rng.choice(_VERIFY), check=work.check, ref=work.check_ref)
        if counts["verification"]
        else None
    )
    if check is not None and rng.random() < 0.5:
        body.append(check)
        check = None
    body.append(work.answer)
    if check is not None:
        body.append(check)
    lines.extend(_paragraphs(rng, body))
    coda = rng.choice(_CODAS)
    if coda:
        lines.append(coda)
    return lines


def _problem_only(rng: random.Random, work: _Worked, k: int) -> list[str]:
    names = {"topic": work.topic, "topic_lower": work.topic.lower(), "k": k}
    lines = []
    header = _fill(rng.choice(_HEADERS), **names)
    if header:
        lines.append(header)
    lines.append(" ".join(work.statement))
    for aside in rng.sample(_ASIDES, rng.randint(0, 2)):
        lines.append(_fill(aside, **names))
    return lines


def _expository(rng: random.Random) -> list[str]:
    """A paragraph or two of explanation: no problem, no solution, no behavior. Two of the
    topics mention checking or mistakes in general terms, as real pages do: a labeller that
    reacts to words alone will count a behavior there that nobody performs."""
    topic = rng.randrange(7)
    t = _times(rng)
    if topic == 0:
        n = rng.choice([12, 18, 20, 28, 30, 42, 45, 60, 84, 90])
        factors, m, p = [], n, 2
        while m > 1:
            while m % p == 0:
                factors.append(p)
                m //= p
            p += 1
        title = "## Prime numbers"
        text = [
            "A prime number is a whole number greater than 1 whose only divisors are 1 and itself.",
            "The first few primes are 2, 3, 5, 7, 11 and 13.",
            "Every whole number greater than 1 is a product of primes in exactly one way, up to "
            f"the order of the factors; for example {n} = {f' {t} '.join(map(str, factors))}.",
            "This is the fundamental theorem of arithmetic.",
        ]
    elif topic == 1:
        a, d = rng.randint(1, 9), rng.randint(2, 7)
        title = "Arithmetic sequences"
        text = [
            "An arithmetic sequence adds the same amount, the common difference, at every step.",
            f"The sequence {a}, {a + d}, {a + 2 * d}, {a + 3 * d}, ... has common difference {d}.",
            f"Its n-th term is {a} + (n - 1) {t} {d}, and the sum of its first n terms is n "
            "times the average of the first and the last term.",
        ]
    elif topic == 2:
        p, q = rng.choice([10, 20, 25, 50]), rng.choice([40, 80, 120, 200])
        title = "## What does percent mean"
        text = [
            f"The word percent means per hundred, so {p}% is the fraction {p}/100.",
            f"Taking {p}% of a quantity multiplies it by {p / 100:g}; for instance {p}% of {q} "
            f"is {p * q // 100}.",
            f"A discount of {p}% leaves {100 - p}% of the original price.",
        ]
    elif topic == 3:
        length, width = rng.randint(4, 12), rng.randint(2, 9)
        title = "Area and perimeter of rectangles"
        text = [
            "The area of a rectangle is its length times its width, and its perimeter is twice "
            "the sum of the two.",
            f"A {length} by {width} rectangle has area {length * width} and perimeter "
            f"{2 * (length + width)}.",
            "Among rectangles with the same perimeter, the square has the largest area.",
        ]
    elif topic == 4:
        title = "Linear equations in one unknown"
        text = [
            "A linear equation in one unknown can be written as ax + b = c with a not zero.",
            "It has exactly one solution, x = (c - b)/a, found by undoing the operations in "
            "reverse order.",
            "Any proposed solution can be verified by substituting it back into the equation.",
        ]
    elif topic == 5:
        p = rng.choice([10, 20, 25, 50])
        title = "Percentage changes"
        text = [
            "Percentage changes do not simply add up.",
            f"A common mistake is to think that a rise of {p}% followed by a fall of {p}% "
            "returns to the start.",
            "The second change applies to a larger amount, so the result ends up below the "
            f"starting value, at {(100 + p) * (100 - p) / 100:g}% of it.",
        ]
    else:
        n = 3 * rng.randint(34, 333)
        s = sum(int(ch) for ch in str(n))
        title = "Divisibility by 3"
        text = [
            "A whole number is divisible by 3 exactly when the sum of its digits is.",
            f"The digits of {n} add up to {s}, a multiple of 3, and indeed {n} = 3 {t} {n // 3}.",
            "The same rule works for 9, with 9 in place of 3.",
        ]
    lines = [title] if rng.random() < 0.7 else []
    lines.extend(_paragraphs(rng, text))
    return lines


def sample_math_corpus_with_truth(n: int, seed: int = 0) -> list[tuple[Document, dict[str, Any]]]:
    """``n`` generated documents, each with what was written into it.

    The truth dict holds ``kind`` (one of :data:`KINDS`), ``family`` (the problem's topic, or
    None), the count of each behavior (``verification``, ``backtracking``, ``subgoal``,
    ``backward``: instances written, each a single sentence) and ``has_problem`` /
    ``has_solution``. Each document depends only on ``(seed, its index)``, so a corpus of n
    documents is a prefix of a larger one.
    """
    if n < 0:
        raise ArgumentError(f"n must be >= 0, got {n}")
    out = []
    for i in range(n):
        rng = random.Random(f"cogstar-sample:{seed}:{i}")
        kind = rng.choices(KINDS, weights=_KIND_WEIGHTS)[0]
        counts = dict.fromkeys(BEHAVIORS, 0)
        family: str | None = None
        if kind == "expository":
            lines = _expository(rng)
        else:
            work = rng.choice(_FAMILIES)(rng)
            family = work.topic
            if kind == "problem_only":
                lines = _problem_only(rng, work, rng.randint(1, 40))
            else:
                if kind == "rich":
                    chosen = [b for b in BEHAVIORS if rng.random() < 0.5] or [rng.choice(BEHAVIORS)]
                    for b in chosen:
                        counts[b] = 1
                    if "subgoal" in chosen and len(work.subgoals) > 1 and rng.random() < 0.4:
                        counts["subgoal"] = 2
                lines = _worked_document(rng, work, counts, rng.randint(1, 40))
        truth: dict[str, Any] = {
            "kind": kind,
            "family": family,
            **counts,
            "has_problem": kind != "expository",
            "has_solution": kind in ("plain", "rich"),
        }
        doc = Document(id=f"sample-{seed}-{i:05d}", text="\n".join(lines), source="sample")
        out.append((doc, truth))
    return out


def sample_math_corpus(n: int, seed: int = 0) -> list[Document]:
    """``n`` generated web-math-like documents (see :func:`sample_math_corpus_with_truth`)."""
    return [doc for doc, _ in sample_math_corpus_with_truth(n, seed)]
