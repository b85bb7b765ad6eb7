"""Type stubs for cogstar's Rust core (checked against the binary by mypy.stubtest)."""

from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import SupportsIndex, final

__all__ = [
    "BEHAVIORS",
    "MAX_EXPRESSION_BYTES",
    "MAX_EXPRESSION_DEPTH",
    "ArgumentError",
    "BehaviorCounts",
    "CogstarError",
    "Expr",
    "ExpressionError",
    "GenerateError",
    "Outcome",
    "Puzzle",
    "PuzzleError",
    "Score",
    "ScoreBatch",
    "Trace",
    "canonical_form",
    "count_behaviors_rules",
    "count_behaviors_rules_batch",
    "count_solutions",
    "generate_puzzles",
    "is_solvable",
    "parse_expression",
    "score",
    "score_batch",
    "score_completions",
    "solve",
    "split_puzzles",
    "synthesize_trace",
    "synthesize_traces",
]

BEHAVIORS: tuple[str, ...]
"""The four behaviors, in the order every count lists them."""
MAX_EXPRESSION_BYTES: int
MAX_EXPRESSION_DEPTH: int

class CogstarError(Exception):
    """Base class of every error cogstar raises."""

class ExpressionError(CogstarError, ValueError):
    """An expression could not be parsed or evaluated; the message names the byte offset and the reason."""

class PuzzleError(CogstarError, ValueError):
    """Numbers and a target the core cannot work with (too few or too many numbers, a value out of range, no solution where one is needed)."""

class GenerateError(CogstarError, ValueError):
    """Generator settings that cannot yield the puzzles asked for; the message says what to widen."""

class ArgumentError(CogstarError, ValueError):
    """An argument outside what a function accepts (an unknown mode, rules or condition, lists of different lengths, a negative count)."""

@final
class Expr:
    """A parsed Countdown expression (strict grammar: integers, + - * /, parentheses)."""

    @property
    def value(self) -> Fraction: ...
    @property
    def numbers(self) -> list[int]: ...
    @property
    def canonical(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Outcome:
    """What happened to one response; ``str(outcome)`` is its lowercase label."""

    CORRECT: Outcome
    WRONG_VALUE: Outcome
    WRONG_NUMBERS: Outcome
    UNPARSABLE: Outcome
    EVAL_ERROR: Outcome
    TOO_LARGE: Outcome
    NO_ANSWER: Outcome
    ANSWER_NOT_LAST_LINE: Outcome
    NO_ASSISTANT: Outcome
    @property
    def label(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __int__(self) -> int: ...

@final
class Score:
    """The reward for one response."""

    @property
    def value(self) -> float: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def answer(self) -> str | None: ...
    @property
    def result(self) -> float | None: ...

@final
class ScoreBatch:
    """The rewards for a batch: ``.values`` and ``.outcomes`` as lists, or index it for ``Score``s."""

    @property
    def values(self) -> list[float]: ...
    @property
    def outcomes(self) -> list[Outcome]: ...
    @property
    def accuracy(self) -> float: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: int, /) -> Score: ...

@final
class Puzzle:
    """A Countdown puzzle: reach ``target`` using each of ``numbers`` exactly once."""

    def __new__(cls, numbers: Sequence[int], target: int) -> Puzzle: ...
    @property
    def numbers(self) -> list[int]: ...
    @property
    def target(self) -> int: ...
    def __getnewargs__(self) -> tuple[list[int], int]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __lt__(self, value: Puzzle, /) -> bool: ...
    def __le__(self, value: Puzzle, /) -> bool: ...
    def __gt__(self, value: Puzzle, /) -> bool: ...
    def __ge__(self, value: Puzzle, /) -> bool: ...

def parse_expression(text: str) -> Expr:
    """Parse (and exactly evaluate) a Countdown expression."""

def canonical_form(text: str) -> str:
    """The canonical form of an expression (see ``Expr.canonical``)."""

def score(
    text: str,
    numbers: Sequence[int],
    target: int,
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
    correct_score: float = 1.0,
) -> Score:
    """Score one response against a puzzle."""

def score_batch(
    texts: Iterable[str],
    numbers: Iterable[Iterable[SupportsIndex]],
    targets: Iterable[SupportsIndex],
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
    correct_score: float = 1.0,
) -> ScoreBatch:
    """Score a batch in parallel with the GIL released."""

def score_completions(
    completions: Iterable[str],
    numbers: Iterable[Iterable[SupportsIndex]],
    targets: Iterable[SupportsIndex],
    *,
    mode: str = "tinyzero",
    format_score: float = 0.1,
    correct_score: float = 1.0,
) -> ScoreBatch:
    """Score completions alone (the text after the prompt): the reward of the standard prompt +
    completion, without the prompt. In parallel with the GIL released."""

def solve(
    numbers: Sequence[int], target: int, *, rules: str = "rational", limit: int | None = 1
) -> list[str]:
    """Up to ``limit`` distinct solutions in canonical form (``limit=None``: all, sorted)."""

def count_solutions(numbers: Sequence[int], target: int, *, rules: str = "rational") -> int:
    """How many distinct solutions (up to commutativity and associativity) the puzzle has."""

def is_solvable(numbers: Sequence[int], target: int, *, rules: str = "rational") -> bool:
    """Whether the puzzle has a solution."""

def generate_puzzles(
    count: int,
    *,
    seed: int,
    sizes: Sequence[int] = (3, 4),
    size_weights: Sequence[float] | None = None,
    value_range: tuple[int, int] = (1, 100),
    target_range: tuple[int, int] = (1, 100),
    rules: str = "rational",
    solvable: bool = True,
    exclude: Sequence[Sequence[int]] = (),
    numbers_below_target: bool = False,
) -> list[Puzzle]:
    """Seeded puzzles, deterministic per seed whatever the thread count."""

def split_puzzles(
    puzzles: Sequence[Puzzle], test_size: int, *, seed: int = 0
) -> tuple[list[Puzzle], list[Puzzle]]:
    """Split into (train, test): ``test_size`` distinct puzzles in test, no puzzle shared."""

@final
class BehaviorCounts:
    """Counts of the four behaviors in one text; ``spans`` locates each counted instance."""

    def __new__(
        cls,
        verification: int = 0,
        backtracking: int = 0,
        subgoal: int = 0,
        backward: int = 0,
        spans: Sequence[tuple[str, int, int]] = ...,
    ) -> BehaviorCounts: ...
    @property
    def verification(self) -> int: ...
    @property
    def backtracking(self) -> int: ...
    @property
    def subgoal(self) -> int: ...
    @property
    def backward(self) -> int: ...
    @property
    def spans(self) -> list[tuple[str, int, int]]:
        """``(behavior, start, end)`` in characters of the text, in text order."""
    def as_dict(self) -> dict[str, int]: ...
    def __eq__(self, other: object, /) -> bool: ...

def count_behaviors_rules(
    text: str, numbers: Sequence[int] | None = None, target: int | None = None
) -> BehaviorCounts:
    """Rule-based counts of the four behaviors in one text."""

def count_behaviors_rules_batch(
    texts: Sequence[str],
    numbers: Sequence[Sequence[int] | None] | None = None,
    targets: Sequence[int | None] | None = None,
) -> list[BehaviorCounts]:
    """``count_behaviors_rules`` over many texts in parallel with the GIL released."""

@final
class Trace:
    """A synthesized reasoning trace with the ground-truth count of each behavior in it."""

    @property
    def text(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def numbers(self) -> list[int]: ...
    @property
    def target(self) -> int: ...
    @property
    def condition(self) -> str: ...
    @property
    def wrong_answer(self) -> bool: ...
    @property
    def counts(self) -> BehaviorCounts: ...

def synthesize_trace(
    numbers: Sequence[int],
    target: int,
    condition: str,
    *,
    seed: int,
    wrong_answer: bool = False,
    budget: int | None = None,
) -> Trace:
    """One trace of ``condition`` for the puzzle, deterministic for ``seed``."""

def synthesize_traces(
    puzzles: Sequence[Puzzle],
    condition: str,
    *,
    seed: int,
    wrong_answer: bool = False,
    budget: int | None = None,
) -> list[Trace]:
    """One trace per puzzle in parallel; trace ``i`` uses stream ``i`` of ``seed``."""
