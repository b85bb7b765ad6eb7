"""Scoring completions apart from their prompts, and batch arguments as numpy and pandas
hand them over (verl's ground truth arrives as numpy; datasets give Series)."""

from __future__ import annotations

import pytest

import cogstar
from rollouts import make_completions

np = pytest.importorskip("numpy")

CORPUS = make_completions(3000, seed=7)


def test_a_completion_scores_as_prompt_plus_completion_on_the_whole_corpus() -> None:
    marked = [x for x in CORPUS if "Assistant:" in x[0] or "<|im_start|>assistant" in x[0]]
    assert len(marked) > 2500
    for mode in ("tinyzero", "strict"):
        full = cogstar.score_batch(
            [p + c for p, c, _, _ in marked], [n for *_, n, _ in marked],
            [t for *_, t in marked], mode=mode,
        )  # fmt: skip
        alone = cogstar.score_completions(
            [c for _, c, _, _ in marked], [n for *_, n, _ in marked],
            [t for *_, t in marked], mode=mode,
        )  # fmt: skip
        assert alone.values == full.values
        assert alone.outcomes == full.outcomes
        assert [alone[i].answer for i in range(50)] == [full[i].answer for i in range(50)]
    kinds = {str(o) for o in alone.outcomes}
    assert {"correct", "wrong_value", "wrong_numbers", "no_answer"} <= kinds


def test_a_completion_that_repeats_the_marker_is_still_the_response() -> None:
    """TinyZero reads what follows the prompt's first Assistant:, so a completion's own
    'Assistant:' changes nothing."""
    c = "Assistant: <answer>1 + 2</answer> no\n<answer>1 + 2 + 3</answer>"
    prompt = "User: use [1, 2, 3] to make 6.\nAssistant: Let me solve this step by step.\n<think>"
    assert cogstar.score_completions([c], [[1, 2, 3]], [6]).values == [
        cogstar.score(prompt + c, [1, 2, 3], 6).value
    ]


def _batch(n: int = 64) -> tuple[list[str], list[list[int]], list[int]]:
    items = [x for x in CORPUS if len(x[2]) == 3][:n]
    return [c for _, c, _, _ in items], [n for *_, n, _ in items], [t for *_, t in items]


def test_numpy_arrays_of_every_shape_numpy_gives() -> None:
    texts, numbers, targets = _batch()
    want = cogstar.score_completions(texts, numbers, targets).values
    shapes = [
        (np.array(texts), np.array(numbers), np.array(targets)),  # <U, 2-D int64, int64
        (np.array(texts, dtype=object), np.array(numbers, dtype=np.int32),
         np.array(targets, dtype=np.uint16)),
        (texts, [np.array(n) for n in numbers], np.array(targets, dtype=np.int16)),
        (tuple(texts), tuple(tuple(n) for n in numbers), tuple(targets)),
    ]  # fmt: skip
    ragged = np.empty(len(numbers), dtype=object)  # verl's ground truth: an object column
    ragged[:] = [np.array(n) for n in numbers]
    shapes.append((texts, ragged, targets))
    for t, n, g in shapes:
        assert cogstar.score_completions(t, n, g).values == want
        assert (
            cogstar.score_batch(t, n, g).values
            == cogstar.score_batch(texts, numbers, targets).values
        )


def test_pandas_series() -> None:
    pd = pytest.importorskip("pandas")
    texts, numbers, targets = _batch()
    frame = pd.DataFrame({"completion": texts, "numbers": numbers, "target": targets})
    got = cogstar.score_completions(frame["completion"], frame["numbers"], frame["target"])
    assert got.values == cogstar.score_completions(texts, numbers, targets).values


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a"], [[1]], np.array([1.5])), "targets must be integers, got a numpy array of dtype kind 'f'"),
        (("one text", [[1]], [1]), "texts is one str; give a list of responses"),
        (([b"bytes"], [[1]], [1]), r"texts\[0\] is bytes, not str"),
        ((["a", "b"], np.array([[1, 2]]), [1, 2]), "numbers has 1 entries but there are 2 texts"),
        ((["a"], [[1]], np.array([[1]])), "targets must be one-dimensional"),
    ],
)  # fmt: skip
def test_bad_batches_name_the_argument(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(cogstar.ArgumentError, match=message):
        cogstar.score_completions(*args)  # type: ignore[arg-type]
