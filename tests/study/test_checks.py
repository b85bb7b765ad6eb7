"""The checks a study makes before it trains: room for the primed answers, unseen puzzles."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar import io  # noqa: E402
from cogstar.behaviors.priming import PrimingConfig, build_priming_set, stage_puzzles  # noqa: E402
from cogstar.errors import ConfigError, DataError  # noqa: E402
from cogstar.study.checks import check_room, completion_tokens  # noqa: E402
from cogstar.study.runner import run_experiment  # noqa: E402
from cogstar.train.models import load_tokenizer  # noqa: E402
from cogstar.train.tiny import base_dir  # noqa: E402
from micro import DATA_AND_MODEL, RL_AND_EVAL, write_study  # noqa: E402


def _counter():  # type: ignore[no-untyped-def]
    tok = load_tokenizer(base_dir())
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def test_quantile_is_the_nearest_rank() -> None:
    lengths = {str(i): i for i in range(1, 101)}
    assert completion_tokens(list(lengths), lengths.__getitem__) == 99
    assert completion_tokens(list(lengths), lengths.__getitem__, 0.5) == 50
    assert completion_tokens([], len) == 0


def test_the_old_128_token_sweep_is_refused_with_both_numbers() -> None:
    # the shipped sweep before issue 14: all_strategies traces of budget 200, 128 tokens
    config = PrimingConfig(count=400, validation=0, budget=200)
    puzzles = stage_puzzles(config, seed=0, sizes=[3])
    records = build_priming_set("all_strategies", puzzles, seed=0, budget=200)
    count = _counter()
    need = completion_tokens([r.completion for r in records], count)
    assert need > 128
    with pytest.raises(ConfigError) as err:
        check_room(
            "all_strategies",
            records,
            count,
            rl_key="ppo.max_response_tokens",
            rl_tokens=128,
            eval_tokens=128,
            where="runs/priming_sweep/spec.toml",
        )
    assert err.value.problems == [
        "runs/priming_sweep/spec.toml: ppo.max_response_tokens, eval.max_new_tokens: 99% of the "
        f"all_strategies priming set's completions need up to {need} tokens of the model's "
        "tokenizer, but ppo.max_response_tokens is 128 and eval.max_new_tokens is 128, so a "
        "model that imitates its priming would be cut off before its answer and score 0 (the "
        "study would compare truncation, not behaviors); fix: set ppo.max_response_tokens and "
        f"eval.max_new_tokens to at least {need}, or write shorter traces (priming.budget)"
    ]
    assert str(err.value).startswith("invalid spec (1 problem):\n  runs/priming_sweep/spec.toml")
    # only the short one is named; enough room passes and says what it measured
    with pytest.raises(
        ConfigError, match=r"eval\.max_new_tokens: .* but eval\.max_new_tokens is 100, "
    ):
        check_room(
            "all_strategies", records, count, rl_key="ppo.max_response_tokens",
            rl_tokens=need, eval_tokens=100, where="s.toml",
        )  # fmt: skip
    assert check_room(
        "all_strategies", records, count, rl_key="ppo.max_response_tokens",
        rl_tokens=need, eval_tokens=need, where="s.toml",
    ) == need  # fmt: skip


def _spec(tmp: Path, rl_and_eval: str = RL_AND_EVAL, data: str = DATA_AND_MODEL) -> Path:
    return write_study(tmp, "room", data_and_model=data, rl_and_eval=rl_and_eval)  # type: ignore[no-any-return]


def test_a_run_without_room_stops_before_any_training(tmp_path: Path) -> None:
    short = RL_AND_EVAL.replace("max_response_tokens = 256", "max_response_tokens = 32")
    with pytest.raises(ConfigError, match=r"but ppo\.max_response_tokens is 32, so"):
        run_experiment(_spec(tmp_path, short), make_report=False)
    run = tmp_path / "runs" / "room"
    assert (run / "all_strategies" / "priming" / "train.jsonl").exists()  # kept for the rerun
    assert not any(run.glob("*/sft")) and not any(run.glob("*/eval"))


def test_rl_puzzles_the_base_was_pretrained_on_are_refused(tmp_path: Path) -> None:
    from cogstar.behaviors.priming import priming_puzzles
    from cogstar.tasks import in_share

    seen = in_share(priming_puzzles(400, seed=2, sizes=(3,)), "pretrain")[:80]
    source = tmp_path / "seen.jsonl"
    io.write_puzzles(source, seen)
    data = DATA_AND_MODEL.replace("[data]\n", f'[data]\nsource = "{source}"\n')
    with pytest.raises(DataError, match=r"train\.jsonl: \d+ of 64 puzzles are in the base model's"):
        run_experiment(_spec(tmp_path, data=data), make_report=False)
    assert not any((tmp_path / "runs" / "room").glob("*/priming"))
