"""Tokenizers of every shape: one rule for special tokens in every stage.

Two tokenizers built here from the embedded one: shaped like Llama-3's (a BOS token its
post-processor adds by default, no pad token) and like Qwen2.5's (no BOS, a pad token). Every
stage (SFT, PPO, evaluation) must put the same prompt tokens in front of the response, with no
BOS anywhere, and PPO must run with a tokenizer that has no pad token.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.behaviors.priming import build_priming_set, priming_puzzles  # noqa: E402
from cogstar.tasks import rl_prompt  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402

BOS = "<|begin_of_text|>"


def _shaped(out: Path, kind: str) -> Path:
    """A random tiny model with a tokenizer shaped like ``kind``'s: ``llama`` (a Llama
    architecture, a BOS its post-processor adds by default, no pad token) or ``qwen`` (the
    embedded Qwen2 architecture, no BOS, a pad token)."""
    from tokenizers import AddedToken
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    raw = tiny.tiny_tokenizer().backend_tokenizer
    if kind == "llama":
        raw.add_special_tokens([AddedToken(BOS, special=True)])
        bos = raw.token_to_id(BOS)
        raw.post_processor = TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos)]
        )
        tok = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=BOS, eos_token=models.EOS)
        qwen = tiny.tiny_config(tok)
        config = LlamaConfig(
            **{k: getattr(qwen, k) for k in _SHAPE},
            tie_word_embeddings=True, bos_token_id=bos, eos_token_id=tok.eos_token_id,
        )  # fmt: skip
    else:
        tok = PreTrainedTokenizerFast(
            tokenizer_object=raw, eos_token=models.EOS, pad_token=models.PAD
        )
        config = tiny.tiny_config(tok)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


_SHAPE = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
          "num_key_value_heads", "intermediate_size", "max_position_embeddings")  # fmt: skip


@pytest.fixture(scope="module", params=["llama", "qwen"])
def shaped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _shaped(tmp_path_factory.mktemp(request.param), request.param)


def test_the_llama_shape_adds_bos_and_has_no_pad(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    folder = _shaped(tmp_path / "llama", "llama")
    plain = AutoTokenizer.from_pretrained(folder)
    assert plain("12 + 3")["input_ids"][0] == plain.convert_tokens_to_ids(BOS)
    assert plain.pad_token is None  # what load_tokenizer must mend


def test_a_pad_token_is_set_wherever_a_tokenizer_is_loaded(shaped: Path) -> None:
    tok = models.load_tokenizer(shaped)
    assert tok.pad_token is not None and tok.padding_side == "left"
    _, again = models.load_policy(shaped, dtype="float32")
    assert again.pad_token_id == tok.pad_token_id


def test_sft_ppo_and_evaluation_put_the_same_tokens_before_the_response(shaped: Path) -> None:
    from cogstar.train.ppo.rollout import encode_prompts
    from cogstar.train.sft import SFTConfig, records_dataset, trainer_class, trainer_config

    model, tok = models.load_policy(shaped, dtype="float32")
    bos = tok.convert_tokens_to_ids(BOS) if BOS in tok.get_vocab() else None
    records = build_priming_set("all_strategies", priming_puzzles(4, seed=7), budget=300)
    config = SFTConfig(global_batch=2, micro_batch=2)
    trainer = trainer_class(config)(  # what SFT trains on, after TRL's own preparation
        model=model,
        args=trainer_config(config, shaped / "unused", completion_only=True),
        train_dataset=records_dataset(records, tok),
        processing_class=tok,
    )
    data = trainer.train_dataset
    for record, row in zip(records, data, strict=True):
        # PPO and evaluation encode the RL prompt (the priming prompt and "<think>") this way
        ids, mask = encode_prompts(tok, [rl_prompt(record.numbers, record.target)], "cpu")
        rl = ids[0][mask[0] > 0].tolist()
        assert row["input_ids"][: len(rl)] == rl  # the same tokens, in front of the thoughts
        assert bos not in row["input_ids"] and bos not in rl  # no BOS in any stage
        assert row["input_ids"][-1] == tok.eos_token_id  # EOS closes the completion
        prompt = len(tok(record.prompt, add_special_tokens=False)["input_ids"])
        assert row["labels"][:prompt] == [-100] * prompt  # no loss on the prompt
        assert row["labels"][prompt:] == row["input_ids"][prompt:]  # loss on the rest


def test_ppo_and_evaluation_run_with_either_shape(shaped: Path, tmp_path: Path) -> None:
    """The Llama shape used to stop PPO at its first step: 'Asking to pad but the tokenizer
    does not have a padding token'."""
    from cogstar.train.evaluate import EvalConfig, evaluate
    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.ppo.trainer import run_ppo

    puzzles = cogstar.generate_puzzles(8, seed=3, sizes=(3,), rules="classic")
    config = PPOConfig(steps=1, prompts_per_step=2, samples_per_prompt=2, max_response_tokens=8,
                       actor_minibatch_prompts=2, critic_minibatch_prompts=2, micro_batch=4,
                       save_every=1)  # fmt: skip
    for rollout in ("fast", "hf"):
        last = run_ppo(
            shaped, puzzles, tmp_path / rollout, config.model_copy(update={"rollout": rollout})
        )
        assert last.name == "step_000001"
    result = evaluate(shaped, puzzles[:2], EvalConfig(max_new_tokens=8, batch_size=2))
    assert result.n == 2
