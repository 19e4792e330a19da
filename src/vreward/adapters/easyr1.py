"""vreward rewards as an EasyR1 batch reward function (EasyR1 v0.3.1 or later; docs/trainers/easyr1.md).

EasyR1 loads this file by path (``worker.reward.reward_function=<path>:compute_score``, module name
``custom_reward_fn``), reads ``REWARD_TYPE = "batch"`` (since November 2025 the module attribute is the only
place the type is set: the config's ``reward_type`` field is gone) and calls, once per batch and with
``worker.reward.reward_function_kwargs`` added::

    compute_score(reward_inputs: list[dict], **reward_function_kwargs) -> list[dict[str, float]]

Each input holds ``response`` (the decoded completion), ``response_length`` and ``ground_truth``; trailing
end-of-turn tokens that ``skip_special_tokens: false`` leaves in the response (``<|im_end|>``, ...) are removed
before scoring. Each result holds ``overall`` (the reward EasyR1 trains on), ``format`` and ``accuracy``
(EasyR1's convention, ``overall = (1 - format_weight) * accuracy + format_weight * format``), the task's own
rewards by short name (``iou``, ``confidence``, ``accuracy``, ``giou``) and ``bad_ground_truth`` (1.0 where the
ground truth cannot be read), all logged by EasyR1 as ``reward/<key>``.

``accuracy`` is the task's primary reward (:data:`vreward.registry.TASKS`: detection ``iou``, classification
``accuracy``, grounding ``giou``), or the weighted mean of the task's rewards given in ``accuracy_weights``
(``confidence_weight=w`` is detection's ``{"iou": 1 - w, "confidence": w}``). ``preset="visual_rft"`` scores with
the paper's definitions; rewards with a ``scale`` option (the paper's GIoU) are then scored on their ``unit``
scale, in [0, 1] like the others (override with ``options={"giou": {"scale": "paper"}}``). ``family`` names the
policy's model family (how its answers are read and the frame of its boxes, e.g. ``family=qwen3_vl``). Pixel
frames need the image size: a ``width`` and ``height`` (or ``image_size``) key in each reward input, where a
customized EasyR1 passes one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vreward.adapters.chat import strip_end
from vreward.adapters.loading import use_package_objects
from vreward.adapters.rows import task_reward
from vreward.batching import BAD_GROUND_TRUTH
from vreward.registry import TaskSpec, reward_spec, task_spec

__all__ = ["REWARD_NAME", "REWARD_TYPE", "compute_score"]

REWARD_NAME = "vreward"
REWARD_TYPE = "batch"
MINIMUM_EASYR1 = "v0.3.1 (June 2025)"


def compute_score(reward_inputs: Sequence[Mapping[str, Any]], *positional: Any, format_weight: float = 0.1,
                  task: str = "detection", confidence_weight: float | None = None,
                  accuracy_weights: Mapping[str, float] | None = None, coords: str | None = None,
                  solution_coords: str | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
                  preset: str = "default", family: str | None = None, **kwargs: Any) -> list[dict[str, float]]:
    """EasyR1's batch reward function: one parse and one kernel call per reward for the whole batch."""
    if positional:
        raise TypeError(f"EasyR1 called compute_score with {1 + len(positional)} positional arguments: revisions "
                        "of April to June 2025 pass (responses, ground_truths) lists; vreward's adapter needs "
                        f"EasyR1 {MINIMUM_EASYR1} or later, which passes one list of reward inputs")
    if isinstance(reward_inputs, Mapping) or not isinstance(reward_inputs, Sequence):
        raise ValueError("vreward's EasyR1 reward is a batch reward function: keep REWARD_TYPE = 'batch'")
    spec = task_spec(task)
    weights = _accuracy_weights(spec, confidence_weight, accuracy_weights)
    if not 0.0 <= format_weight <= 1.0:
        raise ValueError(f"format_weight ({format_weight}) must be in [0, 1]")
    if not reward_inputs:
        return []
    opts = {name: dict(value) for name, value in (options or {}).items()}
    for name in spec.reward_names:
        if "scale" in reward_spec(name, preset).options:
            opts[name] = {"scale": "unit", **opts.get(name, {})}
    reward = task_reward(task, None, opts, coords, solution_coords, preset, family)
    columns: dict[str, Any] = {"solution": [r["ground_truth"] for r in reward_inputs]}
    for keys in (("width", "height"), ("image_size",)):
        if all(all(r.get(k) is not None for k in keys) for r in reward_inputs):
            columns.update({k: [r[k] for r in reward_inputs] for k in keys})
            break
    batch = reward.score_all([strip_end(r["response"]) if isinstance(r["response"], str) else r["response"]
                              for r in reward_inputs], **columns)
    parts = {name.removesuffix("_reward"): part.scores for name, part in batch.parts.items()}
    accuracy = sum(w * parts[name] for name, w in weights.items())
    fmt = parts["format"]
    overall = (1.0 - format_weight) * accuracy + format_weight * fmt
    extra = {name: scores.tolist() for name, scores in parts.items() if name not in ("format", "accuracy")}
    bad_truth = [float(any(part.reasons[i] == BAD_GROUND_TRUTH for part in batch.parts.values()))
                 for i in range(len(reward_inputs))]
    return [{"overall": float(overall[i]), "format": float(fmt[i]), "accuracy": float(accuracy[i]),
             **{name: float(scores[i]) for name, scores in extra.items()}, "bad_ground_truth": bad_truth[i]}
            for i in range(len(reward_inputs))]


def _accuracy_weights(spec: TaskSpec, confidence_weight: float | None,
                      accuracy_weights: Mapping[str, float] | None) -> dict[str, float]:
    """The weights of ``accuracy`` by reward name, normalized to sum to 1 (default: the primary reward)."""
    if confidence_weight is not None:
        if accuracy_weights is not None or spec.name != "detection":
            raise ValueError("confidence_weight applies to task 'detection' without accuracy_weights")
        if not 0.0 <= confidence_weight <= 1.0:
            raise ValueError(f"confidence_weight ({confidence_weight}) must be in [0, 1]")
        accuracy_weights = {"iou": 1.0 - confidence_weight, "confidence": confidence_weight}
    weights = dict(accuracy_weights or {spec.primary: 1.0})
    unknown = sorted(set(weights) - set(spec.reward_names))
    if unknown:
        raise ValueError(f"accuracy_weights for {unknown} do not apply to task {spec.name!r}, whose rewards are "
                         f"{list(spec.reward_names)}")
    total = sum(weights.values())
    if not all(w >= 0 for w in weights.values()) or total <= 0:
        raise ValueError(f"accuracy_weights must be non-negative with a positive sum, got {weights}")
    return {name: w / total for name, w in weights.items()}


use_package_objects(globals(), "vreward.adapters.easyr1")
