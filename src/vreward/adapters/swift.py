"""vreward rewards as ms-swift ORM plugins, for ``swift rlhf --rlhf_type grpo`` (docs/trainers/swift.md).

This file is the plugin: ``--external_plugins <path of this file> --reward_funcs vreward_iou vreward_format``.
Loaded by ms-swift, it registers in ms-swift's ``orms`` one outcome reward class per vreward reward
(``vreward_iou``, ``vreward_confidence``, ``vreward_format``, ``vreward_accuracy``, ``vreward_giou``) and per task
(``vreward_detection``, ``vreward_classification``, ``vreward_grounding``: the task's weighted total), and an
asynchronous variant of each (``..._async``, an ``AsyncORM``: scored on a thread while ms-swift awaits its other
asynchronous rewards). Imported as a module (``vreward.adapters.swift``) it registers
nothing until :func:`register` is called, so a plugin file of your own can register rewards with options::

    from swift.rewards import orms
    from vreward.adapters.swift import reward_class
    orms["iou_75"] = reward_class("iou", threshold=0.75, coords="qwen25vl", solution_coords="pixels")

ms-swift calls ``reward(completions, **columns)`` with plain-string completions and every dataset column (and
``trainer_state``) as keywords. The ground truth is the ``solution`` column (Visual-RFT's answers, class names),
or ms-swift's grounding column ``objects`` (``{"bbox": [[x1, y1, x2, y2], ...], "bbox_type": "real" |
"norm1000" | "norm1", ...}``: boxes in pixels, 0-1000 or 0-1, which set the ground truth's coordinate frame).
Image sizes come from ``width``/``height``, ``image_size`` or ms-swift's ``images`` column. Works with ms-swift 3
(``swift.plugin``) and 4 (``swift.rewards``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from vreward.adapters.chat import strip_end
from vreward.adapters.loading import use_package_objects
from vreward.adapters.rows import task_reward
from vreward.batching import Row, score_rows
from vreward.composite import CompositeReward
from vreward.registry import REWARDS, TASKS, build_reward

# ms-swift's objects.bbox_type -> the coordinate frame of the ground-truth boxes.
BBOX_TYPE_FRAMES: dict[str, str] = {"real": "pixels", "norm1000": "qwen2vl", "norm1": "unit"}
# Columns that hold the image size, passed to the rewards (the first present is used, as the rewards read them).
SIZE_COLUMNS: tuple[str, ...] = ("width", "height", "image_size", "images")


class VRewardORM:
    """An ms-swift outcome reward: a vreward reward (``reward``, by registry name) or a task's weighted total
    (``task``), with ``options`` (per-reward options for a task, reward options for a reward)."""

    reward: str | None = None
    task: str | None = None
    options: Mapping[str, Any] = {}

    def __init__(self, args: Any = None, **kwargs: Any):
        self.args = args
        self._rewards: dict[str | None, CompositeReward] = {}

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return [score.total for score in score_rows(self.rows(completions, kwargs))]

    def rows(self, completions: Sequence[Any], columns: Mapping[str, Any]) -> list[Row]:
        """One vreward row per completion, with its ground truth and image size from ms-swift's columns."""
        sizes = {k: columns[k] for k in SIZE_COLUMNS if columns.get(k) is not None}
        rows = []
        for i, completion in enumerate(completions):
            solution, frame = ground_truth(columns, i)
            row_columns = {"solution": solution}
            row_columns.update({k: v[i] for k, v in sizes.items() if v[i] is not None})
            text = strip_end(completion) if isinstance(completion, str) else completion
            rows.append(Row(self._reward(frame), text, row_columns))
        return rows

    def _reward(self, solution_coords: str | None) -> CompositeReward:
        reward = self._rewards.get(solution_coords)
        if reward is None:
            reward = self._rewards[solution_coords] = self._build(solution_coords)
        return reward

    def _build(self, solution_coords: str | None) -> CompositeReward:
        if self.task is not None:
            return task_reward(self.task, None, self.options, None, solution_coords)
        options = dict(self.options)
        if solution_coords is not None and REWARDS[self.reward].frame_aware:
            options.setdefault("solution_coords", solution_coords)
        single = build_reward(self.reward, **options)
        return CompositeReward([single], name=single.__name__)


class VRewardAsyncORM(VRewardORM):
    """:class:`VRewardORM` as an ms-swift ``AsyncORM``: scored on a worker thread while ms-swift awaits it."""

    async def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float]:  # type: ignore[override]
        return await asyncio.to_thread(VRewardORM.__call__, self, completions, **kwargs)


def ground_truth(columns: Mapping[str, Any], i: int) -> tuple[Any, str | None]:
    """Row ``i``'s ground truth and its boxes' frame: ``solution``, else ms-swift's ``objects`` boxes."""
    solutions = columns.get("solution")
    if solutions is not None and solutions[i] is not None:
        return solutions[i], None
    objects = columns.get("objects")
    entry = objects[i] if objects is not None else None
    if not isinstance(entry, Mapping) or entry.get("bbox") is None:
        return None, None  # the reward names the missing ground truth
    boxes = [list(box) for box in entry["bbox"]]
    bbox_type = entry.get("bbox_type") or "real"
    return boxes, BBOX_TYPE_FRAMES.get(bbox_type, bbox_type)


def reward_class(name: str, *, asynchronous: bool = False, **options: Any) -> type[VRewardORM]:
    """An ORM class scoring reward ``name`` (a key of :data:`vreward.registry.REWARDS`) or task ``name`` (a key
    of :data:`vreward.registry.TASKS`, options per reward name), ms-swift's ``orms`` values."""
    if name in REWARDS:
        attributes: dict[str, Any] = {"reward": name}
    elif name in TASKS:
        attributes = {"task": name}
    else:
        raise ValueError(f"unknown reward or task {name!r}; choose one of {sorted(REWARDS)} or {sorted(TASKS)}")
    base = VRewardAsyncORM if asynchronous else VRewardORM
    title = "".join(part.title() for part in name.split("_"))
    cls = type(f"VReward{title}{'Async' if asynchronous else ''}", (base,), {**attributes, "options": options})
    cls.__module__ = __name__
    return cls


def _plugin_classes() -> dict[str, type[VRewardORM]]:
    """Every reward, and every task not named like a reward (the ``format`` task is the format reward)."""
    names = [*REWARDS, *(task for task in TASKS if task not in REWARDS)]
    return {f"vreward_{name}{'_async' if asynchronous else ''}": reward_class(name, asynchronous=asynchronous)
            for name in names for asynchronous in (False, True)}


# The plugin's classes, module attributes so that they pickle by reference.
PLUGIN_CLASSES: dict[str, type[VRewardORM]] = _plugin_classes()
globals().update({cls.__name__: cls for cls in PLUGIN_CLASSES.values()})


def register(orms: dict[str, Any] | None = None) -> dict[str, type[VRewardORM]]:
    """Add :data:`PLUGIN_CLASSES` to ms-swift's ``orms`` (``swift.rewards``, or ``swift.plugin`` before v4)."""
    if orms is None:
        try:
            from swift.rewards import orms
        except ImportError:
            from swift.plugin import orms
    orms.update(PLUGIN_CLASSES)
    return PLUGIN_CLASSES


__all__ = ["BBOX_TYPE_FRAMES", "PLUGIN_CLASSES", "VRewardAsyncORM", "VRewardORM", "ground_truth", "register",
           "reward_class", *(cls.__name__ for cls in PLUGIN_CLASSES.values())]

use_package_objects(globals(), "vreward.adapters.swift")
if "swift" in sys.modules:  # loaded by ms-swift (--external_plugins): register the rewards in its orms
    register()
