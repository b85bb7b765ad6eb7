"""cogstar: how cognitive behaviors in a starting policy decide what RL can teach it.

The core (``cogstar._core``, Rust) does everything that must run at rollout speed:
exact Countdown expressions, a solver and generator, and the reward. Importing
cogstar never imports torch or transformers.
"""

from cogstar._core import (
    CogstarError,
    Expr,
    ExpressionError,
    Outcome,
    Puzzle,
    Score,
    ScoreBatch,
    canonical_form,
    count_solutions,
    generate_puzzles,
    is_solvable,
    parse_expression,
    score,
    score_batch,
    solve,
    split_puzzles,
)

__version__ = "0.1.0"

__all__ = [
    "CogstarError",
    "Expr",
    "ExpressionError",
    "Outcome",
    "Puzzle",
    "Score",
    "ScoreBatch",
    "__version__",
    "canonical_form",
    "count_solutions",
    "generate_puzzles",
    "is_solvable",
    "parse_expression",
    "score",
    "score_batch",
    "solve",
    "split_puzzles",
]
