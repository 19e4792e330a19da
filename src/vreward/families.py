"""Model families: find a checkpoint's family, write boxes in its native syntax, prompt in its convention.

>>> from vreward.families import detect, format_answer
>>> detect("Qwen/Qwen3-VL-8B-Instruct").name, detect("paligemma").frame
('qwen3vl', 'bins1024')
>>> format_answer([[64, 48, 320, 240]], "qwen3_vl", width=640, height=480, labels=["cat"])
'[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]'
>>> format_answer([[64, 48, 320, 240]], "paligemma", width=640, height=480, labels=["cat"])
'<loc0102><loc0102><loc0512><loc0512> cat'

The family table is :data:`vreward.frames.FAMILIES` (docs/coordinate-frames.md lists it with its sources);
rewards take a family as ``family=`` (:class:`vreward.rewards.FrameSettings`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vreward.frames import (
    FAMILIES,
    FAMILY_NAMES,
    QWEN25VL_MAX_PIXELS,
    QWEN25VL_MIN_PIXELS,
    FamilySpec,
    box_to_frame,
    frame_spec,
    point_to_frame,
    resolve_family,
    smart_resize,
)
from vreward.frames.syntax import Item

__all__ = ["FAMILIES", "FAMILY_NAMES", "FamilySpec", "box_units", "detect", "detection_prompt", "format_answer",
           "format_points", "grounding_prompt"]


def detect(source: str | os.PathLike | Mapping[str, Any]) -> FamilySpec:
    """The family of ``source``: a family name (``"qwen3vl"``), a transformers ``model_type`` (``"qwen3_vl"``),
    a Hub id (``"Qwen/Qwen3-VL-8B-Instruct"``, matched offline), a checkpoint directory or its ``config.json``,
    or a config dict. The row names the family (``.name``, ``.title``), its frame and syntax; a ``ValueError``
    lists the known families when none fits."""
    return resolve_family(source)


def format_answer(boxes: Sequence[Sequence[float]] | np.ndarray, family: Any, *, width: int, height: int,
                  labels: Sequence[str | None] | None = None, min_pixels: int = QWEN25VL_MIN_PIXELS,
                  max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """``boxes`` (N, 4) ``x1, y1, x2, y2`` in pixels of a ``width`` x ``height`` image as ``family`` writes them
    (in its frame and syntax, with ``labels``), e.g. for SFT targets; "No Objects" when there are none.
    ``min_pixels`` / ``max_pixels``: the processor's, for frames of the resized image (Qwen2.5-VL)."""
    spec = detect(family)
    rows = np.asarray(boxes, float).reshape(-1, 4)
    values = [box_to_frame(b, width, height, spec.frame, min_pixels, max_pixels) for b in rows.tolist()]
    return _write(spec, values, labels)


def format_points(points: Sequence[Sequence[float]] | np.ndarray, family: Any, *, width: int, height: int,
                  labels: Sequence[str | None] | None = None, min_pixels: int = QWEN25VL_MIN_PIXELS,
                  max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """``points`` (N, 2) ``x, y`` in pixels as ``family`` writes them (Molmo's ``<point>``, ``point_2d``, ...);
    a ``ValueError`` for families that write no points."""
    spec = detect(family)
    rows = np.asarray(points, float).reshape(-1, 2)
    values = [point_to_frame(p, width, height, spec.frame, min_pixels, max_pixels) for p in rows.tolist()]
    return _write(spec, values, labels)


def _write(spec: FamilySpec, values: list[list], labels: Sequence[str | None] | None) -> str:
    if labels is not None and len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels for {len(values)} boxes or points")
    if not values:
        return "No Objects"
    names = list(labels) if labels is not None else [None] * len(values)
    items = [Item(tuple(str(v) for v in row), name) for row, name in zip(values, names)]
    return spec.answer_syntax.write(items)


def box_units(family: Any, width: int | None = None, height: int | None = None,
              min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """How ``family`` states its coordinates in a prompt; for frames of the resized image, with the size the
    model sees when the image's ``width`` and ``height`` are given."""
    spec = detect(family)
    size = ""
    if frame_spec(spec.frame).extent == "resized" and width and height:
        h, w = smart_resize(int(height), int(width), min_pixels=min_pixels, max_pixels=max_pixels)
        size = f"; the image is {w}x{h} pixels, x from left, y from top"
    return spec.units + size


def detection_prompt(family: Any, category: str, **size: Any) -> str:
    """A prompt asking ``family`` for every box of ``category``, in its own convention (its task prompt when it
    was trained on one, e.g. PaliGemma's ``detect cat``). ``size``: ``width``, ``height``, ``min_pixels``,
    ``max_pixels`` as in :func:`box_units`."""
    spec = detect(family)
    if spec.task_prompts is not None:
        return spec.task_prompts[0].format(category=category)
    return (f"Detect every {category} in the image and give the bounding boxes as {_example(spec, category)}, "
            f"coordinates {box_units(spec.name, **size)}. If there is none, answer No Objects.")


def grounding_prompt(family: Any, expression: str, **size: Any) -> str:
    """A prompt asking ``family`` for the box of ``expression``, in its own convention; ``size`` as in
    :func:`detection_prompt`."""
    spec = detect(family)
    if spec.task_prompts is not None:
        return spec.task_prompts[1].format(expression=expression)
    return (f"Locate {expression} in the image and give its bounding box as {_example(spec, expression)}, "
            f"coordinates {box_units(spec.name, **size)}.")


def _example(spec: FamilySpec, label: str) -> str:
    """The family's syntax around placeholder coordinates."""
    return spec.answer_syntax.write([Item(("x1", "y1", "x2", "y2"), label)])
