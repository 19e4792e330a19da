"""Fine-grained classification metrics: accuracy, per-class accuracy and the most frequent confusions.

Correctness is the accuracy reward's (``results["accuracy_reward"]``: Visual-RFT's normalized match, with
the empty-answer and several-classes holes closed); classes are the normalized true class names. See
docs/evaluate-grounding-classification.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vreward.evaluate.base import Figure, Record, Sample, TaskMetrics
from vreward.parsing import ParsedBatch, answer_text
from vreward.rewards.base import Reward, RewardBatch
from vreward.rewards.classification import normalize_class, strip_answer
from vreward.solution import solution_answers

TOP_CONFUSIONS = 20  # confused pairs kept in the metrics
MAX_ANSWER_CHARS = 80  # a normalized wrong answer is cut to this length in the confused pairs
FIGURE_CLASSES = 40  # the per-class bar chart shows at most this many classes (the most frequent)
MAX_TRACKED_PAIRS = 200_000  # distinct (truth, answer) pairs counted; later new pairs are not tracked


class ClassificationMetrics(TaskMetrics):
    """Accuracy, per-class accuracy and confused pairs, accumulated batch by batch.

    Correctness is the accuracy reward's: its result in ``results`` when the batch was scored with it, else the
    metrics score the batch with ``reward`` (default: vreward's ``accuracy_reward``; pass the reward you score
    with, e.g. ``vreward.visual_rft.make_accuracy_reward(match="exact")``).
    """

    reward_name = "accuracy_reward"

    def __init__(self, *, reward: Reward | None = None):
        if reward is not None and not isinstance(reward, Reward):
            raise ValueError(f"reward must be a vreward Reward, got {type(reward).__name__}")
        self._reward = reward
        self._n = 0
        self._correct = 0
        self._class_n: Counter = Counter()  # normalized truth -> samples
        self._class_correct: Counter = Counter()
        self._display: dict[str, str] = {}  # normalized truth -> the class name as first written
        self._confusions: Counter = Counter()  # (normalized truth, normalized answer) -> wrong samples
        self._failures: Counter = Counter()
        self._result: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------- protocol

    def add(self, records: list[Record], columns: dict[str, list[Any]], parsed: ParsedBatch,
            results: dict[str, RewardBatch]) -> None:
        n = len(parsed)
        if n == 0:
            return
        truths = solution_answers(columns.get("solution"), n)
        result = results.get(self.reward_name)
        if result is None:
            result = self._own_reward().score(parsed.texts, solution=columns.get("solution"))
        scores = np.asarray(result.scores)
        if len(scores) != n:
            raise ValueError(f"{self.reward_name} scored {len(scores)} rows, the batch has {n}")
        correct = scores > 0
        reasons = result.reasons
        for i, truth in enumerate(truths):
            t = normalize_class(strip_answer(truth))
            self._display.setdefault(t, strip_answer(truth) or truth)
            self._class_n[t] += 1
            if correct[i]:
                self._class_correct[t] += 1
                continue
            reason = reasons[i] or "zero_score"
            self._failures[reason] += 1
            answer = answer_text(result.texts[i], require_answer_tag=result.require_answer_tag)
            if answer is None:
                continue
            a = normalize_class(strip_answer(answer))
            key = (t, a[:MAX_ANSWER_CHARS])
            if a and (key in self._confusions or len(self._confusions) < MAX_TRACKED_PAIRS):
                self._confusions[key] += 1
        self._n += n
        self._correct += int(correct.sum())
        self._result = None

    def finalize(self) -> dict[str, Any]:
        per_class = [{"class": self._display[t], "n": int(k), "accuracy": self._class_correct[t] / k}
                     for t, k in self._class_n.items()]
        per_class.sort(key=lambda r: (-r["n"], r["class"]))
        top = sorted(self._confusions.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CONFUSIONS]
        self._result = {
            "samples": self._n,
            "accuracy": self._correct / self._n if self._n else None,
            "per_class": per_class,
            "confused_pairs": [{"truth": self._display[t], "answer": a, "count": int(c)} for (t, a), c in top],
            "failures": dict(self._failures.most_common()),
        }
        return self._result

    def table(self) -> list[str]:
        from vreward.evaluate.report import format_table

        r = self._result if self._result is not None else self.finalize()
        lines = [f"classification: {r['samples']} samples, accuracy "
                 + (f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "-")]
        if r["failures"]:
            lines.append("wrong because: " + ", ".join(f"{k} {v}" for k, v in r["failures"].items()))
        if r["per_class"]:
            shown = r["per_class"][:15]
            lines += ["", f"per class ({len(shown)} most frequent of {len(r['per_class'])}):"]
            lines += format_table([[c["class"], c["n"], c["accuracy"]] for c in shown], ["class", "n", "accuracy"])
        if r["confused_pairs"]:
            shown = r["confused_pairs"][:10]
            lines += ["", "most frequent confusions:"]
            lines += format_table([[c["truth"], c["answer"], c["count"]] for c in shown],
                                  ["truth", "answer (normalized)", "count"])
        return lines

    def figures(self, out_dir: Path) -> list[Figure]:
        from vreward.evaluate.report import new_figure, printable, save_figure

        r = self._result if self._result is not None else self.finalize()
        rows = r["per_class"][:FIGURE_CLASSES]
        if not rows:
            return []
        fig = new_figure(7.0, max(2.5, 0.22 * len(rows) + 1.2))
        ax = fig.subplots()
        y = np.arange(len(rows))
        ax.barh(y, [c["accuracy"] for c in rows], color="#4c72b0")
        ax.set_yticks(y, [f"{printable(c['class'])[:40]} (n={c['n']})" for c in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("accuracy")
        if r["accuracy"] is not None:
            ax.axvline(r["accuracy"], color="#c44e52", linestyle="--", linewidth=1, label="overall")
            ax.legend(loc="lower right")
        path = Path(out_dir) / "classification_per_class.png"
        save_figure(fig, path)
        more = f" (the {len(rows)} most frequent of {len(r['per_class'])} classes)" \
            if len(r["per_class"]) > len(rows) else ""
        return [Figure("Per-class accuracy", path, f"Accuracy of each true class{more}.")]

    def samples_pixels(self, sample: Sample, columns_row: dict[str, Any]) -> Sample:
        """Classification draws no boxes; the sample's ``label`` becomes the true class when it has none."""
        if sample.label is not None:
            return sample
        try:
            truth = solution_answers([columns_row.get("solution")], 1)[0]
        except ValueError:
            return sample
        return replace(sample, label=f"truth: {truth}")

    # ------------------------------------------------------------------------------------------- helpers

    def _own_reward(self) -> Reward:
        if self._reward is None:
            from vreward.rewards.classification import accuracy_reward

            self._reward = accuracy_reward
        return self._reward
