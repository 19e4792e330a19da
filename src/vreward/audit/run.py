"""Score every candidate answer of every scene with a reward configuration, and judge the attacks.

A configuration is a task's reward set (vreward's defaults or a preset, weights allowed) or any user reward
given as ``module:function`` (a TRL-style ``f(completions, **kwargs) -> list[float]``). For each scene the
candidates are scored as one batch, with the scene's columns (``solution``, ``width``, ``height``,
``classes``) as keywords. Verdicts:

* an **attack** wins when its total is higher than the total of one of its honest competitors on that scene
  (format attacks: when its format reward is as high as the well-formed answer's);
* a **harmless** variation is punished when it scores less than the perfect answer;
* the **calibration** check (detection): the expected total of a box that is right with probability ``p``,
  stated at confidence ``p``, must not be beaten by the same box stated at 0 or at 1.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vreward.audit.candidates import THINK, Candidate, candidates_for
from vreward.audit.scenes import Scene, bundled
from vreward.composite import CompositeReward, make_task_reward
from vreward.registry import PRESETS, TASKS

RewardFn = Callable[..., Sequence[float]]
FORMAT_REWARD = "format_reward"


@dataclass(frozen=True)
class AuditConfig:
    """What is audited: per task, named reward functions and their weights."""

    label: str
    rewards: dict[str, tuple[tuple[str, RewardFn, float], ...]]

    @classmethod
    def of_preset(cls, preset: str = "default", tasks: Sequence[str] | None = None,
                  weights: dict[str, float] | None = None) -> AuditConfig:
        """The registry's reward set of every task (or ``tasks``) in ``preset``; without ``tasks``, the tasks whose
        rewards the preset defines (``visual_rft`` has none for the catalogue's tasks)."""
        out = {}
        defined = PRESETS[preset] if preset in PRESETS else {}
        for task in tasks or [t for t, spec in TASKS.items() if set(spec.reward_names) <= set(defined)]:
            names = TASKS[task].reward_names
            composite = make_task_reward(task, {k: v for k, v in (weights or {}).items() if k in names} or None,
                                         preset=preset)
            out[task] = _parts(composite)
        return cls(f"preset {preset}" + (f", weights {weights}" if weights else ""), out)

    @classmethod
    def of_functions(cls, specs: Sequence[str], task: str, weights: Sequence[float] | None = None) -> AuditConfig:
        """User rewards ``module:function`` (weights 1 unless given), audited on ``task``'s scenes."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")
        weights = list(weights) if weights is not None else [1.0] * len(specs)
        if len(weights) != len(specs):
            raise ValueError(f"{len(weights)} weights for {len(specs)} rewards")
        parts = tuple((spec.rsplit(":", 1)[-1], load_reward(spec), float(w)) for spec, w in zip(specs, weights))
        return cls(", ".join(specs), {task: parts})


def _parts(composite: CompositeReward) -> tuple[tuple[str, RewardFn, float], ...]:
    return tuple((r.__name__, r, w) for r, w in zip(composite.rewards, composite.weights))


def load_reward(spec: str) -> RewardFn:
    """The callable named by ``module:function`` (or ``module:attribute.attribute``)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"reward {spec!r}: expected module:function, e.g. my_project.rewards:iou")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"reward {spec!r}: cannot import {module_name}: {exc}") from None
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ValueError(f"reward {spec!r}: {module_name} has no attribute {attribute!r}")
        value = getattr(value, part)
    if not callable(value):
        raise ValueError(f"reward {spec!r} is not callable")
    return value


@dataclass(frozen=True)
class Scored:
    """One candidate on one scene: its completion, each reward's score and the weighted total."""

    candidate: Candidate
    completion: str
    scores: dict[str, float]
    total: float


@dataclass(frozen=True)
class Verdict:
    """The judgement of one attack, harmless variation or calibration check on one scene."""

    task: str
    scene: str
    name: str
    kind: str
    scores: dict[str, float]
    total: float
    against: str
    against_total: float
    failed: bool
    source: str = ""


@dataclass
class AuditReport:
    """Every verdict of an audit (``failures``: the attacks that win and the variations that are punished)."""

    config: str
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.failed]

    @property
    def passed(self) -> bool:
        return not self.failures


def score_candidates(scene: Scene, parts: Sequence[tuple[str, RewardFn, float]]) -> dict[str, Scored]:
    """Every candidate of the scene's task that applies to the scene, scored as one batch."""
    built = [(c, c.build(scene)) for c in candidates_for(scene.task)]
    built = [(c, text) for c, text in built if text is not None]
    completions = [text for _, text in built]
    columns = {k: v * len(completions) for k, v in scene.reward_columns().items()}
    per_reward = {name: _call(fn, completions, columns) for name, fn, _ in parts}
    out = {}
    for i, (c, text) in enumerate(built):
        scores = {name: values[i] for name, values in per_reward.items()}
        total = float(sum(w * scores[name] for name, _, w in parts))
        out[c.name] = Scored(c, text, scores, total)
    return out


def _call(fn: RewardFn, completions: list[str], columns: dict[str, list]) -> list[float]:
    values = [float(v) if v is not None else float("nan") for v in fn(completions, **columns)]
    if len(values) != len(completions):
        raise ValueError(f"{getattr(fn, '__name__', fn)!r} returned {len(values)} scores for {len(completions)} "
                         "completions")
    return values


def judge(scene: Scene, scored: dict[str, Scored]) -> list[Verdict]:
    """The verdicts of a scene's attacks and harmless variations."""
    out = []
    perfect = next((s for s in scored.values() if s.candidate.kind == "perfect"), None)
    for s in scored.values():
        c = s.candidate
        if c.kind == "harmless" and perfect is not None:
            out.append(Verdict(scene.task, scene.name, c.name, c.kind, s.scores, s.total, "perfect", perfect.total,
                               s.total < perfect.total - 1e-9))
        elif c.kind == "attack" and c.compare == "format":
            if perfect is None or FORMAT_REWARD not in s.scores:
                continue
            ours, theirs = s.scores[FORMAT_REWARD], perfect.scores[FORMAT_REWARD]
            out.append(Verdict(scene.task, scene.name, c.name, c.kind, s.scores, ours, "perfect (format reward)",
                               theirs, ours >= theirs, c.source))
        elif c.kind == "attack":
            rivals = [scored[name] for name in c.competitors if name in scored]
            if not rivals:
                continue
            weakest = min(rivals, key=lambda r: r.total)
            out.append(Verdict(scene.task, scene.name, c.name, c.kind, s.scores, s.total, weakest.candidate.name,
                               weakest.total, s.total > weakest.total + 1e-9, c.source))
    return out


def calibration(parts: Sequence[tuple[str, RewardFn, float]], p: float = 0.8) -> list[Verdict]:
    """The expected total of one box that is right with probability ``p``: stated at ``p`` vs at 0 and at 1.

    The box is scored against two ground truths, one it matches (IoU 0.9) and one it misses (IoU 0.12); the
    expectation weighs them ``p`` and ``1 - p``. A proper confidence reward pays the honest confidence best.
    """
    hit = Scene("detection", "box right with probability 0.8", boxes=((100, 100, 200, 200),))
    miss = Scene("detection", "box right with probability 0.8", boxes=((150, 150, 250, 250),))
    box = [100, 100, 200, 190]

    def expected(confidence: float) -> tuple[dict[str, float], float]:
        text = f"{THINK}<answer>[{{'Position': {box}, 'Confidence': {confidence}}}]</answer>"
        rows = {}
        for scene in (hit, miss):
            columns = scene.reward_columns()
            rows[scene.boxes] = {name: _call(fn, [text], columns)[0] for name, fn, _ in parts}
        scores = {name: p * rows[hit.boxes][name] + (1 - p) * rows[miss.boxes][name] for name, _, _ in parts}
        return scores, float(sum(w * scores[name] for name, _, w in parts))

    honest_scores, honest = expected(p)
    verdicts = []
    for extreme in (1.0, 0.0):
        scores, total = expected(extreme)
        verdicts.append(Verdict("detection", hit.name, f"confidence pushed to {extreme:g}", "attack", scores, total,
                                f"honest confidence {p:g}", honest, total > honest + 1e-9,
                                "Visual-RFT eq. 4 is linear in c: an improper scoring rule"))
    return verdicts


def audit(config: AuditConfig | None = None, scenes: Sequence[Scene] | None = None) -> AuditReport:
    """Audit ``config`` (default: vreward's default rewards of every task) on ``scenes`` (default: bundled)."""
    config = config or AuditConfig.of_preset()
    report = AuditReport(config.label)
    for scene in scenes if scenes is not None else bundled(config.rewards):
        parts = config.rewards.get(scene.task)
        if parts is None:
            continue
        report.verdicts += judge(scene, score_candidates(scene, parts))
    if "detection" in config.rewards and any(name == "confidence_reward" for name, _, _ in config.rewards["detection"]):
        report.verdicts += calibration(config.rewards["detection"])
    return report


def scene_scores(config: AuditConfig, scene: Scene) -> dict[str, Scored]:
    """Every candidate's scores on one scene (for reports and tests)."""
    return score_candidates(scene, config.rewards[scene.task])

