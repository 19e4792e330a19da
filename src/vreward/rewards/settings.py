"""Validated options of every reward (pydantic): bad configuration fails when the reward is built."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, check_frame, family_spec, same_frame
from vreward.frames.families import family_frame
from vreward.schedules import LinearSchedule, PiecewiseSchedule, Scheduled

# A coordinate frame's name (a key of vreward.frames.FRAMES), validated.
Frame = Annotated[str, AfterValidator(check_frame)]
S = TypeVar("S", bound="RewardSettings")


class RewardSettings(BaseModel):
    """Options shared by all rewards."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(None, min_length=1, description="`__name__` of the reward (TRL logs rewards/<name>/mean)")
    require_answer_tag: bool = Field(
        True, description="Read boxes / answers only inside <answer>...</answer>; False reads the whole text "
        "after </think> when there is no tag (models answering without tags)")
    strict: bool = Field(
        False, description="a ground-truth row that cannot be read raises SolutionError; by default it scores 0 "
        "with reason bad_ground_truth and a warning, so that one bad label does not end a training run")
    source_column: str | None = Field(
        "data_source", description="dataset column naming each row's data source: with TRL's log_metric, the "
        "reward's mean and zero reasons are also logged per source (<name>/<source>/mean); None turns it off")

    @classmethod
    def from_options(cls: type[S], settings: S | None = None, **options: Any) -> S:
        """``settings`` (default: the defaults) with ``options`` changed, validated."""
        if settings is None:
            return cls(**options)
        if not isinstance(settings, cls):
            raise TypeError(f"settings must be a {cls.__name__}, got {type(settings).__name__}")
        return cls(**{**settings.model_dump(), **options}) if options else settings


class FrameSettings(RewardSettings):
    """Coordinate frames of predictions and ground truth; None means 'the same as the other side'.

    ``family`` (a family name, a transformers ``model_type``, a Hub id, a checkpoint directory, its config.json or
    config dict; kept as the family's name) sets how answers are read (its native syntax) and ``coords`` (its
    frame); an explicit ``coords`` must be the same frame.
    """

    family: str | None = Field(None, description="model family: how its answers are read and the frame of its "
                               "boxes (a family name, model_type, Hub id or checkpoint config)")
    coords: Frame | None = Field(None, description="frame of the model's boxes")
    solution_coords: Frame | None = Field(None, description="frame of the ground-truth boxes")
    min_pixels: int = Field(QWEN25VL_MIN_PIXELS, gt=0, description="Qwen2.5-VL processor min_pixels")
    max_pixels: int = Field(QWEN25VL_MAX_PIXELS, gt=0, description="Qwen2.5-VL processor max_pixels")

    @model_validator(mode="before")
    @classmethod
    def _family_frame(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("family") is None:
            return data
        family, coords = family_frame(data["family"], data.get("coords"))
        return {**data, "family": family, "coords": coords}

    @classmethod
    def from_options(cls: type[S], settings: S | None = None, **options: Any) -> S:
        """As :meth:`RewardSettings.from_options`; a new ``family`` also replaces ``coords`` that only restated
        the previous family's frame."""
        if settings is not None and "family" in options and "coords" not in options and settings.family \
                and settings.coords is not None and same_frame(settings.coords, family_spec(settings.family).frame):
            options = {**options, "coords": None}
        return super().from_options(settings, **options)

    @model_validator(mode="after")
    def _pixels_order(self) -> FrameSettings:
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})")
        return self


class DetectionSettings(FrameSettings):
    """Options of :func:`make_iou_reward` and :func:`make_confidence_reward`."""

    threshold: float = Field(0.5, ge=0.0, lt=1.0, description="a match needs IoU strictly above this")
    matching: Literal["greedy", "hungarian"] = Field(
        "greedy", description="greedy by confidence (Visual-RFT) or optimal one-to-one (scipy)")
    match_labels: bool = Field(True, description="when both boxes carry labels, they must agree to match")
    require_labels: bool = Field(
        True, description="when the ground truth carries labels, a predicted box without one matches none of "
        "them (False: an unlabelled box matches any label, as before labels were checked)")
    drop_duplicates: bool = Field(True, description="drop exact duplicate predicted boxes (first kept)")
    missing_confidence: float = Field(
        1.0, ge=0.0, le=1.0, description="confidence of a predicted box that states none")


class GroundingSettings(FrameSettings):
    """Options of :func:`make_giou_reward`: Acc@IoU credit with a bounded GIoU shaping term."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="a box is right when its IoU is strictly above this "
                             "(Acc@0.5); it then earns shaping + (1 - shaping) * IoU")
    shaping: float = Field(0.2, ge=0.0, lt=1.0, description="most a box at or below the threshold earns (the GIoU "
                           "shaping term)")
    near_giou: float = Field(-0.5, gt=-1.0, le=0.0, description="GIoU from which a box counts as near the target "
                             "and earns the whole shaping credit")


class ClassificationSettings(RewardSettings):
    """Options of :func:`make_accuracy_reward`."""

    classes: tuple[str, ...] | None = Field(
        None, description="all class names; the answer must name exactly one of them, the true one (a row's "
        "`classes_column` takes precedence)")
    classes_column: str = Field("classes", min_length=1, description="dataset column holding each row's class "
                                "list, when the dataset has one")
    extra_words: tuple[str, ...] = Field(
        (), description="without a class list: words an answer may hold beside the class name, in addition to "
        "common filler (vreward.rewards.classification.FILLER_WORDS)")

    @model_validator(mode="after")
    def _classes_nonempty(self) -> ClassificationSettings:
        check_class_names(self.classes)
        return self


def check_class_names(classes: tuple[str, ...] | None) -> None:
    """A ``ValueError`` unless ``classes`` is None or non-empty names."""
    if classes is not None and not all(isinstance(c, str) and c.strip() for c in classes):
        raise ValueError("classes must be non-empty strings")


class FormatSettings(RewardSettings):
    """Options of :func:`make_format_reward` (only the name)."""


class ClickSettings(FrameSettings):
    """Options of :func:`make_click_reward` (and the Gaussian point reward): which answer item is the click."""

    box_answers: Literal["centre", "ignore"] = Field(
        "centre", description="an answer holding a box but no point clicks the box's centre ('centre'), or "
        "clicks nothing ('ignore')")


class GaussianPointSettings(ClickSettings):
    """Options of :func:`make_gaussian_point_reward` (GUI-G2's point reward)."""

    alpha: float = Field(0.5, gt=0.0, le=4.0, description="sigma = alpha * (target width, target height)")


class CountSettings(RewardSettings):
    """Options of :func:`make_count_reward`."""

    mode: Literal["exact", "relative"] = Field(
        "exact", description="1 for the true count ('exact'), or min(n, truth) / max(n, truth) ('relative')")
    count_from: Literal["number", "boxes"] = Field(
        "number", description="the count is the number the answer states, or the number of boxes it gives")


class OCRSettings(RewardSettings):
    """Options of :func:`make_ocr_reward`."""

    unit: Literal["char", "word"] = Field("char", description="edit distance over characters (CER) or words (WER)")
    normalize: bool = Field(True, description="compare lowercase text with runs of whitespace as one space, "
                            "surrounding whitespace and quotes removed")


class TemporalSettings(RewardSettings):
    """Options of :func:`make_temporal_iou_reward`."""

    penalize_distance: bool = Field(
        False, description="Time-R1's reward: tIoU * (1 - |s - s*| / D) * (1 - |e - e*| / D), D the video's "
        "duration (from `duration_column`); one interval per side")
    duration_column: str = Field("duration", min_length=1, description="column of each video's duration (seconds)")


class MaskSettings(FrameSettings):
    """Options of :func:`make_mask_iou_reward`."""

    answer: Literal["mask", "point"] = Field(
        "mask", description="'mask': the IoU of the answer's polygon (or box) with the true mask; 'point': 1 when "
        "the answer's first point lies inside the true mask (point-in-mask)")


class RotatedSettings(RewardSettings):
    """Options of :func:`make_rotated_iou_reward`."""

    angle_unit: Literal["degrees", "radians"] = Field("degrees", description="unit of the angle of "
                                                      "[cx, cy, w, h, angle] boxes")


DETECTION_SCHEMES = ("f1", "perception_r1", "v_triune", "vision_r1", "odlength")


class DetectionSchemeSettings(FrameSettings):
    """Options of :func:`make_detection_reward` and :func:`make_detection_f1_reward`: a published multi-object
    scheme, its IoU threshold (a number or a schedule of training progress, :mod:`vreward.schedules`)."""

    scheme: Literal[DETECTION_SCHEMES] = Field(  # type: ignore[valid-type]
        "f1", description="f1 (vreward's recommended), perception_r1, v_triune, vision_r1 or odlength")
    threshold: Scheduled | None = Field(
        None, description="IoU a match needs (strictly above); None: the scheme's published value (f1 and "
        "perception_r1 0.5, v_triune the v_triune_iou schedule, vision_r1 the vision_r1_iou schedule; odlength "
        "averages COCO's 0.5:0.95 and takes none)")
    match_labels: bool = Field(True, description="when both boxes carry labels, they must agree to match")
    require_labels: bool = Field(
        True, description="when the ground truth carries labels, a predicted box without one matches none of them")

    @model_validator(mode="after")
    def _threshold_range(self) -> DetectionSchemeSettings:
        t = self.threshold
        values = t.values if isinstance(t, PiecewiseSchedule) else (t.start, t.end) if isinstance(
            t, LinearSchedule) else () if t is None else (t,)
        if not all(0.0 <= v < 1.0 for v in values):
            raise ValueError(f"IoU thresholds must lie in [0, 1), got {list(values)}")
        if self.scheme == "odlength" and t is not None:
            raise ValueError("odlength averages COCO's IoU thresholds 0.5:0.95 and takes no threshold")
        return self
