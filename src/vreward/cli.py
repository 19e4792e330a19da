"""``vreward`` command line: score saved completions with the rewards and the task's metrics."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from vreward.frames import FRAME_NAMES
from vreward.registry import PRESET_NAMES, TASK_NAMES


def _choices(field: str) -> dict[str, Any]:
    """``choices`` and ``default`` of an option from its :class:`ScoreConfig` field (a ``Literal``)."""
    from vreward.evaluate import ScoreConfig

    spec = ScoreConfig.model_fields[field]
    return {"choices": get_args(spec.annotation), "default": spec.default}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vreward", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score saved completions (JSONL, JSON list or a saved HF dataset)",
                       description="Score saved completions: per-record rewards and reasons, the task's metrics, "
                       "a summary and a report. Without INPUT, scores a bundled sample of detection completions.")
    s.add_argument("input", nargs="?", type=Path, help="JSONL file, JSON list file or dataset directory")
    s.add_argument("--task", choices=TASK_NAMES, default="detection")
    s.add_argument("--input-format", **_choices("input_format"))
    s.add_argument("--split", help="split of a saved DatasetDict")
    fields = s.add_argument_group("fields")
    fields.add_argument("--completion-field", default="completion")
    fields.add_argument("--solution-field", default="solution")
    fields.add_argument("--image-id-field", default="image_id")
    fields.add_argument("--category-field", default="category_id", help="category id or name")
    fields.add_argument("--image-path-field", default="image_path", help="image file, for the report's gallery")
    det = s.add_argument_group("detection")
    det.add_argument("--coco-gt", type=Path, help="COCO instances JSON: adds COCO mAP")
    det.add_argument("--lvis-gt", type=Path, help="LVIS annotations JSON: adds LVIS mAP")
    det.add_argument("--evaluator", **_choices("evaluator"))
    det.add_argument("--default-score", type=float, default=1.0, help="score of a box without confidence")
    det.add_argument("--images", **_choices("images"),
                     help="evaluate on every ground-truth image (COCO's rule) or only the scored ones")
    det.add_argument("--categories", **_choices("categories"),
                     help="evaluate every ground-truth category or only the scored ones")
    det.add_argument("--threshold", type=float, help="IoU threshold of the rewards (default 0.5)")
    det.add_argument("--matching", choices=_choices("matching")["choices"], help="box matching (default greedy)")
    frames = s.add_argument_group("coordinate frames")
    frames.add_argument("--family", help="model family: a name (qwen3vl, paligemma, ...), transformers model_type, "
                        "Hub id or checkpoint; sets how answers are read and --coords")
    frames.add_argument("--coords", choices=FRAME_NAMES, help="frame of the model's boxes")
    frames.add_argument("--solution-coords", choices=FRAME_NAMES, help="frame of the ground-truth boxes")
    frames.add_argument("--min-pixels", type=int, default=3136)
    frames.add_argument("--max-pixels", type=int, default=12845056)
    other = s.add_argument_group("grounding and classification")
    other.add_argument("--thresholds", type=float, nargs="+", default=[0.5], help="grounding Acc@t thresholds")
    other.add_argument("--match", choices=_choices("match")["choices"],
                       help="--preset visual_rft: the classification rule (default contains)")
    other.add_argument("--classes", type=Path, help="file with one class name per line")
    s.add_argument("--preset", **_choices("preset"),
                   help="reward definitions: vreward's defaults or the paper's (visual_rft)")
    out = s.add_argument_group("output")
    out.add_argument("--output", type=Path, help="per-record scores and reasons (JSONL)")
    out.add_argument("--summary-json", type=Path, help="summary (JSON)")
    out.add_argument("--report", type=Path, help="directory for report.md / report.html and plots")
    out.add_argument("--worst", type=int, default=12, help="worst-scored samples shown in the report")
    s.add_argument("--no-answer-tag", action="store_true", help="also read answers given without <answer> tags")
    s.add_argument("--skip-bad", action="store_true", help="skip and count malformed records")
    s.add_argument("--batch-size", type=int, default=8192)
    s.add_argument("--no-progress", action="store_true")
    _add_serve(sub)
    _add_audit(sub)
    return parser


def _add_audit(sub) -> None:
    a = sub.add_parser("audit", help="attack a reward configuration with answers that do none of the task",
                       description="Score attacks (junk boxes, box grids, whole-image boxes, class lists, malformed "
                       "blocks, ...) next to honest answers (perfect, slightly off, one object missed, 'No Objects', "
                       "wrong class) and exit 1 when an attack beats an honest answer or a harmless variation of the "
                       "perfect answer is punished. Default: vreward's default rewards on the bundled scenes.")
    a.add_argument("--task", choices=TASK_NAMES, action="append", help="audit this task (repeatable; default all)")
    a.add_argument("--preset", choices=PRESET_NAMES, default="default", help="reward definitions to audit")
    a.add_argument("--weights", help="reward weights, e.g. iou=1,confidence=0.5,format=1")
    a.add_argument("--reward", action="append", metavar="MODULE:FUNCTION",
                   help="audit your own TRL-style reward function instead (repeatable; needs one --task)")
    a.add_argument("--data", type=Path, help="build the scenes from this dataset's ground truth (JSONL / JSON / "
                   "saved dataset with solution, width, height, classes) instead of the bundled ones")
    a.add_argument("--limit", type=int, default=50, help="most scenes taken from --data")
    a.add_argument("--report", type=Path, help="write audit.md and audit.html into this directory")
    a.add_argument("--all", action="store_true", help="print every verdict, not only the failures")
    a.add_argument("--no-fail", action="store_true", help="exit 0 even when an attack wins")


def _audit(args: argparse.Namespace) -> int:
    from vreward.audit import AuditConfig, audit, scenes_from_records, table, write_report
    from vreward.composite import parse_weights

    try:
        if args.reward:
            if not args.task or len(args.task) != 1:
                raise ValueError("--reward needs exactly one --task (the scenes to attack it on)")
            config = AuditConfig.of_functions(args.reward, args.task[0])
        else:
            config = AuditConfig.of_preset(args.preset, args.task, parse_weights(args.weights))
        scenes = None
        if args.data is not None:
            from vreward.evaluate.io import read_records

            if not args.task or len(args.task) != 1:
                raise ValueError("--data needs exactly one --task (what the dataset's ground truth is)")
            scenes = scenes_from_records((r.data for r in read_records(args.data)), args.task[0], args.limit)
        report = audit(config, scenes)
    except ValueError as exc:
        print(f"vreward audit: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(table(report, failures_only=not args.all)))
    if args.report is not None:
        for path in write_report(report, args.report):
            print(f"wrote {path}")
    return 0 if report.passed or args.no_fail else 1


def _add_serve(sub) -> None:
    v = sub.add_parser("serve", help="serve the rewards over HTTP (OpenRLHF's remote reward URL, JSON scoring)",
                       description="Run the reward server (needs the `serve` extra: pip install 'vreward[serve]'). "
                       "Endpoints: POST /openrlhf (and /get_reward), POST /score, GET /health, GET /metrics.")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--task", choices=TASK_NAMES, default="detection")
    v.add_argument("--weights", help="reward weights, e.g. iou=1,confidence=1,format=1")
    v.add_argument("--options", help='reward options as JSON, e.g. \'{"iou": {"threshold": 0.75}}\'')
    v.add_argument("--family", help="model family of the completions (name, model_type or Hub id)")
    v.add_argument("--preset", choices=PRESET_NAMES, default="default",
                   help="reward definitions: vreward's defaults or the paper's (visual_rft)")
    v.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    v.add_argument("--max-body-bytes", type=int, default=128 * 1024 * 1024, help="largest request body (128 MiB)")
    v.add_argument("--max-batch", type=int, default=4096, help="most completions in one request")
    v.add_argument("--strict", action="store_true",
                   help="refuse OpenRLHF requests whose labels cannot be read (422) instead of scoring those rows 0")
    v.add_argument("--batch-window-ms", type=float, default=0.0,
                   help="how long a small request waits for concurrent ones to be scored with (default 0: the "
                   "event loop's next turn)")
    v.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def _serve(args: argparse.Namespace) -> int:
    import json
    import os

    try:
        import uvicorn

        from vreward.composite import parse_weights
        from vreward.server import create_app
    except ImportError as exc:
        print(f"vreward serve: needs the serve extra (pip install 'vreward[serve]'): {exc}", file=sys.stderr)
        return 2
    try:
        weights = parse_weights(args.weights)
        options = json.loads(args.options) if args.options else None
        config = {"task": args.task, "weights": weights, "options": options, "preset": args.preset,
                  "family": args.family, "max_body_bytes": args.max_body_bytes, "max_batch": args.max_batch,
                  "strict": args.strict, "batch_window_ms": args.batch_window_ms}
        create_app(**config)  # validate before starting (bad weights or options exit with status 2)
    except ValueError as exc:
        print(f"vreward serve: error: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1:
        # worker processes import the app factory and read the configuration from the environment
        os.environ["VREWARD_SERVE_CONFIG"] = json.dumps(config)
        uvicorn.run("vreward.server:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
    else:
        uvicorn.run(create_app(**config), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "audit":
        return _audit(args)
    from pydantic import ValidationError

    from vreward.evaluate import InputError, ScoreConfig, score_with_table
    from vreward.solution import SolutionError

    if args.input is None:
        args.input = Path(str(resources.files("vreward") / "data" / "sample_detection.jsonl"))
    try:
        classes = None
        if args.classes is not None:
            classes = tuple(c.strip() for c in args.classes.read_text(encoding="utf-8").splitlines() if c.strip())
        config = ScoreConfig(
            input=args.input, task=args.task, input_format=args.input_format, split=args.split,
            completion_field=args.completion_field, solution_field=args.solution_field,
            image_id_field=args.image_id_field, category_field=args.category_field,
            image_path_field=args.image_path_field, coco_gt=args.coco_gt, lvis_gt=args.lvis_gt,
            evaluator=args.evaluator, images=args.images, categories=args.categories,
            default_score=args.default_score, family=args.family, coords=args.coords,
            solution_coords=args.solution_coords,
            min_pixels=args.min_pixels, max_pixels=args.max_pixels, thresholds=tuple(args.thresholds),
            output=args.output, summary=args.summary_json, report=args.report, preset=args.preset,
            worst=args.worst, require_answer_tag=not args.no_answer_tag, skip_bad=args.skip_bad,
            batch_size=args.batch_size, progress=not args.no_progress,
            **{k: v for k, v in (("threshold", args.threshold), ("matching", args.matching), ("match", args.match),
                                 ("classes", classes)) if v is not None})
        _, lines = score_with_table(config)
    except ValidationError as exc:
        print(f"vreward score: invalid options:\n{exc}", file=sys.stderr)
        return 2
    except (InputError, SolutionError, ValueError, OSError) as exc:
        print(f"vreward score: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
