"""The fast rollout engine: HF generate's greedy tokens exactly, its sampling distribution,
seeded and resumable draws, and a clear refusal of models it does not run."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.errors import ConfigError  # noqa: E402
from cogstar.tasks import rl_prompt  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402
from cogstar.train.ppo.fast_rollout import FastRollout, sample_next  # noqa: E402
from cogstar.train.ppo.rollout import HFRollout, encode_prompts  # noqa: E402


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    return models.load_policy(tiny.packaged_dir(), dtype="float32")


def _prompts(tok, n: int, samples: int = 1):  # type: ignore[no-untyped-def]
    # 3- and 4-number puzzles: prompts of different lengths, so the batch is left-padded
    puzzles = cogstar.generate_puzzles(n, seed=5, sizes=(3, 4))
    texts = [rl_prompt(p.numbers, p.target) for p in puzzles for _ in range(samples)]
    ids, mask = encode_prompts(tok, texts, "cpu")
    assert (mask == 0).any(), "the batch should hold padded rows"
    return ids, mask


def test_greedy_decoding_matches_hf_generate_token_for_token(shipped) -> None:  # type: ignore[no-untyped-def]
    model, tok = shipped
    ids, mask = _prompts(tok, 12, samples=2)  # repeated prompts: the shared prefill
    hf = HFRollout(model, tok, max_new_tokens=96, greedy=True).generate(ids, mask)
    fast = FastRollout(model, tok, max_new_tokens=96, greedy=True).generate(ids, mask)
    assert torch.equal(fast.response_ids, hf.response_ids)
    assert torch.equal(fast.response_mask, hf.response_mask)
    lengths = fast.response_mask.sum(1)
    assert lengths.min() < lengths.max()  # rows finished at different steps (rows dropped)


def test_greedy_matches_on_a_random_policy_with_qkv_biases(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from micro import random_policy

    model, tok = models.load_policy(random_policy(tmp_path / "p"), dtype="float32")
    assert model.model.layers[0].self_attn.q_proj.bias is not None  # Qwen2: biased q, k, v
    ids, mask = _prompts(tok, 8)
    hf = HFRollout(model, tok, max_new_tokens=40, greedy=True).generate(ids, mask)
    fast = FastRollout(model, tok, max_new_tokens=40, greedy=True).generate(ids, mask)
    assert torch.equal(fast.response_ids, hf.response_ids)


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 1.0), (1.3, 0.8)])
def test_sampling_follows_hf_generates_distribution(temperature: float, top_p: float) -> None:
    """The same logits, many draws: the frequencies of each token under our sampler and under
    HF generate's own warpers + ``torch.multinomial`` agree (total variation well below what
    a different distribution would give)."""
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 40, generator=gen) * 2.0
    draws = 60_000
    rows = logits.expand(draws, -1)
    ours = sample_next(rows, temperature=temperature, top_p=top_p, greedy=False, generator=gen)
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
    if top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p))
    probs = warpers(None, rows.clone()).softmax(-1)
    theirs = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
    p = torch.bincount(ours, minlength=40).double() / draws
    q = torch.bincount(theirs, minlength=40).double() / draws
    exact = probs[0].double()
    assert 0.5 * (p - q).abs().sum() < 0.02
    assert 0.5 * (p - exact).abs().sum() < 0.015
    assert ((p > 0) <= (exact > 0)).all()  # top-p's dropped tokens are never drawn


def test_draws_are_seeded_per_call_so_a_resumed_run_repeats_them(shipped) -> None:  # type: ignore[no-untyped-def]
    model, tok = shipped
    ids, mask = _prompts(tok, 6)
    first = FastRollout(model, tok, max_new_tokens=32, seed=3)
    a, b = first.generate(ids, mask), first.generate(ids, mask)
    assert not torch.equal(a.response_ids, b.response_ids)  # each call draws afresh
    resumed = FastRollout(model, tok, max_new_tokens=32, seed=3)
    resumed.calls = 1  # as the trainer restores it from a checkpoint
    assert torch.equal(resumed.generate(ids, mask).response_ids, b.response_ids)
    other = FastRollout(model, tok, max_new_tokens=32, seed=4).generate(ids, mask)
    assert not torch.equal(other.response_ids, a.response_ids)


def test_a_model_it_cannot_run_is_refused_with_the_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64))
    with pytest.raises(ConfigError, match=r'eval.rollout: the "fast" engine cannot run a .gpt2.'):
        FastRollout(model, None, max_new_tokens=4, setting="eval.rollout")
    with pytest.raises(ConfigError, match=r'fix: set ppo.rollout = "hf"'):
        FastRollout(model, None, max_new_tokens=4)
