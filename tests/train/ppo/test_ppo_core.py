"""The PPO arithmetic against numbers computed by hand (written out in each test)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar.train.ppo.core import (  # noqa: E402
    entropy_from_logits,
    explained_variance,
    gae,
    last_token_index,
    masked_mean,
    masked_var,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def same(actual: torch.Tensor, expected: list[list[float]]) -> None:
    torch.testing.assert_close(actual, t(expected), atol=1e-6, rtol=1e-6)


def test_masked_mean_and_var_ignore_padding() -> None:
    x = t([[1, 2, 99], [3, 99, 99]])
    m = t([[1, 1, 0], [1, 0, 0]])
    assert masked_mean(x, m).item() == pytest.approx(2.0)  # (1 + 2 + 3) / 3
    # deviations -1, 0, 1: sum of squares 2; Bessel: 2 / 2 = 1; population: 2 / 3
    assert masked_var(x, m).item() == pytest.approx(1.0)
    assert masked_var(x, m, unbiased=False).item() == pytest.approx(2 / 3)


def test_masked_whiten_is_global_across_processes() -> None:
    """Two 'processes' (threads with a real all-reduce) hold [1, 2] and [3]: each must whiten
    with the pooled mean 2 and variance 1, not with its own shard's statistics."""
    import threading

    shards = [(t([[1, 2]]), t([[1, 1]])), (t([[3, 0]]), t([[1, 0]]))]
    barrier = threading.Barrier(2)
    slots: list[torch.Tensor | None] = [None, None]
    results: list[torch.Tensor | None] = [None, None]

    def all_reduce_sum(rank: int):
        def reduce(stat: torch.Tensor) -> torch.Tensor:
            slots[rank] = stat
            barrier.wait()
            total = slots[0] + slots[1]  # type: ignore[operator]
            barrier.wait()
            return total

        return reduce

    def work(rank: int) -> None:
        x, m = shards[rank]
        results[rank] = masked_whiten(x, m, all_reduce_sum(rank))

    threads = [threading.Thread(target=work, args=(r,)) for r in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    same(results[0], [[-1, 0]])  # type: ignore[union-attr]
    same(results[1], [[1, 0]])  # type: ignore[union-attr]
    # one process alone would whiten [1, 2] to [-0.707, 0.707]
    alone = masked_whiten(*shards[0])
    same(alone, [[-(0.5**0.5), 0.5**0.5]])


def test_last_token_index() -> None:
    m = t([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert last_token_index(m).tolist() == [2, 0, 0]


def test_token_rewards_k1_penalty_and_score_on_last_token() -> None:
    lp = t([[-1.0, -2.0, -0.5], [-0.2, -0.3, 0.0]])
    ref = t([[-1.5, -1.0, -0.5], [-0.1, -0.3, 0.0]])
    m = t([[1, 1, 1], [1, 1, 0]])
    scores = t([[1.0, 0.1]]).squeeze(0)
    rewards, kl = token_rewards(scores, lp, ref, m, kl_coef=0.1)
    # k1 = lp - ref: row 0: 0.5, -1.0, 0.0; row 1: -0.1, 0.0, (pad)
    same(kl, [[0.5, -1.0, 0.0], [-0.1, 0.0, 0.0]])
    # rewards = -0.1 * k1, plus the score on the last real token
    same(rewards, [[-0.05, 0.1, 1.0], [0.01, 0.1, 0.0]])


def test_gae_with_gamma_lambda_one_telescopes_to_return_minus_value() -> None:
    r = t([[0.0, 0.0, 1.0], [0.5, 0.1, 0.0]])
    v = t([[0.2, 0.4, 0.6], [0.3, 0.9, 7.0]])
    m = t([[1, 1, 1], [1, 1, 0]])
    adv, ret = gae(r, v, m, gamma=1.0, lam=1.0)
    # row 0: returns-to-go 1, 1, 1 minus values 0.2, 0.4, 0.6
    # row 1: returns-to-go 0.6, 0.1 minus values 0.3, 0.9; padding 0
    same(adv, [[0.8, 0.6, 0.4], [0.3, -0.8, 0.0]])
    same(ret, [[1.0, 1.0, 1.0], [0.6, 0.1, 0.0]])


def test_gae_with_discounting() -> None:
    r = t([[1.0, 2.0]])
    v = t([[0.5, 1.0]])
    m = t([[1, 1]])
    adv, ret = gae(r, v, m, gamma=0.9, lam=0.5)
    # delta_1 = 2 + 0.9 * 0 - 1 = 1; A_1 = 1
    # delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4; A_0 = 1.4 + 0.9 * 0.5 * 1 = 1.85
    same(adv, [[1.85, 1.0]])
    same(ret, [[2.35, 2.0]])


def test_policy_loss_clips_and_reports_the_fraction() -> None:
    old = t([[0.0, 0.0, 0.0, 0.0]])
    new = t([[math.log(1.5), math.log(0.5), math.log(1.1), 0.0]])
    adv = t([[1.0, -1.0, -2.0, 5.0]])
    m = t([[1, 1, 1, 0]])
    loss, clipfrac = policy_loss(new, old, adv, m, clip=0.2)
    # token 0: ratio 1.5, A=1: max(-1.5, -1.2) = -1.2 (clipped)
    # token 1: ratio 0.5, A=-1: max(0.5, 0.8) = 0.8 (clipped)
    # token 2: ratio 1.1, A=-2: max(2.2, 2.2) = 2.2 (inside the band, not clipped)
    assert loss.item() == pytest.approx((-1.2 + 0.8 + 2.2) / 3)
    assert clipfrac.item() == pytest.approx(2 / 3)


def test_value_loss_clips_and_reports_the_fraction() -> None:
    old = t([[1.0, 1.0]])
    new = t([[2.0, 1.2]])
    ret = t([[3.0, 0.0]])
    m = t([[1, 1]])
    loss, clipfrac = value_loss(new, old, ret, m, clip=0.5)
    # token 0: unclipped (2-3)^2 = 1; clipped V = 1.5: (1.5-3)^2 = 2.25 -> 2.25 (clipped)
    # token 1: unclipped 1.44; clipped V = 1.2 (inside): 1.44 -> 1.44
    assert loss.item() == pytest.approx(0.5 * (2.25 + 1.44) / 2)
    assert clipfrac.item() == pytest.approx(0.5)


def test_entropy_and_explained_variance() -> None:
    logits = torch.zeros(2, 3, 4, dtype=torch.float64)  # uniform over 4 tokens
    same(entropy_from_logits(logits).double(), [[math.log(4)] * 3] * 2)  # computed in fp32
    m = t([[1, 1, 1]])
    ret = t([[1.0, 2.0, 3.0]])
    assert explained_variance(ret, ret, m).item() == pytest.approx(1.0)
    # V = 0 explains nothing: Var(R - 0) / Var(R) = 1
    assert explained_variance(torch.zeros_like(ret), ret, m).item() == pytest.approx(0.0)


def test_lean_logprobs_equal_the_full_logits_computation() -> None:
    """token_logprobs keeps only the response positions' logits and takes the fp32
    log-softmax in chunks (recomputed in the backward pass); values and gradients equal the
    plain computation over every position's full-vocabulary logits."""
    from transformers import AutoModelForCausalLM

    from cogstar.train import tiny
    from cogstar.train.ppo.rollout import Batch, token_logprobs

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny.tiny_config(tok))
    prompt = torch.randint(5, 300, (3, 9))
    prompt_mask = torch.ones_like(prompt)
    prompt_mask[0, :3] = 0  # a left-padded row
    response = torch.randint(5, 300, (3, 11))
    response_mask = torch.ones(3, 11)
    response_mask[1, 7:] = 0
    batch = Batch(prompt, prompt_mask, response, response_mask)
    weights = torch.randn(3, 11)

    def plain() -> tuple[torch.Tensor, torch.Tensor]:
        attn = batch.attention_mask
        logits = (
            model(
                input_ids=batch.input_ids,
                attention_mask=attn,
                position_ids=(attn.cumsum(1) - 1).clamp(min=0),
            )
            .logits[:, 8:-1]
            .float()
            / 0.8
        )
        logp = torch.log_softmax(logits, dim=-1)
        return logp.gather(-1, response.unsqueeze(-1)).squeeze(-1), entropy_from_logits(logits)

    results = []
    for compute in (plain, lambda: token_logprobs(model, batch, 0.8, True, chunk=4)):
        model.zero_grad()
        lp, ent = compute()
        assert ent is not None
        ((lp * weights).sum() + ent.sum()).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((lp.detach(), ent.detach(), grads))
    (lp1, ent1, g1), (lp2, ent2, g2) = results
    assert torch.allclose(lp1, lp2, atol=1e-6) and torch.allclose(ent1, ent2, atol=1e-6)
    assert len(g1) == len(g2)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_a_micro_batch_drops_only_columns_that_are_padding_in_all_its_rows() -> None:
    """PPO's micro-batches leave out the prompt columns and response columns that no row of
    theirs uses; every real token's log-prob and value is what the full-width batch gives."""
    from transformers import AutoModelForCausalLM

    from cogstar.train import tiny
    from cogstar.train.ppo.critic import Critic
    from cogstar.train.ppo.rollout import Batch, token_logprobs
    from cogstar.train.ppo.trainer import _slice

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny.tiny_config(tok))
    critic = Critic(AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).model)
    torch.nn.init.normal_(critic.value_head.weight)
    prompt_len, response_len = torch.tensor([12, 7, 9, 5]), torch.tensor([4, 15, 6, 20])
    pm = (torch.arange(14)[None] >= 14 - prompt_len[:, None]).long()  # left-padded to 14
    rm = (torch.arange(22)[None] < response_len[:, None]).float()  # right-padded to 22
    batch = Batch(
        torch.where(pm > 0, torch.randint(5, 300, pm.shape), 1),
        pm,
        torch.where(rm > 0, torch.randint(5, 300, rm.shape), 1),
        rm,
    )
    rows = torch.tensor([0, 2])
    small = _slice(batch, rows)
    assert small.prompt_ids.shape == (2, 12) and small.response_ids.shape == (2, 6)
    full = Batch(batch.prompt_ids[rows], pm[rows], batch.response_ids[rows], rm[rows])
    with torch.no_grad():
        lp_full = token_logprobs(model, full, 1.0)[0][:, :6]
        lp_small = token_logprobs(model, small, 1.0)[0]
        v_full = critic(full.input_ids, full.attention_mask, 14)[:, :6]
        v_small = critic(small.input_ids, small.attention_mask, 12)
    real = small.response_mask > 0
    torch.testing.assert_close(lp_small[real], lp_full[real], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(v_small[real], v_full[real], atol=1e-6, rtol=1e-5)
    assert _slice(batch, torch.arange(4)).response_ids.shape == (4, 20)


def _repeated_prompts() -> tuple[object, object, object]:
    """A tiny actor and critic, and a batch of 3 prompts x 2 samples (left-padded prompts of
    different lengths, right-padded responses)."""
    from transformers import AutoModelForCausalLM

    from cogstar.train import tiny
    from cogstar.train.ppo.critic import Critic
    from cogstar.train.ppo.rollout import Batch

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny.tiny_config(tok))
    critic = Critic(AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).model)
    torch.nn.init.normal_(critic.value_head.weight)
    prompt_len = torch.tensor([12, 12, 7, 7, 10, 10])
    response_len = torch.tensor([4, 15, 6, 20, 1, 9])
    pm = (torch.arange(14)[None] >= 14 - prompt_len[:, None]).long()
    rm = (torch.arange(22)[None] < response_len[:, None]).float()
    prompts = torch.randint(5, 300, (3, 14)).repeat_interleave(2, dim=0)
    batch = Batch(
        torch.where(pm > 0, prompts, 1),
        pm,
        torch.where(rm > 0, torch.randint(5, 300, rm.shape), 1),
        rm,
    )
    return model, critic, batch


def test_shared_prompts_give_the_full_pass_log_probs_values_and_gradients() -> None:
    from cogstar.train.ppo.rollout import _distinct_prompts, token_logprobs

    model, critic, batch = _repeated_prompts()
    first, inverse = _distinct_prompts(batch)  # type: ignore[misc,arg-type]
    assert sorted(first.tolist()) == [0, 2, 4]
    assert inverse.tolist()[0::2] == inverse.tolist()[1::2]
    real = batch.response_mask > 0  # type: ignore[attr-defined]

    def run(share: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()  # type: ignore[attr-defined]
        critic.zero_grad()  # type: ignore[attr-defined]
        lp, _ = token_logprobs(model, batch, 1.0, share_prompts=share)  # type: ignore[arg-type]
        v = critic.response_values(batch, share_prompts=share)  # type: ignore[attr-defined]
        (lp[real].sum() + v[real].square().sum()).backward()
        params = [*model.parameters(), *critic.parameters()]  # type: ignore[attr-defined]
        return lp.detach(), v.detach(), [p.grad.clone() for p in params]

    lp_full, v_full, g_full = run(False)
    lp_shared, v_shared, g_shared = run(True)
    assert lp_shared.shape == lp_full.shape and v_shared.shape == v_full.shape
    torch.testing.assert_close(lp_shared[real], lp_full[real], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v_shared[real], v_full[real], atol=1e-5, rtol=1e-5)
    for a, b in zip(g_shared, g_full, strict=True):  # sums in another order: rounding only
        assert ((a - b).norm() / b.norm().clamp(min=1e-12)).item() < 1e-5


def test_distinct_prompts_only_when_a_prompt_repeats() -> None:
    from cogstar.train.ppo.rollout import Batch, _distinct_prompts

    _, _, batch = _repeated_prompts()
    assert isinstance(batch, Batch)
    rows = torch.tensor([0, 2, 4])  # one sample of each prompt
    single = Batch(
        batch.prompt_ids[rows],
        batch.prompt_mask[rows],
        batch.response_ids[rows],
        batch.response_mask[rows],
    )
    assert _distinct_prompts(single) is None


def test_an_entropy_without_gradient_leaves_the_policy_gradient_alone() -> None:
    from cogstar.train.ppo.rollout import token_logprobs

    model, _, batch = _repeated_prompts()
    grads = []
    for entropy_grad in (True, False):
        model.zero_grad()  # type: ignore[attr-defined]
        lp, ent = token_logprobs(
            model,
            batch,
            1.0,
            with_entropy=True,
            entropy_grad=entropy_grad,  # type: ignore[arg-type]
        )
        assert ent is not None and ent.requires_grad == entropy_grad
        (lp.sum() + 0.0 * ent.sum()).backward()
        grads.append([p.grad.clone() for p in model.parameters()])  # type: ignore[attr-defined]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_mini_batches_hold_whole_prompts() -> None:
    from cogstar.train.ppo.trainer import _prompt_order

    torch.manual_seed(3)
    order = _prompt_order(12, 4).tolist()
    assert sorted(order) == list(range(12))
    groups = [order[i : i + 4] for i in range(0, 12, 4)]
    assert all(g == list(range(g[0], g[0] + 4)) and g[0] % 4 == 0 for g in groups)
    assert len({tuple(_prompt_order(12, 4).tolist()) for _ in range(20)}) > 1
