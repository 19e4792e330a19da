"""Values that change with training progress: thresholds and weights given as a schedule.

A reward option that takes a schedule accepts a plain number (constant), a :class:`PiecewiseSchedule`, a
:class:`LinearSchedule`, a dict of either (``{"kind": "piecewise", "values": [...], "boundaries": [...]}``) or the
name of a preset (:data:`PRESET_SCHEDULES`, e.g. ``"v_triune_iou"``). Progress is read from the keywords a reward
is called with (:func:`training_progress`): TRL's ``trainer_state`` (``global_step`` / ``max_steps``), else an
explicit ``progress`` (0-1) or ``step`` (with ``max_steps``) passed by the other trainers. A scheduled value called
without any of them raises a ``ValueError`` naming the keywords: it never silently stays at its first value (the
bug of Vision-R1's released code, whose threshold schedule never receives the step).

>>> from vreward.schedules import resolve, schedule_of
>>> iou = schedule_of("v_triune_iou")
>>> [resolve(iou, {"progress": p}) for p in (0.0, 0.1, 0.3)]
[0.85, 0.95, 0.99]
>>> resolve(0.5, {})
0.5
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Progress(NamedTuple):
    """Where training is: the step, and the total number of steps when known (None: unknown)."""

    step: float
    max_steps: float | None

    @property
    def fraction(self) -> float | None:
        """``step / max_steps`` clipped to [0, 1]; None when the total is unknown."""
        if self.max_steps is None or self.max_steps <= 0:
            return None
        return min(max(self.step / self.max_steps, 0.0), 1.0)


PROGRESS_KEYWORDS = "trainer_state (TRL), progress= (0-1), or step= with max_steps="


def training_progress(kwargs: Mapping[str, Any]) -> Progress | None:
    """The training progress the keywords carry, or None when they carry none.

    ``trainer_state``: TRL's ``TrainerState`` (or a dict) with ``global_step`` and ``max_steps``; ``progress``: a
    fraction of training in [0, 1]; ``step`` (and ``max_steps``): a step count.
    """
    state = kwargs.get("trainer_state")
    if state is not None:
        read = state.get if isinstance(state, Mapping) else lambda k: getattr(state, k, None)
        step = read("global_step")
        if _number(step):
            total = read("max_steps")
            return Progress(float(step), float(total) if _number(total) else None)
    progress = kwargs.get("progress")
    if _number(progress):
        return Progress(min(max(float(progress), 0.0), 1.0), 1.0)
    step = kwargs.get("step")
    if _number(step):
        total = kwargs.get("max_steps")
        return Progress(float(step), float(total) if _number(total) else None)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class _Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: Literal["progress", "step"] = Field(
        "progress", description="boundaries in fractions of training (0-1), or in training steps")

    def position(self, kwargs: Mapping[str, Any]) -> float:
        """Where training is, in this schedule's unit (a ``ValueError`` naming the keywords when unknown)."""
        progress = training_progress(kwargs)
        if progress is None:
            raise ValueError(f"this reward's schedule ({self.describe()}) needs the training step: pass "
                             f"{PROGRESS_KEYWORDS}")
        if self.by == "step":
            return progress.step
        fraction = progress.fraction
        if fraction is None:
            raise ValueError(f"schedule {self.describe()} is by fraction of training but max_steps is unknown: "
                             "pass progress= (0-1), or max_steps=, or give the schedule by='step'")
        return fraction

    def describe(self) -> str:
        raise NotImplementedError


class PiecewiseSchedule(_Schedule):
    """``values[i]`` from ``boundaries[i - 1]`` (inclusive) to ``boundaries[i]``: ``len(values) ==
    len(boundaries) + 1``, boundaries increasing."""

    kind: Literal["piecewise"] = "piecewise"
    values: tuple[float, ...] = Field(min_length=1)
    boundaries: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> PiecewiseSchedule:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"a piecewise schedule needs one value more than boundaries, got {len(self.values)} "
                             f"values and {len(self.boundaries)} boundaries")
        if any(b >= a for a, b in zip(self.boundaries[1:], self.boundaries)):
            raise ValueError(f"boundaries must increase, got {list(self.boundaries)}")
        return self

    def at(self, x: float) -> float:
        return self.values[sum(x >= b for b in self.boundaries)]

    def describe(self) -> str:
        return f"piecewise {list(self.values)} at {self.by} {list(self.boundaries)}"


class LinearSchedule(_Schedule):
    """``start`` until ``begin``, then linear to ``end`` at ``finish``, then ``end``."""

    kind: Literal["linear"] = "linear"
    start: float
    end: float
    begin: float = 0.0
    finish: float = 1.0

    @model_validator(mode="after")
    def _check(self) -> LinearSchedule:
        if not self.finish > self.begin:
            raise ValueError(f"finish ({self.finish}) must be after begin ({self.begin})")
        return self

    def at(self, x: float) -> float:
        t = min(max((x - self.begin) / (self.finish - self.begin), 0.0), 1.0)
        return self.start + t * (self.end - self.start)

    def describe(self) -> str:
        return f"linear {self.start} -> {self.end} over {self.by} {self.begin}-{self.finish}"


Schedule = PiecewiseSchedule | LinearSchedule

# Published schedules by name.
PRESET_SCHEDULES: dict[str, Schedule] = {
    # V-Triune (arXiv 2505.18129, "Dynamic IoU reward"): 0.85 for the first 10% of training, 0.95 to 25%, then 0.99
    "v_triune_iou": PiecewiseSchedule(values=(0.85, 0.95, 0.99), boundaries=(0.1, 0.25)),
    # Vision-R1 (arXiv 2503.18013, "progressive rule refinement"): the IoU criterion raised from 0.5 to 0.75 halfway
    "vision_r1_iou": PiecewiseSchedule(values=(0.5, 0.75), boundaries=(0.5,)),
}


def schedule_of(value: Any) -> Schedule | float:
    """An option value as a number or a schedule: numbers and schedules as they are, a preset's name, or a dict."""
    if isinstance(value, str):
        preset = PRESET_SCHEDULES.get(value)
        if preset is None:
            raise ValueError(f"unknown schedule {value!r}; choose one of {list(PRESET_SCHEDULES)} or give a number")
        return preset
    if isinstance(value, Mapping):
        kind = value.get("kind", "piecewise")
        model = {"piecewise": PiecewiseSchedule, "linear": LinearSchedule}.get(kind)
        if model is None:
            raise ValueError(f"unknown schedule kind {kind!r}; choose 'piecewise' or 'linear'")
        return model(**value)
    return value


# An option that is a number or a schedule (validated by pydantic).
Scheduled = Annotated[float | PiecewiseSchedule | LinearSchedule, BeforeValidator(schedule_of)]


def resolve(value: float | Schedule, kwargs: Mapping[str, Any]) -> float:
    """The value of an option now: a number as it is, a schedule at the training progress of ``kwargs``."""
    if isinstance(value, (PiecewiseSchedule, LinearSchedule)):
        return float(value.at(value.position(kwargs)))
    return float(value)


def is_scheduled(value: Any) -> bool:
    return isinstance(value, (PiecewiseSchedule, LinearSchedule))
