"""vreward rewards as a verl custom reward function.

verl loads this file by path (``custom_reward_function.path``) and calls the function named by
``custom_reward_function.name`` with the ``reward_kwargs`` of that config added as keywords:

* ``compute_score`` (per sample, naive / prime / dapo reward managers)::

      compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs) -> dict

* ``compute_score_batch`` (``reward_model.reward_manager=batch``: one call per batch, so each reward parses
  the batch once and runs its kernel once per group of rows sharing a task and coordinate frames)::

      compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **reward_kwargs) -> list[dict]

The result is verl's dict form: ``{"score": total, "iou_reward": ..., "confidence_reward": ..., ...}``. verl
puts ``score`` on the last response token and logs every other key as reward extra info, averaging the values
in validation, so the dict holds numbers only: the reasons behind zeros are left out (see them with
``vreward score`` on saved generations or ``reward.explain``).

Task of a row: ``extra_info["task"]``, else the ``task`` reward kwarg, else guessed from ``data_source``
(:data:`DATA_SOURCE_TASKS`). Image size of a row (pixel frames): ``extra_info`` ``width`` and ``height``, or
``image_size`` ``(width, height)``. Coordinate frames: ``extra_info`` ``coords`` / ``solution_coords``, else the
reward kwargs of the same names; model family (how answers are read, and the model's frame): ``extra_info["family"]``,
else the ``family`` reward kwarg. Other reward kwargs: ``weights`` (``{"format": 0.5}``), ``options`` (per
reward name, ``{"iou": {"threshold": 0.75}}``), ``preset`` (``"visual_rft"``: the paper's definitions),
``all_keys`` (every row gets every reward's key, 0.0 where the reward is not part of the row's task: verl needs
the same keys on every row of a mixed-task batch), and, for the batch form only, ``as_float`` (return plain
totals, for verl versions whose batch manager takes floats only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from vreward.composite import CompositeReward, make_task_reward
from vreward.registry import REWARDS, TASKS, reward_spec, task_spec

# Substrings of ``data_source`` (lower-cased) that name a task, checked in this order: grounding first, so
# that "refcoco" is not taken for COCO detection.
DATA_SOURCE_TASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grounding", ("lisa", "refcoco", "ground", "rec")),
    ("detection", ("coco", "lvis", "det", "ovd")),
    ("classification", ("cls", "flower", "car", "pet", "aircraft", "cub")),
)

# The score keys of every reward, for ``all_keys``.
ALL_REWARD_NAMES = tuple(spec.default_name for spec in REWARDS.values())


def task_of(data_source: Any, extra_info: Mapping[str, Any] | None = None, default: str | None = None) -> str:
    """The vreward task of a row: ``extra_info["task"]``, else ``default``, else guessed from ``data_source``."""
    if extra_info and extra_info.get("task"):
        task = str(extra_info["task"])
    elif default:
        task = str(default)
    else:
        source = str(data_source).lower()
        task = source if source in TASKS else None
        for name, hints in DATA_SOURCE_TASKS:
            if task is None and any(h in source for h in hints):
                task = name
        if task is None:
            raise ValueError(
                f"cannot tell the vreward task of data_source {data_source!r}: set extra_info['task'] in the "
                f"dataset, or custom_reward_function.reward_kwargs.task, to one of {sorted(TASKS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (data_source {data_source!r}); choose one of {sorted(TASKS)}")
    return task


@lru_cache(maxsize=64)
def _cached(task: str, weights_json: str, options_json: str, preset: str) -> CompositeReward:
    return make_task_reward(task, json.loads(weights_json) or None, preset=preset, **json.loads(options_json))


def task_reward(task: str, weights: Mapping[str, float] | None = None,
                options: Mapping[str, Mapping[str, Any]] | None = None, coords: str | None = None,
                solution_coords: str | None = None, preset: str = "default",
                family: str | None = None) -> CompositeReward:
    """``make_task_reward`` built once per (task, weights, options, frames, preset, family) and reused."""
    merged = {name: dict(value) for name, value in (options or {}).items()}
    frames = {k: v for k, v in (("coords", coords), ("solution_coords", solution_coords), ("family", family))
              if v is not None}
    if frames:
        for name in task_spec(task).reward_names:
            if reward_spec(name, preset).frame_aware:
                merged[name] = {**frames, **merged.get(name, {})}
    return _cached(task, json.dumps(dict(weights or {}), sort_keys=True), json.dumps(merged, sort_keys=True), preset)


def _size(extra_info: Mapping[str, Any] | None) -> tuple[float, float] | None:
    if not extra_info:
        return None
    if extra_info.get("width") is not None and extra_info.get("height") is not None:
        return float(extra_info["width"]), float(extra_info["height"])
    size = extra_info.get("image_size")
    if size is not None:
        if isinstance(size, Mapping):
            return float(size["width"]), float(size["height"])
        width, height = size
        return float(width), float(height)
    return None


def _frame(extra_info: Mapping[str, Any] | None, key: str, default: Any) -> Any:
    return extra_info[key] if extra_info and extra_info.get(key) is not None else default


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, *, task: str | None = None,
                        weights: Mapping[str, float] | None = None,
                        options: Mapping[str, Mapping[str, Any]] | None = None, coords: str | None = None,
                        solution_coords: str | None = None, family: str | None = None, all_keys: bool = False,
                        as_float: bool = False, preset: str = "default",
                        **kwargs: Any) -> list[dict[str, float]] | list[float]:
    """verl's batch reward function: one ``score_all`` call per group of rows with the same task and frames."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n:
        raise ValueError(f"{len(data_sources)} data_sources, {n} solution_strs and {len(ground_truths)} "
                         "ground_truths: verl passes one of each per sample")
    infos: list[Mapping[str, Any] | None] = [None] * n if extra_infos is None else list(extra_infos)
    if len(infos) != n:
        raise ValueError(f"{len(infos)} extra_infos for {n} samples")
    groups: dict[tuple[str, Any, Any, Any], list[int]] = {}
    for i, (source, info) in enumerate(zip(data_sources, infos)):
        key = (task_of(source, info, task), _frame(info, "coords", coords),
               _frame(info, "solution_coords", solution_coords), _frame(info, "family", family))
        groups.setdefault(key, []).append(i)
    results: list[dict[str, float]] = [{} for _ in range(n)]
    for (row_task, row_coords, row_solution_coords, row_family), rows in groups.items():
        reward = task_reward(row_task, weights, options, row_coords, row_solution_coords, preset, row_family)
        columns: dict[str, Any] = {"solution": [ground_truths[i] for i in rows]}
        sizes = [_size(infos[i]) for i in rows]
        if all(s is not None for s in sizes):
            columns["width"] = [s[0] for s in sizes]
            columns["height"] = [s[1] for s in sizes]
        batch = reward.score_all([solution_strs[i] for i in rows], **columns)
        totals = batch.total.tolist()
        parts = {name: part.scores.tolist() for name, part in batch.parts.items()}
        for j, i in enumerate(rows):
            row = dict.fromkeys(ALL_REWARD_NAMES, 0.0) if all_keys else {}
            row.update({name: float(scores[j]) for name, scores in parts.items()})
            results[i] = {"score": float(totals[j]), **row}
    if as_float:
        return [r["score"] for r in results]
    return results


def compute_score(data_source: Any, solution_str: str, ground_truth: Any,
                  extra_info: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, float]:
    """verl's per-sample reward function: ``{"score": total, "<reward name>": score, ...}``."""
    kwargs.pop("as_float", None)
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]
