"""What a trainer's row says about how to score it: its task, image size and coordinate frames, and the reward.

Shared by the trainer adapters (verl, EasyR1, ms-swift). Rewards are built once per (task, weights, options,
frames, preset, family) and kept in a content-keyed :class:`~vreward.cache.BoundedCache` (no ``lru_cache``
closures: the adapter modules must pickle by reference for verl's remote manager and process pools).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vreward.batching import Row
from vreward.cache import BoundedCache, ContentKey
from vreward.composite import CompositeReward, make_task_reward
from vreward.registry import TASKS, reward_spec, task_spec

# Substrings of ``data_source`` (lower-cased) that name a task, checked in this order: grounding first, so
# that "refcoco" is not taken for COCO detection.
DATA_SOURCE_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grounding", ("lisa", "refcoco", "ground", "rec")),
    ("detection", ("coco", "lvis", "det", "ovd")),
    ("classification", ("cls", "flower", "car", "pet", "aircraft", "cub")),
)
# Per-row keys (verl's extra_info) and reward kwargs that set the coordinate frames of frame-aware rewards (a
# row's model family, the `family` key, sets them too: see vreward.families).
FRAME_KEYS: tuple[str, ...] = ("coords", "solution_coords")

_TASK_REWARDS: BoundedCache[CompositeReward] = BoundedCache("adapter task rewards", 64)
_SOURCE_TASKS: BoundedCache[str | None] = BoundedCache("data source tasks", 256)


def task_of(data_source: Any, extra_info: Mapping[str, Any] | None = None, default: str | None = None) -> str:
    """The vreward task of a row: ``extra_info["task"]``, else ``default``, else guessed from ``data_source``."""
    if extra_info and extra_info.get("task"):
        task = str(extra_info["task"])
    elif default:
        task = str(default)
    else:
        source = str(data_source)
        task = _SOURCE_TASKS.get_or_compute(source, lambda: guess_task(source))
        if task is None:
            raise ValueError(
                f"cannot tell the vreward task of data_source {data_source!r}: set extra_info['task'] in the "
                f"dataset, or the reward kwarg task, to one of {sorted(TASKS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (data_source {data_source!r}); choose one of {sorted(TASKS)}")
    return task


def guess_task(data_source: str) -> str | None:
    """The task a data source's name says (:data:`DATA_SOURCE_TASKS`), or None."""
    source = data_source.lower()
    if source in TASKS:
        return source
    return next((name for name, hints in DATA_SOURCE_TASKS if any(h in source for h in hints)), None)


def task_reward(task: str, weights: Mapping[str, float] | None = None,
                options: Mapping[str, Mapping[str, Any]] | None = None, coords: str | None = None,
                solution_coords: str | None = None, preset: str = "default",
                family: str | None = None) -> CompositeReward:
    """``make_task_reward`` built once per (task, weights, options, frames, preset, family) and reused."""
    key = (task, coords, solution_coords, preset, family) if not (weights or options) else \
        ContentKey(task, _canonical(weights), _canonical(options), coords, solution_coords, preset, family)
    return _TASK_REWARDS.get_or_compute(key, lambda: _build(task, weights, options, coords, solution_coords, preset,
                                                            family))


def _canonical(value: Mapping[str, Any] | None) -> str:
    return json.dumps(value, sort_keys=True, default=str) if value else ""


def _build(task: str, weights: Mapping[str, float] | None, options: Mapping[str, Mapping[str, Any]] | None,
           coords: str | None, solution_coords: str | None, preset: str, family: str | None) -> CompositeReward:
    merged = {name: dict(value) for name, value in (options or {}).items()}
    frames = {k: v for k, v in zip(FRAME_KEYS, (coords, solution_coords)) if v is not None}
    if frames:
        for name in task_spec(task).reward_names:
            if reward_spec(name, preset).frame_aware:
                merged[name] = {**frames, **merged.get(name, {})}
    return make_task_reward(task, dict(weights) if weights else None, preset, family=family, **merged)


def image_size(info: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """A row's image size: ``width`` and ``height``, or ``image_size`` as ``(width, height)`` or a mapping."""
    if not info:
        return None
    if info.get("width") is not None and info.get("height") is not None:
        return float(info["width"]), float(info["height"])
    size = info.get("image_size")
    if size is None:
        return None
    if isinstance(size, Mapping):
        return float(size["width"]), float(size["height"])
    width, height = size
    return float(width), float(height)


def row_value(info: Mapping[str, Any] | None, key: str, default: Any) -> Any:
    """``info[key]`` where the row sets it, else ``default`` (the reward kwarg)."""
    return info[key] if info and info.get(key) is not None else default


def scored_row(reward: CompositeReward, completion: Any, solution: Any,
               info: Mapping[str, Any] | None = None) -> Row:
    """A :class:`~vreward.batching.Row` with the ground truth and, where the row has one, its image size."""
    size = image_size(info)
    columns = {"solution": solution} if size is None else {"solution": solution, "width": size[0],
                                                             "height": size[1]}
    return Row(reward, completion, columns)
