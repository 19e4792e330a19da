"""Score saved completions: rewards for every record plus the task's benchmark metrics.

>>> from vreward.evaluate import ScoreConfig, score            # doctest: +SKIP
>>> summary = score(ScoreConfig(input="outputs.jsonl", task="detection", coco_gt="instances.json"))  # doctest: +SKIP

Records are read and scored in batches, so memory stays bounded on large files; every record's outcome (its
rewards, their reasons, its parse status) is written to ``output``, the summary to ``summary``, and a
Markdown/HTML report with plots to ``report``. Outputs are written atomically: nothing partial is left when a
bad record stops the run.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

import vreward
from vreward.atomic import atomic_writer
from vreward.evaluate.base import Record, RecordError, Sample, TaskMetrics
from vreward.evaluate.coco_eval import EvaluatorName
from vreward.evaluate.io import InputError, InputFormat, batches, read_records, record_location
from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, family_frame, frame_spec
from vreward.progress import progress_bar
from vreward.registry import PRESET_NAMES, PRESETS, build_reward, options_for, reward_spec, task_spec
from vreward.rewards.settings import Frame, FrameSettings
from vreward.solution import SolutionError

# A task of vreward.registry.TASKS: its rewards are scored on every record.
Task = Annotated[str, AfterValidator(lambda name: task_spec(name).name)]


class ScoreConfig(BaseModel):
    """Everything ``vreward score`` can be told; validated when built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Path = Field(description="JSONL file, JSON list file, or a dataset saved with save_to_disk")
    task: Task = "detection"
    input_format: InputFormat = "auto"
    split: str | None = Field(None, description="split of a saved DatasetDict")
    completion_field: str = "completion"
    solution_field: str = "solution"
    image_path_field: str = Field("image_path", description="image file of a record, for the report's gallery")
    image_id_field: str = "image_id"
    category_field: str = "category_id"
    coco_gt: Path | None = Field(None, description="COCO instances JSON (detection mAP)")
    lvis_gt: Path | None = Field(None, description="LVIS annotations JSON (detection mAP, LVIS rules)")
    evaluator: EvaluatorName = "auto"
    images: Literal["gt", "scored"] = Field("gt", description="evaluate on all ground-truth images, or the scored")
    categories: Literal["gt", "scored"] = Field("gt", description="evaluate all ground-truth categories, or the scored")
    default_score: float = Field(1.0, description="COCO score of a box that states no confidence")
    family: str | None = Field(None, description="model family (name, model_type, Hub id or config): how its answers "
                               "are read and the frame of its boxes")
    coords: Frame | None = Field(None, description="frame of the model's boxes (detection with COCO: qwen2vl)")
    solution_coords: Frame | None = None
    min_pixels: int = Field(QWEN25VL_MIN_PIXELS, gt=0)
    max_pixels: int = Field(QWEN25VL_MAX_PIXELS, gt=0)
    threshold: float = Field(0.5, ge=0.0, lt=1.0, description="IoU threshold of the detection rewards")
    matching: Literal["greedy", "hungarian"] = "greedy"
    thresholds: tuple[float, ...] = Field((0.5,), min_length=1, description="grounding Acc@t thresholds")
    match: Literal["contains", "exact"] = "contains"
    classes: tuple[str, ...] | None = None
    require_answer_tag: bool = True
    preset: Literal[PRESET_NAMES] = Field(  # type: ignore[valid-type]
        "default", description="reward definitions: vreward's defaults, or the paper's (visual_rft)")
    output: Path | None = Field(None, description="per-record scores and reasons (JSONL)")
    summary: Path | None = Field(None, description="summary (JSON)")
    report: Path | None = Field(None, description="directory for report.md / report.html and plots")
    worst: int = Field(12, ge=0, description="worst-scored samples shown in the report")
    skip_bad: bool = Field(False, description="skip and count malformed records instead of stopping")
    batch_size: int = Field(8192, ge=1)
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _family_frame(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("family") is not None:
            family, coords = family_frame(data["family"], data.get("coords"))
            data = {**data, "family": family, "coords": coords}
        return data

    @model_validator(mode="after")
    def _check(self) -> ScoreConfig:
        if self.coco_gt is not None and self.lvis_gt is not None:
            raise ValueError("give coco_gt or lvis_gt, not both")
        if (self.coco_gt or self.lvis_gt) and self.task != "detection":
            raise ValueError(f"coco_gt / lvis_gt apply to task 'detection', not {self.task!r}")
        for name in ("input", "coco_gt", "lvis_gt"):
            path = getattr(self, name)
            if path is not None and not Path(path).exists():
                raise ValueError(f"{name}: {path} does not exist")
        if not all(0.0 < t < 1.0 for t in self.thresholds):
            raise ValueError(f"thresholds must lie in (0, 1), got {self.thresholds}")
        return self


def build_metrics(config: ScoreConfig) -> TaskMetrics | None:
    """The task's metrics object (None for the tasks without benchmark metrics: format, multi_object, rotated)."""
    frames = {"min_pixels": config.min_pixels, "max_pixels": config.max_pixels}
    if config.task == "detection" and (config.coco_gt or config.lvis_gt):
        from vreward.evaluate.detection import DetectionMetrics

        return DetectionMetrics(gt_path=config.coco_gt or config.lvis_gt, lvis=config.lvis_gt is not None,
                                coords=config.coords or "qwen2vl", image_id_field=config.image_id_field,
                                category_field=config.category_field, default_score=config.default_score,
                                evaluator=config.evaluator, images=config.images, categories=config.categories,
                                solution_field=config.solution_field, **frames)
    tag = config.require_answer_tag
    if config.task == "grounding":
        from vreward.evaluate.grounding import GroundingMetrics

        return GroundingMetrics(coords=config.coords, solution_coords=config.solution_coords,
                                thresholds=config.thresholds, require_answer_tag=tag, **frames)
    if config.task == "classification":
        from vreward.evaluate.classification import ClassificationMetrics

        return ClassificationMetrics()
    from vreward.evaluate.catalogue import CATALOGUE_METRICS

    metrics = CATALOGUE_METRICS.get(config.task)
    return metrics() if metrics is not None else None


def build_rewards(config: ScoreConfig, metrics: TaskMetrics | None) -> list[vreward.Reward]:
    """The task's rewards (its row of :data:`vreward.registry.TASKS`) in ``config.preset``, each with the options
    of ``config`` it takes, in the frames the records (or the metrics' ground truth) use.

    Ground truth taken from a COCO / LVIS file is in pixels; the model's frame is then ``coords`` (Qwen2-VL's
    0-1000 by default, as in :func:`build_metrics`). Otherwise both frames are the configured ones, the same
    the task's metrics use. A reward option set explicitly that none of the task's rewards takes (``match`` with
    the default preset, say) is an error; frames and ``require_answer_tag`` also serve the metrics.
    """
    names = task_spec(config.task).reward_names
    available = {**config.model_dump(), "strict": True}  # a bad file is an error naming the line
    if getattr(metrics, "solution_coords", None) is not None:
        available.update(coords=config.coords or "qwen2vl", solution_coords=metrics.solution_coords)
    taken = {option for name in names for option in reward_spec(name, config.preset).options}
    reward_options = {option for rows in PRESETS.values() for spec in rows.values() for option in spec.options}
    unused = sorted((config.model_fields_set & reward_options) - taken - set(FrameSettings.model_fields))
    if unused:
        raise ValueError(f"{unused} are not options of the rewards of task {config.task!r} in preset "
                         f"{config.preset!r} ({', '.join(names)})")
    return [build_reward(name, preset=config.preset, **options_for(name, available, config.preset)) for name in names]


class _Tally:
    """Counts over the whole run: parse outcomes, reward sums and zero reasons, boxes outside the frame."""

    def __init__(self, names: list[str]):
        self.records = 0
        self.parse: Counter = Counter()
        self.sums = dict.fromkeys(names, 0.0)
        self.zeros = {name: Counter() for name in names}
        self.scores: dict[str, list[np.ndarray]] = {name: [] for name in names}
        self.boxes = 0
        self.outside = 0

    def add(self, parsed: vreward.ParsedBatch, results: dict[str, Any], extent: float | None) -> None:
        self.records += len(parsed)
        codes, counts = np.unique(parsed.status, return_counts=True)
        for code, n in zip(codes.tolist(), counts.tolist()):
            self.parse[parsed.reason_name(code)] += n
        for name, res in results.items():
            self.sums[name] += float(res.scores.sum())
            self.scores[name].append(res.scores)
            nonzero = res.codes != 0
            if nonzero.any():
                self.zeros[name].update(r for r in res.reasons if r is not None)
        self.boxes += len(parsed.boxes)
        if extent is not None and len(parsed.boxes):
            b = parsed.boxes
            self.outside += int(((b < 0) | (b > extent)).any(axis=1).sum())


def _frame_extent(config: ScoreConfig) -> float | None:
    """The largest value of the model's frame when it is fixed (0-1000, 0-1, bins), for out-of-frame counts."""
    return frame_spec(config.coords).largest if config.coords is not None else None


def _where(config: ScoreConfig, line: int) -> str:
    """The input file and the record at ``line``, as error messages name them."""
    return record_location(Path(config.input), config.input_format, line)


def _columns(records: list[Record], config: ScoreConfig, metrics: TaskMetrics | None) -> tuple[list, dict]:
    """Completions and every other field as a column, as TRL passes dataset columns to rewards."""
    completion_field = config.completion_field
    for record in records:
        if completion_field not in record.data:
            raise InputError(f"{_where(config, record.line)}: missing field {completion_field!r}")
    names = {k for record in records for k in record.data} - {completion_field}
    columns = {name: [record.data.get(name) for record in records] for name in names}
    if config.solution_field in columns and config.solution_field != "solution":
        columns["solution"] = columns.pop(config.solution_field)
    if metrics is not None:
        for name, values in metrics.columns(records).items():
            columns.setdefault(name, values)
    if "solution" not in columns and config.task != "format":
        raise InputError(f"{_where(config, records[0].line)}: missing field {config.solution_field!r} "
                         "(or pass the ground truth file)")
    if "solution" in columns:
        missing = [r.line for r, s in zip(records, columns["solution"]) if s is None]
        if missing:
            raise InputError(f"{_where(config, missing[0])}: missing field {config.solution_field!r}")
    return [record.data[completion_field] for record in records], columns


def score(config: ScoreConfig) -> dict[str, Any]:
    """Score ``config.input``; returns the summary (also written to ``config.summary``)."""
    return score_with_table(config)[0]


def score_with_table(config: ScoreConfig) -> tuple[dict[str, Any], list[str]]:
    """:func:`score`, plus the readable terminal table of the summary and the task's metrics."""
    metrics = build_metrics(config)
    rewards = build_rewards(config, metrics)
    names = [r.__name__ for r in rewards]
    tally = _Tally(names)
    bad: Counter = Counter()
    worst: list[tuple[float, int, Sample, dict]] = []
    extent = _frame_extent(config)
    progress = progress_bar(config.progress, desc="vreward score", unit=" records")
    records = read_records(Path(config.input), config.input_format, skip_bad=config.skip_bad, bad=bad,
                           split=config.split)
    with atomic_writer(config.output) if config.output is not None else nullcontext() as out:
        for batch in batches(records, config.batch_size):
            try:
                completions, columns = _columns(batch, config, metrics)
                results = {r.__name__: r.score(completions, **columns) for r in rewards}
                parsed = results[names[0]].parsed
                if metrics is not None:
                    metrics.add(batch, columns, parsed, results)
            except SolutionError as exc:
                if exc.row is None:
                    raise
                raise InputError(f"{_where(config, batch[exc.row].line)}: {exc}") from None
            except RecordError as exc:
                raise InputError(f"{_where(config, exc.line)}: {exc.problem}") from None
            tally.add(parsed, results, extent)
            if out is not None:
                _write_rows(out, batch, parsed, results)
            if config.report is not None and config.worst:
                _keep_worst(worst, config, batch, columns, parsed, results[names[0]])
            progress.update(len(batch))
    progress.close()
    summary = _summary(config, tally, bad, metrics)
    if config.report is not None:
        _write_report(config, summary, tally, metrics, worst)
    if config.summary is not None:
        with atomic_writer(config.summary) as f:
            json.dump(summary, f, indent=2)
    return summary, summary_table(summary, metrics.table() if metrics is not None else [])


def _write_rows(out: TextIO, batch: list[Record], parsed, results: dict[str, Any]) -> None:
    """One JSON line per record: line, parse status, each reward and its reason.

    The rows have a fixed shape of numbers and reason names (identifiers), so they are formatted directly.
    """
    status = [json.dumps(parsed.reason_name(code)) for code in range(len(vreward.ParseReason))]
    parts = [[f'{{"line": {r.line}, "parse": {status[code]}' for r, code in zip(batch, parsed.status.tolist())]]
    for name, res in results.items():
        reasons = ["null" if x is None else f'"{x}"' for x in res.reasons]
        parts.append([f', "{name}": {score!r}, "{name}_reason": {reason}'
                      for score, reason in zip(res.scores.tolist(), reasons)])
    out.write("".join("".join(cells) + "}\n" for cells in zip(*parts)))


def _keep_worst(worst: list, config: ScoreConfig, batch: list[Record], columns: dict, parsed, result) -> None:
    """Keep the ``config.worst`` lowest-scored records of the first reward (a bounded heap)."""
    scores = result.scores
    k = config.worst
    candidates = np.argsort(scores, kind="stable")[:k]
    for i in candidates.tolist():
        key = -float(scores[i])
        if len(worst) == k and key <= worst[0][0]:
            continue
        text = vreward.parsing.completion_text(batch[i].data.get(config.completion_field)) or ""
        lo, hi = int(parsed.offsets[i]), int(parsed.offsets[i + 1])
        sample = Sample(line=batch[i].line, score=float(scores[i]), reason=result.reasons[i],
                        completion=text[:4000], predicted=parsed.boxes[lo:hi].tolist(),
                        image_path=_image_path(batch[i].data.get(config.image_path_field), Path(config.input)))
        row = {name: values[i] for name, values in columns.items()}
        item = (key, batch[i].line, sample, row)
        if len(worst) < k:
            heapq.heappush(worst, item)
        else:
            heapq.heapreplace(worst, item)


def _image_path(value: Any, input_path: Path) -> str | None:
    """The record's image file; a relative path is taken relative to the input file's folder."""
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    if not path.is_absolute():
        path = (input_path if input_path.is_dir() else input_path.parent) / path
    return str(path)


def _summary(config: ScoreConfig, tally: _Tally, bad: Counter, metrics: TaskMetrics | None) -> dict[str, Any]:
    n = tally.records
    usable = {"ok", "no_objects"}
    return {
        "vreward_version": vreward.__version__,
        "input": str(config.input),
        "task": config.task,
        "records": n,
        "skipped_bad_records": sum(bad.values()),
        "skipped_by_problem": dict(bad.most_common()),
        "parse": dict(tally.parse.most_common()),
        "parsed": sum(v for k, v in tally.parse.items() if k in usable),
        "parse_failures": sum(v for k, v in tally.parse.items() if k not in usable),
        "boxes": tally.boxes,
        "boxes_outside_frame": tally.outside if _frame_extent(config) is not None else None,
        "rewards": {name: {"mean": tally.sums[name] / n if n else None,
                           "zero_reasons": dict(tally.zeros[name].most_common())} for name in tally.sums},
        "metrics": metrics.finalize() if metrics is not None else None,
        "config": json.loads(config.model_dump_json()),
    }


def _write_report(config: ScoreConfig, summary: dict, tally: _Tally, metrics: TaskMetrics | None,
                  worst: list) -> None:
    from vreward.evaluate.report import write_report

    out_dir = Path(config.report)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = metrics.figures(out_dir) if metrics is not None else []
    samples = []
    for _, _, sample, row in sorted(worst, key=lambda item: (-item[0], item[1])):
        samples.append(metrics.samples_pixels(sample, row) if metrics is not None else sample)
    scores = {name: np.concatenate(parts) if parts else np.zeros(0) for name, parts in tally.scores.items()}
    write_report(out_dir, summary, figures, scores, samples, title=f"vreward score: {config.input}")


def summary_table(summary: dict[str, Any], metrics_lines: list[str]) -> list[str]:
    """The readable terminal summary."""
    lines = [f"{summary['input']}: {summary['records']} records, task {summary['task']}"]
    if summary["skipped_bad_records"]:
        lines.append(f"skipped {summary['skipped_bad_records']} malformed records: {summary['skipped_by_problem']}")
    lines.append("parse: " + ", ".join(f"{k} {v}" for k, v in summary["parse"].items()))
    if summary["boxes_outside_frame"]:
        lines.append(f"boxes outside the frame: {summary['boxes_outside_frame']} of {summary['boxes']}")
    lines += ["", f"{'reward':<20} {'mean':>7}  zero (reason: count)"]
    for name, r in summary["rewards"].items():
        mean = f"{r['mean']:.4f}" if r["mean"] is not None else "-"
        reasons = ", ".join(f"{k}: {v}" for k, v in r["zero_reasons"].items()) or "-"
        lines.append(f"{name:<20} {mean:>7}  {reasons}")
    if metrics_lines:
        lines += [""] + metrics_lines
    return lines
