"""vreward_train: wiring vreward's rewards into TRL's GRPOTrainer.

>>> from vreward_train import task_rewards
>>> funcs, weights = task_rewards("detection")
>>> [f.__name__ for f in funcs], weights
(['iou_reward', 'confidence_reward', 'format_reward'], [1.0, 1.0, 1.0])

``GRPOTrainer(reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))`` then trains with Visual-RFT's
reward set for the task.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Visual-RFT's reward set per task: (reward, weight).
TASK_REWARDS: dict[str, tuple[tuple[str, float], ...]] = {
    "detection": (("iou", 1.0), ("confidence", 1.0), ("format", 1.0)),
    "classification": (("accuracy", 1.0), ("format", 1.0)),
    "grounding": (("giou", 1.0), ("format", 1.0)),
}


def task_rewards(task: str, weights: dict[str, float] | None = None,
                 **options: dict[str, Any]) -> tuple[list, list[float]]:
    """Reward functions and weights of a task, for ``GRPOTrainer(reward_funcs=...)`` and ``reward_weights``.

    ``weights`` overrides weights by reward name (``{"format": 0.5}``); ``options`` passes settings to one
    reward's factory by name (``iou={"threshold": 0.75}``).
    """
    import vreward

    if task not in TASK_REWARDS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASK_REWARDS)}")
    names = [name for name, _ in TASK_REWARDS[task]]
    for label, given in (("weights", weights or {}), ("options", options)):
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{label} for {unknown} do not apply to task {task!r}, whose rewards are {names}")
    funcs = [getattr(vreward, f"make_{name}_reward")(**options.get(name, {})) for name in names]
    return funcs, [float((weights or {}).get(name, w)) for name, w in TASK_REWARDS[task]]
