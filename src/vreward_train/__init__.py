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
__all__ = ["task_rewards"]


def task_rewards(task: str, weights: dict[str, float] | None = None, preset: str = "default",
                 **options: dict[str, Any]) -> tuple[list, list[float]]:
    """Reward functions and weights of a task, for ``GRPOTrainer(reward_funcs=...)`` and ``reward_weights``.

    The task's reward set is its row of ``vreward.registry.TASKS``; ``weights`` overrides weights by reward name
    (``{"format": 0.5}``); ``preset`` the definitions (``"visual_rft"``: the paper's); ``options`` passes settings
    to one reward's factory by name (``iou={"threshold": 0.75}``).
    """
    from vreward.composite import make_task_reward

    composite = make_task_reward(task, weights, preset, **options)
    return composite.rewards, composite.weights
