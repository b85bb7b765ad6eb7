"""A tiny end-to-end PPO run on CPU: it trains, its losses are finite, and resuming from a
checkpoint takes exactly the step an uninterrupted run takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.train import models  # noqa: E402
from cogstar.train.ppo.config import PPOConfig  # noqa: E402
from cogstar.train.ppo.trainer import latest_checkpoint, run_ppo  # noqa: E402
from micro import random_policy  # noqa: E402

SETTINGS = PPOConfig(
    steps=2,
    prompts_per_step=4,
    samples_per_prompt=2,
    max_response_tokens=32,
    actor_lr=1e-4,
    critic_lr=1e-3,
    actor_minibatch_prompts=2,
    critic_minibatch_prompts=2,
    micro_batch=4,
    save_every=1,
)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_policy(tmp_path_factory.mktemp("policy"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def puzzles() -> list[cogstar.Puzzle]:
    return cogstar.generate_puzzles(32, seed=3, sizes=(3,), rules="classic")


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ppo_trains_and_resumes_exactly(policy: Path, puzzles, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    whole = run_ppo(policy, puzzles, tmp_path / "whole", SETTINGS)
    assert whole.name == "step_000002"
    metrics = _lines(tmp_path / "whole" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        for key in ("reward", "kl", "entropy", "pg_loss", "vf_loss", "explained_variance"):
            assert torch.isfinite(torch.tensor(m[key])), (key, m)
        assert sum(m["outcomes"].values()) == 8
    # parameters moved: actor and critic
    before, _ = models.load_policy(policy, dtype="float32")
    after, _ = models.load_policy(whole / "actor", dtype="float32")
    moved = [
        not torch.equal(a, b) for a, b in zip(before.parameters(), after.parameters(), strict=True)
    ]
    assert sum(moved) > len(moved) // 2
    head = torch.load(whole / "critic" / "value_head.pt", weights_only=True)
    assert head["weight"].abs().sum() > 0  # the zero-initialised value head learned

    # stop after one step, then rerun: the second step equals the uninterrupted one
    first = run_ppo(policy, puzzles, tmp_path / "split", SETTINGS, stop_after=1)
    assert first.name == "step_000001" and latest_checkpoint(tmp_path / "split") == first
    run_ppo(policy, puzzles, tmp_path / "split", SETTINGS)
    split = _lines(tmp_path / "split" / "metrics.jsonl")
    assert [m["step"] for m in split] == [1, 2]
    for a, b in zip(metrics, split, strict=True):
        for key in ("reward", "kl", "pg_loss", "vf_loss", "entropy", "response_tokens"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), (key, a["step"])
    # a finished run does nothing more
    assert run_ppo(policy, puzzles, tmp_path / "split", SETTINGS) is not None
    assert len(_lines(tmp_path / "split" / "metrics.jsonl")) == 2


def test_ppo_settings_errors() -> None:
    with pytest.raises(ValueError, match=r"ppo.actor_minibatch_prompts: 3 does not divide"):
        PPOConfig(prompts_per_step=8, actor_minibatch_prompts=3, critic_minibatch_prompts=8)
    with pytest.raises(ValueError, match=r"reward_mode\n.*Input should be 'tinyzero' or 'strict'"):
        PPOConfig(reward_mode="exact")  # type: ignore[arg-type]


@pytest.mark.parametrize(("rollout", "calls"), [("fast", 1), ("hf", 2)])
def test_a_step_samples_all_its_prompts_in_one_engine_call(  # type: ignore[no-untyped-def]
    policy: Path, puzzles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rollout: str, calls: int
) -> None:
    """The batched engines (fast, vLLM) get every prompt of the step at once; only
    model.generate runs ``micro_batch`` rows at a time (8 rows, micro-batch 4: two calls)."""
    from cogstar.train.ppo import fast_rollout
    from cogstar.train.ppo import rollout as hf

    engine = fast_rollout.FastRollout if rollout == "fast" else hf.HFRollout
    seen: list[int] = []
    generate = engine.generate

    def counting(self, prompt_ids, prompt_mask):  # type: ignore[no-untyped-def]
        seen.append(prompt_ids.shape[0])
        return generate(self, prompt_ids, prompt_mask)

    monkeypatch.setattr(engine, "generate", counting)
    config = SETTINGS.model_copy(update={"steps": 1, "rollout": rollout})
    run_ppo(policy, puzzles, tmp_path / rollout, config)
    assert len(seen) == calls and sum(seen) == 8
