"""``vreward`` command line: score saved completions with the rewards and explain every zero."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

TASK_REWARDS = {
    "detection": ("iou", "confidence", "format"),
    "grounding": ("giou", "format"),
    "classification": ("accuracy", "format"),
    "format": ("format",),
}


class InputError(ValueError):
    """A record that cannot be read: names the file, the line and the problem."""


def read_records(path: Path, skip_bad: bool, bad: Counter) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a JSONL file, one record per line."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
            except ValueError as exc:
                if skip_bad:
                    bad["malformed line"] += 1
                    continue
                raise InputError(f"{path}:{lineno}: {exc}") from None
            yield lineno, record


def build_rewards(task: str, args: argparse.Namespace) -> list:
    import vreward

    common = {"require_answer_tag": not args.no_answer_tag}
    frames = {"coords": args.coords, "solution_coords": args.solution_coords}
    makers = {
        "iou": lambda: vreward.make_iou_reward(threshold=args.threshold, matching=args.matching, **frames, **common),
        "confidence": lambda: vreward.make_confidence_reward(threshold=args.threshold, matching=args.matching,
                                                             **frames, **common),
        "format": lambda: vreward.make_format_reward(),
        "accuracy": lambda: vreward.make_accuracy_reward(**common),
        "giou": lambda: vreward.make_giou_reward(**frames, **common),
    }
    return [makers[name]() for name in TASK_REWARDS[task]]


@contextmanager
def atomic_writer(path: Path | None) -> Iterator[TextIO | None]:
    """Write to a temporary file beside ``path`` and move it in place only when everything succeeded."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def score_file(args: argparse.Namespace) -> dict[str, Any]:
    """Score every record of ``args.input``; returns the summary (and writes per-record results)."""
    from vreward.solution import SolutionError

    rewards = build_rewards(args.task, args)
    bad: Counter = Counter()
    totals = {r.__name__: 0.0 for r in rewards}
    zeros = {r.__name__: Counter() for r in rewards}
    parse_status: Counter = Counter()
    n = 0
    with atomic_writer(args.output) as out:
        for batch in _batches(read_records(args.input, args.skip_bad, bad), args.batch_size):
            completions, kwargs = _columns(batch, args)
            try:
                results = [r.score(completions, **kwargs) for r in rewards]
            except SolutionError as exc:
                if exc.row is None:
                    raise
                raise InputError(f"{args.input}:{batch[exc.row][0]}: {exc}") from None
            parsed = results[0].parsed
            for i in range(len(batch)):
                parse_status[parsed.reason(i).value] += 1
            for r, res in zip(rewards, results):
                totals[r.__name__] += float(res.scores.sum())
                zeros[r.__name__].update(x for x in res.reasons if x is not None)
            if out is not None:
                for i, (lineno, _) in enumerate(batch):
                    row = {"line": lineno, "parse": parsed.reason(i).value}
                    for r, res in zip(rewards, results):
                        row[r.__name__] = float(res.scores[i])
                        row[f"{r.__name__}_reason"] = res.reasons[i]
                    out.write(json.dumps(row) + "\n")
            n += len(batch)
    return {
        "input": str(args.input),
        "task": args.task,
        "records": n,
        "skipped_bad_lines": sum(bad.values()),
        "parse": dict(parse_status.most_common()),
        "rewards": {name: {"mean": totals[name] / n if n else None, "zero_reasons": dict(zeros[name].most_common())}
                    for name in totals},
    }


def _batches(records: Iterator[tuple[int, dict]], size: int) -> Iterator[list[tuple[int, dict]]]:
    batch: list[tuple[int, dict]] = []
    for item in records:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _columns(batch: list[tuple[int, dict]], args: argparse.Namespace) -> tuple[list, dict[str, list]]:
    """Completions and every other field as a column, as TRL passes dataset columns to rewards."""
    for lineno, record in batch:
        for field in (args.completion_field, args.solution_field):
            if field not in record and (field == args.completion_field or args.task != "format"):
                raise InputError(f"{args.input}:{lineno}: missing field {field!r}")
    names = {k for _, record in batch for k in record} - {args.completion_field}
    kwargs = {name: [record.get(name) for _, record in batch] for name in names}
    if args.solution_field in kwargs:
        kwargs["solution"] = kwargs.pop(args.solution_field)
    return [record[args.completion_field] for _, record in batch], kwargs


def print_summary(summary: dict[str, Any], stream: TextIO) -> None:
    n = summary["records"]
    stream.write(f"{summary['input']}: {n} records, task {summary['task']}\n")
    if summary["skipped_bad_lines"]:
        stream.write(f"skipped {summary['skipped_bad_lines']} malformed lines\n")
    stream.write("parse: " + ", ".join(f"{k} {v}" for k, v in summary["parse"].items()) + "\n\n")
    stream.write(f"{'reward':<20} {'mean':>7}  zero (reason: count)\n")
    for name, r in summary["rewards"].items():
        mean = f"{r['mean']:.4f}" if r["mean"] is not None else "-"
        reasons = ", ".join(f"{k}: {v}" for k, v in r["zero_reasons"].items()) or "-"
        stream.write(f"{name:<20} {mean:>7}  {reasons}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vreward", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score saved completions (JSONL, one record per line)")
    score.add_argument("input", nargs="?", type=Path, help="JSONL file (default: a bundled detection sample)")
    score.add_argument("--task", choices=sorted(TASK_REWARDS), default="detection")
    score.add_argument("--completion-field", default="completion")
    score.add_argument("--solution-field", default="solution")
    score.add_argument("--output", type=Path, help="write per-record scores and reasons here (JSONL)")
    score.add_argument("--summary-json", type=Path, help="write the summary here (JSON)")
    score.add_argument("--threshold", type=float, default=0.5, help="IoU threshold of a match")
    score.add_argument("--matching", choices=("greedy", "hungarian"), default="greedy")
    score.add_argument("--coords", choices=("qwen2vl", "qwen25vl", "pixels", "unit"), help="model's box frame")
    score.add_argument("--solution-coords", choices=("qwen2vl", "qwen25vl", "pixels", "unit"))
    score.add_argument("--no-answer-tag", action="store_true", help="read answers without <answer> tags too")
    score.add_argument("--skip-bad", action="store_true", help="skip and count malformed lines")
    score.add_argument("--batch-size", type=int, default=8192)
    args = parser.parse_args(argv)

    if args.input is None:
        args.input = Path(str(resources.files("vreward") / "data" / "sample_detection.jsonl"))
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    from pydantic import ValidationError

    from vreward.solution import SolutionError

    try:
        summary = score_file(args)
    except (InputError, SolutionError, ValidationError, ValueError, OSError) as exc:
        print(f"vreward score: error: {exc}", file=sys.stderr)
        return 2
    print_summary(summary, sys.stdout)
    if args.summary_json is not None:
        with atomic_writer(args.summary_json) as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
