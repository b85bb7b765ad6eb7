"""``cogstar run``, ``cogstar report`` and ``cogstar tiny-pretrain``: studies and the tiny model."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from cogstar.cli.common import console, err_console

if TYPE_CHECKING:
    from cogstar.study.spec import Spec

__all__ = ["report", "run", "tiny_pretrain"]


class _NotSharedTensorNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Removed shared tensor" not in record.getMessage()


def _quiet_libraries() -> None:
    """Keep transformers/datasets/TRL chatter out of the live display."""
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", module="transformers|trl|accelerate|datasets|torch")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    # Accelerate logs a warning per checkpoint for tied weights it saves once ("Removed
    # shared tensor {'lm_head.weight'} while saving"); its other warnings stay.
    logging.getLogger("accelerate.utils.other").addFilter(_NotSharedTensorNotice())


def run(args: argparse.Namespace) -> int:
    from cogstar.study.plan import plan, render_plan
    from cogstar.study.progress import Reporter
    from cogstar.study.runner import run_experiment
    from cogstar.study.spec import load_spec

    if args.jobs < 1:
        from cogstar.errors import UsageError

        raise UsageError(f"--jobs {args.jobs}: give at least 1 process")
    if args.dry_run:
        spec = load_spec(args.spec, args.set)
        cores = os.cpu_count() if args.jobs > 1 else None
        render_plan(plan(spec, cells=args.cell), console, jobs=args.jobs, cores=cores)
        return _memory(spec, args.cell)
    if args.json_log:
        mode = "json"
    elif args.quiet:
        mode = "quiet"
    else:  # a live display on a terminal, plain lines in a log file
        mode = "rich" if console.is_terminal else "plain"
    _quiet_libraries()
    try:
        run_dir = run_experiment(
            args.spec,
            overrides=args.set,
            cells=args.cell,
            force=args.force,
            report=Reporter(mode, console),
            make_report=not args.no_report,
            jobs=args.jobs,
        )
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]stopped.[/] Finished stages and checkpoints are kept; run the same "
            "command again to continue from where it stopped."
        )
        return 130
    if mode != "json":
        console.print(f"run directory: {run_dir}")
    return 0


def _memory(spec: Spec, cells: list[str]) -> int:
    """Print the spec's memory plan; 2 if it does not fit the GPUs ``[launch]`` declares."""
    from cogstar.errors import ConfigError
    from cogstar.study.memory import check_fits, memory_plan, render_memory

    try:
        plans = memory_plan(spec, cells)
    except ConfigError as err:  # a model whose config cannot be read here
        err_console.print(f"[yellow]no memory plan:[/] {err}")
        return 0
    render_memory(plans, console)
    try:
        check_fits(spec, plans)
    except ConfigError as err:
        err_console.print(f"[red]error:[/] {err}")
        return 2
    return 0


def tiny_pretrain(args: argparse.Namespace) -> int:
    from cogstar.train.tiny import pretrain

    out = pretrain(
        args.out,
        steps=args.steps,
        size=args.size,
        seed=args.seed,
        prose_share=args.prose_share,
        wide_share=args.wide_share,
    )
    console.print(f"wrote {out}")
    return 0


def report(args: argparse.Namespace) -> int:
    from cogstar.study.report import build_report

    paper = None if args.paper == "none" else args.paper
    build_report(args.run_dir, console, paper=paper, figures=False if args.no_figures else None)
    return 0
