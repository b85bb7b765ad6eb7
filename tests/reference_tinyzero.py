"""Pure-Python reference for the TinyZero Countdown reward, with outcome labels.

``reference_score`` gives the same *value* as TinyZero's ``countdown.compute_score``
(format_score 0.1, score 1.0 by default) and also says *why* (``outcome``), which
answer it scored and what that answer evaluated to. It is the oracle the Rust scorer
(``cogstar.score``) is checked against, so it is written to be slow and obviously
right rather than fast.

The original scores a response in these steps:

1. Keep the text after the first ``"Assistant:"``; failing that, after the first
   ``"<|im_start|>assistant"``; failing both the value is 0 (``no_assistant``).
2. Keep only the last line: ``s.split("\\n")[-1]`` (``"\\r"`` stays).
3. Take the last non-overlapping match of ``<answer>(.*?)</answer>`` on that line and
   ``str.strip()`` it. No match: value 0; the outcome is ``answer_not_last_line`` when
   the pattern matches on another line of the post-marker text, else ``no_answer``.
4. The runs of ``\\d+`` (Unicode digits), each through ``int()``, sorted, must equal the
   sorted numbers; any exception (``int()`` of more than 4300 digits) is a mismatch:
   ``format_score``, ``wrong_numbers``.
5. The answer must match ``^[\\d+\\-*/().\\s]+$``: else ``format_score``, ``unparsable``.
6. ``eval(answer, {"__builtins__": None}, {})`` -- which this module never calls.
   Instead it tokenizes, parses and evaluates the answer the way CPython 3.11 does for
   this alphabet, using Python's own ``+ - * / // **`` on int/float/complex values:

   * A ``SyntaxError`` anywhere beats everything else (CPython compiles first):
     ``format_score``, ``unparsable``. See ``tokenize``/``_Parser`` for the exact rules
     (leading zeros, ``...``, lone ``.``, ``\\r``, more than 200 open parentheses,
     calls ``2(3)``, ...).
   * Run-time ``ZeroDivisionError``/``TypeError``: ``format_score``, ``eval_error``.
     Calls always raise ``TypeError`` after evaluating the callee and the argument.
     Any arithmetic, unary operator or call involving the empty tuple ``()`` or
     ``...`` is a ``TypeError``, and so is a final result that is one of them (a
     documented simplification: CPython would compute ``()+()`` or ``()*2`` before
     failing; only the label can differ, never the value).
   * Resource guards where the original would hang or exhaust memory, all
     ``format_score``, ``too_large``: any int result wider than ``MAX_INT_BITS``
     bits (int ``**`` int is refused up front when a lower bound on its width is
     already too wide); a run of more than ``MAX_UNARY_RUN`` consecutive unary
     ``+``/``-`` (checked after the whole answer has parsed, before evaluating: a
     syntax error anywhere still wins, a run-time error never does); and
     ``OverflowError`` from Python arithmetic. The first failing operation in
     evaluation order decides between ``eval_error`` and ``too_large``.

7. With ``r`` the result: ``abs(r - target) < 1e-5`` gives ``correct_score``,
   ``correct``; otherwise ``format_score``, ``wrong_value``. An exception there
   (``OverflowError`` for a float result against a target beyond float range) gives
   ``format_score``, ``too_large``.

``RefScore.result`` is the evaluated result as a float (ints wider than a float
saturate to +-inf), or None when there is no numeric result or it is complex.
"""

from __future__ import annotations

import operator
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "MAX_INT_BITS",
    "MAX_PAREN_DEPTH",
    "MAX_UNARY_RUN",
    "OUTCOMES",
    "RefScore",
    "evaluate",
    "extract_answer",
    "numbers_match",
    "reference_score",
    "tokenize",
]

MAX_INT_BITS = 65536
"""An int result with ``abs(v).bit_length()`` above this is ``too_large``."""

MAX_PAREN_DEPTH = 200
"""CPython's tokenizer refuses the 201st nested open parenthesis (a SyntaxError)."""

MAX_UNARY_RUN = 1000
# More tokens than this are refused as too_large once the tokenizer has passed the whole
# answer (CPython's compiler fails on such expressions long before; the guard bounds memory).
MAX_TOKENS = 100_000
"""More consecutive unary ``+``/``-`` operators than this is ``too_large``."""

OUTCOMES = (
    "correct",
    "wrong_value",
    "wrong_numbers",
    "unparsable",
    "eval_error",
    "too_large",
    "no_answer",
    "answer_not_last_line",
    "no_assistant",
)

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>")
_DIGIT_RUN_RE = re.compile(r"\d+")
_WHITELIST_RE = re.compile(r"^[\d+\-*/().\s]+$")


@dataclass(frozen=True)
class RefScore:
    value: float
    outcome: str
    answer: str | None
    result: float | None


# --------------------------------------------------------------------------- errors


class _Unparsable(Exception):
    """What CPython reports as a SyntaxError (compile time)."""


class _EvalError(Exception):
    """A run-time ZeroDivisionError or TypeError."""


class _TooLarge(Exception):
    """A resource guard fired, or Python arithmetic raised OverflowError."""


# ---------------------------------------------------------------- steps 1 to 5


def extract_answer(text: str) -> tuple[str | None, str | None]:
    """Steps 1-3: ``(answer, None)``, or ``(None, outcome)`` when there is no answer."""
    for marker in ("Assistant:", "<|im_start|>assistant"):
        if marker in text:
            after = text.split(marker, 1)[1]
            break
    else:
        return None, "no_assistant"
    last_line = after.split("\n")[-1]
    matches = list(_ANSWER_RE.finditer(last_line))
    if matches:
        return matches[-1].group(1).strip(), None
    if _ANSWER_RE.search(after):
        return None, "answer_not_last_line"
    return None, "no_answer"


def numbers_match(answer: str, numbers: Sequence[int]) -> bool:
    """Step 4: every number used exactly once (Unicode digits, ``int()`` limits)."""
    try:
        used = sorted(int(run) for run in _DIGIT_RUN_RE.findall(answer))
        return used == sorted(numbers)
    except Exception:
        return False


# ---------------------------------------------------------------------- tokens

# Token kinds. Operators are their own text: "+", "-", "*", "/", "//", "**", "(", ")".
NUMBER = "NUMBER"
ELLIPSIS = "ELLIPSIS"
END = "END"

_INLINE_SPACE = " \t\x0c"  # what CPython's tokenizer skips between tokens
_ASCII_DIGITS = "0123456789"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: int | float | None = None


def _digits_end(src: str, i: int) -> int:
    while i < len(src) and src[i] in _ASCII_DIGITS:
        i += 1
    return i


def _number_value(text: str) -> int | float:
    if "." in text:
        # CPython parses float literals with the same routine as float().
        return float(text)
    if text.strip("0") == "":
        return 0  # "0", "00", ... are fine (and need no int() digit limit)
    if text[0] == "0":
        raise _Unparsable("leading zeros in decimal integer literals are not permitted")
    try:
        return int(text)
    except ValueError as exc:  # more than 4300 digits: CPython's compiler says SyntaxError
        raise _Unparsable(str(exc)) from None


def tokenize(src: str) -> list[Token]:
    """Split a stripped answer into tokens the way CPython 3.11's tokenizer does.

    Only ``' '``, ``'\\t'`` and ``'\\x0c'`` separate tokens. ``'\\r'`` is a newline to
    CPython: ignored inside parentheses, the end of the expression outside them (and
    since the answer is stripped, something always follows it there, so it is a
    SyntaxError). Any other character -- ``'\\x0b'``, ``'\\x1c'``, ``'\\xa0'``,
    non-ASCII digits -- is a SyntaxError, as is a lone ``.`` (attribute access), a
    nonzero int literal with leading zeros, and a 201st nested ``(``.
    """
    tokens: list[Token] = []
    depth = 0
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c in _INLINE_SPACE:
            i += 1
        elif c == "\r":
            if depth == 0:
                raise _Unparsable("newline outside parentheses ends the expression")
            i += 1
        elif c in _ASCII_DIGITS or (c == "." and i + 1 < n and src[i + 1] in _ASCII_DIGITS):
            # NUMBER: digits ["." digits?] or "." digits
            j = _digits_end(src, i)
            if j < n and src[j] == ".":
                j = _digits_end(src, j + 1)
            text = src[i:j]
            tokens.append(Token(NUMBER, text, _number_value(text)))
            i = j
        elif c == ".":
            if src.startswith("...", i):
                tokens.append(Token(ELLIPSIS, "..."))
                i += 3
            else:
                raise _Unparsable("'.' (attribute access) cannot follow anything here")
        elif c in "*/":
            op = src[i : i + 2] if src.startswith(c + c, i) else c
            tokens.append(Token(op, op))
            i += len(op)
        elif c in "+-":
            tokens.append(Token(c, c))
            i += 1
        elif c == "(":
            depth += 1
            if depth > MAX_PAREN_DEPTH:
                raise _Unparsable("too many nested parentheses")
            tokens.append(Token("(", "("))
            i += 1
        elif c == ")":
            if depth == 0:
                raise _Unparsable("unmatched ')'")
            depth -= 1
            tokens.append(Token(")", ")"))
            i += 1
        else:
            raise _Unparsable(f"invalid character {c!r}")
    tokens.append(Token(END, ""))
    return tokens


# ------------------------------------------------------------------------- AST
#
# expr    := term (('+' | '-') term)*
# term    := factor (('*' | '/' | '//') factor)*
# factor  := ('+' | '-')* power
# power   := primary ('**' ('+' | '-')* primary)*     right-associative
# primary := atom ('(' [['*' | '**'] expr] ')')*
# atom    := NUMBER | '...' | '(' ')' | '(' expr ')'
#
# Chains are kept as lists so that long runs of operators need no deep recursion;
# only parentheses recurse, and there are at most 200 levels of those.


@dataclass(frozen=True)
class Num:
    value: int | float


@dataclass(frozen=True)
class Other:
    """The empty tuple ``()`` or ``...``; anything done with it is a TypeError."""

    name: str


@dataclass(frozen=True)
class Call:
    callee: Node
    arg: Node | None


@dataclass(frozen=True)
class Unary:
    signs: str  # e.g. "-+-", applied right to left
    operand: Node


@dataclass(frozen=True)
class Power:
    """``items[0] ** s1 (items[1] ** s2 (items[2] ** ...))`` with ``si = signs[i]``."""

    items: tuple[Node, ...]
    signs: tuple[str, ...]  # signs[0] is always "" (the factor's own signs are outside)


@dataclass(frozen=True)
class Chain:
    """Left-associative ``first op1 rest1 op2 rest2 ...`` (a sum or a term)."""

    first: Node
    rest: tuple[tuple[str, Node], ...]


Node = Num | Other | Call | Unary | Power | Chain


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.longest_unary_run = 0

    def peek(self) -> str:
        return self.tokens[self.pos].kind

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, kind: str) -> Token:
        if self.peek() != kind:
            raise _Unparsable(f"expected {kind!r}, found {self.tokens[self.pos].text!r}")
        return self.take()

    def parse(self) -> Node:
        node = self.expr()
        self.expect(END)
        return node

    def _left_chain(self, ops: tuple[str, ...], operand: Callable[[], Node]) -> Node:
        first = operand()
        rest = []
        while self.peek() in ops:
            op = self.take().kind
            rest.append((op, operand()))
        return Chain(first, tuple(rest)) if rest else first

    def expr(self) -> Node:
        return self._left_chain(("+", "-"), self.term)

    def term(self) -> Node:
        return self._left_chain(("*", "/", "//"), self.factor)

    def signs(self) -> str:
        run = []
        while self.peek() in ("+", "-"):
            run.append(self.take().kind)
        self.longest_unary_run = max(self.longest_unary_run, len(run))
        return "".join(run)

    def factor(self) -> Node:
        signs = self.signs()
        node = self.power()
        return Unary(signs, node) if signs else node

    def power(self) -> Node:
        items = [self.primary()]
        signs = [""]
        while self.peek() == "**":
            self.take()
            signs.append(self.signs())
            items.append(self.primary())
        return Power(tuple(items), tuple(signs)) if len(items) > 1 else items[0]

    def primary(self) -> Node:
        node = self.atom()
        while self.peek() == "(":
            self.take()
            arg = None
            if self.peek() != ")":
                if self.peek() in ("*", "**"):
                    self.take()  # f(*x) / f(**x): x is still evaluated before the call
                arg = self.expr()
            self.expect(")")
            node = Call(node, arg)
        return node

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == NUMBER:
            assert tok.value is not None
            return Num(tok.value)
        if tok.kind == ELLIPSIS:
            return Other("Ellipsis")
        if tok.kind == "(":
            if self.peek() == ")":
                self.take()
                return Other("()")
            node = self.expr()
            self.expect(")")
            return node
        raise _Unparsable(f"unexpected {tok.text or 'end of input'!r}")


# ------------------------------------------------------------------ evaluation

Value = int | float | complex | Other

_BINARY: dict[str, Callable[[object, object], object]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "**": operator.pow,
}


def _checked(v: object) -> int | float | complex:
    """Refuse ints wider than MAX_INT_BITS; everything else passes."""
    if type(v) is int and abs(v).bit_length() > MAX_INT_BITS:
        raise _TooLarge(f"int result of {abs(v).bit_length()} bits")
    assert type(v) in (int, float, complex), v
    return v  # type: ignore[return-value]


def _python_op(fn: Callable[[], object]) -> int | float | complex:
    try:
        result = fn()
    except (ZeroDivisionError, TypeError) as exc:
        raise _EvalError(f"{type(exc).__name__}: {exc}") from None
    except OverflowError as exc:
        raise _TooLarge(f"OverflowError: {exc}") from None
    return _checked(result)


def _binary(op: str, a: Value, b: Value) -> int | float | complex:
    if isinstance(a, Other) or isinstance(b, Other):
        raise _EvalError(f"TypeError: {op} with {a!r}, {b!r}")
    # |a| >= 2**(bits-1), so |a**b| has at least b*(bits-1)+1 bits.
    if (
        op == "**"
        and type(a) is int
        and type(b) is int
        and b >= 0
        and a not in (0, 1, -1)
        and b * (abs(a).bit_length() - 1) + 1 > MAX_INT_BITS
    ):
        raise _TooLarge("int ** int result certainly wider than MAX_INT_BITS")
    return _python_op(lambda: _BINARY[op](a, b))


def _unary(signs: str, v: Value) -> Value:
    for sign in reversed(signs):  # the innermost operator applies first
        if isinstance(v, Other):
            raise _EvalError(f"TypeError: unary {sign} on {v!r}")
        w = v
        v = _python_op(lambda w=w, sign=sign: -w if sign == "-" else +w)
    return v


def _eval(node: Node) -> Value:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Other):
        return node
    if isinstance(node, Call):
        _eval(node.callee)
        if node.arg is not None:
            _eval(node.arg)
        raise _EvalError("TypeError: object is not callable")
    if isinstance(node, Unary):
        return _unary(node.signs, _eval(node.operand))
    if isinstance(node, Chain):
        acc = _eval(node.first)
        for op, operand in node.rest:
            acc = _binary(op, acc, _eval(operand))
        return acc
    if isinstance(node, Power):
        # CPython loads every operand left to right, then applies ** right to left.
        values = [_eval(item) for item in node.items]
        acc = _unary(node.signs[-1], values[-1])
        for i in range(len(values) - 2, -1, -1):
            acc = _unary(node.signs[i], _binary("**", values[i], acc))
        return acc
    raise AssertionError(f"unknown node {node!r}")


@contextmanager
def _recursion_headroom(frames: int = 5000) -> Iterator[None]:
    """Up to 200 nested parentheses recurse a few frames per level."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


class _TooManyTokens(Exception):
    """The answer tokenized cleanly but has more than MAX_TOKENS tokens."""


def parse(answer: str) -> tuple[Node, int]:
    """Parse a stripped answer: ``(tree, longest unary run)``; raises on SyntaxError."""
    tokens = tokenize(answer)
    if len(tokens) - 1 > MAX_TOKENS:  # the END marker is not a token of the answer
        raise _TooManyTokens
    parser = _Parser(tokens)
    with _recursion_headroom():
        tree = parser.parse()
    return tree, parser.longest_unary_run


def evaluate(answer: str) -> tuple[str | None, Value | None]:
    """Step 6 on a stripped answer: ``(None, value)`` or ``(outcome, None)``.

    ``outcome`` is ``"unparsable"``, ``"eval_error"`` or ``"too_large"``.
    """
    try:
        tree, longest_run = parse(answer)
    except _Unparsable:
        return "unparsable", None
    except _TooManyTokens:
        return "too_large", None
    if longest_run > MAX_UNARY_RUN:
        return "too_large", None
    try:
        with _recursion_headroom():
            value = _eval(tree)
    except _EvalError:
        return "eval_error", None
    except _TooLarge:
        return "too_large", None
    if isinstance(value, Other):  # e.g. `() - target` in the original: TypeError
        return "eval_error", None
    return None, value


def _as_float(v: int | float | complex) -> float | None:
    if isinstance(v, complex):
        return None
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


# ------------------------------------------------------------------------- API


def reference_score(
    text: str,
    numbers: Sequence[int],
    target: int,
    format_score: float = 0.1,
    correct_score: float = 1.0,
) -> RefScore:
    """Score one response exactly as TinyZero's countdown ``compute_score`` values it."""
    answer, outcome = extract_answer(text)
    if answer is None:
        assert outcome is not None
        return RefScore(0.0, outcome, None, None)
    fmt = float(format_score)
    if not numbers_match(answer, numbers):
        return RefScore(fmt, "wrong_numbers", answer, None)
    if not _WHITELIST_RE.match(answer):
        return RefScore(fmt, "unparsable", answer, None)
    failure, value = evaluate(answer)
    if failure is not None:
        return RefScore(fmt, failure, answer, None)
    assert value is not None and not isinstance(value, Other)
    result = _as_float(value)
    try:
        close = abs(value - target) < 1e-5
    except OverflowError:
        return RefScore(fmt, "too_large", answer, result)
    if close:
        return RefScore(float(correct_score), "correct", answer, result)
    return RefScore(fmt, "wrong_value", answer, result)
