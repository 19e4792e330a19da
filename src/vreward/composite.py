"""A weighted sum of rewards usable by any trainer, e.g. a task's iou + confidence + format.

>>> from vreward.composite import make_task_reward
>>> completion = "<think>.</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>"
>>> make_task_reward("detection")([completion], solution=["[0, 0, 10, 10]"])  # 1 + (1 - 0.1 ** 2) + 1
[2.99]
>>> make_task_reward("detection", preset="visual_rft")([completion], solution=["[0, 0, 10, 10]"])
[2.9]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vreward.registry import build_reward, reward_spec, task_spec
from vreward.rewards.base import Reward, RewardBatch
from vreward.sources import log_by_source, source_names


@dataclass(frozen=True)
class CompositeBatch:
    """The weighted total of a batch and each reward's own result (scores and reasons)."""

    total: np.ndarray
    parts: dict[str, RewardBatch]


class CompositeReward:
    """``f(completions, **kwargs) -> list[float]``: the weighted sum of its rewards (TRL's convention)."""

    def __init__(self, rewards: Sequence[Reward], weights: Sequence[float] | None = None,
                 name: str = "composite_reward", source_column: str | None = "data_source"):
        if not rewards:
            raise ValueError("a composite reward needs at least one reward")
        weights = [1.0] * len(rewards) if weights is None else [float(w) for w in weights]
        if len(weights) != len(rewards):
            raise ValueError(f"{len(weights)} weights for {len(rewards)} rewards")
        if not all(np.isfinite(weights)):
            raise ValueError(f"weights must be finite, got {weights}")
        names = [r.__name__ for r in rewards]
        if len(set(names)) != len(names):
            raise ValueError(f"reward names must differ (rename with make_*_reward(name=...)): {names}")
        self.rewards = list(rewards)
        self.weights = weights
        self.__name__ = name
        self.source_column = source_column

    def __repr__(self) -> str:
        parts = ", ".join(f"{w:g} * {r.__name__}" for r, w in zip(self.rewards, self.weights))
        return f"CompositeReward({parts})"

    @property
    def score_range(self) -> tuple[float, float]:
        """The lowest and highest weighted total."""
        ends = [(w * lo, w * hi) for r, w in zip(self.rewards, self.weights) for lo, hi in [r.score_range]]
        return (sum(min(a, b) for a, b in ends), sum(max(a, b) for a, b in ends))

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        """The totals; with TRL's ``log_metric`` and a ``source_column`` column, also each source's mean total
        (``<name>/<source>/mean``, see :mod:`vreward.sources`)."""
        total = self.score_all(completions, **kwargs).total
        log_metric = kwargs.get("log_metric")
        sources = source_names(kwargs, self.source_column, len(total)) if callable(log_metric) else None
        if sources is not None:
            log_by_source(log_metric, self.__name__, total, None, sources)
        return total.tolist()

    def normalized(self, total: np.ndarray) -> np.ndarray:
        """Weighted totals mapped onto [0, 1] by :attr:`score_range` (e.g. detection's 0-3 total divided by 3)."""
        lowest, highest = self.score_range
        if highest <= lowest:
            return np.zeros(len(total))
        return (np.asarray(total, dtype=np.float64) - lowest) / (highest - lowest)

    def score_all(self, completions: Sequence[Any], **kwargs: Any) -> CompositeBatch:
        """Every reward's result and the weighted total (the batch is parsed once for all of them)."""
        parts = {r.__name__: r.score(completions, **kwargs) for r in self.rewards}
        total = np.zeros(len(completions))
        for w, batch in zip(self.weights, parts.values()):
            total += w * batch.scores
        return CompositeBatch(total=total, parts=parts)


def make_task_reward(task: str, weights: dict[str, float] | None = None, preset: str = "default", *,
                     family: Any = None, **options: dict[str, Any]) -> CompositeReward:
    """The task's reward set (a row of :data:`vreward.registry.TASKS`) as one composite reward.

    ``weights`` overrides weights by reward name (``{"format": 0.5}``); ``preset`` chooses the definitions
    (``"default"``: vreward's, hack-resistant; ``"visual_rft"``: the paper's, exactly); ``options`` passes
    settings to one reward's factory by name (``iou={"threshold": 0.75}``); ``family`` (see
    :func:`vreward.families.detect`) is the model family of the task's box-reading rewards (a reward's own
    ``family`` option wins).
    """
    spec = task_spec(task)
    names = list(spec.reward_names)
    for label, given in (("weights", weights or {}), ("options", options)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{label} for {unknown} do not apply to task {task!r}, whose rewards are {names}")
    if family is not None:
        options = {name: {"family": family, **options.get(name, {})} if reward_spec(name, preset).frame_aware
                   else options.get(name, {}) for name in names}
    rewards = [build_reward(name, preset=preset, **options.get(name, {})) for name in names]
    return CompositeReward(rewards, [float((weights or {}).get(n, w)) for n, w in spec.rewards],
                           name=f"{task}_reward")


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``"iou=1,confidence=1,format=0.5"`` -> ``{"iou": 1.0, ...}`` (``ValueError`` for bad text)."""
    if not text:
        return None
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"bad weight {item!r}: expected name=number")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"bad weight {item!r}: {value!r} is not a number") from None
    return out
