"""Held-out evaluation of a policy: greedy generation on a held-out split, scored by ``vreward score``.

Use::

    evaluator = HeldOutEvaluator.from_config(config, processor, family, out_dir / "eval")
    result = evaluator.evaluate(model, step=0)
    result.log_metrics()   # {"eval/iou_reward/mean": 0.31, "eval/ap50": 0.42, ...}, for TRL's logs
    result.summary()       # {"mean_iou_reward": 0.31, "ap": 0.18, "ap50": 0.42, "zero_reasons": {...}, ...}

Each evaluation writes its completions (``step_<N>.jsonl``, the records of ``vreward-train generate``) under the
evaluator's folder, scores them, and saves its summary beside them (``step_<N>.json``; :func:`load_results` reads
them back). It scores as ``vreward score`` does: every reward of the task in the configured preset,
with the reasons of its zeros, and for detection with COCO ground truth (``eval.coco_gt``, or the split's
``instances_<split>.json``) COCO AP and AP50 over the evaluated images.

Requires the ``train`` extra.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vreward.atomic import write_atomic
from vreward_train.config import ConfigError

if TYPE_CHECKING:
    import datasets

    from vreward_train.config import TrainConfig

LOG_PREFIX = "eval/"


@dataclass(frozen=True)
class HeldOutResult:
    """One held-out evaluation: each reward's mean and zero reasons, COCO AP / AP50 (detection with ground
    truth; else None), and the completions file it scored."""

    step: int
    records: int
    reward_means: dict[str, float]
    zero_reasons: dict[str, dict[str, int]]
    completions: Path
    ap: float | None = None
    ap50: float | None = None
    detections: int | None = None
    parse: dict[str, int] = field(default_factory=dict)

    def log_metrics(self) -> dict[str, float]:
        """Flat metrics for the trainer's logs: ``eval/<reward>/mean``, ``eval/<reward>/zero/<reason>`` (share
        of the rows), ``eval/ap``, ``eval/ap50``, ``eval/detections``."""
        out: dict[str, float] = {}
        for name, mean in self.reward_means.items():
            out[f"{LOG_PREFIX}{name}/mean"] = mean
            for reason, count in self.zero_reasons.get(name, {}).items():
                out[f"{LOG_PREFIX}{name}/zero/{reason}"] = count / self.records if self.records else 0.0
        for key in ("ap", "ap50", "detections"):
            value = getattr(self, key)
            if value is not None:
                out[f"{LOG_PREFIX}{key}"] = value
        return out

    def summary(self) -> dict[str, Any]:
        """The result as plain data: ``mean_<reward>`` per reward, ``ap``, ``ap50``, ``detections``,
        ``zero_reasons``, ``parse``, ``records``, ``step`` and ``completions``."""
        return {"step": self.step, "records": self.records,
                **{f"mean_{name}": mean for name, mean in self.reward_means.items()},
                "ap": self.ap, "ap50": self.ap50, "detections": self.detections,
                "zero_reasons": self.zero_reasons, "parse": self.parse, "completions": str(self.completions)}


class HeldOutEvaluator:
    """Generates on held-out rows with a given model and scores the completions with vreward."""

    def __init__(self, rows: datasets.Dataset, processor: Any, family: str, out_dir: Path, *, task: str,
                 prompt: str, data_root: Path | None, solution_coords: str, preset: str, max_new_tokens: int,
                 batch_size: int, coco_gt: Path | None = None):
        self.rows = rows
        self.processor = processor
        self.family = family
        self.out_dir = Path(out_dir)
        self.task = task
        self.prompt = prompt
        self.data_root = data_root
        self.solution_coords = solution_coords
        self.preset = preset
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.coco_gt = coco_gt

    @classmethod
    def from_config(cls, config: TrainConfig, processor: Any, family: str, out_dir: Path) -> HeldOutEvaluator:
        """The evaluator of ``config.eval``: its data (default ``data.path``), split and sizes, the training
        prompt mode, the data's ground-truth frame and the rewards' preset."""
        from vreward_train.generate import data_root_of, load_split
        from vreward_train.train import solution_frame

        e = config.eval
        source = e.path if e.path is not None else config.data.path
        if source is None:
            raise ConfigError("eval: give eval.path (held-out data); data.path is not set")
        rows = load_split(source, e.split, config.data.image_root)
        if e.max_samples is not None and len(rows) > e.max_samples:
            rows = rows.select(range(e.max_samples))
        return cls(rows, processor, family, out_dir, task=config.task, prompt=config.data.prompt,
                   data_root=data_root_of(source, config.data.image_root),
                   solution_coords=solution_frame(config, family), preset=config.rewards.preset,
                   max_new_tokens=e.max_new_tokens or config.grpo.max_completion_length, batch_size=e.batch_size,
                   coco_gt=e.coco_gt or split_instances(source, e.split, config.task))

    def evaluate(self, model: Any, step: int) -> HeldOutResult:
        """Generate greedily with ``model`` (left in the mode it was in) on the rows, score, save the summary;
        ``step`` names the files (``step_<N>.jsonl``, ``step_<N>.json``)."""
        from vreward.evaluate import ScoreConfig, score
        from vreward_train.generate import write_completions
        from vreward_train.models import coordinate_frame, pixel_bounds

        path = self.out_dir / f"step_{step:06d}.jsonl"
        write_completions(model, self.processor, self.family, self.rows, path, data_root=self.data_root,
                          task=self.task, prompt=self.prompt, max_new_tokens=self.max_new_tokens,
                          batch_size=self.batch_size)
        lo, hi = pixel_bounds(self.processor)
        frames = {} if self.task == "classification" else {
            "family": self.family, "coords": coordinate_frame(self.family), "solution_coords": self.solution_coords}
        if self.coco_gt is None:
            summary = score(ScoreConfig(input=path, task=self.task, preset=self.preset, min_pixels=lo,
                                        max_pixels=hi, progress=False, **frames))
        else:
            # vreward score reads a record's own solution as pixels when given a COCO file: score a copy without
            # it, so that the rewards and AP both take the boxes of the COCO file (the same objects, in pixels).
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            with tempfile.TemporaryDirectory(dir=self.out_dir) as tmp:
                scored = Path(tmp) / path.name
                scored.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "solution"}) + "\n"
                                          for r in records), encoding="utf-8")
                summary = score(ScoreConfig(input=scored, task=self.task, preset=self.preset, min_pixels=lo,
                                            max_pixels=hi, coco_gt=self.coco_gt, images="scored",
                                            progress=False, **frames))
        result = result_of(summary, step, path)
        write_atomic(path.with_suffix(".json"), json.dumps(result.summary(), indent=1))
        return result


def load_results(eval_dir: Path) -> list[dict[str, Any]]:
    """The saved summaries (:meth:`HeldOutResult.summary`) of the evaluations in ``eval_dir``, by step."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(eval_dir).glob("step_*.json"))]


def split_instances(source: str | Path, split: str, task: str) -> Path | None:
    """``instances_<split>.json`` beside a DatasetDict (as the drawn-shapes set writes it), for detection, when
    a COCO evaluator (faster-coco-eval or pycocotools, the ``eval`` extra) is installed."""
    import importlib.util

    path = Path(source) / f"instances_{split}.json"
    evaluator = any(importlib.util.find_spec(name) for name in ("faster_coco_eval", "pycocotools"))
    return path if task == "detection" and evaluator and Path(source).is_dir() and path.is_file() else None


def result_of(summary: dict[str, Any], step: int, completions: Path) -> HeldOutResult:
    """A :class:`HeldOutResult` from a ``vreward score`` summary."""
    metrics = summary.get("metrics") or {}
    stats = metrics.get("stats") or {}
    return HeldOutResult(
        step=step, records=int(summary["records"]),
        reward_means={name: float(r["mean"]) if r["mean"] is not None else 0.0
                      for name, r in summary["rewards"].items()},
        zero_reasons={name: dict(r["zero_reasons"]) for name, r in summary["rewards"].items()},
        completions=completions, ap=stats.get("AP"), ap50=stats.get("AP50"),
        detections=metrics.get("detections"), parse=dict(summary.get("parse") or {}))
