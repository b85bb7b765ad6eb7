"""Experiment specs: shipped files, every class of error, overrides, sweep cells, plans.

Fast and offline; nothing here imports torch.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cogstar.behaviors import BehaviorsConfig
from cogstar.behaviors.priming import CONDITIONS, CONTROLS, PrimingConfig
from cogstar.errors import ConfigError
from cogstar.io import hash_json
from cogstar.pretrain.curate import CurationConfig
from cogstar.pretrain.train import PretrainConfig
from cogstar.study.plan import TINY_CPU_RATES, plan, render_plan, trace_lengths
from cogstar.study.spec import ALL_CONDITIONS, Spec, dump_toml, eval_steps, load_spec
from cogstar.study.sweep import expand_cells
from cogstar.tasks import DataConfig
from cogstar.train.base import ModelConfig
from cogstar.train.evaluate import EvalConfig
from cogstar.train.grpo import GRPOConfig
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.sft import SFTConfig

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "experiments").rglob("*.toml"))
PAPER = ROOT / "experiments" / "paper"
TEN_CONDITIONS = [
    "unprimed",
    "all_strategies",
    "only_backtracking",
    "backtracking_verification",
    "backtracking_subgoal",
    "backtracking_backward",
    "negative_control",
    "no_positive",
    "empty_cot",
    "dots",
]


def write(tmp_path: Path, body: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text('[experiment]\nname = "t"\n' + body, encoding="utf-8")
    return path


def problems(path: Path, overrides: list[str] | tuple[str, ...] = (), **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_spec(path, overrides, env=env)
    text = str(info.value)
    assert all(p in text for p in info.value.problems)
    for line in info.value.problems:
        assert line.startswith(str(path)), line
        assert "; fix: " in line, line
    return info.value.problems


def only(lines: list[str]) -> str:
    assert len(lines) == 1, lines
    return lines[0]


# -- shipped specs ---------------------------------------------------------------------------


def test_the_paper_specs_ship() -> None:
    assert {p.name for p in PAPER.glob("*.toml")} >= {"qwen_priming.toml", "llama_priming.toml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_spec_loads_expands_and_says_what_it_is(path: Path) -> None:
    spec = load_spec(path, env={})
    cells = expand_cells(spec)
    assert cells and len({c.name for c in cells}) == len(cells)
    assert plan(spec).stages
    text = path.read_text(encoding="utf-8")
    head = re.match(r"(?:#[^\n]*\n)+", text)
    assert head, f"{path.name} does not open with a comment"
    opening = head.group(0).lower()
    for what in ("hardware", "command", "wall time"):
        assert what in opening, f"{path.name}: the opening comment does not give the {what}"
    assert "cogstar run" in opening


@pytest.mark.parametrize(
    ("name", "model", "paper"),
    [
        ("qwen_priming.toml", "Qwen/Qwen2.5-3B", "qwen"),
        ("llama_priming.toml", "meta-llama/Llama-3.2-3B", "llama"),
    ],
)
def test_paper_specs_hold_the_papers_settings(name: str, model: str, paper: str) -> None:
    path = PAPER / name
    assert "not run by us; sized for 4\u00d780 GB GPUs" in path.read_text(encoding="utf-8")
    spec = load_spec(path, env={})
    assert spec.model.source == model and spec.report.paper in ("auto", paper)
    assert [c.name for c in expand_cells(spec)] == TEN_CONDITIONS
    ppo = spec.ppo
    assert (ppo.steps, ppo.prompts_per_step, ppo.samples_per_prompt) == (250, 256, 4)
    assert (ppo.actor_lr, ppo.critic_lr, ppo.kl_coef, ppo.entropy_coef) == (1e-6, 1e-5, 1e-3, 1e-3)
    assert (ppo.max_prompt_tokens, ppo.max_response_tokens, ppo.save_every) == (256, 1024, 10)
    assert (spec.sft.epochs, spec.sft.lr, spec.sft.global_batch) == (5.0, 1e-5, 64)
    assert (spec.eval.every, spec.eval.samples, spec.eval.temperature) == (10, 1, 1.0)
    assert (spec.eval.max_new_tokens, spec.data.test) == (1024, 1024)
    assert (spec.data.value_range, spec.data.target_range, spec.data.sizes) == (
        (1, 100),
        (1, 100),
        [3, 4],
    )
    assert (spec.priming.count, spec.priming.validation) == (1000, 200)
    assert eval_steps(spec) == list(range(0, 251, 10))


def test_the_condition_axis_knows_every_condition() -> None:
    assert ("unprimed", *CONDITIONS, *CONTROLS) == ALL_CONDITIONS
    assert sorted(ALL_CONDITIONS) == sorted(TEN_CONDITIONS)


# -- the sections are the stage configs -------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "config"),
    [
        ("data", DataConfig),
        ("model", ModelConfig),
        ("curation", CurationConfig),
        ("priming", PrimingConfig),
        ("sft", SFTConfig),
        ("ppo", PPOConfig),
        ("grpo", GRPOConfig),
        ("eval", EvalConfig),
        ("behaviors", BehaviorsConfig),
    ],
)
def test_each_stage_section_is_its_stage_config(section: str, config: type) -> None:
    """One copy of every setting: the spec's section is the class the stage runs with."""
    assert Spec.model_fields[section].annotation is config
    assert section == config.SECTION
    spec = Spec(experiment={"name": "x"})  # type: ignore[arg-type]
    assert type(getattr(spec, section)) is config
    assert CurationConfig.model_fields["training"].annotation is PretrainConfig
    assert PretrainConfig.SECTION == "curation.training"


def test_stage_configs_are_frozen_and_check_themselves() -> None:
    ppo = PPOConfig()
    with pytest.raises(ValueError, match="frozen"):
        ppo.steps = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"actor_minibatch_prompts: 100 does not divide"):
        PPOConfig(actor_minibatch_prompts=100)
    with pytest.raises(ValueError, match=r"global_batch: 60 is not a multiple of sft.micro_batch"):
        SFTConfig(global_batch=60)
    with pytest.raises(ValueError, match=r"curation.training.micro_batch \(8\)"):
        PretrainConfig(global_batch=60)


# -- defaults and minimal specs ---------------------------------------------------------------


def test_a_name_is_all_a_spec_needs(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, ""), env={})
    assert spec.model.source == "tiny" and spec.data.source == "generate"
    assert spec.sweep == {"condition": ["all_strategies"]}
    assert spec.run_dir == Path("runs/t") and spec.report.paper == "auto"
    assert [c.name for c in expand_cells(spec)] == ["all_strategies"]


def test_a_sweep_without_conditions_runs_the_default_condition(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, '[sweep]\n"experiment.seed" = [0, 1]\n'), env={})
    assert list(spec.sweep) == ["condition", "experiment.seed"]
    assert [c.name for c in expand_cells(spec)] == [
        "all_strategies__seed=0",
        "all_strategies__seed=1",
    ]


# -- errors: each names the file, the key path and the fix -------------------------------------


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[ppo]\nstpes = 3\n")))
    assert "ppo.stpes: unknown key" in line and "did you mean 'steps'?" in line


def test_unknown_section_is_named(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[evaluation]\nevery = 10\n")))
    assert "evaluation: unknown key" in line and "did you mean 'eval'?" in line


def test_options_of_the_settings_class_are_not_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.write_text('_env_file = ".env"\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert "_env_file: unknown key" in only(problems(path))


def test_wrong_type_names_type_and_example(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[ppo]\nsteps = "ten"\n')))
    assert "ppo.steps:" in line and "valid integer" in line and "'ten'" in line
    assert "e.g. steps = 250" in line


def test_list_item_of_wrong_type_is_located(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[data]\nsizes = [3, "four"]\n')))
    assert "data.sizes[1]:" in line


def test_value_out_of_range(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[ppo]\nkl_coef = -0.1\n")))
    assert "ppo.kl_coef:" in line and "fix: make it greater than or equal to 0" in line


def test_choice_suggests_the_closest(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[rl]\nalgorithm = "gpro"\n')))
    assert "rl.algorithm: 'gpro' is not allowed" in line and "did you mean 'grpo'?" in line


def test_missing_name(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("[ppo]\nsteps = 3\n", encoding="utf-8")
    line = only(problems(path))
    assert "experiment: required table is missing" in line
    assert 'fix: add [experiment] with name = "my-experiment"' in line
    path.write_text('[experiment]\ndescription = "d"\n', encoding="utf-8")
    line = only(problems(path))
    assert "experiment.name: required key is missing" in line and "under [experiment]" in line


def test_bad_name(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('[experiment]\nname = "a/b"\n', encoding="utf-8")
    assert "experiment.name:" in only(problems(path))


def test_minibatch_that_does_not_divide_the_step(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[ppo]\nactor_minibatch_prompts = 100\n")))
    assert "ppo.actor_minibatch_prompts: 100 does not divide ppo.prompts_per_step (256)" in line
    assert "use a divisor of 256" in line


def test_sft_batch_that_does_not_split_into_micro_batches(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[sft]\nglobal_batch = 60\n")))
    assert "sft.global_batch: 60 is not a multiple of sft.micro_batch (8)" in line
    assert "e.g. 64" in line


def test_every_section_is_checked_whichever_algorithm_runs(tmp_path: Path) -> None:
    """A section is a config its stage must be able to run with, used or not."""
    line = only(problems(write(tmp_path, "[grpo]\nmicro_batch = 7\n")))
    assert "grpo.micro_batch: 7 does not divide" in line
    line = only(problems(write(tmp_path, '[rl]\nalgorithm = "grpo"\n[grpo]\nmicro_batch = 7\n')))
    assert "grpo.micro_batch: 7 does not divide" in line


def test_evaluation_between_checkpoints(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[eval]\nevery = 15\n")))
    assert "eval.every: 15 is not a multiple of ppo.save_every (10)" in line
    assert "e.g. 20" in line
    load_spec(write(tmp_path, "[eval]\nevery = 20\n"), env={})
    grpo = '[rl]\nalgorithm = "grpo"\n[grpo]\nsave_every = 4\n[eval]\nevery = 10\n'
    assert "grpo.save_every (4)" in only(problems(write(tmp_path, grpo)))


def test_pass_at_k_needs_samples(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[eval]\nk = [1, 4]\n")))
    assert "eval.k: pass@4 needs 4 samples" in line


def test_ranges_sizes_and_data_amounts(tmp_path: Path) -> None:
    body = "[data]\nvalue_range = [100, 1]\nsizes = [3, 9]\ntrain = 10\n"
    found = problems(write(tmp_path, body))
    assert any("data.value_range: [100, 1]" in p for p in found)
    assert any("data.sizes[1]: 9 numbers" in p for p in found)
    assert any("data.train: 10 puzzles cannot fill one RL step" in p for p in found)
    assert "data.value_range" in only(
        problems(write(tmp_path, "[data]\nvalue_range = [1, 2, 3]\n"))
    )


def test_data_source_forms(tmp_path: Path) -> None:
    assert "data.source" in only(problems(write(tmp_path, '[data]\nsource = "puzzles.csv"\n')))
    assert "no file" in only(problems(write(tmp_path, '[data]\nsource = "nope.jsonl"\n')))
    assert "names no dataset" in only(problems(write(tmp_path, '[data]\nsource = "hub:"\n')))
    load_spec(write(tmp_path, '[data]\nsource = "hub:Jiayi-Pan/Countdown-Tasks-3to4"\n'), env={})
    (tmp_path / "p.jsonl").write_text("", encoding="utf-8")
    load_spec(write(tmp_path, f'[data]\nsource = "{tmp_path / "p.jsonl"}"\n'), env={})


def test_llm_sources_need_a_backend(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[priming]\nsource = "llm"\n')))
    assert "priming.backend:" in line and "[priming.backend]" in line
    line = only(problems(write(tmp_path, '[behaviors]\njudge = "llm"\n')))
    assert "behaviors.backend:" in line and 'judge = "rules"' in line
    body = '[behaviors]\njudge = "llm"\n[behaviors.backend]\nprovider = "openai"\nmodel = "m"\n'
    assert load_spec(write(tmp_path, body), env={}).behaviors.backend is not None
    line = only(problems(write(tmp_path, '[behaviors.backend]\nprovider = "openai"\n')))
    assert "behaviors.backend.model: required key is missing" in line


def test_removed_keys_are_refused_with_what_replaces_them(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[model]\ndtype = "float32"\n')))
    assert "model.dtype: this key was removed" in line and "sft.dtype, ppo.dtype" in line
    line = only(problems(write(tmp_path, '[model]\ntemplate = "chat"\n')))
    assert "model.template: this key was removed" in line and "base template" in line
    line = only(problems(write(tmp_path, ""), ["model.dtype=float32"]))
    assert "(--set model.dtype=float32): model.dtype: this key was removed" in line
    assert "model.source" in only(problems(write(tmp_path, '[model]\nsource = "./no/such"\n')))


def test_stage_seeds_are_derived_from_the_replicate_seed(tmp_path: Path) -> None:
    for section in ("priming", "sft", "ppo", "grpo", "eval"):
        line = only(problems(write(tmp_path, f"[{section}]\nseed = 3\n")))
        assert f"{section}.seed: a stage's seed is derived from experiment.seed" in line
        assert "experiment.seed" in line.split("fix:")[1]
    line = only(problems(write(tmp_path, "[curation.training]\nseed = 3\n")))
    assert "curation.training.seed: a stage's seed is derived" in line
    assert "seeds are derived" in only(problems(write(tmp_path, '[sweep]\n"ppo.seed" = [1, 2]\n')))
    zero = load_spec(write(tmp_path, ""), env={})
    one = load_spec(write(tmp_path, ""), ["experiment.seed=1"], env={})
    for section in ("priming", "sft", "ppo", "grpo", "eval"):
        assert getattr(zero, section).seed != getattr(one, section).seed
    assert zero.data.seed == one.data.seed == 0  # the puzzles stay fixed
    seeds = {getattr(zero, s).seed for s in ("priming", "sft", "ppo", "grpo", "eval")}
    assert len(seeds) == 5  # each stage draws on its own seed
    assert (
        "[data]" in dump_toml(zero)
        and "\nseed = " not in dump_toml(zero).split("[ppo]")[1].split("[")[0]
    )


def test_unknown_condition_suggests_the_closest(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[sweep]\ncondition = ["dots", "all_strategy"]\n')))
    assert "sweep.condition[1]: unknown condition 'all_strategy'" in line
    assert "did you mean 'all_strategies'?" in line


def test_bad_sweep_paths(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, '[sweep]\n"ppo.kl_coeff" = [0.1]\n')))
    assert 'sweep."ppo.kl_coeff": unknown key' in line and "did you mean 'ppo.kl_coef'?" in line
    assert "not a field path" in only(problems(write(tmp_path, "[sweep]\nseed = [1]\n")))
    assert "is a value" in only(problems(write(tmp_path, '[sweep]\n"ppo.steps.x" = [1]\n')))
    assert "run directory" in only(
        problems(write(tmp_path, '[sweep]\n"experiment.name" = ["a"]\n'))
    )
    assert "empty" in only(problems(write(tmp_path, '[sweep]\n"ppo.kl_coef" = []\n')))
    assert "listed 2 times" in only(problems(write(tmp_path, '[sweep]\n"ppo.steps" = [1, 1]\n')))
    assert "valid list" in only(problems(write(tmp_path, '[sweep]\n"ppo.steps" = 1\n')))
    assert "[data] cannot vary" in only(problems(write(tmp_path, '[sweep]\n"data.train" = [1]\n')))


def test_sweep_values_are_validated_per_cell(tmp_path: Path) -> None:
    body = '[sweep]\ncondition = ["dots", "unprimed"]\n"ppo.kl_coef" = [0.01, -1]\n'
    line = only(problems(write(tmp_path, body)))
    assert "ppo.kl_coef (sweep cell dots__kl_coef=-1 and 1 more)" in line
    assert "greater than or equal to 0" in line
    body = '[sweep]\n"ppo.prompts_per_step" = [256, 100]\n'
    found = problems(write(tmp_path, body))
    assert len(found) == 2  # the actor's and the critic's mini-batch
    assert all("(sweep cell all_strategies__prompts_per_step=100)" in p for p in found)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    body = '[ppo]\nstpes = 3\nsteps = "x"\nactor_minibatch_prompts = 100\n[eval]\nevery = 15\n'
    found = problems(write(tmp_path, body))
    assert len(found) == 4, found
    assert str(len(found)) + " problems" in str(ConfigError(found))


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    line = only(problems(write(tmp_path, "[ppo]\nsteps = = 3\n")))
    assert line.startswith(f"{tmp_path / 'exp.toml'}: line 4, column 9: invalid TOML")
    line = only(problems(write(tmp_path, "[ppo]\nsteps = [1,\n")))
    assert "(end of file)" in line


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read it" in only(problems(tmp_path / "nope.toml"))


def test_spec_error_is_a_cogstar_error() -> None:
    import cogstar

    assert issubclass(ConfigError, cogstar.CogstarError)


# -- environment and --set --------------------------------------------------------------------


def test_precedence_set_over_env_over_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[ppo]\nsteps = 20\n")
    assert load_spec(path, env={}).ppo.steps == 20
    assert load_spec(path, env={"COGSTAR_PPO__STEPS": "30"}).ppo.steps == 30
    assert load_spec(path, ["ppo.steps=40"], env={"COGSTAR_PPO__STEPS": "30"}).ppo.steps == 40
    assert load_spec(path, ["ppo.steps=40", "ppo.steps=50"], env={}).ppo.steps == 50


def test_env_is_case_insensitive_parses_json_and_ignores_other_variables(tmp_path: Path) -> None:
    env = {
        "cogstar_ppo__kl_coef": "0.01",
        "COGSTAR_DATA__SIZES": "[3]",
        "COGSTAR_SWEEP__CONDITION": '["dots", "unprimed"]',
        "COGSTAR_CACHE": "/tmp/elsewhere",
        "OTHER": "1",
    }
    spec = load_spec(write(tmp_path, ""), env=env)
    assert (spec.ppo.kl_coef, spec.data.sizes) == (0.01, [3])
    assert [c.name for c in expand_cells(spec)] == ["dots", "unprimed"]


def test_env_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGSTAR_PPO__STEPS", "7")
    assert load_spec(write(tmp_path, "")).ppo.steps == 7
    assert load_spec(write(tmp_path, ""), env={}).ppo.steps == 250
    assert Spec(experiment={"name": "x"}).ppo.steps == 7  # type: ignore[arg-type]


def test_direct_construction_takes_config_objects_and_derives_their_seeds() -> None:
    spec = Spec(experiment={"name": "x", "seed": 3}, ppo=PPOConfig(steps=5))  # type: ignore[arg-type]
    assert (
        spec.ppo.steps == 5 and spec.ppo.seed == Spec(experiment={"name": "x", "seed": 3}).ppo.seed
    )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ppo.seed \(7\) is derived from experiment.seed"):
        Spec(experiment={"name": "x"}, ppo=PPOConfig(seed=7))  # type: ignore[arg-type]


def test_direct_construction_runs_the_same_checks() -> None:
    with pytest.raises(ValueError, match=r"ppo\n.*actor_minibatch_prompts: 100 does not divide"):
        Spec(experiment={"name": "x"}, ppo={"actor_minibatch_prompts": 100})  # type: ignore[arg-type]


def test_problems_name_the_variable_or_override_they_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    line = only(problems(path, COGSTAR_PPO__STEPS="many"))
    assert line.startswith(f"{path} (env COGSTAR_PPO__STEPS): ppo.steps:")
    line = only(problems(path, ["ppo.actor_minibatch_prompts=100"]))
    assert line.startswith(f"{path} (--set ppo.actor_minibatch_prompts=100): ppo.actor_minibatch")
    assert "COGSTAR_PPO" in only(problems(path, COGSTAR_PPO="{not json"))
    assert "ppo.stpes: unknown key" in only(problems(path, COGSTAR_PPO__STPES="3"))


def test_set_values_are_toml_or_bare_strings(tmp_path: Path) -> None:
    spec = load_spec(
        write(tmp_path, ""),
        [
            "model.source=Qwen/Qwen2.5-3B",
            "ppo.kl_coef = 0.01",
            "eval.greedy=true",
            "data.sizes=[4]",
            'experiment.description="a = b"',
            "priming.backend={provider = 'openai', model = 'm'}",
            "sweep.ppo.clip=[0.1, 0.2]",
        ],
        env={},
    )
    assert spec.model.source == "Qwen/Qwen2.5-3B" and spec.ppo.kl_coef == 0.01
    assert spec.eval.greedy is True and spec.data.sizes == [4]
    assert spec.experiment.description == "a = b"
    assert spec.priming.backend is not None and spec.priming.backend.model == "m"
    assert spec.sweep["ppo.clip"] == [0.1, 0.2]


def test_bad_set_syntax_and_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    line = only(problems(path, ["ppo.steps"]))
    assert "(--set ppo.steps): ppo.steps: not of the form KEY=VALUE" in line
    assert "not of the form" in only(problems(path, ["=3"]))
    assert "not of the form" in only(problems(path, ["ppo..steps=3"]))
    line = only(problems(path, ["ppo.stesp=3"]))
    assert "(--set ppo.stesp=3): ppo.stesp: unknown key 'stesp' in ppo" in line
    assert "did you mean 'ppo.steps'?" in line
    assert "is a value" in only(problems(path, ["ppo.steps.x=3"]))
    assert "unknown key 'foo'" in only(problems(path, ["foo=3"]))


# -- cells ------------------------------------------------------------------------------------


def test_cells_are_the_product_in_written_order(tmp_path: Path) -> None:
    body = (
        '[sweep]\n"experiment.seed" = [0, 1]\ncondition = ["dots", "unprimed"]\n'
        '"ppo.kl_coef" = [0.01]\n'
    )
    spec = load_spec(write(tmp_path, body), env={})
    cells = expand_cells(spec)
    assert [c.name for c in cells] == [
        "dots__seed=0",
        "unprimed__seed=0",
        "dots__seed=1",
        "unprimed__seed=1",
    ]
    last = cells[-1]
    assert last.condition == "unprimed"
    assert last.axes == {"experiment.seed": 1, "condition": "unprimed", "ppo.kl_coef": 0.01}
    assert last.spec.experiment.seed == 1 and last.spec.ppo.kl_coef == 0.01
    assert last.spec.sweep == {"condition": ["unprimed"]}
    assert [c.name for c in expand_cells(spec)] == [c.name for c in cells]  # deterministic


def test_cell_names_are_folder_safe_and_unique(tmp_path: Path) -> None:
    body = (
        '[sweep]\ncondition = ["all_strategies"]\n"model.source" = ["tiny", "Qwen/Qwen2.5-3B"]\n'
        '"experiment.seed" = [0, 1]\n"grpo.steps" = [3, 4]\n"ppo.kl_coef" = [0.001, 1e-6]\n'
        '"eval.k" = [[1], [1, 2]]\n"eval.samples" = [2]\n"ppo.steps" = [3, 4]\n'
    )
    cells = expand_cells(load_spec(write(tmp_path, body), env={}))
    names = [c.name for c in cells]
    assert len(set(names)) == len(names) == 64
    assert all(re.fullmatch(r"[A-Za-z0-9_.=+-]+", n) for n in names)
    assert names[-1] == (
        "all_strategies__source=Qwen-Qwen2.5-3B__seed=1__grpo.steps=4"
        "__kl_coef=1e-06__k=1-2__ppo.steps=4"
    )


def test_names_that_would_collide_are_an_error(tmp_path: Path) -> None:
    body = '[sweep]\n"model.source" = ["a/b", "a-b"]\n'
    assert "same name" in only(problems(write(tmp_path, body)))


# -- writing and hashing ----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_dump_and_load_round_trip(path: Path, tmp_path: Path) -> None:
    spec = load_spec(path, ["sweep.ppo.kl_coef=[0.001, 1e-4]"], env={})
    out = tmp_path / "resolved.toml"
    out.write_text(dump_toml(spec), encoding="utf-8")
    again = load_spec(out, env={})
    assert again == spec and hash_json(again.model_dump(mode="json")) == hash_json(
        spec.model_dump(mode="json")
    )


def test_round_trip_keeps_optional_tables(tmp_path: Path) -> None:
    body = '[priming]\nsource = "llm"\n[priming.backend]\nprovider = "anthropic"\nmodel = "c"\n'
    spec = load_spec(write(tmp_path, body), env={})
    out = tmp_path / "resolved.toml"
    out.write_text(dump_toml(spec), encoding="utf-8")
    assert "[priming.backend]" in out.read_text(encoding="utf-8")
    assert load_spec(out, env={}) == spec


# -- the plan ---------------------------------------------------------------------------------


TINY = (
    "[ppo]\nsteps = 20\nprompts_per_step = 16\nactor_minibatch_prompts = 16\n"
    "critic_minibatch_prompts = 16\nmax_response_tokens = 96\n"
    "[eval]\nmax_new_tokens = 96\n[data]\ntrain = 512\ntest = 64\n"
    '[sweep]\ncondition = ["unprimed", "all_strategies"]\n'
)


def test_plan_stages_and_costs_for_the_tiny_model(tmp_path: Path) -> None:
    result = plan(load_spec(write(tmp_path, TINY), env={}))
    by = {(s.cell, s.name): s for s in result.stages}
    assert by[(None, "base model")].seconds == 0.0  # the shipped model
    small = plan(load_spec(write(tmp_path, TINY), ["model.tiny_size=small"], env={}))
    base = next(s for s in small.stages if s.name == "base model")
    assert base.seconds == pytest.approx(3000 * TINY_CPU_RATES.pretrain_s_per_step)
    assert by[("unprimed", "priming")].skipped == "unprimed"
    assert by[("unprimed", "sft")].skipped == "unprimed"
    rates = TINY_CPU_RATES
    primed = next(c.spec for c in result.cells if c.name == "all_strategies")
    prompt, completion = trace_lengths(
        "all_strategies",
        budget=primed.priming.budget,
        seed=primed.priming.seed,
        data_seed=primed.data.seed,
        sizes=tuple(primed.data.sizes),
        tiny=True,
    )
    assert 0 < prompt < completion  # measured in the tiny model's tokens
    ppo = by[("all_strategies", "ppo")]
    assert (ppo.sequences, ppo.tokens) == (20 * 16 * 4, 20 * 16 * 4 * 96)  # at the limit
    # time from the tokens a primed model writes: its traces' length, within the limit
    assert ppo.seconds == pytest.approx(20 * 16 * 4 * (prompt + 96) * rates.ppo_s_per_token)
    sft = by[("all_strategies", "sft")]
    assert sft.sequences == 5000
    assert sft.tokens == 5000 * round(prompt + completion)
    # activation checkpointing (SFT's default) recomputes the forward pass
    assert sft.seconds == pytest.approx(sft.tokens * rates.sft_s_per_token * rates.sft_recompute)
    ev = by[("all_strategies", "eval")]
    assert ev.sequences == 3 * 64 and ev.tokens == 3 * 64 * 96  # steps 0, 10, 20
    assert ev.seconds == pytest.approx(3 * 64 * 96 * rates.eval_s_per_token)
    base = by[("unprimed", "ppo")]  # the base writes its own length, shorter than the traces
    assert base.seconds == pytest.approx(
        20 * 16 * 4 * (prompt + rates.base_response_tokens) * rates.ppo_s_per_token
    )
    assert by[("all_strategies", "behaviors")].sequences == 3 * 64
    assert result.seconds is not None and result.seconds > 0
    assert result.tokens == sum(s.tokens for s in result.stages if s.skipped is None)


def test_plan_for_a_hub_model_gives_tokens_not_times(tmp_path: Path) -> None:
    path = write(tmp_path, TINY + "")
    result = plan(load_spec(path, ["model.source=Qwen/Qwen2.5-3B"], env={}))
    assert result.seconds is None
    trained = [s for s in result.stages if s.name in ("sft", "ppo", "eval") and not s.skipped]
    assert trained and all(s.seconds is None for s in trained)
    out = io.StringIO()
    render_plan(result, Console(file=out, width=200))
    text = out.getvalue()
    assert "depends on hardware" in text and "all_strategies" in text and "skipped" in text


def test_eval_steps_include_the_last_step(tmp_path: Path) -> None:
    spec = load_spec(
        write(tmp_path, "[ppo]\nsteps = 25\nsave_every = 5\n[eval]\nevery = 10\n"), env={}
    )
    assert eval_steps(spec) == [0, 10, 20, 25]


def test_render_plan_prints_cells_stages_and_a_total(tmp_path: Path) -> None:
    out = io.StringIO()
    render_plan(plan(load_spec(write(tmp_path, TINY), env={})), Console(file=out, width=200))
    text = out.getvalue()
    for word in ("unprimed", "all_strategies", "base model", "ppo", "eval", "behaviors", "total"):
        assert word in text
    assert "TINY_CPU_RATES" in text and "processes)" not in text  # one process: no packing


def test_plan_packs_cells_into_jobs_by_estimated_time(tmp_path: Path) -> None:
    spec = load_spec(
        write(tmp_path, TINY.replace('"all_strategies"]', '"all_strategies", "empty_cot"]')), env={}
    )
    result = plan(spec)
    cost = result.cell_seconds()
    # the long traces cost more than the empty ones, and the unprimed base least
    assert cost["all_strategies"] > cost["empty_cot"] > cost["unprimed"]
    groups = result.groups(2)
    assert sorted(n for g in groups for n in g) == sorted(cost)
    assert result.wall_seconds(1) == pytest.approx(result.seconds)
    busiest = max(sum(cost[n] for n in g) for g in groups)
    assert result.wall_seconds(2) == pytest.approx(busiest)  # the shared stages cost ~0 here
    assert busiest < sum(cost.values())
    out = io.StringIO()
    render_plan(result, Console(file=out, width=200), jobs=2)
    assert "with --jobs 2: about" in out.getvalue()


def test_loading_and_planning_import_no_torch() -> None:
    code = (
        "import sys; from cogstar.study.spec import load_spec; "
        "from cogstar.study.plan import plan; "
        f"plan(load_spec({str(PAPER / 'llama_priming.toml')!r}, env={{}})); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- curation ---------------------------------------------------------------------------------

WRITER = (
    '[curation.rewriter_backend]\nprovider = "openai"\nmodel = "Qwen/Qwen2.5-32B-Instruct"\n'
    'base_url = "http://127.0.0.1:8000/v1"\napi_key_env = "none"\n'
)
CURATED = (
    TINY.replace('condition = ["unprimed", "all_strategies"]\n', "")
    + 'condition = ["unprimed"]\n"curation.pool" = ["rich", "minimized"]\n'
    + '[curation]\nsource = "sample:100"\nbudget_tokens = 40960\ntest_fraction = 0.25\n'
    + WRITER
)


def test_curation_is_off_by_default_and_absent_from_the_resolved_spec(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, TINY), env={})
    assert spec.curation.pool == "none" and spec.curation.rewriter_backend is None
    assert "curation" not in dump_toml(spec)  # run folders made before the section still match
    names = {s.name for s in plan(spec).stages}
    assert not names & {"curation", "continued pretraining"}


def test_a_pool_sweep_gives_one_cell_per_pool_and_plans_curation_once(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, CURATED), env={})
    cells = expand_cells(spec)
    assert [c.name for c in cells] == ["unprimed__pool=rich", "unprimed__pool=minimized"]
    assert [c.spec.curation.pool for c in cells] == ["rich", "minimized"]
    out = tmp_path / "resolved.toml"
    out.write_text(dump_toml(spec), encoding="utf-8")
    text = out.read_text(encoding="utf-8")
    assert "[curation.rewriter_backend]" in text and "[curation.training]" in text
    assert load_spec(out, env={}) == spec
    stages = plan(spec).stages
    [shared] = [s for s in stages if s.name == "curation"]
    assert shared.cell is None and shared.sequences == 100 and shared.seconds is None
    assert "<= 300 requests" in shared.what  # 100 documents rewritten, each up to 3 times
    cpt = [s for s in stages if s.name == "continued pretraining"]
    assert [s.cell for s in cpt] == ["unprimed__pool=rich", "unprimed__pool=minimized"]
    assert cpt[0].tokens == 30720  # the budget less the test share, one epoch
    assert cpt[0].seconds == pytest.approx(30720 / 4096 * TINY_CPU_RATES.pretrain_s_per_step)
    llm = load_spec(
        write(
            tmp_path, CURATED + '[curation.labeller_backend]\nprovider = "openai"\nmodel = "j"\n'
        ),
        ["curation.labeller=llm"],
        env={},
    )
    [shared] = [s for s in plan(llm).stages if s.name == "curation"]
    assert "(j)" in shared.what and "<= 800 requests" in shared.what  # + 5 per document


def test_a_cell_without_curation_skips_continued_pretraining(tmp_path: Path) -> None:
    body = CURATED.replace('["rich", "minimized"]', '["none", "rich"]')
    stages = plan(load_spec(write(tmp_path, body), env={})).stages
    cpt = {s.cell: s for s in stages if s.name == "continued pretraining"}
    assert cpt["unprimed__pool=none"].skipped == "curation.pool = none"
    assert cpt["unprimed__pool=rich"].skipped is None


def test_curation_problems_name_the_key_and_the_fix(tmp_path: Path) -> None:
    no_writer = CURATED.replace(WRITER, "")
    found = problems(write(tmp_path, no_writer))
    assert len(found) == 1  # one line for both cells
    assert "curation.rewriter_backend (sweep cell unprimed__pool=rich and 1 more)" in found[0]
    assert "[curation.rewriter_backend]" in found[0]
    line = only(problems(write(tmp_path, CURATED), ["curation.labeller=llm"]))
    assert "curation.labeller_backend" in line and 'labeller = "heuristic"' in line
    line = only(
        problems(write(tmp_path, CURATED), ["curation.source=hf:open-web-math/open-web-math"])
    )
    assert "curation.limit" in line and "limit = 100000" in line
    line = only(problems(write(tmp_path, CURATED), ["curation.source=pages.txt"]))
    assert "curation.source" in line and "sample:400" in line
    line = only(problems(write(tmp_path, CURATED), ["curation.max_total_minimized=3"]))
    assert "curation.min_total_rich" in line and "both pools" in line
    line = only(problems(write(tmp_path, CURATED), ["curation.training.global_batch=6"]))
    assert "curation.training.global_batch" in line and "multiple of" in line
    pools = '"curation.pool" = ["rich", "minimized"]\n'
    swept = CURATED.replace(pools, pools + '"curation.budget_tokens" = [1000, 2000]\n')
    line = only(problems(write(tmp_path, swept)))
    assert 'sweep."curation.budget_tokens"' in line and "shared by the cells" in line
    swept = CURATED.replace(pools, pools + '"curation.training.lr" = [1e-5, 1e-4]\n')
    assert len(expand_cells(load_spec(write(tmp_path, swept), env={}))) == 4


def test_backend_key_variable_is_a_name_or_none(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, CURATED), env={})
    assert spec.curation.rewriter_backend is not None
    assert spec.curation.rewriter_backend.api_key_env == "none"
    line = only(problems(write(tmp_path, CURATED), ["curation.rewriter_backend.api_key_env=1-KEY"]))
    assert "curation.rewriter_backend.api_key_env" in line


def test_a_spec_extends_another(tmp_path: Path) -> None:
    from cogstar.errors import ConfigError

    (tmp_path / "base.toml").write_text(
        '[experiment]\nname = "base"\n[ppo]\nsteps = 7\nactor_lr = 1e-4\n'
        '[sweep]\ncondition = ["unprimed", "dots"]\n'
    )
    (tmp_path / "sub").mkdir()
    full = tmp_path / "sub" / "full.toml"
    full.write_text(
        'extends = "../base.toml"\n[experiment]\nname = "full"\n[ppo]\nsteps = 9\n'
        '[sweep]\n"experiment.seed" = [0, 1]\n'
    )
    spec = load_spec(full)
    # tables merge key by key: the base's actor_lr stays, the file's steps win
    assert (spec.experiment.name, spec.ppo.steps, spec.ppo.actor_lr) == ("full", 9, 1e-4)
    assert spec.sweep == {"condition": ["unprimed", "dots"], "experiment.seed": [0, 1]}
    # a problem in a key from the base names that file
    (tmp_path / "base.toml").write_text('[experiment]\nname = "base"\n[ppo]\nsteps = -1\n')
    full.write_text('extends = "../base.toml"\n')
    with pytest.raises(ConfigError, match=r"full\.toml \(from .*base\.toml\): ppo\.steps"):
        load_spec(full)
    full.write_text('extends = "missing.toml"\n')
    with pytest.raises(
        ConfigError, match=r"full\.toml: extends: .*missing\.toml: \(file\): cannot"
    ):
        load_spec(full)
    (tmp_path / "base.toml").write_text('extends = "sub/full.toml"\n')
    full.write_text('extends = "../base.toml"\n')
    with pytest.raises(ConfigError, match=r"extends: .* is a cycle"):
        load_spec(full)


def test_plan_shares_the_cores_among_more_processes() -> None:
    from cogstar.study.plan import _shared_cores

    # three equal cells on two cores: two processes run two of them back to back,
    # three processes run all three at two thirds of the speed
    assert _shared_cores([3.0, 3.0, 3.0], jobs=2, cores=2) == pytest.approx(6.0)
    assert _shared_cores([3.0, 3.0, 3.0], jobs=3, cores=2) == pytest.approx(4.5)
    # a short cell starts when a process frees up, and gets a whole core once alone
    assert _shared_cores([4.0, 2.0, 1.0], jobs=2, cores=2) == pytest.approx(4.0)
    assert _shared_cores([4.0, 2.0, 1.0], jobs=3, cores=1) == pytest.approx(7.0)
    assert _shared_cores([], jobs=2, cores=2) == 0.0
