"""Machine-readable reasons: why a completion yielded nothing usable, and why a reward is zero."""

from __future__ import annotations

from enum import Enum


class ParseReason(str, Enum):
    """Outcome of parsing one completion (``OK`` and ``NO_OBJECTS`` are usable; the rest are failures).

    The members are in the order of their integer status codes (:data:`PARSE_REASONS`).
    """

    OK = "ok"
    NO_OBJECTS = "no_objects"
    NOT_TEXT = "not_text"
    NO_ANSWER_TAG = "no_answer_tag"
    EMPTY_ANSWER = "empty_answer"
    UNPARSEABLE = "unparseable"
    WRONG_ARITY = "wrong_arity"
    POINTS_NOT_BOXES = "points_not_boxes"
    NON_FINITE = "non_finite"
    TRUNCATED = "truncated"
    TOO_DEEP = "too_deep"

    @property
    def usable(self) -> bool:
        return self in (ParseReason.OK, ParseReason.NO_OBJECTS)


# The reason of each integer status code (ParsedBatch.status): code i is PARSE_REASONS[i]. The numba scanner writes
# these codes from constants of its own (vreward._scan.OK, ...; a test checks that they agree); NOT_TEXT is set in
# Python. Python code names the codes it tests by the STATUS_ constants.
PARSE_REASONS: tuple[ParseReason, ...] = tuple(ParseReason)
STATUS_OK = PARSE_REASONS.index(ParseReason.OK)
STATUS_NO_OBJECTS = PARSE_REASONS.index(ParseReason.NO_OBJECTS)
STATUS_NOT_TEXT = PARSE_REASONS.index(ParseReason.NOT_TEXT)


class ZeroReason(str, Enum):
    """Why a reward scored zero (or its minimum) although the completion parsed."""

    NO_MATCH = "no_match"  # boxes were predicted but none matched a ground-truth box above the threshold
    MISSED_OBJECTS = "missed_objects"  # "No Objects" answered while the ground truth has objects
    BOXES_ON_EMPTY = "boxes_on_empty"  # boxes predicted while the ground truth has no objects
    FORMAT = "format"  # the completion is not <think>...</think><answer>...</answer>
    WRONG_CLASS = "wrong_class"  # classification answer does not name the true class
    SEVERAL_CLASSES = "several_classes"  # classification answer names more than one class
    NEGATED = "negated"  # classification answer names the true class only under a negation ("not a crow")
    EXTRA_WORDS = "extra_words"  # without a class list, the answer holds words beside the class and common filler
    CONFIDENCE = "confidence"  # the stated confidences earn nothing (confident misses, unconfident matches)
    NO_OVERLAP = "no_overlap"  # grounding box does not overlap the ground truth (gIoU <= -1 + eps)
    BAD_GROUND_TRUTH = "bad_ground_truth"  # the row's ground truth cannot be read (the reward warns what is wrong)
    NO_POINT = "no_point"  # a click answer holds no point (and no box whose centre could count)
    MISSED_TARGET = "missed_target"  # the click lies outside every target box
    FAR_FROM_TARGET = "far_from_target"  # the click is so far from the target that its Gaussian score is 0
    NO_NUMBER = "no_number"  # a counting answer holds no number
    SEVERAL_NUMBERS = "several_numbers"  # a counting answer states different numbers ("1 2 3 4 5")
    WRONG_COUNT = "wrong_count"  # the stated count is not the true one
    WRONG_TEXT = "wrong_text"  # the OCR answer shares nothing with the true text (edit distance = the longer length)
    NO_INTERVAL = "no_interval"  # a temporal answer holds no "start to end" interval
    NO_TEMPORAL_OVERLAP = "no_temporal_overlap"  # the predicted intervals do not overlap the true ones
    NO_SHAPE = "no_shape"  # a mask / rotated-box answer holds no polygon or box that can be read
    NO_MASK_OVERLAP = "no_mask_overlap"  # the predicted region does not overlap the true mask
    OUTSIDE_MASK = "outside_mask"  # point-in-mask: the point lies outside the true mask


# Reasons as small integer codes (0: no reason, the score is positive), so that rewards set them with array
# operations and build strings only when asked.
REASON_NAMES: tuple[str | None, ...] = (
    None,
    *(r.value for r in PARSE_REASONS if not r.usable),
    *(z.value for z in ZeroReason),
)
REASON_CODE: dict[str | None, int] = {name: i for i, name in enumerate(REASON_NAMES)}
# Reason code of each parse status code (usable statuses have none).
PARSE_REASON_CODES: tuple[int, ...] = tuple(REASON_CODE[None if r.usable else r.value] for r in PARSE_REASONS)
