"""What every frame-aware reward does before scoring: read the image sizes its frames need, map the ground
truth into the model's frame and note the mismatches the numbers show, named after the model family when the
reward has one (all through :mod:`vreward.frames`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vreward.frames import Sizes, check_frames, family_spec, image_sizes, needs_image_size, truth_in_model_frame
from vreward.parsing import ParsedBatch
from vreward.rewards.settings import FrameSettings
from vreward.solution import GroundTruth


def batch_sizes(columns: Mapping[str, Any], n: int, settings: FrameSettings) -> Sizes | None:
    """The image sizes of a batch when the reward's frames depend on them, else None."""
    return image_sizes(columns, n) if needs_image_size(settings.coords, settings.solution_coords) else None


def framed_truth(parsed: ParsedBatch, gt: GroundTruth, sizes: Sizes | None, settings: FrameSettings,
                 predicted: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray,
                                                                                  tuple[tuple[str, str], ...]]:
    """The ground-truth boxes (G, 4) in the model's frame, and the (key, message) of each frame mismatch.

    Mismatches are judged on the batch's boxes, or on ``predicted`` (boxes (N, 4) and offsets (B + 1,)) when
    given: rewards that read points pass them as boxes ``[x, y, x, y]``."""
    gt_boxes, extents = truth_in_model_frame(gt.boxes, gt.offsets, settings.coords, settings.solution_coords,
                                             sizes, settings.min_pixels, settings.max_pixels)
    family = family_spec(settings.family) if settings.family is not None else None
    boxes, offsets = predicted if predicted is not None else (parsed.boxes, parsed.offsets)
    return gt_boxes, tuple(check_frames(boxes, offsets, gt_boxes, settings.coords, extents, family, gt.offsets))
