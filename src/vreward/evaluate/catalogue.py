"""Metrics of the catalogue's tasks for ``vreward score``: clicks (``gui``), counting, OCR, temporal grounding and
segmentation, each read from what its primary reward computed (its evidence), accumulated in bounded memory
(a few numbers per record).

* ``gui``: click accuracy (the click inside the target) and the mean distance of the click to the target centre in
  units of the target's size, ``hypot(dx / w, dy / h)`` (0.5 along an axis is the target's edge);
* ``counting``: exact-count accuracy, mean absolute error and off-by-one share (over answers stating one count);
* ``ocr``: mean ``1 - normalized edit distance``, CER and WER (edit distance over the truth's length, summed over
  the corpus), exact-match share;
* ``temporal``: R@1 at tIoU 0.3 / 0.5 / 0.7 and mIoU (the tIoU of the answer's intervals, distance penalty off);
* ``segmentation``: mIoU (mean per-sample mask IoU, LISA's gIoU) and cIoU (summed intersections over summed unions).

Unreadable answers count as misses (IoU 0, distance not counted).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure, Record, Sample
from vreward.parsing import ParsedBatch
from vreward.rewards.base import Reward, RewardBatch

TEMPORAL_THRESHOLDS = (0.3, 0.5, 0.7)


class RewardMetrics:
    """Metrics computed per sample from one reward's result (``reward_name``), summed batch by batch."""

    reward_name: str
    histogram: str  # the per-sample value plotted

    def __init__(self) -> None:
        self._values: dict[str, list[np.ndarray]] = {}
        self._failures: Counter = Counter()
        self._result: dict[str, Any] | None = None

    def columns(self, records: list[Record]) -> dict[str, list[Any]]:
        return {}

    def add(self, records: list[Record], columns: dict[str, list[Any]], parsed: ParsedBatch,
            results: dict[str, RewardBatch]) -> None:
        result = results.get(self.reward_name)
        if result is None:
            result = self._reward().score(parsed.texts, **columns)
        self._failures.update(r for r in result.reasons if r is not None)
        for key, values in self.per_sample(result, columns).items():
            self._values.setdefault(key, []).append(np.asarray(values, float))
        self._result = None

    def values(self, key: str) -> np.ndarray:
        parts = self._values.get(key, [])
        return np.concatenate(parts) if parts else np.zeros(0)

    def finalize(self) -> dict[str, Any]:
        self._result = {"samples": int(len(self.values(self.histogram))), **self.summarize(),
                        "failures": dict(self._failures.most_common())}
        return self._result

    def table(self) -> list[str]:
        from vreward.evaluate.report import format_table

        r = self._result if self._result is not None else self.finalize()
        flat = [[k, v] for k, v in r.items() if k != "failures" and not isinstance(v, dict)]
        flat += [[f"{k}.{kk}", vv] for k, v in r.items() if k != "failures" and isinstance(v, dict)
                 for kk, vv in v.items()]
        lines = format_table(flat, ["metric", "value"])
        if r["failures"]:
            lines.append("scored 0 because: " + ", ".join(f"{k} {v}" for k, v in r["failures"].items()))
        return lines

    def figures(self, out_dir: Path) -> list[Figure]:
        from vreward.evaluate.report import new_figure, save_figure

        values = self.values(self.histogram)
        values = values[np.isfinite(values)]
        if not len(values):
            return []
        fig = new_figure(6.0, 3.6)
        ax = fig.subplots()
        ax.hist(values, bins=30)
        ax.set_xlabel(self.histogram)
        ax.set_ylabel("samples")
        path = Path(out_dir) / f"{self.reward_name}_{self.histogram}.png"
        save_figure(fig, path)
        return [Figure(f"{self.histogram} histogram", path, f"Per-sample {self.histogram}.")]

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        return sample

    def _reward(self) -> Reward:
        from vreward.registry import REWARDS

        spec = next(s for s in REWARDS.values() if s.default_name == self.reward_name)
        return spec.attribute(spec.default_name)

    def per_sample(self, result: RewardBatch, columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def summarize(self) -> dict[str, Any]:
        raise NotImplementedError


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


class ClickMetrics(RewardMetrics):
    reward_name = "click_reward"
    histogram = "distance"

    def per_sample(self, result, columns):
        clicks = result.evidence
        return {"hit": clicks.hit.astype(float), "distance": clicks.distance}

    def summarize(self):
        return {"click_accuracy": _mean(self.values("hit")), "distance_mean": _mean(self.values("distance")),
                "distance_median": float(np.nanmedian(d)) if np.isfinite(d := self.values("distance")).any()
                else None}


class CountingMetrics(RewardMetrics):
    reward_name = "count_reward"
    histogram = "error"

    def per_sample(self, result, columns):
        stated, truth = result.evidence
        return {"error": stated - truth, "correct": (stated == truth).astype(float)}

    def summarize(self):
        error = self.values("error")
        stated = np.isfinite(error)
        return {"accuracy": _mean(self.values("correct")),
                "mae": float(np.abs(error[stated]).mean()) if stated.any() else None,
                "off_by_one": float((np.abs(error[stated]) == 1).mean()) if stated.any() else None,
                "stated_one_count": float(stated.mean()) if len(error) else None}


class OCRMetrics(RewardMetrics):
    reward_name = "ocr_reward"
    histogram = "score"

    def per_sample(self, result, columns):
        from rapidfuzz.distance import Levenshtein
        from rapidfuzz.process import cpdist

        from vreward.rewards.ocr import normalize_text
        from vreward.solution import solution_answers

        truths = [normalize_text(t) for t in solution_answers(columns.get("solution"), len(result.scores))]
        answers = [normalize_text(result.parsed.answer(i) or "") for i in range(len(truths))]
        chars = cpdist(answers, truths, scorer=Levenshtein.distance, workers=1, dtype=np.float64)
        words = cpdist([a.split() for a in answers], [t.split() for t in truths], scorer=Levenshtein.distance,
                       workers=1, dtype=np.float64)
        return {"score": result.scores, "char_errors": chars, "chars": [len(t) for t in truths],
                "word_errors": words, "words": [len(t.split()) for t in truths],
                "exact": [float(a == t) for a, t in zip(answers, truths)]}

    def summarize(self):
        chars, words = self.values("chars").sum(), self.values("words").sum()
        return {"score_mean": _mean(self.values("score")),
                "cer": float(self.values("char_errors").sum() / chars) if chars else None,
                "wer": float(self.values("word_errors").sum() / words) if words else None,
                "exact_match": _mean(self.values("exact"))}


class TemporalMetrics(RewardMetrics):
    reward_name = "temporal_iou_reward"
    histogram = "tiou"

    def per_sample(self, result, columns):
        from vreward.rewards.temporal import read_truth_intervals, temporal_iou

        truths, _ = read_truth_intervals(columns.get("solution"), len(result.scores), strict=True)
        return {"tiou": [temporal_iou(p, t) for p, t in zip(result.evidence, truths)]}

    def summarize(self):
        tiou = self.values("tiou")
        recall = {f"R@1,tIoU={t}": float((tiou >= t).mean()) if len(tiou) else None for t in TEMPORAL_THRESHOLDS}
        return {"recall": recall, "miou": _mean(tiou)}


class SegmentationMetrics(RewardMetrics):
    reward_name = "mask_iou_reward"
    histogram = "iou"

    def per_sample(self, result, columns):
        inter, union = result.evidence
        return {"iou": result.scores, "inter": inter, "union": union}

    def summarize(self):
        union = self.values("union").sum()
        return {"miou": _mean(self.values("iou")),
                "ciou": float(self.values("inter").sum() / union) if union > 0 else None, "area_unit": "pixels"}


# The metrics of each catalogue task (``vreward score --task <task>``).
CATALOGUE_METRICS: dict[str, type[RewardMetrics]] = {
    "gui": ClickMetrics, "counting": CountingMetrics, "ocr": OCRMetrics, "temporal": TemporalMetrics,
    "segmentation": SegmentationMetrics,
}
