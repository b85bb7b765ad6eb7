"""The pure-Python reference equals the original TinyZero reward, which uses eval().

``_original_compute_score`` below restates TinyZero's countdown ``compute_score``
faithfully -- real ``eval`` included -- and is used only here, as the oracle, on
answers that cannot hang it: ``**`` only between tiny operands, bounded length,
unary runs of at most 50. The reference (``reference_tinyzero.reference_score``)
must give the same value for every case, and an outcome label consistent with the
exception the oracle saw.

Where the reference deliberately differs from CPython (resource guards, nesting
limits), ``test_known_divergences_from_cpython`` pins the difference down.
"""

from __future__ import annotations

import ast
import math
import random
import re
import sys
import warnings
from pathlib import Path

import pytest

import reference_tinyzero as ref
import rollouts
from reference_tinyzero import RefScore, reference_score

# ------------------------------------------------------------------ the oracle

_ORACLE_ANSWER = re.compile(r"<answer>(.*?)</answer>")
_ORACLE_ALLOWED = r"^[\d+\-*/().\s]+$"


def _original_compute_score(text, numbers, target, format_score=0.1, score=1.0):
    """TinyZero's countdown reward, restated: returns ``(value, tag, answer, result)``.

    ``tag`` says which branch produced the value: ``no_marker``, ``no_answer``,
    ``numbers``, ``whitelist``, the name of the exception ``eval`` raised,
    ``cmp:<exception>`` for one raised by the final comparison, ``correct`` or
    ``wrong``.
    """
    if "Assistant:" in text:
        text = text.split("Assistant:", 1)[1]
    elif "<|im_start|>assistant" in text:
        text = text.split("<|im_start|>assistant", 1)[1]
    else:
        return 0, "no_marker", None, None
    found = list(_ORACLE_ANSWER.finditer(text.split("\n")[-1]))
    if not found:
        return 0, "no_answer", None, None
    equation = found[-1].group(1).strip()

    try:
        used = [int(n) for n in re.findall(r"\d+", equation)]
        numbers_ok = sorted(used) == sorted(numbers)
    except Exception:
        numbers_ok = False
    if not numbers_ok:
        return format_score, "numbers", equation, None

    if not re.match(_ORACLE_ALLOWED, equation):
        return format_score, "whitelist", equation, None
    try:
        result = eval(equation, {"__builtins__": None}, {})
    except SyntaxError:  # IndentationError and TabError included
        return format_score, "SyntaxError", equation, None
    except Exception as exc:
        return format_score, type(exc).__name__, equation, None

    try:
        if abs(result - target) < 1e-5:
            return score, "correct", equation, result
        return format_score, "wrong", equation, result
    except Exception as exc:
        return format_score, f"cmp:{type(exc).__name__}", equation, result


_EMPTY_TUPLE = re.compile(r"\(\s*\)")

_CONSISTENT = {
    "no_marker": {"no_assistant"},
    "no_answer": {"no_answer", "answer_not_last_line"},
    "numbers": {"wrong_numbers"},
    "whitelist": {"unparsable"},
    "SyntaxError": {"unparsable"},
    "ZeroDivisionError": {"eval_error"},
    "TypeError": {"eval_error"},
    "OverflowError": {"too_large"},
    # With about 190-200 nested parentheses CPython's second, error-reporting parser
    # pass runs out of its 6000-level stack: a syntax error surfaces as MemoryError.
    "MemoryError": {"unparsable"},
    "correct": {"correct"},
    "wrong": {"wrong_value"},
    "cmp:TypeError": {"eval_error"},  # the result was () or ...
    "cmp:OverflowError": {"too_large"},
}


def _check(text: str, numbers, target, format_score=0.1, correct_score=1.0) -> str | None:
    """None if the reference agrees with the oracle on this case, else a description."""
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # "'int' object is not callable; perhaps you missed a comma?"
        value, tag, answer, result = _original_compute_score(
            text, numbers, target, format_score, correct_score
        )
    got = reference_score(text, numbers, target, format_score, correct_score)
    problems = []
    if got.value != value or type(got.value) is not float:
        problems.append(f"value {got.value!r} != original {value!r}")
    allowed = set(_CONSISTENT.get(tag, ()))
    if tag == "OverflowError" and answer is not None and _EMPTY_TUPLE.search(answer):
        allowed.add("eval_error")  # `() * 2**64`: the reference refuses tuple arithmetic
    if got.outcome not in allowed:
        problems.append(f"outcome {got.outcome!r} but the original took branch {tag!r}")
    if got.answer != answer:
        problems.append(f"answer {got.answer!r} != {answer!r}")
    if tag == "no_answer":
        after = (
            text.split("Assistant:", 1)[1]
            if "Assistant:" in text
            else text.split("<|im_start|>assistant", 1)[1]
        )
        elsewhere = _ORACLE_ANSWER.search(after) is not None
        if (got.outcome == "answer_not_last_line") != elsewhere:
            problems.append(f"outcome {got.outcome!r} but an answer elsewhere: {elsewhere}")
    if tag in ("correct", "wrong", "cmp:OverflowError"):
        if isinstance(result, complex):
            expected = None
        elif isinstance(result, int) and abs(result) > 2**1023:
            expected = math.copysign(math.inf, result)
        else:
            expected = float(result)
        same = got.result == expected or (
            expected is not None
            and got.result is not None
            and math.isnan(expected)
            and math.isnan(got.result)
        )
        if not same:
            problems.append(f"result {got.result!r} != {expected!r}")
    if not problems:
        return None
    return f"{'; '.join(problems)}\n    answer={answer!r} numbers={numbers!r} target={target!r}"


def _assert_all_agree(cases, limit: int = 15, **kwargs) -> int:
    failures = []
    for text, numbers, target in cases:
        problem = _check(text, numbers, target, **kwargs)
        if problem is not None:
            failures.append(problem)
    assert not failures, f"{len(failures)} of {len(cases)} disagree; first ones:\n" + "\n".join(
        failures[:limit]
    )
    return len(cases)


# ------------------------------------------------------------------- builders

_PREFIX = (
    "A conversation between User and Assistant.\nUser: Using the numbers, create an equation.\n"
    "Assistant: Let me solve this step by step.\n<think> thinking </think>\n"
)


def _wrap(answer: str, prefix: str = _PREFIX) -> str:
    return f"{prefix}<answer>{answer}</answer>"


def _numbers_for(answer: str) -> list[int]:
    try:
        return [int(r) for r in re.findall(r"\d+", answer)]
    except ValueError:
        return [1]


def _case(answer: str, target: int = 98, prefix: str = _PREFIX):
    return _wrap(answer, prefix), _numbers_for(answer), target


def _oracle_value(answer: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return eval(answer.strip(), {"__builtins__": None}, {})
    except Exception:
        return None


def _target_for(rng: random.Random, answer: str) -> int:
    """Often the answer's own (rounded) value, so that `correct` is well covered."""
    if rng.random() < 0.6:
        v = _oracle_value(answer)
        if type(v) is int and abs(v) < 10**12:
            return v
        if type(v) is float and math.isfinite(v) and rng.random() < 0.7:
            return round(v)
    return rng.randint(-20, 1000)


# -------------------------------------------------------------- curated cases

# fmt: off
_CURATED_ANSWERS = [
    # plain, correct and not
    "44 + 19 + 35", "44+19+35", "(44 + 19) + 35", "44 * 19 - 35", "35 - 44 + 19",
    # leading zeros, decimals
    "012", "00", "000", "0", "00 + 98", "012.", "00.5", "0.", ".0", ".5 + 1", "1.", "1.5",
    "012.5", "98.0", "98.", "098", "0098.0", "1.5.5", "1 .5", "1. 5", "1 . 5", "(1).5",
    "1" * 400 + ".", "1" * 400 + ". * 10", "1" * 400 + ". - " + "1" * 400 + ".",
    # ellipsis, lone dots, tuples
    "...", "....", "1....", "..5", "1...", ". . .", "()", "( )", "(\r)", "()+()", "()*3",
    "3*()", "-()", "+...", "()**0", "(())", "((()))", "(...)", "()*(2**2**2**2)",
    # calls
    "2(3)", "2(*3)", "2(**3)", "2(*())", "2()", "2( )", "2(1/0)", "(1/0)(2)", "2(3)(1/0)",
    "2(3 4)", "2(*)", "2(**)", "2(***3)", "2(* *3)", "2(*-3)", "2(**-3)", "2(*3**2)",
    "2(**3**2)", "1.(2)", "1 .(2)", "...(...)", "()()", "(1+2)(3)", "-2(3)", "2**3(4)",
    "(*1)", "(**1)", "*1", "**1", "1*", "+", "-", "1(*1)(*1)",
    # unary, powers, evaluation order
    "-(1)", "--1", "-+-+1", "+-98", "-" * 50 + "98", "-" * 49 + "98", "2**-1", "-2**2",
    "2**3**2", "2**-3**2", "-2**-2", "2**-(1)**2", "(-2)**2", "(-2)**0.5", "(-8)**(1/3)",
    "(-1)**0.5", "(-2)**0.5**2", "0**0", "0**-1", "0.0**-1", "0.**-1.5", "2**(1/0)",
    "(1/0)**2", "4**4**4", "(-4)**4**4", "3**3**3", "2**0.5", "2.**1024", "2.**1023",
    "2**-1074", "2**-1075", "(2**3)**-1",
    # division
    "1/0", "1//0", "1.//0", "2.0//0", "1/0.", "0/0", "1/(2-2)", "7//2", "-7//2", "7.5//2",
    "(-8)**(1/3)//1", "1//(-8)**(1/3)", "(-8)**(1/3)/0", "99/7*7", "(2-2)/(3-3)",
    # int -> float overflow
    "(4**4**4)/3", "(4**4**4)+1.5", "(4**4**4)*1.", "(2**2**2**2)**1.", "(4**4**4)**3/3",
    "(4**4**4)**3+1.5", "(4**4**4)**3*1.", "1./(4**4**4)**3", "(4**4**4)**3//3.",
    "(4**4**4)**3/(4**4**4)**3", "(4**4**4)**3//(4**4**4)**3",
    # whitespace inside the answer (the edges are stripped by str.strip())
    "44\t+\t19 + 35", "44\x0c+ 19 + 35", "44\x0b+ 19 + 35", "44\xa0+ 19 + 35",
    "44\x1c+ 19 + 35", "44\x85+ 19 + 35", "44\u3000+ 19 + 35", "44\u2028+ 19 + 35",
    "44\r+ 19 + 35", "(44\r+ 19) + 35", "(44 +\r19) + 35", "(\r44 + 19 + 35\r)",
    "(44 + 19\r\r\x0c + 35)", "(44 + 19\r) + 35", "44 + (19\r) + 35", "4\r4 + 19 + 35",
    "(4\r4 + 19 + 35)", "\u200b44 + 19 + 35", "44 +\u200b19 + 35",
    # Unicode digits: the number check sees them, the tokenizer does not
    "\u0664\u0664 + 19 + 35", "4\u0664 + 19 + 35", "\uff14\uff14 + 19 + 35",
    "\u0663", "\u00b2", "44 + 19 + 35\u0660",
    # nesting
    "(" * 200 + "98" + ")" * 200, "(" * 201 + "98" + ")" * 201, "(" * 199 + "98" + ")" * 199,
    "(" * 200 + "98" + ")" * 199, "(" * 199 + "98" + ")" * 200, "-(" * 200 + "98" + ")" * 200,
    "-(" * 201 + "98" + ")" * 201, "(" * 100 + "44 + 19" + ")" * 100 + " + (" * 100 + "35" + ")" * 100,
    "1" + "(1" * 199 + ")" * 199, "1" + "(1" * 200 + ")" * 200, "((((98))))(" + "(" * 195 + ")" * 196,
    # unmatched, empty, odd operators
    ")", "(", "98)", "(98", ")98(", "98 +", "98 // ", "//98", "98 */ 2", "98 /* 2",
    "98 *** 2", "98 //// 2", "98 ++ 2", "98 -- 2", "98 +- 2", "98 ** -- 2",
    # digit runs vs numbers
    "0" * 4300, "0" * 4301 + "1", "0" * 4299 + "98", "0" * 4298 + "98.", "0" * 4299 + "98.",
]
# fmt: on


def test_curated_edge_cases_match_the_original():
    cases = [_case(a) for a in _CURATED_ANSWERS]
    # the same answers judged against their own value, so `correct` is reachable
    cases += [
        _case(a, target=_target_for(random.Random(i), a)) for i, a in enumerate(_CURATED_ANSWERS)
    ]
    _assert_all_agree(cases)


def test_extraction_matches_the_original():
    answer = "<answer> 44 + 19 + 35 </answer>"
    texts = [
        "no marker at all " + answer,
        "assistant: lower case " + answer,
        "Assistant:" + answer,
        "Assistant:\n" + answer,
        "Assistant: " + answer + "\n",
        "Assistant: " + answer + "\r",
        "Assistant: " + answer + "\r\n",
        "Assistant: " + answer + "\nmore",
        "Assistant: <answer> 1 </answer>" + answer,
        "Assistant: " + answer + "<answer> 1 </answer>",
        "Assistant: " + answer + " <answer> 1 ",
        "Assistant: <answer> 44 + 19 + 35 <answer> 1 </answer>",
        "Assistant: <answer><answer> 44 + 19 + 35 </answer></answer>",
        "Assistant: <answer></answer>",
        "Assistant: <answer>   </answer>",
        "Assistant: <answer>\x00</answer>",
        "Assistant: <answer>44 + 19 +\x00 35</answer>",
        "Assistant: <answer> 44 + 19\n + 35 </answer>",
        "Assistant: <ANSWER> 44 + 19 + 35 </ANSWER>",
        "Assistant: <answer> 44 + 19 + 35 </answer >",
        "<|im_start|>assistant\n" + answer,
        "<|im_start|>assistant" + answer + "<|im_end|>",
        "<|im_start|>Assistant\n" + answer,
        "<|im_start|>assistant\nAssistant: " + answer,
        "Assistant: x <|im_start|>assistant\n" + answer,
        "User: x\nAssistant: y\nAssistant: " + answer,
        "Assistant:" + answer.replace(" ", "\xa0"),
        "Assistant:" + answer.replace(" ", "\u3000"),
        "Assistant:" + answer.replace(" ", "\x1c"),
        "Assistant:" + answer.replace(" ", "\x85"),
        "Assistant: " + answer.replace("44", "\u0664\u0664"),
        "Assistant: \x00" + answer,
    ]
    cases = [(t, [44, 19, 35], 98) for t in texts] + [(t, [19, 35, 44], 98.0) for t in texts]
    cases += [(t, [], 0) for t in texts] + [(t, [1], 1) for t in texts]
    _assert_all_agree(cases)


# ----------------------------------------------------------- generated answers

_SPACES = (
    [" "] * 20 + [""] * 20 + ["\t", "\x0c", "\r", "  ", "\x0b", "\xa0", "\x1c", "\u3000", "\x85"]
)


def _ws(rng: random.Random) -> str:
    return rng.choice(_SPACES) if rng.random() < 0.7 else ""


def _number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return str(rng.randint(1, 99))
    if r < 0.65:
        return rng.choice(["0", "00", "000", "1", "2", "3"])
    if r < 0.72:
        return "0" + str(rng.randint(1, 99))  # leading zero: SyntaxError
    if r < 0.87:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        return rng.choice([f"{a}.{b}", f"{a}.", f".{b}", f"0{a}.{b}", f"00.{b}", f"{a}.0"])
    if r < 0.92:
        return str(rng.randint(10**15, 10**30))
    if r < 0.96:
        return rng.choice(["\u0663", "4\u0664", "\uff17", "\u0969\u0969"])  # Unicode digits
    return rng.choice(["1.2.3", "1..2", "..5", "5..", "1 .5"])


def _small_power(rng: random.Random) -> str:
    """A ** chain that cannot be expensive: |base| <= 8, other operands at most 4.

    The largest value is (-8)**4**4 (768 bits), so even 16 of them multiplied
    stay far below MAX_INT_BITS.
    """
    small = [
        "0",
        "1",
        "2",
        "3",
        "4",
        "0.5",
        "2.",
        ".5",
        "(-2)",
        "(-1)",
        "(1/3)",
        "(2-4)",
        "(0)",
        "1.",
        "-3",
        "+2",
        "--2",
        "00",
    ]
    operands = [rng.choice([*small, "(-8)", "8"])]
    operands += [rng.choice(small) for _ in range(rng.choice([1, 1, 1, 2]))]
    return (
        "".join(x + rng.choice(["**", " ** ", "** ", " **"]) for x in operands[:-1]) + operands[-1]
    )


def _expr(rng: random.Random, depth: int) -> str:
    r = rng.random()
    if depth <= 0 or r < 0.25:
        return _number(rng)
    if r < 0.55:
        op = rng.choice(["+", "-", "*", "/", "//", "+", "-", "*"])
        return _expr(rng, depth - 1) + _ws(rng) + op + _ws(rng) + _expr(rng, depth - 1)
    if r < 0.65:
        run = rng.choice([1, 1, 2, 3, rng.randint(1, 50)])
        return "".join(
            rng.choice("+-") + _ws(rng) * (rng.random() < 0.1) for _ in range(run)
        ) + _expr(rng, depth - 1)
    if r < 0.80:
        return "(" + _ws(rng) + _expr(rng, depth - 1) + _ws(rng) + ")"
    if r < 0.86:
        star = rng.choice(["", "", "*", "**"])
        inner = "" if rng.random() < 0.2 else star + _expr(rng, depth - 1)
        return _expr(rng, 0) + "(" + inner + ")"
    if r < 0.93:
        return _small_power(rng)
    if r < 0.97:
        return rng.choice(["...", "()", "( )", "(\r)", "1/0", "(2-2)", "0.0"])
    # fixed, cheap OverflowErrors: float **, int -> float conversion
    return rng.choice(
        ["99.**999", "2.**1024", "(4**4**4)**3/3", "(4**4**4)**3+.5", "1./(4**4**4)**3"]
    )


_MUTATION_CHARS = "0123456789+-/().\t \x0c\r\x0b"


def _mutate(rng: random.Random, s: str) -> str:
    """Insert whitespace or any char but `*`, or delete a char; never create `**`."""
    for _ in range(rng.choice([0, 0, 1, 2])):
        i = rng.randint(0, len(s))
        if rng.random() < 0.3:
            t = s[:i] + rng.choice(_SPACES) + s[i:]
        elif rng.random() < 0.5:
            t = s[:i] + rng.choice(_MUTATION_CHARS) + s[i:]
        else:
            t = s[:i] + s[i + 1 :]
        if "**" not in t:  # an edit must not create a power of unbounded operands
            s = t
    return s


def _generated_answer(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.03:  # around CPython's 200 nested parentheses
        k = rng.choice([198, 199, 200, 201, 202])
        inner = _expr(rng, 1)
        return "(" * k + inner + ")" * k
    if r < 0.05:
        k = rng.choice([199, 200, 201])
        return "-(" * k + _number(rng) + ")" * k
    s = _expr(rng, rng.choice([1, 2, 3, 4]))
    if "**" not in s:
        s = _mutate(rng, s)
    else:
        s = "".join(c + (rng.choice(_SPACES) if rng.random() < 0.05 else "") for c in s)
    return _ws(rng) + s + _ws(rng)


def _generated_cases(n: int, seed: int):
    rng = random.Random(seed)
    prefixes = [
        _PREFIX,
        "<|im_start|>assistant\n",
        "Assistant:",
        "System\nAssistant: x\n",
        "no marker\n",
    ]
    cases = []
    for _ in range(n):
        answer = _generated_answer(rng)
        numbers = _numbers_for(answer)
        if rng.random() < 0.08 and numbers:
            numbers = numbers[:-1] if rng.random() < 0.5 else [*numbers, rng.randint(0, 9)]
        prefix = rng.choices(prefixes, weights=(80, 10, 5, 3, 2))[0]
        text = _wrap(answer, prefix)
        if rng.random() < 0.02:
            text = prefix + rng.choice(["<answer>", "", "</answer>"]) + answer
        if rng.random() < 0.05:
            text += rng.choice(["\n", "\n<|im_end|>", " <answer> 1 </answer>", "\r"])
        cases.append((text, numbers, _target_for(rng, answer)))
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_generated_answers_match_the_original(seed):
    assert _assert_all_agree(_generated_cases(12_000, seed)) == 12_000


def test_generated_answers_cover_every_outcome():
    cases = _generated_cases(12_000, 0)
    seen = {reference_score(*c).outcome for c in cases}
    assert seen >= set(ref.OUTCOMES)


def test_non_default_scores_match_the_original():
    cases = _generated_cases(3_000, 99)
    _assert_all_agree(cases, format_score=0.25, correct_score=3.0)
    _assert_all_agree(cases, format_score=0, correct_score=1)
    _assert_all_agree(cases, format_score=-1.5, correct_score=0.5)


def test_realistic_rollouts_match_the_original():
    """make_responses items, except those only the guards can score in finite time."""
    cases = []
    for text, numbers, target in rollouts.make_responses(20_000, seed=3):
        got = reference_score(text, numbers, target)
        if got.outcome == "too_large" and "**" in (got.answer or ""):
            continue  # a power tower: the original would compute it for ages
        if got.answer and re.search(r"[-+]{1001}", got.answer):
            continue  # > 1000 unary operators: a known divergence, tested below
        cases.append((text, numbers, target))
    assert len(cases) > 19_000
    _assert_all_agree(cases)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    st = None


if st is not None:
    _alphabet = st.sampled_from(list("0123456789+-*/(). \t\x0c\r\x0b\xa0\u0663"))

    @settings(
        max_examples=3000,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.filter_too_much],
    )
    @given(
        st.text(_alphabet, min_size=1, max_size=30).filter(lambda s: "**" not in s),
        st.integers(-5, 200),
    )
    def test_arbitrary_strings_over_the_alphabet_match_the_original(answer, target):
        problem = _check(_wrap(answer), _numbers_for(answer), target)
        assert problem is None, problem


# ------------------------------------------------------------------ the guards


def test_reference_never_calls_eval_or_compile():
    tree = ast.parse(Path(ref.__file__).read_text(encoding="utf-8"))
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "compile", "__import__"}


@pytest.mark.parametrize(
    ("answer", "numbers", "outcome"),
    [
        ("2**65535", [2, 65535], "wrong_value"),  # exactly MAX_INT_BITS bits
        ("2**65536", [2, 65536], "too_large"),
        ("-2**65536", [2, 65536], "too_large"),
        ("(-2)**65535", [2, 65535], "wrong_value"),
        ("2**65535*2", [2, 65535, 2], "too_large"),
        ("2**65535+2**65535", [2, 65535, 2, 65535], "too_large"),
        ("2**65535-2**65535", [2, 65535, 2, 65535], "wrong_value"),
        ("3**41348", [3, 41348], "wrong_value"),  # 65536 bits: computed, then it fits
        ("3**41349", [3, 41349], "too_large"),  # 65537 bits: computed, then refused
        ("76**61**51**20", [76, 61, 51, 20], "too_large"),
        ("9**9**9**9", [9, 9, 9, 9], "too_large"),
        ("1**9**9**9", [1, 9, 9, 9], "too_large"),  # 9**9**9 is refused before 1** runs
        ("0**99**99", [0, 99, 99], "wrong_value"),  # base 0: no size check needed
        ("1**99**9", [1, 99, 9], "correct"),
        ("(-1)**(99**99)", [1, 99, 99], "wrong_value"),
        ("1/0 + 9**9**9**9", [1, 0, 9, 9, 9, 9], "eval_error"),  # the first failure wins
        ("9**9**9**9 + 1/0", [1, 0, 9, 9, 9, 9], "too_large"),
        ("9**9**9**9(1)", [9, 9, 9, 9, 1], "eval_error"),  # 9(1) fails before any **
        ("1(9**9**9**9)", [1, 9, 9, 9, 9], "too_large"),  # the argument comes first
        ("(2**1100)**-1", [2, 1100, 1], "too_large"),
        ("2**-(2**1100)", [2, 2, 1100], "too_large"),
        ("99.**999", [99, 999], "too_large"),
        ("-" * 1000 + "1", [1], "correct"),
        ("-" * 1001 + "1", [1], "too_large"),
        ("+" * 1001 + "1", [1], "too_large"),
        ("- " * 1001 + "1", [1], "too_large"),
        ("-" * 1001 + "1)", [1], "unparsable"),  # a syntax error anywhere wins
        ("-" * 1001 + "(1/0)", [1, 0], "too_large"),  # ... and a run-time error never does
        ("-(" * 200 + "1" + ")" * 200, [1], "correct"),
        ("-(" * 199 + "1" + ")" * 199, [1], "wrong_value"),
        ("(" + "-" * 1000 + "(" + "-" * 1000 + "1))", [1], "correct"),  # runs, not nesting
        ("1 " + "-" * 1001 + "1", [1, 1], "wrong_value"),  # one binary minus, 1000 unary
        ("1 " + "-" * 1002 + "1", [1, 1], "too_large"),  # one binary minus, 1001 unary
    ],
)
def test_guards(answer, numbers, outcome):
    got = reference_score(_wrap(answer), numbers, 1)
    assert got.outcome == outcome, got


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="CPython 3.11's parser and compiler limits"
)
def test_known_divergences_from_cpython():
    """Inputs where the reference (by design) does not give CPython's value.

    These are the only kinds of disagreement found; each needs either a huge
    intermediate or deep nesting, which no realistic policy produces -- but the
    reward would differ on them.
    """

    def both(answer, numbers, target):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            original = _original_compute_score(_wrap(answer), numbers, target)
        return original[0], original[1], reference_score(_wrap(answer), numbers, target)

    # 1. An intermediate int wider than MAX_INT_BITS that does not reach the result:
    #    CPython computes 2**78125 in microseconds and 1**that is 1.
    value, tag, got = both("1**2**5**7", [1, 2, 5, 7], 1)
    assert (value, tag) == (1.0, "correct")
    assert (got.value, got.outcome) == (0.1, "too_large")

    # 2. More than 1000 consecutive unary operators: CPython compiles up to about
    #    3 * (sys.getrecursionlimit() - current stack depth) nested unary operators
    #    (2988 at the top level of a script) and evaluates them.
    value, tag, got = both("-" * 1002 + "44 + 19 + 35", [44, 19, 35], 98)
    assert (value, tag) == (1.0, "correct")
    assert (got.value, got.outcome) == (0.1, "too_large")

    # 3. Runs of at most 1000 whose *nesting* exceeds CPython's compiler recursion
    #    limit: RecursionError ("maximum recursion depth exceeded during compilation").
    answer = ("-" * 1000 + "(") * 3 + "44" + ")" * 3 + " + 19 + 35"
    value, tag, got = both(answer, [44, 19, 35], 98)
    assert (value, tag) == (0.1, "RecursionError")
    assert (got.value, got.outcome) == (1.0, "correct")

    # 4. CPython's parser has a fixed stack of 6000 levels: each nested "(" costs 28,
    #    each unary operator 1, the expression itself 25, so inside 200 parentheses
    #    there is room for 375 unary operators; beyond that, MemoryError.
    for unary, expected in ((374, (1.0, "correct")), (376, (0.1, "MemoryError"))):
        answer = "(" * 200 + "-" * unary + "44" + ")" * 200 + " + 19 + 35"
        value, tag, got = both(answer, [44, 19, 35], 98)
        assert (value, tag) == expected
        assert (got.value, got.outcome) == (1.0, "correct")


def test_adversarial_expectations_match_the_reference():
    """make_adversarial()'s expected outcomes are what the reference says.

    Two are left out: 200k unclosed tags (quadratic for Python's regex engine) and
    10 MB of unary minus (a minute of tokenizing in pure Python).
    """
    for case in rollouts.make_adversarial():
        if case.name in ("200k_unclosed_answer_tags", "10mb_unary_minus"):
            continue
        got = reference_score(case.text, case.numbers, case.target)
        assert got.outcome == case.outcome, case.name


def test_refscore_shape():
    got = reference_score(_wrap(" 44 + 19 + 35 "), [44, 19, 35], 98)
    assert got == RefScore(1.0, "correct", "44 + 19 + 35", 98.0)
    assert reference_score("nothing", [1], 1) == RefScore(0.0, "no_assistant", None, None)
    assert set(ref.OUTCOMES) == {
        "correct",
        "wrong_value",
        "wrong_numbers",
        "unparsable",
        "eval_error",
        "too_large",
        "no_answer",
        "answer_not_last_line",
        "no_assistant",
    }
