"""The rewards, with TRL's calling convention: ``f(completions, **kwargs) -> list[float]``.

One module per kind of reward; :mod:`vreward.registry` lists them. Each reward's class, settings, factory and
default instance are importable from here (and from ``vreward``), loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from vreward.registry import public_rewards
from vreward.rewards.base import FrameMismatchWarning, Reward, RewardBatch, RewardDetail
from vreward.rewards.settings import FrameSettings, RewardSettings

_PUBLIC = public_rewards()
__all__ = ["FrameMismatchWarning", "FrameSettings", "Reward", "RewardBatch", "RewardDetail",
           "RewardSettings", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'vreward.rewards' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
