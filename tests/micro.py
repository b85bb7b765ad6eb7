"""The smallest study that exercises every stage on the shipped tiny model: the spec
sections the `cogstar run` tests share (a handful of puzzles, 2 PPO steps of 4 prompts x 2
samples, responses of up to 256 tokens (room for the priming sets' answers), evaluation at
every step)."""

DATA_AND_MODEL = """\
[data]
train = 64
test = 8
sizes = [3]
value_range = [1, 24]
target_range = [10, 25]
numbers_below_target = true
rules = "classic"

[model]
source = "tiny"
"""

# Two optimizer steps of SFT (or continued pretraining) on the tiny model.
TRAINING = """\
max_steps = 2
lr = 1e-3
global_batch = 4
micro_batch = 4
max_length = 256
save_steps = 1
dtype = "float32"
"""

RL_AND_EVAL = """\
[ppo]
steps = 2
prompts_per_step = 4
samples_per_prompt = 2
max_response_tokens = 256
actor_lr = 1e-4
critic_lr = 1e-3
actor_minibatch_prompts = 2
critic_minibatch_prompts = 2
micro_batch = 8
save_every = 1
dtype = "float32"

[eval]
max_new_tokens = 256
batch_size = 8
every = 1
dtype = "float32"

[behaviors]
sample = 0

[report]
paper = "none"
"""

# The micro study: a spec template over the sections above ({name}, {out}, and the three
# sections, which a test may vary).
STUDY = """\
[experiment]
name = "{name}"
out = "{out}"

{data_and_model}
[priming]
count = 16
validation = 0
budget = 200

[sft]
{training}
{rl_and_eval}
[sweep]
condition = ["unprimed", "all_strategies"]
"""


def write_study(tmp, name, *, data_and_model=DATA_AND_MODEL, rl_and_eval=RL_AND_EVAL):  # type: ignore[no-untyped-def]
    """The micro study as ``tmp/NAME.toml`` (runs under ``tmp/runs``), with parts replaced."""
    path = tmp / f"{name}.toml"
    path.write_text(
        STUDY.format(
            name=name,
            out=tmp / "runs",
            data_and_model=data_and_model,
            training=TRAINING,
            rl_and_eval=rl_and_eval,
        )
    )
    return path


def random_policy(out):  # type: ignore[no-untyped-def]
    """A randomly initialised tiny policy (seed 0) with the tiny tokenizer, saved to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM

    from cogstar.train import tiny

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out
