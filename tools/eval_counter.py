"""Measure the rule-based behavior counter against hand-labelled traces.

    python tools/eval_counter.py ../shared/eval/countdown_traces_dev.jsonl [--show]

Reports, per behavior, presence accuracy (count > 0 agrees with label > 0), Spearman's rank
correlation of the counts, and the mean counts. The labelled file is evaluation data and is
read in place; nothing from it is copied into the project.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cogstar.behaviors import BEHAVIORS, count_behaviors


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rho (Pearson correlation of average ranks); nan when a side is constant."""
    rx, ry = _ranks(xs), _ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / (vx * vy) ** 0.5 if vx and vy else float("nan")


def evaluate(path: Path) -> dict[str, dict[str, float]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise SystemExit(f"{path}:{lineno}: not JSON ({err})") from None
    predicted = [
        count_behaviors(r["trace"], r.get("numbers"), r.get("target")).as_dict() for r in rows
    ]
    report: dict[str, dict[str, float]] = {}
    for b in BEHAVIORS:
        gold = [r["labels"][b] for r in rows]
        pred = [p[b] for p in predicted]
        agree = sum((g > 0) == (p > 0) for g, p in zip(gold, pred, strict=True))
        report[b] = {
            "presence_accuracy": agree / len(rows),
            "spearman": spearman(gold, pred),
            "mean_label": sum(gold) / len(rows),
            "mean_predicted": sum(pred) / len(rows),
        }
    report["_rows"] = {"n": len(rows)}
    report["_detail"] = {  # type: ignore[dict-item]
        r["id"]: {"label": r["labels"], "predicted": p}
        for r, p in zip(rows, predicted, strict=True)
    }
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--show", action="store_true", help="print each trace's label and prediction")
    args = ap.parse_args(argv)
    report = evaluate(args.path)
    detail = report.pop("_detail")
    n = int(report.pop("_rows")["n"])
    if args.show:
        for tid, d in detail.items():  # type: ignore[attr-defined]
            lab = [d["label"][b] for b in BEHAVIORS]
            pred = [d["predicted"][b] for b in BEHAVIORS]
            flag = "" if [x > 0 for x in lab] == [x > 0 for x in pred] else "  <- presence"
            print(f"{tid}  label {lab}  predicted {pred}{flag}")
    print(f"{n} traces")
    print(
        f"{'behavior':<14}{'presence acc':>14}{'spearman':>10}{'mean label':>12}{'mean pred':>11}"
    )
    for b, m in report.items():
        print(
            f"{b:<14}{m['presence_accuracy']:>14.3f}{m['spearman']:>10.3f}"
            f"{m['mean_label']:>12.2f}{m['mean_predicted']:>11.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
