"""Deterministic, realistic Countdown RL rollouts for testing and benchmarking scorers.

``make_responses(n, seed)`` returns ``n`` triples ``(text, numbers, target)``: a
TinyZero-style prompt (or a Qwen chat-template prompt, or one with no assistant
marker at all) followed by 200-800 characters of step-by-step reasoning and a final
answer, about 1.3 KB each. The answers mix every kind a scorer has to tell apart:
correct solutions (built by random pairwise combination of the puzzle's numbers, so
they really evaluate to the target), wrong values, wrong numbers, malformed answers,
missing tags, answers not on the last line, several answers on the last line,
decimals and numbers glued into decimals, unary minus, ``//``, ``**`` (including
towers of the puzzle's own numbers), whitespace padding, deep parentheses (up to and
beyond CPython's 200), NUL bytes, non-ASCII digits, implicit-multiplication calls,
``...``, division by zero and complex results.

``make_adversarial()`` returns a handful of huge inputs (10 MB responses, 10k nested
parentheses, 100k unary minus, power towers, ...) together with the outcome the
TinyZero reward (as cogstar mirrors it) must give them.

Only ``random.Random(seed)`` is used, so the output depends on nothing but the seed.
"""

from __future__ import annotations

import random
from typing import NamedTuple

__all__ = ["AdversarialCase", "make_adversarial", "make_prompt", "make_responses"]

Item = tuple[str, list[int], int]

_SYSTEM = (
    "A conversation between User and Assistant. The user asks a question, and the "
    "Assistant solves it. The assistant first thinks about the reasoning process in the "
    "mind and then provides the user with the answer."
)
_QUESTION = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use "
    "basic arithmetic operations (+, -, *, /) and each number can only be used once. "
    "Show your work in <think> </think> tags. And return the final answer in "
    "<answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
)


def make_prompt(numbers: list[int], target: int, style: str = "base") -> str:
    """The prompt up to and including ``<think>``.

    ``style`` is ``"base"`` (TinyZero's ``User: ... Assistant:`` prompt), ``"qwen"``
    (a ``<|im_start|>assistant`` chat template) or ``"none"`` (no assistant marker).
    """
    question = _QUESTION.format(numbers=list(numbers), target=target)
    if style == "base":
        return f"{_SYSTEM}\nUser: {question}\nAssistant: Let me solve this step by step.\n<think>"
    if style == "qwen":
        return (
            "<|im_start|>system\nYou are a helpful assistant. You first think about the "
            "reasoning process in the mind and then provide the user with the answer."
            f"<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\nLet me solve this step by step.\n<think>"
        )
    if style == "none":
        return f"{_SYSTEM}\nUser: {question}\nResponse: Let me solve this step by step.\n<think>"
    raise ValueError(f"unknown prompt style {style!r}")


# ------------------------------------------------------------------ puzzles


def _solve_randomly(rng: random.Random, numbers: list[int]) -> tuple[str, int] | None:
    """Combine the numbers pairwise at random into one expression with an int value.

    Division is only used when exact, so the expression (as Python evaluates it,
    floats included) equals the returned value exactly. None if this attempt fails.
    """
    # (value, text, precedence): 3 atom, 2 product, 1 sum
    pool: list[tuple[int, str, int]] = [(x, str(x), 3) for x in numbers]
    while len(pool) > 1:
        a = pool.pop(rng.randrange(len(pool)))
        b = pool.pop(rng.randrange(len(pool)))
        ops = ["+", "-", "*"]
        if b[0] != 0 and a[0] % b[0] == 0:
            ops.append("/")
        op = rng.choice(ops)
        if op == "+":
            value, prec = a[0] + b[0], 1
        elif op == "-":
            value, prec = a[0] - b[0], 1
        elif op == "*":
            value, prec = a[0] * b[0], 2
        else:
            value, prec = a[0] // b[0], 2
        left = a[1] if a[2] >= prec else f"({a[1]})"
        # the right operand of - and / (and of * when it is a quotient) needs parentheses
        right_ok = b[2] > prec or (b[2] == prec and op in "+*" and not (op == "*" and "/" in b[1]))
        right = b[1] if right_ok else f"({b[1]})"
        pool.append((value, f"{left} {op} {right}", prec))
    value, text, _ = pool[0]
    return (text, value) if 1 <= value <= 999 else None


def _puzzle(rng: random.Random) -> tuple[list[int], int, str]:
    """Numbers, target and one real solution."""
    while True:
        numbers = [rng.randint(1, 99) for _ in range(rng.choice((3, 3, 4, 4, 4)))]
        if rng.random() < 0.05:
            numbers[-1] = numbers[0]  # a repeated number, as real datasets have
        for _ in range(20):
            found = _solve_randomly(rng, numbers)
            if found is not None:
                return numbers, found[1], found[0]


def _random_expression(rng: random.Random, numbers: list[int]) -> str:
    """All the numbers once each, random operators and grouping (any value)."""
    terms = [str(x) for x in numbers]
    rng.shuffle(terms)
    text = terms[0]
    for term in terms[1:]:
        op = rng.choice(("+", "-", "*", "/", "+", "-", "*"))
        if rng.random() < 0.3:
            text = f"({text})"
        text = f"{text} {op} {term}"
    return text


# ---------------------------------------------------------------- reasoning


def _reasoning(rng: random.Random, numbers: list[int], target: int, length: int) -> str:
    parts: list[str] = []
    size = 0
    while size < length:
        a, b = rng.choice(numbers), rng.choice(numbers)
        c = rng.choice(numbers)
        kind = rng.randrange(10)
        if kind == 0:
            s = f"Let's try {a} + {b} = {a + b}. "
        elif kind == 1:
            s = f"What about {a} * {b}? That gives {a * b}, which is too big. "
        elif kind == 2:
            s = f"{max(a, b)} - {min(a, b)} = {max(a, b) - min(a, b)}, then add {c} to get {max(a, b) - min(a, b) + c}. "
        elif kind == 3:
            s = f"That's not {target}.\n"
        elif kind == 4:
            s = f"We need to reach {target} using {', '.join(map(str, numbers))}. "
        elif kind == 5:
            s = "Hmm, let me backtrack and try a different combination.\n"
        elif kind == 6:
            s = f"Maybe divide: {a} / {b} = {a / b:.3g}. Not an integer, skip. "
        elif kind == 7:
            s = f"Let me verify: ({a} + {b}) * {c} = {(a + b) * c}.\n"
        elif kind == 8:
            s = f"So far the closest is {target + rng.randint(-9, 9)}. "
        else:
            s = "Let me think about subgoals first: get close to the target, then adjust.\n"
        parts.append(s)
        size += len(s)
    return "".join(parts)


# ------------------------------------------------------------------ answers

_FOREIGN_DIGITS = (
    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",  # Arabic-Indic
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",  # fullwidth
    "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",  # Devanagari
)


def _foreign(rng: random.Random, number: int) -> str:
    digits = rng.choice(_FOREIGN_DIGITS)
    return "".join(digits[int(d)] for d in str(number))


def _answer(rng: random.Random, numbers: list[int], target: int, solution: str) -> str:
    """The text between <answer> and </answer> (unstripped)."""
    kind = rng.random()
    ns = list(numbers)
    rng.shuffle(ns)
    a, b = ns[0], ns[1]
    rest = " + ".join(str(x) for x in ns[2:])
    if kind < 0.30:
        return f" {solution} "
    if kind < 0.50:
        return f" {_random_expression(rng, numbers)} "
    if kind < 0.62:  # wrong numbers
        choice = rng.randrange(5)
        if choice == 4 and rng.random() < 0.85:
            choice = 0  # keep the 4-5 KB answers rare
        if choice == 0:
            return " " + _random_expression(rng, ns[:-1]) + " "
        if choice == 1:
            return " " + _random_expression(rng, [*ns, ns[0]]) + " "
        if choice == 2:
            return " " + _random_expression(rng, [*ns, rng.randint(1, 99)]) + " "
        if choice == 3:
            return f" {solution}.0 "  # the 0 is an extra number
        return " " + "0" * rng.choice((4299, 4301, 5000)) + solution + " "  # int() digit limit
    if kind < 0.68:  # malformed
        return rng.choice(
            (
                f" {solution} = {target} ",
                f" x = {solution} ",
                f" ({solution} ",
                f" {solution} + ",
                f" {a} {b} + {rest or 0} ",
                f" {solution}) ",
                f" {a} + * {b} ",
                " ",
                f" {a} . {b} ",
                f" {a} . . . {b} ",
                f" 0{a} + {b} ",
            )
        )
    if kind < 0.72:  # decimals, glued decimals
        choice = rng.randrange(4)
        if choice == 0:
            return f" {a}.{b} + {rest or 0} "
        if choice == 1:
            return " " + solution.replace(str(a), f"{a}.", 1) + " "
        if choice == 2:
            return f" .{a} * {b} " + (f"+ {rest}" if rest else "")
        return f" {a}. / {b} " + (f"- {rest}" if rest else "")
    if kind < 0.76:  # unary minus
        choice = rng.randrange(4)
        if choice == 0:
            return f" -({solution}) "
        if choice == 1:
            return " " + "-" * (2 * rng.randint(1, 30)) + solution + " "
        if choice == 2:
            return f" {a} - -{b} " + (f"+ {rest}" if rest else "")
        return " " + "-" * rng.choice((999, 1000, 1001, 1002, 2000)) + solution + " "
    if kind < 0.79:  # floor division
        return " " + solution.replace("/", "//").replace("*", "//", rng.randint(0, 1)) + " "
    if kind < 0.83:  # powers
        choice = rng.randrange(5)
        if choice == 0:
            return f" {a} ** {b} " + (f"- {rest}" if rest else "")
        if choice == 1:
            return " " + "**".join(str(x) for x in ns) + " "  # a tower: too large
        if choice == 2:
            return " " + " ** ".join(str(x) for x in sorted(ns)) + " "
        if choice == 3:  # complex: a negative base to a fractional power
            lo, hi = sorted((a, b))
            return (
                f" ({lo} - {hi}) ** .{rest.replace(' + ', '')} "
                if rest and lo != hi
                else f" -{a} ** {b} "
            )
        return f" ({solution}) ** 1 " if 1 in numbers else f" ({a} - {b}) ** 2 "
    if kind < 0.87:  # whitespace padding, tabs, form feeds, \r, Unicode whitespace
        pad = rng.choice((" ", "\t", "\x0c", "\u3000", "\xa0", "\x1c", "  \t ", "\x85"))
        choice = rng.randrange(5)
        if choice == 0:
            return f"{pad}{solution}{pad}{pad}"
        if choice == 1:
            return " " + solution.replace(" ", pad) + " "
        if choice == 2:
            return f" ({solution.replace(' ', chr(13), 1)}) "
        if choice == 3:
            return " " + solution.replace(" ", "\r", 1) + " "
        return " " + solution.replace(" ", "\x0b", 1) + " "
    if kind < 0.885:  # deep parentheses
        depth = rng.choice((3, 50, 150, 199, 200, 201, 300))
        return " " + "(" * depth + solution + ")" * depth + " "
    if kind < 0.895:  # NUL bytes
        return rng.choice((f" {solution}\x00 ", f" {a} +\x00 {b} ", "\x00"))
    if kind < 0.905:  # non-ASCII digits
        return " " + solution.replace(str(a), _foreign(rng, a), 1) + " "
    if kind < 0.925:  # implicit multiplication (a call), ..., (), division by zero
        choice = rng.randrange(5)
        if choice == 0:
            return f" {a}({b}" + (f" + {rest})" if rest else ")") + " "
        if choice == 1:
            return f" ({solution})(...) " if rng.random() < 0.5 else f" {solution} + ... "
        if choice == 2:
            return f" ({solution}) * () "
        if choice == 3:
            return f" {solution} / ({a} - {a}) " if ns.count(a) > 1 else f" {a} / 0 "
        return f" {a} // ({b} - {b}) "
    if kind < 0.94:  # a newline inside the answer: the last line starts mid-answer
        return f" {solution}\n{target} "
    return f" {solution} "


def _ending(rng: random.Random, answer: str, numbers: list[int], target: int) -> str:
    """How the response ends after the reasoning."""
    tagged = f"<answer>{answer}</answer>"
    kind = rng.random()
    if kind < 0.80:
        return rng.choice(("</think>\n", "</think>\n", "\n</think>\n", "</think> ")) + tagged
    if kind < 0.85:  # answer not on the last line
        return (
            "</think>\n"
            + tagged
            + rng.choice(("\n", "\n\n", "\nI hope this helps!", "\n<|im_end|>"))
        )
    if kind < 0.89:  # several answers on the last line: the last one counts
        first = f"<answer> {_random_expression(rng, numbers)} </answer>"
        return (
            "</think>\n"
            + first
            + " or maybe "
            + tagged
            + rng.choice(("", " <answer>", " </answer>"))
        )
    if kind < 0.94:  # no (complete) tag on the last line
        return rng.choice(
            (
                f"</think>\nThe answer is {answer.strip()}",
                f"</think>\n<answer>{answer}",
                f"</think>\n{answer}</answer>",
                f"</think>\n<answer>{answer}</answer",
                f"</think>\n<Answer>{answer}</Answer>",
                "",
            )
        )
    if kind < 0.97:  # a draft answer inside the reasoning, then the real one
        return f"Draft: {tagged}\n</think>\n" + tagged
    # a second "Assistant:" later on: only the first one counts
    return f"</think>\nAssistant: {tagged}"


def _parts(rng: random.Random) -> tuple[str, str, list[int], int]:
    numbers, target, solution = _puzzle(rng)
    style = rng.choices(("base", "qwen", "none"), weights=(85, 12, 3))[0]
    prompt = make_prompt(numbers, target, style)
    reasoning = _reasoning(rng, numbers, target, rng.randint(200, 800))
    if rng.random() < 0.01:
        at = rng.randrange(len(reasoning))
        reasoning = reasoning[:at] + "\x00" + reasoning[at:]
    answer = _answer(rng, numbers, target, solution)
    completion = reasoning + _ending(rng, answer, numbers, target)
    if style == "qwen" and rng.random() < 0.5:
        completion += "<|im_end|>"
    return prompt, completion, numbers, target


def make_responses(n: int, seed: int = 0) -> list[Item]:
    """``n`` deterministic rollouts ``(prompt + response, numbers, target)``."""
    rng = random.Random(seed)
    return [(p + c, numbers, target) for p, c, numbers, target in (_parts(rng) for _ in range(n))]


def make_completions(n: int, seed: int = 0) -> list[tuple[str, str, list[int], int]]:
    """The same rollouts as :func:`make_responses` split: ``(prompt, completion, numbers,
    target)``."""
    rng = random.Random(seed)
    return [_parts(rng) for _ in range(n)]


# -------------------------------------------------------------- adversarial


class AdversarialCase(NamedTuple):
    name: str
    text: str
    numbers: list[int]
    target: int
    outcome: str  # what the TinyZero reward (with cogstar's guards) must say


def make_adversarial() -> list[AdversarialCase]:
    """Huge inputs that make the original reward slow, hang, or run out of memory."""
    nums, target, sol = [44, 19, 35], 98, "44 + 19 + 35"
    head = make_prompt(nums, target) + "Let me solve this step by step.\n"
    mb = 1 << 20

    def case(
        name: str, body: str, outcome: str, numbers: list[int] = nums, tgt: int = target
    ) -> AdversarialCase:
        return AdversarialCase(name, make_prompt(numbers, tgt) + body, numbers, tgt, outcome)

    line = "Let's try 44 + 19 = 63. That's not 98.\n"
    long_reasoning = line * (10 * mb // len(line))
    return [
        case(
            "10mb_reasoning_then_correct",
            long_reasoning + f"</think>\n<answer> {sol} </answer>",
            "correct",
        ),
        case(
            "10mb_single_line_then_correct",
            "x" * (10 * mb) + f"</think><answer> {sol} </answer>",
            "correct",
        ),
        case(
            "10mb_whitespace_padded_answer",
            "</think>\n<answer>" + " " * (5 * mb) + sol + "\t" * (5 * mb) + "</answer>",
            "correct",
        ),
        case(
            "10mb_of_answers_on_last_line",
            "</think>\n" + "<answer> 1 </answer>" * (10 * mb // 20) + f"<answer>{sol}</answer>",
            "correct",
        ),
        case("10mb_unclosed_answer", "</think>\n<answer> " + "1 + " * (10 * mb // 4), "no_answer"),
        case(
            "200k_unclosed_answer_tags",  # quadratic for a backtracking regex engine
            "</think>\n" + "<answer>" * 200_000,
            "no_answer",
        ),
        case(
            "10mb_answer_then_newline",
            f"</think>\n<answer> {sol} </answer>" + " " * (10 * mb) + "\n",
            "answer_not_last_line",
        ),
        case(
            "10k_nested_parentheses",
            "</think>\n<answer>" + "(" * 10_000 + sol + ")" * 10_000 + "</answer>",
            "unparsable",
        ),
        case(
            "201_nested_parentheses",
            "</think>\n<answer>" + "(" * 201 + sol + ")" * 201 + "</answer>",
            "unparsable",
        ),
        case(
            "200_nested_parentheses",
            "</think>\n<answer>" + "(" * 200 + sol + ")" * 200 + "</answer>",
            "correct",
        ),
        case(
            "100k_unary_minus",
            "</think>\n<answer>" + "-" * 100_000 + sol + "</answer>",
            "too_large",
        ),
        case(
            "10mb_unary_minus",
            "</think>\n<answer>" + "-" * (10 * mb) + sol + "</answer>",
            "too_large",
        ),
        case("1000_unary_minus", "</think>\n<answer>" + "-" * 1000 + sol + "</answer>", "correct"),
        case(
            "1001_unary_minus", "</think>\n<answer>" + "-" * 1001 + sol + "</answer>", "too_large"
        ),
        case(
            "100k_unary_minus_then_syntax_error",
            "</think>\n<answer>" + "-" * 100_000 + sol + ")</answer>",
            "unparsable",
        ),
        case(
            "power_tower_of_the_puzzle",
            "</think>\n<answer> 76**61**51**20 </answer>",
            "too_large",
            [76, 61, 51, 20],
            7,
        ),
        case(
            "power_tower_of_nines",
            "</think>\n<answer> 9**9**9**9 </answer>",
            "too_large",
            [9, 9, 9, 9],
            9,
        ),
        case(
            "power_99_99_99",
            "</think>\n<answer> 99**99**99 </answer>",
            "too_large",
            [99, 99, 99],
            99,
        ),
        case(
            "power_tower_then_divide_by_zero",  # the tower is evaluated (and refused) first
            "</think>\n<answer> 98**97**96 + 1/0 </answer>",
            "too_large",
            [98, 97, 96, 1, 0],
            98,
        ),
        case(
            "divide_by_zero_then_power_tower",
            "</think>\n<answer> 1/0 + 98**97**96 </answer>",
            "eval_error",
            [98, 97, 96, 1, 0],
            98,
        ),
        case(
            "power_just_fits_65536_bits",
            "</think>\n<answer> 2**65535 </answer>",
            "wrong_value",
            [2, 65535],
            98,
        ),
        case(
            "power_65537_bits", "</think>\n<answer> 2**65536 </answer>", "too_large", [2, 65536], 98
        ),
        case(
            "product_of_big_powers",
            "</think>\n<answer> 3**40000 * 3**40000 </answer>",
            "too_large",
            [3, 40000, 3, 40000],
            98,
        ),
        case(
            "huge_base_to_negative_power",  # int -> float conversion overflows
            "</think>\n<answer> (2**1100)**-1 </answer>",
            "too_large",
            [2, 1100, 1],
            98,
        ),
        case(
            "float_pow_overflow",
            "</think>\n<answer> 99.**999 </answer>",
            "too_large",
            [99, 999],
            98,
        ),
        case(
            "4300_digit_run_still_an_int",  # int() accepts it; as a float literal it is 44.0
            "</think>\n<answer>" + "0" * 4298 + "44. + 19 + 35</answer>",
            "correct",
        ),
        case(
            "4301_digit_run_beyond_int_limit",  # int() raises: numbers do not match
            "</think>\n<answer>" + "0" * 4299 + "44. + 19 + 35</answer>",
            "wrong_numbers",
        ),
        AdversarialCase(
            "no_marker_10mb",
            make_prompt(nums, target, "none") + "x" * (10 * mb),
            nums,
            target,
            "no_assistant",
        ),
        AdversarialCase(
            "nul_bytes_everywhere",
            head.replace(" ", "\x00") + f"</think>\n<answer> {sol} </answer>",
            nums,
            target,
            "correct",
        ),
    ]
