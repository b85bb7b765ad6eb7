"""Text for the embedded tiny model: its tokenizer's training text and its pretraining corpus.

Everything is generated here from seeds, offline. The pretraining corpus teaches the format
and arithmetic but **no behaviors**: Countdown prompts followed by direct step derivations
(the ``negative_control`` style, right and wrong answers mixed) and lines of arithmetic facts.
A model pretrained on it is a behavior-free base, like the paper's Llama, so that priming and
RL are what add verification, backtracking, subgoals and backward chaining.
"""

from __future__ import annotations

import random

import cogstar
from cogstar.priming import CONDITIONS, priming_puzzles
from cogstar.tasks import priming_prompt, rl_prompt

__all__ = ["arithmetic_lines", "pretraining_corpus", "tokenizer_corpus"]


def arithmetic_lines(count: int, seed: int) -> list[str]:
    """Lines of true equations ``a op b = c`` over small integers (exact division only)."""
    rng = random.Random(seed)
    lines: list[str] = []
    while len(lines) < count:
        a, b = rng.randint(0, 100), rng.randint(1, 100)
        op = rng.choice("+-*/")
        if op == "/" and a % b:
            continue
        c = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
        lines.append(f"{a} {op} {b} = {c}")
    return lines


def tokenizer_corpus(count: int = 600, seed: int = 0) -> list[str]:
    """Prompts, synthesized traces of every condition and arithmetic: what the tokenizer sees."""
    puzzles = priming_puzzles(count, seed=seed)
    texts = [priming_prompt(p.numbers, p.target) for p in puzzles[: count // 4]]
    texts += [rl_prompt(p.numbers, p.target) for p in puzzles[count // 4 : count // 2]]
    for k, condition in enumerate(CONDITIONS):
        traces = cogstar.synthesize_traces(puzzles, condition, seed=seed + k)
        texts += [t.text for t in traces[: count // len(CONDITIONS)]]
    texts += ["\n".join(arithmetic_lines(20, seed + i)) for i in range(count // 10)]
    return texts


def pretraining_corpus(count: int, seed: int = 0) -> list[str]:
    """``count`` documents: 3/4 Countdown prompt + direct derivation, 1/4 arithmetic facts.

    Derivations are correct for half of the puzzles and end on a wrong answer for the other
    half, so the base model knows the format but is not yet a good solver.
    """
    rng = random.Random(seed)
    n_puzzles = count * 3 // 4
    puzzles = cogstar.generate_puzzles(
        n_puzzles, seed=seed, sizes=(3, 4), rules="classic", value_range=(1, 100)
    )
    right = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed)
    wrong = cogstar.synthesize_traces(puzzles, "negative_control", seed=seed, wrong_answer=True)
    docs = []
    for p, r, w in zip(puzzles, right, wrong, strict=True):
        trace = r if rng.random() < 0.5 else w
        docs.append(priming_prompt(p.numbers, p.target) + trace.text)
    docs += ["\n".join(arithmetic_lines(24, seed * 7919 + i)) for i in range(count - n_puzzles)]
    rng.shuffle(docs)
    return docs
