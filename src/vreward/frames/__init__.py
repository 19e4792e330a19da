"""Coordinate frames: where the model's numbers live, and how boxes move between frames.

This package is the one owner of the concept. The frames are rows of :data:`FRAMES`
(:mod:`vreward.frames.table`):

* ``"qwen2vl"`` / ``"rel1000"``: integers 0-1000 relative to the image (Qwen2-VL, Qwen3-VL, InternVL, GLM, ...);
* ``"qwen25vl"``: absolute pixels of the image as resized by the Qwen2.5-VL processor (:func:`smart_resize`);
* ``"pixels"``: absolute pixels of the original image;
* ``"unit"``: floats 0-1 relative to the image;
* ``"rel999"``, ``"percent"``: 0-999 and 0-100 relative to the image;
* ``"bins1024"``, ``"bins1000_centres"``: PaliGemma's 1024 bins, Florence-2's 1000 bins read at their centres;
* ``"unit_padded"``: 0-1 of the image padded to a centred square (LLaVA).

Settings name the model's frame ``coords`` and the ground truth's ``solution_coords`` (``None``: the same as
the other side). Rewards convert the ground truth into the model's frame (:func:`truth_in_model_frame`), so
the model's numbers are scored as written; metrics convert model boxes into pixels (:func:`to_pixels`).
Image sizes come from the dataset columns (:func:`image_sizes`); :func:`check_frames` reports evident
mismatches. Model families (:data:`FAMILIES`) name the frame their boxes are in and their answer syntax
(:data:`SYNTAXES`: how they write boxes, and the translator that reads them); :func:`resolve_family` finds a
family from its name, a ``model_type``, a Hub id or a checkpoint's config.

>>> from vreward.frames import box_to_frame, smart_resize
>>> smart_resize(500, 1000)
(504, 1008)
>>> box_to_frame([50, 100, 250, 400], width=500, height=1000, frame="qwen2vl")
[100, 100, 500, 400]
"""

from vreward.frames.check import check_frames
from vreward.frames.convert import (
    SIZE_COLUMNS,
    Sizes,
    box_to_frame,
    convert_boxes,
    frame_extents,
    frame_offsets,
    needs_conversion,
    needs_image_size,
    pixels_per_unit,
    point_to_frame,
    remap_boxes,
    resolve_frames,
    scale_boxes,
    to_pixels,
    truth_in_model_frame,
)
from vreward.frames.families import (
    FAMILIES,
    FAMILY_NAMES,
    FamilySpec,
    family_frame,
    family_of_hub_id,
    family_of_model_type,
    family_spec,
    resolve_family,
)
from vreward.frames.resize import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, smart_resize
from vreward.frames.sizes import image_sizes
from vreward.frames.syntax import SYNTAX_NAMES, SYNTAXES, AnswerSyntax
from vreward.frames.table import FRAME_NAMES, FRAMES, FrameSpec, check_frame, frame_spec, same_frame

__all__ = [
    "FAMILIES", "FAMILY_NAMES", "FRAMES", "FRAME_NAMES", "QWEN25VL_MAX_PIXELS", "QWEN25VL_MIN_PIXELS", "SIZE_COLUMNS",
    "SYNTAXES", "SYNTAX_NAMES", "AnswerSyntax", "FamilySpec", "FrameSpec", "Sizes", "box_to_frame", "check_frame",
    "check_frames", "convert_boxes", "family_frame", "family_of_hub_id", "family_of_model_type", "family_spec",
    "frame_extents", "frame_offsets", "frame_spec", "image_sizes", "needs_conversion", "needs_image_size",
    "pixels_per_unit", "point_to_frame", "remap_boxes", "resolve_family", "resolve_frames", "same_frame",
    "scale_boxes", "smart_resize", "to_pixels", "truth_in_model_frame",
]
