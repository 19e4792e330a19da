"""The paper's rewards, exactly: Visual-RFT (arXiv 2503.01785) for reproductions.

>>> from vreward.visual_rft import confidence_reward, iou_reward
>>> c = ["<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.0}]</answer>"]
>>> confidence_reward(c, solution=["[50, 50, 60, 60]"])  # one junk box at confidence 0: the paper pays 1.0
[1.0]

Where the reference code (Liuziyu77/Visual-RFT, ``src/virft/src/open_r1/grpo.py``, reimplemented in
``benchmarks/reference_visual_rft.py``) reads a completion correctly, these rewards equal it to the last bit;
vreward's parsing fixes and the holes listed in docs/differences.md (empty and multi-class classification answers,
empty ground truth, non-finite numbers, ...) stay. Everyone else should use the default rewards of :mod:`vreward`,
which close the reward hacks these definitions leave open (docs/differences.md, "Defaults versus the paper");
``make_task_reward(task, preset="visual_rft")``, ``vreward score --preset visual_rft`` and vreward-train's
``rewards.preset: visual_rft`` select this module.

* ``iou_reward``: the matched IoUs summed over max(#ground truth, #predictions) (eq. 3); an unlabelled box
  matches labelled ground truth (``require_labels=False``).
* ``confidence_reward``: the mean over predictions of ``c`` if matched and ``1 - c`` if not (eq. 4).
* ``format_reward``: ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``.
* ``accuracy_reward``: both names lowercase without spaces and underscores; right when either contains the other.
* ``giou_reward``: GIoU + 1 in [0, 2] (``scale="unit"``: (GIoU + 1) / 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from vreward.parsing import ParsedBatch
from vreward.reasons import ParseReason, ZeroReason
from vreward.rewards.base import Reward, RewardBatch, Scored
from vreward.rewards.classification import AnswerReward, Judge, normalize_class, strip_answer
from vreward.rewards.detection import (
    ConfidenceReward,
    IoUReward,
    confidences,
    empty_cases,
    match_detections,
)
from vreward.rewards.format import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, FormatReward
from vreward.rewards.grounding import first_box_overlaps, overlap_details, overlap_signals
from vreward.rewards.settings import (
    DetectionSettings,
    FormatSettings,
    FrameSettings,
    RewardSettings,
    check_class_names,
)


class VisualRFTDetectionSettings(DetectionSettings):
    """:class:`~vreward.rewards.settings.DetectionSettings`; an unlabelled box matches labelled ground truth."""

    require_labels: bool = Field(False, description="an unlabelled predicted box matches any ground-truth label")


class VisualRFTIoUReward(IoUReward):
    """Visual-RFT's IoU reward: the matched IoUs summed over max(#ground truth, #predictions)."""

    settings_class = VisualRFTDetectionSettings


class VisualRFTConfidenceReward(ConfidenceReward):
    """Visual-RFT's confidence reward: the mean over predictions of ``c`` if matched, ``1 - c`` if not."""

    settings_class = VisualRFTDetectionSettings

    @property
    def score_range(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        m = match_detections(parsed, kwargs, self.settings, self)
        c = confidences(parsed, self.settings)
        per_box = np.where(m.gt_index >= 0, c, 1.0 - c)
        kept = m.order[m.keep[m.order]]
        total = np.bincount(m.rows[kept], weights=per_box[kept], minlength=len(parsed))
        scores = np.divide(total, m.n_pred, out=np.zeros(len(parsed)), where=m.n_pred > 0)
        return Scored(scores, empty_cases(parsed, m.n_gt, scores, ZeroReason.CONFIDENCE), m, m.gt.problems)


def paper_format_problem(text: str) -> str | None:
    """``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)`` by ``str`` methods: None
    when it matches, else the pattern.

    The pattern holds exactly the texts ``<think>`` A ``</think>`` W ``<answer>`` B ``</answer>`` with W whitespace
    (the regex's ``\\s`` is ``str.isspace``): some ``</think>`` after the opening tag is followed, past the
    whitespace after it, by an ``<answer>`` that ends before the closing tag.
    """
    if text.startswith(THINK_OPEN) and text.endswith(ANSWER_CLOSE):
        last = len(text) - len(ANSWER_CLOSE) - len(ANSWER_OPEN)  # where the <answer> may start at the latest
        close = text.find(THINK_CLOSE, len(THINK_OPEN))
        while close >= 0:
            start = close + len(THINK_CLOSE)
            while start <= last and text[start].isspace():
                start += 1
            if start <= last and text.startswith(ANSWER_OPEN, start):
                return None
            close = text.find(THINK_CLOSE, close + 1)
    return "not <think>.*?</think>\\s*<answer>.*?</answer>"


class VisualRFTFormatReward(FormatReward):
    """1.0 when ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``, else 0.0 (by
    ``str`` methods, equal to the regex on every string)."""

    problem = staticmethod(paper_format_problem)


class VisualRFTClassificationSettings(RewardSettings):
    """Options of the paper's accuracy reward."""

    match: Literal["contains", "exact"] = Field(
        "contains", description="'contains': either normalized string contains the other (Visual-RFT); "
        "'exact': normalized strings are equal")
    classes: tuple[str, ...] | None = Field(
        None, description="all class names: an answer naming two or more of them scores 0 (exactly detected "
        "instead of by separators)")

    def model_post_init(self, context: Any) -> None:
        check_class_names(self.classes)


# Separators that list alternatives; one that occurs in the true class name itself (e.g. "F/A-18") is ignored.
_SEPARATORS = (re.compile(r"\bor\b", re.IGNORECASE), re.compile(r"\band/or\b", re.IGNORECASE),
               re.compile(r"\bvs\.?\b", re.IGNORECASE), re.compile(r"[,;|/\n]"))
_SEPARATOR_HINT = re.compile(r"[,;|/\n]|\bor\b|\bvs\b", re.IGNORECASE)
_WORD_CHAR = re.compile(r"\w")


def names_several(answer: str, truth: str, classes: tuple[str, ...] | None) -> bool:
    """Whether the answer names more than one class (vreward's fix of the paper's rule: an answer listing
    alternatives would otherwise pay when one is right).

    With the class list: two or more class names occur in the answer (a name inside a longer matched name
    does not count). Without it: the answer splits into two or more non-empty parts on a separator (``or``,
    ``and/or``, ``vs``, ``,``, ``;``, ``|``, ``/``, newline) that the true class name does not itself contain.
    """
    if classes is not None:
        norm = normalize_class(answer)
        found = {normalize_class(c) for c in classes if normalize_class(c) in norm}
        found = {c for c in found if not any(c != o and c in o for o in found)}
        return len(found) >= 2
    if _SEPARATOR_HINT.search(answer) is None:
        return False  # no separator at all: the common case, one scan instead of one per separator
    for sep in _SEPARATORS:
        if sep.search(truth):
            continue
        parts = [p for p in sep.split(answer) if _WORD_CHAR.search(p)]
        if len(parts) >= 2:
            return True
    return False


class VisualRFTAccuracyReward(AnswerReward):
    """1.0 when either normalized name contains the other (empty and multi-class answers 0), else 0.0."""

    default_name = "accuracy_reward"
    settings_class = VisualRFTClassificationSettings
    settings: VisualRFTClassificationSettings

    def _judge(self, truths: list[str | None], bad_truth: dict[int, str],
               columns: Mapping[str, Any]) -> tuple[Judge, Sequence[Any]]:
        normalized = {t: normalize_class(strip_answer(t)) for t in set(truths) if t is not None}  # GRPO repeats
        exact, classes = self.settings.match == "exact", self.settings.classes

        def judge_row(answer: str, truth: str, context: None) -> str | None:
            answer = strip_answer(answer)
            a, t = normalize_class(answer), normalized[truth]
            if not a:
                return ParseReason.EMPTY_ANSWER.value
            if names_several(answer, truth, classes):
                return ZeroReason.SEVERAL_CLASSES.value
            return None if ((a == t) if exact else (t in a or a in t)) else ZeroReason.WRONG_CLASS.value

        return judge_row, [None] * len(truths)


class VisualRFTGroundingSettings(FrameSettings):
    """Options of the paper's GIoU reward."""

    scale: Literal["paper", "unit"] = Field("paper", description="'paper': GIoU + 1 in [0, 2]; 'unit': [0, 1]")


class VisualRFTGIoUReward(Reward):
    """GIoU + 1 in [0, 2] (the paper's scale) or (GIoU + 1) / 2 in [0, 1] with ``scale='unit'``.

    The first box of the answer counts; with several ground-truth boxes the best GIoU counts. No ground-truth
    box: an explicit "No Objects" scores the maximum, any box 0.
    """

    default_name = "giou_reward"
    settings_class = VisualRFTGroundingSettings
    settings: VisualRFTGroundingSettings

    @property
    def score_range(self) -> tuple[float, float]:
        return (0.0, 2.0 if self.settings.scale == "paper" else 1.0)

    def _score(self, parsed: ParsedBatch, kwargs: dict[str, Any]) -> Scored:
        overlap = first_box_overlaps(self, parsed, kwargs, self.settings)
        top = 2.0 if self.settings.scale == "paper" else 1.0
        scores = np.nan_to_num((overlap.giou + 1.0) * (top / 2.0), nan=0.0)
        return Scored(scores, empty_cases(parsed, overlap.gt.counts, scores, ZeroReason.NO_OVERLAP, top=top),
                      overlap, overlap.gt.problems)

    def _details(self, result: RewardBatch, i: int) -> dict[str, Any]:
        return overlap_details(result.evidence, result.parsed, i, 0.5)

    def signals(self, result: RewardBatch) -> dict[str, float]:
        return overlap_signals(result.evidence, 0.5)


def make_iou_reward(settings: VisualRFTDetectionSettings | None = None, **options: Any) -> VisualRFTIoUReward:
    """The paper's IoU reward with options (see :class:`VisualRFTDetectionSettings`)."""
    return VisualRFTIoUReward.from_options(settings, **options)


def make_confidence_reward(settings: VisualRFTDetectionSettings | None = None,
                           **options: Any) -> VisualRFTConfidenceReward:
    """The paper's confidence reward with options (see :class:`VisualRFTDetectionSettings`)."""
    return VisualRFTConfidenceReward.from_options(settings, **options)


def make_format_reward(settings: FormatSettings | None = None, **options: Any) -> VisualRFTFormatReward:
    """The paper's format reward."""
    return VisualRFTFormatReward.from_options(settings, **options)


def make_accuracy_reward(settings: VisualRFTClassificationSettings | None = None,
                         **options: Any) -> VisualRFTAccuracyReward:
    """The paper's accuracy reward with options (see :class:`VisualRFTClassificationSettings`)."""
    return VisualRFTAccuracyReward.from_options(settings, **options)


def make_giou_reward(settings: VisualRFTGroundingSettings | None = None, **options: Any) -> VisualRFTGIoUReward:
    """The paper's GIoU reward with options (see :class:`VisualRFTGroundingSettings`)."""
    return VisualRFTGIoUReward.from_options(settings, **options)


iou_reward = make_iou_reward()
confidence_reward = make_confidence_reward()
format_reward = make_format_reward()
accuracy_reward = make_accuracy_reward()
giou_reward = make_giou_reward()
