"""The ``cogstar`` command line.

    cogstar solve 25 50 75 100 3 6 --target 952 --rules classic --all
    cogstar score --numbers 44 19 35 --target 98 "Assistant: <answer>44 + 19 + 35</answer>"
    cogstar score rollouts.jsonl              # lines of {"text", "numbers", "target"}
    cogstar generate puzzles --count 1000 --seed 0 --out puzzles.jsonl
    cogstar generate puzzles --count 1000 --seed 0 --priming --out priming_puzzles.jsonl
    cogstar generate priming --condition only_backtracking --count 1000 --out data/ob.parquet
    cogstar generate priming --condition all_strategies --count 1000 --out data/as.jsonl \
        --source llm --model gpt-4o-mini
    cogstar classify data/ob.parquet --per-item      # behavior counts (rule-based counter)
    cogstar classify rollouts.jsonl --judge llm --model gpt-4o-mini --json
    cogstar run experiments/priming_sweep.toml        # the whole study, resumable
    cogstar run experiments/priming_sweep.toml --dry-run --set ppo.steps=40
    cogstar report runs/priming_sweep --paper llama   # tables, figures, summary.json

Nothing here imports torch, so every command starts instantly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import cogstar
from cogstar.behaviors.priming import CONDITIONS, CONTROLS
from cogstar.cli import behaviors, core, study
from cogstar.cli.common import err_console
from cogstar.errors import CogstarError

__all__ = ["build_parser", "main"]


def _llm_options(parser: argparse.ArgumentParser, cache_dir: str) -> None:
    group = parser.add_argument_group("LLM backend")
    group.add_argument(
        "--provider",
        choices=["openai", "anthropic"],
        default="openai",
        help="openai: any OpenAI-compatible server; anthropic: the Anthropic API",
    )
    group.add_argument("--model", help="model name, e.g. gpt-4o-mini")
    group.add_argument(
        "--base-url", help="API base URL (default: the provider's; e.g. a local vLLM server)"
    )
    group.add_argument(
        "--api-key-env",
        help="environment variable holding the API key (default: OPENAI_API_KEY or "
        "ANTHROPIC_API_KEY); 'none' for a local server without keys",
    )
    group.add_argument("--cache-dir", default=cache_dir, help=f"reply cache (default: {cache_dir})")
    group.add_argument("--concurrency", type=int, default=8, help="requests in flight")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogstar",
        description="Countdown tools of cogstar: solve puzzles, score responses, generate data, "
        "classify behaviors.",
    )
    parser.add_argument("--version", action="version", version=f"cogstar {cogstar.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="solve a puzzle (first, all, or count of solutions)")
    solve.add_argument("numbers", type=int, nargs="+", help="the puzzle's numbers")
    solve.add_argument("--target", type=int, required=True, help="the number to reach")
    solve.add_argument(
        "--rules",
        choices=["rational", "classic"],
        default="rational",
        help="rational: any exact division (TinyZero's); classic: whole intermediate results",
    )
    group = solve.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="every distinct solution")
    group.add_argument("--limit", type=int, default=1, help="at most this many solutions")
    group.add_argument("--count", action="store_true", help="only count distinct solutions")
    solve.set_defaults(run=core.solve)

    score = sub.add_parser(
        "score",
        help="score one response, or a file or stream of completion rows",
        description="Score responses with the Countdown reward: one response (the argument, "
        "or stdin, with --numbers and --target), a FILE.jsonl/.parquet of completion rows "
        "(cogstar's eval/step_*.jsonl included), or JSON lines on stdin (no --numbers).",
    )
    score.add_argument(
        "text_or_file",
        nargs="?",
        help="a response text, FILE.jsonl or FILE.parquet, or '-' (default) for stdin",
    )
    score.add_argument("--numbers", type=int, nargs="+", help="one response: the puzzle's numbers")
    score.add_argument("--target", type=int, help="one response: the puzzle's target")
    score.add_argument(
        "--mode",
        choices=["tinyzero", "strict"],
        default="tinyzero",
        help="tinyzero: the paper's reward, score for score; strict: exact arithmetic",
    )
    score.add_argument("--json", action="store_true", help="machine-readable output")
    score.add_argument(
        "--per-item",
        action="store_true",
        help="with --json: one line per response, then the summary",
    )
    score.set_defaults(run=core.score)

    generate = sub.add_parser("generate", help="generate data")
    what = generate.add_subparsers(dest="what", required=True)
    puzzles = what.add_parser(
        "puzzles",
        help="seeded Countdown puzzles as JSONL, Parquet or verl's data layout",
        description="Seeded, solvable Countdown puzzles: JSONL rows {numbers, target} (stdout, "
        "or --out FILE.jsonl / FILE.parquet), or verl's training rows (--format verl).",
    )
    puzzles.add_argument("--count", type=int, required=True, help="how many puzzles")
    puzzles.add_argument("--seed", type=int, required=True, help="the generator's seed")
    puzzles.add_argument(
        "--sizes", type=int, nargs="+", default=[3, 4], help="how many numbers a puzzle has"
    )
    puzzles.add_argument(
        "--priming", action="store_true", help="the priming distribution (targets 10-25, classic)"
    )
    puzzles.add_argument(
        "--format",
        choices=["rows", "verl"],
        default="rows",
        help="rows: puzzle rows, JSONL or Parquet by --out's suffix; verl: verl's Parquet "
        "columns (data_source, prompt, ability, reward_model, extra_info)",
    )
    puzzles.add_argument(
        "--style",
        choices=["base", "chat"],
        default="base",
        help="verl: the base-model prompt up to <think> (TinyZero's), or system + user turns",
    )
    puzzles.add_argument("--split", default="train", help="verl: extra_info.split of each row")
    puzzles.add_argument("--out", help="output FILE.jsonl or FILE.parquet (default: stdout)")
    puzzles.set_defaults(run=core.generate_puzzles)

    priming = what.add_parser(
        "priming",
        help="a priming set (condition or control) as JSONL or Parquet, with its dataset card",
        description="Build a priming set on puzzles of the priming distribution, write it "
        "(.jsonl or .parquet, by --out's suffix) and its card (FILE.card.md, FILE.card.json), "
        "and print the card.",
    )
    priming.add_argument(
        "--condition",
        required=True,
        choices=[*CONDITIONS, *CONTROLS],
        metavar="CONDITION",
        help=f"one of {', '.join(CONDITIONS)}; or a control: {', '.join(CONTROLS)}",
    )
    priming.add_argument("--count", type=int, required=True, help="number of puzzles")
    priming.add_argument("--out", required=True, help="output FILE.jsonl or FILE.parquet")
    priming.add_argument(
        "--source",
        choices=["synthetic", "llm"],
        default="synthetic",
        help="synthetic: cogstar's offline synthesizer (default); llm: ask a model",
    )
    priming.add_argument("--seed", type=int, default=0, help="puzzles and synthesizer seed")
    priming.add_argument(
        "--budget",
        type=int,
        metavar="CHARS",
        help="synthetic: rough length of a trace in characters (default: drawn per trace)",
    )
    priming.add_argument(
        "--tokenizer",
        metavar="MODEL",
        help="the dots control: the primed model's Hugging Face tokenizer",
    )
    _llm_options(priming, "runs/cache/llm")
    priming.set_defaults(run=behaviors.generate_priming)

    classify = sub.add_parser(
        "classify",
        help="count the four behaviors in a JSONL or Parquet file of responses",
        description="Count verification, backtracking, subgoal setting and backward chaining "
        "in each item (a completion, text or response field, with optional numbers and "
        "target) and print the mean count and the share of items with at least one instance.",
    )
    classify.add_argument("file", help="FILE.jsonl or FILE.parquet")
    classify.add_argument(
        "--judge",
        choices=["rules", "llm"],
        default="rules",
        help="rules: cogstar's rule-based counter (default); llm: an LLM judge",
    )
    classify.add_argument("--per-item", action="store_true", help="one row per item")
    classify.add_argument("--json", action="store_true", help="machine-readable output")
    _llm_options(classify, "runs/cache/judge")
    classify.set_defaults(run=behaviors.classify)

    run = sub.add_parser(
        "run",
        help="run (or resume) a study from a spec",
        description="Run every stage of SPEC for every cell of its sweep: data, priming, SFT, "
        "RL, evaluation and behavior counts at each checkpoint, then the report. Rerunning the "
        "same command resumes: finished stages are kept, an interrupted one continues from its "
        "last checkpoint.",
    )
    run.add_argument("spec", metavar="SPEC", help="the experiment spec (TOML)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set ppo.steps=20 (repeatable; TOML values)",
    )
    run.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this cell of the sweep (repeatable; see --dry-run for the names)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    run.add_argument(
        "--force",
        action="store_true",
        help="run although the run directory holds another spec (stages whose inputs "
        "changed are redone; their old outputs are moved aside)",
    )
    run.add_argument("--quiet", action="store_true", help="no live display")
    run.add_argument("--json-log", action="store_true", help="one JSON event per line on stdout")
    run.add_argument("--no-report", action="store_true", help="skip the report at the end")
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the cells in N processes of (cores / N) threads each (one when N is over "
        "the cores, which they then share), after the shared work (on a CPU, small models "
        "train faster this way; default 1)",
    )
    run.set_defaults(run=study.run)

    serve = sub.add_parser(
        "serve-reward",
        help="an HTTP Countdown reward server (OpenRLHF's --remote_rm_url)",
        description="Serve the Countdown reward over HTTP: POST JSON {query, prompts, labels} "
        "(labels: {numbers, target} per query) on any path, get {rewards, scores, "
        'extra_logs}. Needs the serve extra: pip install -e ".[serve]".',
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on")
    serve.add_argument(
        "--mode", choices=["tinyzero", "strict"], default="tinyzero", help="the reward's rules"
    )
    serve.set_defaults(run=core.serve_reward)

    tiny = sub.add_parser(
        "tiny-pretrain",
        help="pretrain the embedded tiny base model",
        description="Pretrain the tiny base model on generated Countdown derivations (no "
        "behaviors) and save it to OUT. The shipped model was made with the defaults.",
    )
    tiny.add_argument("out", metavar="OUT", help="output folder")
    tiny.add_argument("--steps", type=int, default=3000, help="optimizer steps")
    tiny.add_argument(
        "--size",
        choices=("tiny", "small"),
        default="tiny",
        help="the model's size (see tiny.TINY_SIZES)",
    )
    tiny.add_argument("--seed", type=int, default=0, help="data and initialisation seed")
    tiny.add_argument(
        "--prose-share",
        type=float,
        default=0.5,
        help="share of derivations retold as behavior-free prose (the shipped model: 0.5)",
    )
    tiny.add_argument(
        "--wide-share",
        type=float,
        default=0.0,
        help="share of documents on wider puzzles (targets 1-100), meant to teach the base to "
        "copy the prompt's target (the shipped model: 0)",
    )
    tiny.set_defaults(run=study.tiny_pretrain)

    report = sub.add_parser(
        "report",
        help="tables, ranking, figures and summary.json of a run directory (partial runs too)",
        description="Print a table per cell (accuracy, response length and the four behaviors "
        "at each checkpoint) and a ranking by final accuracy, and write RUN_DIR/report/ "
        "(report.md, accuracy.png, behaviors.png, length.png, summary.json).",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    report.add_argument(
        "--paper",
        choices=["auto", "qwen", "llama", "none"],
        default="auto",
        help="compare with the paper's published curves for this model (auto: from the "
        "spec's [report].paper, else its [model].source)",
    )
    report.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    report.set_defaults(run=study.report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CogstarError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        return 2
    except BrokenPipeError:  # `cogstar generate ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's exit flush must not raise again
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
