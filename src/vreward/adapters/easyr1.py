"""vreward rewards as an EasyR1 batch reward function.

EasyR1 loads this file by path (``worker.reward.reward_function=<path>:compute_score``), reads
``REWARD_TYPE = "batch"`` and calls, once per batch and with ``worker.reward.reward_function_kwargs`` added::

    compute_score(reward_inputs: list[dict], **reward_function_kwargs) -> list[dict[str, float]]

Each input holds ``response`` (the decoded completion), ``response_length`` and ``ground_truth``; each result
holds ``overall`` (the reward EasyR1 trains on), ``format`` and ``accuracy`` (EasyR1's convention,
``overall = (1 - format_weight) * accuracy + format_weight * format``) plus the task's own rewards by short name
(``iou``, ``confidence``, ``accuracy``, ``giou``), all logged by EasyR1 as ``reward/<key>``.

``accuracy`` per task: detection ``(1 - confidence_weight) * iou + confidence_weight * confidence``
(``confidence_weight=0`` by default: accuracy is the IoU reward, in [0, 1]); classification the accuracy
reward; grounding the GIoU reward on the ``unit`` scale, in [0, 1] (override with
``options={"giou": {"scale": "paper"}}``). Pixel frames need the image size: a ``width`` and ``height`` (or
``image_size``) key in each reward input, where a customized EasyR1 passes one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vreward.adapters.verl import task_reward

REWARD_NAME = "vreward"
REWARD_TYPE = "batch"


def compute_score(reward_inputs: Sequence[Mapping[str, Any]], format_weight: float = 0.1, task: str = "detection",
                  confidence_weight: float = 0.0, coords: str | None = None, solution_coords: str | None = None,
                  options: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any) -> list[dict[str, float]]:
    """EasyR1's batch reward function: one parse and one kernel call per reward for the whole batch."""
    if isinstance(reward_inputs, Mapping) or not isinstance(reward_inputs, Sequence):
        raise ValueError("vreward's EasyR1 reward is a batch reward function: set REWARD_TYPE / reward_type=batch")
    if not 0.0 <= format_weight <= 1.0 or not 0.0 <= confidence_weight <= 1.0:
        raise ValueError(f"format_weight ({format_weight}) and confidence_weight ({confidence_weight}) must be "
                         "in [0, 1]")
    if not reward_inputs:
        return []
    opts = {name: dict(value) for name, value in (options or {}).items()}
    if task == "grounding":
        opts["giou"] = {"scale": "unit", **opts.get("giou", {})}
    reward = task_reward(task, None, opts, coords, solution_coords)
    columns: dict[str, Any] = {"solution": [r["ground_truth"] for r in reward_inputs]}
    for keys in (("width", "height"), ("image_size",)):
        if all(all(r.get(k) is not None for k in keys) for r in reward_inputs):
            columns.update({k: [r[k] for r in reward_inputs] for k in keys})
            break
    batch = reward.score_all([r["response"] for r in reward_inputs], **columns)
    parts = {name.removesuffix("_reward"): part.scores for name, part in batch.parts.items()}
    if task == "detection":
        accuracy = (1.0 - confidence_weight) * parts["iou"] + confidence_weight * parts["confidence"]
    elif task == "classification":
        accuracy = parts["accuracy"]
    else:
        accuracy = parts["giou"]
    fmt = parts["format"]
    overall = (1.0 - format_weight) * accuracy + format_weight * fmt
    extra = {name: scores.tolist() for name, scores in parts.items() if name not in ("format", "accuracy")}
    return [{"overall": float(overall[i]), "format": float(fmt[i]), "accuracy": float(accuracy[i]),
             **{name: float(scores[i]) for name, scores in extra.items()}} for i in range(len(reward_inputs))]
