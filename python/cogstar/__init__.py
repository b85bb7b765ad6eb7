"""cogstar: how cognitive behaviors in a starting policy decide what RL can teach it.

The core (``cogstar._core``, Rust) does everything that must run at rollout speed:
exact Countdown expressions, a solver and generator, the reward, behavior-conditioned
trace synthesis and the rule-based behavior counter. Importing
cogstar never imports torch or transformers. The errors the core raises are here too; every
error class of the framework is in :mod:`cogstar.errors`.
"""

from cogstar._core import (
    BEHAVIORS,
    ArgumentError,
    BehaviorCounts,
    CogstarError,
    Expr,
    ExpressionError,
    GenerateError,
    Outcome,
    Puzzle,
    PuzzleError,
    Score,
    ScoreBatch,
    Trace,
    canonical_form,
    count_solutions,
    generate_puzzles,
    is_solvable,
    parse_expression,
    score,
    score_batch,
    score_completions,
    solve,
    split_puzzles,
    synthesize_trace,
    synthesize_traces,
)
from cogstar.behaviors import count_behaviors, count_behaviors_batch

__version__ = "0.1.0"

__all__ = [
    "BEHAVIORS",
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
    "__version__",
    "canonical_form",
    "count_behaviors",
    "count_behaviors_batch",
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
