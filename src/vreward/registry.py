"""The reward registry: one row per reward and one per task, read by every surface of vreward.

``make_task_reward`` and :class:`~vreward.composite.CompositeReward`, ``vreward score``, the reward server, the
trainer adapters (verl, EasyR1, OpenRLHF), ``vreward-train``'s configuration and every command-line choice
take the rewards and tasks from here; nothing else spells their lists out. Adding a reward is its module
(the :class:`~vreward.rewards.base.Reward` subclass, its settings, ``make_<name>_reward`` and the default
``<name>_reward``) plus one row of :data:`REWARDS`; a task is one row of :data:`TASKS`.

>>> from vreward.registry import REWARDS, TASKS, build_reward
>>> [name for name, _ in TASKS["detection"].rewards]
['iou', 'confidence', 'format']
>>> REWARDS["giou"].tasks
('grounding',)
>>> build_reward("iou", threshold=0.75).settings.threshold
0.75

Rows name their classes as ``"module:attribute"`` and load them on first use, so importing the registry (as
``import vreward`` and the command line do) stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vreward.rewards.base import Reward
    from vreward.rewards.settings import RewardSettings


@dataclass(frozen=True)
class RewardSpec:
    """One reward.

    ``name`` keys its weights and options (``{"iou": 1.0}``, ``iou={"threshold": 0.75}``). ``module`` holds its
    class (``reward``), its settings model (``settings``), its factory ``make_<name>_reward`` and its default
    instance ``<name>_reward`` (TRL logs ``rewards/<name>_reward/mean``); ``doc`` is its documentation page;
    ``preset`` the set of definitions it belongs to (:data:`PRESETS`).
    """

    name: str
    module: str
    reward: str
    settings: str
    doc: str
    summary: str
    preset: str = "default"

    @property
    def default_name(self) -> str:
        return f"{self.name}_reward"

    @property
    def factory_name(self) -> str:
        return f"make_{self.name}_reward"

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks whose reward sets include this reward."""
        return tuple(task.name for task in TASKS.values() if self.name in task.reward_names)

    @property
    def public_names(self) -> tuple[str, ...]:
        """The names ``vreward`` exports for this reward (all attributes of ``module``)."""
        return (self.reward, self.settings, self.factory_name, self.default_name)

    @cached_property
    def reward_class(self) -> type[Reward]:
        return self.attribute(self.reward)

    @property
    def settings_class(self) -> type[RewardSettings]:
        """The pydantic model of the reward's options."""
        return self.attribute(self.settings)

    @property
    def frame_aware(self) -> bool:
        """Whether the reward reads boxes and takes coordinate frames (``coords``, ``solution_coords``)."""
        from vreward.rewards.settings import FrameSettings

        return issubclass(self.settings_class, FrameSettings)

    @property
    def options(self) -> tuple[str, ...]:
        """Names of the reward's options."""
        return tuple(self.settings_class.model_fields)

    def build(self, settings: RewardSettings | None = None, **options: Any) -> Reward:
        """A new reward with ``options`` (validated; a pydantic ``ValidationError`` names a bad one)."""
        return self.reward_class.from_options(settings, **options)

    def attribute(self, name: str) -> Any:
        """An attribute of the reward's module (its factory, its default instance)."""
        return getattr(importlib.import_module(self.module), name)


@dataclass(frozen=True)
class TaskSpec:
    """A task: its reward set with default weights (Visual-RFT's, arXiv 2503.01785 section 3.2), and the reward
    that measures success at the task itself (``primary``: what trainers that split a reward into "format" and
    "accuracy", such as EasyR1, report as accuracy)."""

    name: str
    rewards: tuple[tuple[str, float], ...]
    primary: str
    summary: str

    @property
    def reward_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.rewards)

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.rewards)

    @property
    def frame_aware(self) -> bool:
        """Whether any of the task's rewards reads boxes."""
        return any(REWARDS[name].frame_aware for name in self.reward_names)


REWARDS: dict[str, RewardSpec] = {spec.name: spec for spec in (
    RewardSpec("iou", "vreward.rewards.detection", "IoUReward", "DetectionSettings", "docs/rewards/iou.md",
               "detection: summed IoU of matched boxes over max(#predictions, #ground truth)"),
    RewardSpec("confidence", "vreward.rewards.detection", "ConfidenceReward", "DetectionSettings",
               "docs/rewards/confidence.md", "detection: mean over predictions of c if matched, 1 - c if not"),
    RewardSpec("format", "vreward.rewards.format", "FormatReward", "FormatSettings", "docs/rewards/format.md",
               "<think>...</think><answer>...</answer> format"),
    RewardSpec("accuracy", "vreward.rewards.classification", "AccuracyReward", "ClassificationSettings",
               "docs/rewards/accuracy.md", "classification: the answer names the true class"),
    RewardSpec("giou", "vreward.rewards.grounding", "GIoUReward", "GroundingSettings", "docs/rewards/giou.md",
               "grounding: GIoU of the answer's box with the ground truth"),
    RewardSpec("click", "vreward.rewards.points", "ClickReward", "ClickSettings", "docs/rewards/click.md",
               "GUI grounding: the click (first point, or a box's centre) lies inside the target box"),
    RewardSpec("gaussian_point", "vreward.rewards.points", "GaussianPointReward", "GaussianPointSettings",
               "docs/rewards/gaussian_point.md", "GUI grounding: GUI-G2's Gaussian of the click's offset from the "
               "target centre, sigma = 0.5 * target size"),
    RewardSpec("detection_f1", "vreward.rewards.multi_object", "DetectionSchemeReward", "DetectionSchemeSettings",
               "docs/rewards/detection_f1.md", "multi-object detection: one-to-one F1 at the IoU threshold "
               "(make_detection_reward gives the published schemes)"),
    RewardSpec("count", "vreward.rewards.counting", "CountReward", "CountSettings", "docs/rewards/count.md",
               "counting: the answer states one number, the true count"),
    RewardSpec("ocr", "vreward.rewards.ocr", "OCRReward", "OCRSettings", "docs/rewards/ocr.md",
               "OCR: 1 - normalized edit distance to the true text"),
    RewardSpec("temporal_iou", "vreward.rewards.temporal", "TemporalIoUReward", "TemporalSettings",
               "docs/rewards/temporal_iou.md", "video temporal grounding: tIoU of 'start to end' intervals"),
    RewardSpec("mask_iou", "vreward.rewards.masks", "MaskIoUReward", "MaskSettings", "docs/rewards/mask_iou.md",
               "segmentation: mask IoU of the answer's polygon (or point-in-mask)"),
    RewardSpec("rotated_iou", "vreward.rewards.rotated", "RotatedIoUReward", "RotatedSettings",
               "docs/rewards/rotated_iou.md", "oriented detection: polygon IoU of matched rotated boxes"),
)}

# The paper's definitions, exactly (vreward.visual_rft), for reproductions of Visual-RFT.
VISUAL_RFT: dict[str, RewardSpec] = {spec.name: spec for spec in (
    RewardSpec("iou", "vreward.visual_rft", "VisualRFTIoUReward", "VisualRFTDetectionSettings", "docs/rewards/iou.md",
               "Visual-RFT eq. 3: summed IoU of matched boxes over max(#predictions, #ground truth)", "visual_rft"),
    RewardSpec("confidence", "vreward.visual_rft", "VisualRFTConfidenceReward", "VisualRFTDetectionSettings",
               "docs/rewards/confidence.md", "Visual-RFT eq. 4: mean of c if matched, 1 - c if not", "visual_rft"),
    RewardSpec("format", "vreward.visual_rft", "VisualRFTFormatReward", "FormatSettings", "docs/rewards/format.md",
               "Visual-RFT: fullmatch <think>.*?</think>\\s*<answer>.*?</answer>", "visual_rft"),
    RewardSpec("accuracy", "vreward.visual_rft", "VisualRFTAccuracyReward", "VisualRFTClassificationSettings",
               "docs/rewards/accuracy.md", "Visual-RFT: either normalized name contains the other", "visual_rft"),
    RewardSpec("giou", "vreward.visual_rft", "VisualRFTGIoUReward", "VisualRFTGroundingSettings",
               "docs/rewards/giou.md", "Visual-RFT: GIoU + 1", "visual_rft"),
)}

# The sets of definitions: vreward's defaults (hack-resistant) and the paper's.
PRESETS: dict[str, dict[str, RewardSpec]] = {"default": REWARDS, "visual_rft": VISUAL_RFT}
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("detection", (("iou", 1.0), ("confidence", 1.0), ("format", 1.0)), "iou",
             "few-shot / open-vocabulary detection: boxes with confidences"),
    TaskSpec("classification", (("accuracy", 1.0), ("format", 1.0)), "accuracy",
             "fine-grained classification: a class name"),
    TaskSpec("grounding", (("giou", 1.0), ("format", 1.0)), "giou", "reasoning grounding: one box"),
    TaskSpec("format", (("format", 1.0),), "format", "the answer format alone"),
    TaskSpec("gui", (("click", 1.0), ("gaussian_point", 0.5), ("format", 1.0)), "click",
             "GUI grounding: one click (a point, or a box's centre) on the target element"),
    TaskSpec("multi_object", (("detection_f1", 1.0), ("format", 1.0)), "detection_f1",
             "multi-object detection scored by one-to-one F1"),
    TaskSpec("counting", (("count", 1.0), ("format", 1.0)), "count", "counting: one number"),
    TaskSpec("ocr", (("ocr", 1.0), ("format", 1.0)), "ocr", "OCR: the text in the image"),
    TaskSpec("temporal", (("temporal_iou", 1.0), ("format", 1.0)), "temporal_iou",
             "video temporal grounding: 'start to end' in seconds or mm:ss"),
    TaskSpec("segmentation", (("mask_iou", 1.0), ("format", 1.0)), "mask_iou",
             "referring segmentation: a polygon of the target (mask IoU)"),
    TaskSpec("rotated", (("rotated_iou", 1.0), ("format", 1.0)), "rotated_iou",
             "oriented detection: rotated boxes [cx, cy, w, h, angle]"),
)}

REWARD_NAMES: tuple[str, ...] = tuple(REWARDS)
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def public_rewards() -> dict[str, str]:
    """Every public reward name (classes, settings, factories, default instances) and the module holding it."""
    return {public: spec.module for spec in REWARDS.values() for public in spec.public_names}


def reward_spec(name: str, preset: str = "default") -> RewardSpec:
    """The row of reward ``name`` in ``preset`` (a ``ValueError`` listing the choices when there is none)."""
    rewards = PRESETS.get(preset) if isinstance(preset, str) else None
    if rewards is None:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESET_NAMES)}")
    spec = rewards.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown reward {name!r}{'' if preset == 'default' else f' in preset {preset!r}'}; "
                         f"choose one of {list(rewards)}")
    return spec


def task_spec(name: str) -> TaskSpec:
    """The row of task ``name`` (a ``ValueError`` listing the tasks when there is none)."""
    spec = TASKS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown task {name!r}; choose one of {list(TASK_NAMES)}")
    return spec


def build_reward(name: str, settings: RewardSettings | None = None, preset: str = "default",
                 **options: Any) -> Reward:
    """A new reward ``name`` of ``preset`` with ``options``, e.g. ``build_reward("iou", threshold=0.75)``."""
    return reward_spec(name, preset).build(settings, **options)


def options_for(name: str, available: dict[str, Any], preset: str = "default") -> dict[str, Any]:
    """The entries of ``available`` that are options of reward ``name`` (for surfaces holding one flat set of
    options for all rewards, such as ``vreward score``'s command line)."""
    accepted = reward_spec(name, preset).options
    return {key: value for key, value in available.items() if key in accepted}
