"""The vLLM rollout engine: its pure parts against hand-written tensors, its glue against a
stand-in ``vllm`` module (CPU), and the real engine on the tiny model (``-m gpu``)."""

from __future__ import annotations

import os
import sys
import types
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar.errors import StageError  # noqa: E402
from cogstar.train.ppo import vllm_engine  # noqa: E402
from cogstar.train.ppo.rollout import Batch  # noqa: E402
from cogstar.train.ppo.vllm_engine import (  # noqa: E402
    VLLMRollout,
    pack_responses,
    request_seeds,
    require_vllm,
    unpad_prompts,
    vllm_weight_name,
)

EOS, PAD = 0, 1


def long(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def test_unpad_prompts_drops_left_padding() -> None:
    ids = long([[1, 1, 7, 8], [5, 6, 7, 8], [1, 1, 1, 9]])
    mask = long([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    assert unpad_prompts(ids, mask) == [[7, 8], [5, 6, 7, 8], [9]]
    # a real token equal to the pad id is kept: the mask decides, not the id
    assert unpad_prompts(long([[1, 1]]), long([[0, 1]])) == [[1]]
    with pytest.raises(ValueError, match="same shape"):
        unpad_prompts(ids, mask[:, 1:])


def test_pack_responses_masks_up_to_and_including_the_first_eos() -> None:
    ids, mask = pack_responses([[5, 6, EOS], [7], [8, 9, 4, 3], []], EOS, PAD, "cpu")
    assert torch.equal(ids, long([[5, 6, EOS, PAD], [7, PAD, PAD, PAD], [8, 9, 4, 3], [PAD] * 4]))
    assert mask.dtype == torch.float32
    assert torch.equal(mask, torch.tensor([[1.0, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0] * 4]))


def test_pack_responses_all_empty_gives_one_pad_column() -> None:
    ids, mask = pack_responses([[], []], EOS, PAD, "cpu")
    assert torch.equal(ids, long([[PAD], [PAD]]))
    assert torch.equal(mask, torch.zeros(2, 1))


def test_pack_responses_when_eos_is_the_pad_id() -> None:
    # the padding is EOS too: only a generated EOS counts, the filler after a short
    # response without EOS stays masked out
    ids, mask = pack_responses([[5, EOS], [6, 7, 8], [9]], EOS, EOS, "cpu")
    assert torch.equal(ids, long([[5, EOS, EOS], [6, 7, 8], [9, EOS, EOS]]))
    assert torch.equal(mask, torch.tensor([[1.0, 1, 0], [1, 1, 1], [1, 0, 0]]))


def test_pack_responses_cuts_after_the_first_eos_and_pads_the_rest() -> None:
    # vLLM stops at EOS, but the mask must not depend on it
    ids, mask = pack_responses([[5, EOS, 6, EOS]], EOS, PAD, "cpu")
    assert torch.equal(ids, long([[5, EOS, PAD, PAD]]))
    assert torch.equal(mask, torch.tensor([[1.0, 1, 0, 0]]))


def test_pack_responses_matches_hf_rollout_on_the_tiny_model() -> None:
    """Differential: HFRollout's batch, cut back to the token lists vLLM returns (each
    response up to and including its EOS), packs to the same tensors. 16 new tokens: no
    response ends; 64: all end, at different lengths."""
    from cogstar.tasks import rl_prompt
    from cogstar.train import models, tiny
    from cogstar.train.ppo.rollout import HFRollout, encode_prompts

    model, tok = models.load_policy(tiny.packaged_dir(), dtype="float32")
    texts = [rl_prompt([3, 5, 7], 22), rl_prompt([10, 2, 4, 6], 14), rl_prompt([1, 2, 9], 11)]
    ids, mask = encode_prompts(tok, texts, "cpu")
    for max_new_tokens, ended in ((16, False), (64, True)):
        torch.manual_seed(0)
        hf = HFRollout(model, tok, max_new_tokens=max_new_tokens).generate(ids, mask)
        lists = []
        for row, m in zip(hf.response_ids.tolist(), hf.response_mask.tolist(), strict=True):
            n = max((i + 1 for i, x in enumerate(m) if x > 0), default=0)
            lists.append(row[:n])
        assert all((tok.eos_token_id in t) == ended for t in lists)
        packed = pack_responses(lists, tok.eos_token_id, tok.pad_token_id, "cpu")
        assert torch.equal(packed[0], hf.response_ids)
        assert torch.equal(packed[1], hf.response_mask)


def test_request_seeds_are_distinct_and_reproducible() -> None:
    first = request_seeds(3, 0, 64)
    assert first == request_seeds(3, 0, 64)
    assert len(set(first + request_seeds(3, 1, 64))) == 128
    assert first != request_seeds(4, 0, 64)
    assert all(0 <= s < 2**31 for s in first)


def test_vllm_weight_name_strips_wrapper_prefixes() -> None:
    assert vllm_weight_name("model.embed_tokens.weight") == "model.embed_tokens.weight"
    assert vllm_weight_name("module.model.norm.weight") == "model.norm.weight"
    assert vllm_weight_name("_orig_mod.module.lm_head.weight") == "lm_head.weight"


def test_missing_vllm_says_how_to_install_or_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ImportError) as err:
        require_vllm()
    assert str(err.value) == (
        'vLLM rollouts need a CUDA GPU and the vllm extra: pip install -e ".[vllm]" '
        '(note it pins its own torch), or set ppo.rollout = "hf"'
    )
    tok = SimpleNamespace(eos_token_id=EOS, pad_token_id=PAD)
    with pytest.raises(ImportError, match=r"pip install -e \"\.\[vllm\]\""):
        VLLMRollout("unused", tok, max_new_tokens=4)


# ---- the engine's glue, against a stand-in for vllm that records what it is given --------


class FakeModel:
    def __init__(self) -> None:
        self.loaded: list[tuple[str, torch.Tensor]] = []

    def load_weights(self, weights: list[tuple[str, torch.Tensor]]) -> set[str]:
        self.loaded += list(weights)
        return {n for n, _ in weights if n.startswith("model.")}


class FakeLLM:
    """Answers each prompt with a scripted response (keyed by its tokens)."""

    script: ClassVar[dict[tuple[int, ...], list[int]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.model = FakeModel()
        self.requests: list[tuple[list[Any], list[dict[str, Any]]]] = []
        self.resets = 0

    def generate(self, prompts: list[Any], sampling_params: Any, use_tqdm: bool) -> list[Any]:
        self.requests.append((prompts, sampling_params))
        return [
            SimpleNamespace(
                outputs=[
                    SimpleNamespace(token_ids=tuple(self.script[tuple(p["prompt_token_ids"])]))
                ]
            )
            for p in prompts
        ]

    def apply_model(self, fn: Any) -> list[Any]:
        return [fn(self.model)]

    def reset_prefix_cache(self) -> bool:
        self.resets += 1
        return True


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kw: kw  # type: ignore[attr-defined]
    module.TokensPrompt = dict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # a private environment: the launcher variables the engine sets must not reach other
    # tests (Accelerate reads LOCAL_RANK)
    launcher = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    env = {k: v for k, v in os.environ.items() if k not in launcher}
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"  # the engine must turn it off
    monkeypatch.setattr(os, "environ", env)
    FakeLLM.script = {(7, 8): [5, 6, EOS], (9,): [4, 4, 4, 4], (3, 3): [EOS]}
    return module


def engine(**kwargs: Any) -> VLLMRollout:
    tok = SimpleNamespace(eos_token_id=EOS, pad_token_id=PAD)
    return VLLMRollout("/models/policy", tok, max_new_tokens=4, seed=11, **kwargs)


def test_engine_builds_an_in_process_llm(fake_vllm: types.ModuleType) -> None:
    llm = engine(max_model_len=512).llm
    assert llm.kwargs == {
        "model": "/models/policy",
        "skip_tokenizer_init": True,
        "dtype": "bfloat16",
        "seed": 11,
        "gpu_memory_utilization": 0.3,
        "max_model_len": 512,
        "enforce_eager": False,
        "tensor_parallel_size": 1,
        "distributed_executor_backend": "external_launcher",
    }
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert (os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ["WORLD_SIZE"]) == (
        "0",
        "0",
        "1",
    )
    assert int(os.environ["MASTER_PORT"]) > 0


def test_engine_generate_packs_a_batch_like_hf_rollout(fake_vllm: types.ModuleType) -> None:
    eng = engine()
    prompt_ids = long([[PAD, 7, 8], [PAD, PAD, 9], [PAD, 3, 3]])
    prompt_mask = long([[0, 1, 1], [0, 0, 1], [0, 1, 1]])
    batch = eng.generate(prompt_ids, prompt_mask)
    assert isinstance(batch, Batch)
    assert batch.prompt_ids is prompt_ids and batch.prompt_mask is prompt_mask
    assert torch.equal(
        batch.response_ids, long([[5, 6, EOS, PAD], [4, 4, 4, 4], [EOS, PAD, PAD, PAD]])
    )
    assert torch.equal(
        batch.response_mask, torch.tensor([[1.0, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    )

    prompts, params = eng.llm.requests[0]
    assert prompts == [
        {"prompt_token_ids": [7, 8]},
        {"prompt_token_ids": [9]},
        {"prompt_token_ids": [3, 3]},
    ]
    assert [p["seed"] for p in params] == request_seeds(11, 0, 3)
    assert params[0] | {"seed": None} == {
        "n": 1,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": -1,
        "seed": None,
        "max_tokens": 4,
        "stop_token_ids": [EOS],
        "detokenize": False,
    }


def test_engine_seeds_follow_the_call_counter(fake_vllm: types.ModuleType) -> None:
    ids, mask = long([[7, 8]]), long([[1, 1]])
    a, b = engine(), engine()
    for _ in range(3):
        a.generate(ids, mask)
        b.generate(ids, mask)
    seeds = [[p["seed"] for p in params] for _, params in a.llm.requests]
    assert seeds == [[p["seed"] for p in params] for _, params in b.llm.requests]
    assert len({s[0] for s in seeds}) == 3 and a.calls == 3


def test_engine_greedy_and_empty_prompts(fake_vllm: types.ModuleType) -> None:
    eng = engine(greedy=True, top_p=0.5)
    eng.generate(long([[7, 8]]), long([[1, 1]]))
    params = eng.llm.requests[0][1][0]
    assert (params["temperature"], params["top_p"]) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"rows \[1\] have no prompt token"):
        eng.generate(long([[7, 8], [PAD, PAD]]), long([[1, 1], [0, 0]]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        engine(temperature=0.0)


def test_engine_sync_weights_strips_prefixes_and_resets_the_cache(
    fake_vllm: types.ModuleType,
) -> None:
    class Wrapped(torch.nn.Module):  # what DDP looks like from outside
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.module = inner

    inner = torch.nn.Module()
    inner.model = torch.nn.Linear(2, 2)
    eng = engine()
    eng.sync_weights(Wrapped(inner))
    loaded = dict(eng.llm.model.loaded)
    assert sorted(loaded) == ["model.bias", "model.weight"]
    assert loaded["model.weight"].data_ptr() == inner.model.weight.data_ptr()  # no copy
    assert not loaded["model.weight"].requires_grad
    assert eng.llm.resets == 1

    other = torch.nn.Module()
    other.head = torch.nn.Linear(2, 2)  # names the engine's model does not know
    with pytest.raises(StageError, match="loaded none of the 2 weights"):
        eng.sync_weights(other)


# ---- the real engine ----------------------------------------------------------------------


@pytest.mark.gpu
def test_vllm_rollout_on_the_tiny_model() -> None:
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from cogstar.tasks import rl_prompt
    from cogstar.train import models, tiny
    from cogstar.train.ppo.rollout import encode_prompts

    path = tiny.packaged_dir()
    tok = models.load_tokenizer(path)
    tok.padding_side = "left"
    eng = vllm_engine.VLLMRollout(
        path, tok, max_new_tokens=48, greedy=True, enforce_eager=True, gpu_memory_utilization=0.2
    )
    texts = [rl_prompt([3, 5, 7], 22), rl_prompt([10, 2, 4, 6], 14), rl_prompt([1, 2], 3)]
    ids, mask = encode_prompts(tok, texts, "cuda")
    assert (mask == 0).any()  # the prompts differ in length: left padding is exercised

    batch = eng.generate(ids, mask)
    b, t = batch.response_ids.shape
    assert b == 3 and 1 <= t <= 48
    assert batch.response_ids.device == ids.device and batch.response_mask.device == ids.device
    assert batch.response_mask.dtype == torch.float32
    for row, m in zip(batch.response_ids.tolist(), batch.response_mask.tolist(), strict=True):
        n = int(sum(m))
        assert n >= 1 and m == [1.0] * n + [0.0] * (t - n)  # a prefix
        assert row[n:] == [tok.pad_token_id] * (t - n)
        assert tok.eos_token_id not in row[: n - 1]  # EOS, if any, is the last masked token
        assert row[n - 1] == tok.eos_token_id or n == 48
    again = eng.generate(ids, mask)
    assert torch.equal(again.response_ids, batch.response_ids)  # greedy is deterministic

    # perturbed weights (behind a DDP-like `module.` prefix) change the greedy output ...
    model, _ = models.load_policy(path, dtype="float32", device="cuda")
    wrapper = torch.nn.Module()
    wrapper.module = model
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    gen = torch.Generator(device="cuda").manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen, device="cuda") * p.std())
    eng.sync_weights(wrapper)
    changed = eng.generate(ids, mask)
    assert not torch.equal(changed.response_mask, batch.response_mask) or not torch.equal(
        changed.response_ids, batch.response_ids
    )
    # ... and syncing the original weights back brings the original output back
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(original[n])
    eng.sync_weights(model)
    restored = eng.generate(ids, mask)
    assert torch.equal(restored.response_ids, batch.response_ids)
