"""The coordinate frames: where a model's numbers live, one row per frame.

A frame maps a coordinate ``v`` written by a model to a fraction of the image: ``v / extent`` of the image
width (x) or height (y). The extent is fixed (0-1000, 0-1) or depends on the image: its size in pixels, or
the size the Qwen2-VL / Qwen2.5-VL processor resizes it to (:func:`vreward.frames.resize.smart_resize`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameSpec:
    """One coordinate frame.

    ``extent``: ``"fixed"`` (``fixed_extent`` on both axes), ``"image"`` (the image's width and height in
    pixels) or ``"resized"`` (the size ``smart_resize`` gives, with the processor's ``min_pixels`` /
    ``max_pixels``). ``range`` says the values in words, for messages; ``question_words`` as a Visual-RFT
    detection question states them (its words for 0-1000: "between 0 and 1000, integer").
    """

    name: str
    description: str
    extent: str
    range: str
    question_words: str
    fixed_extent: float | None = None

    @property
    def needs_image_size(self) -> bool:
        return self.extent != "fixed"


FRAMES: dict[str, FrameSpec] = {spec.name: spec for spec in (
    FrameSpec("qwen2vl", "integers 0-1000 relative to the image (Qwen2-VL's grounding convention)", "fixed",
              "0-1000", "between 0 and 1000, integer", 1000.0),
    FrameSpec("qwen25vl", "absolute pixels of the image as resized by the Qwen2.5-VL processor (smart_resize)",
              "resized", "pixels of the resized image", "absolute pixel coordinates, integer"),
    FrameSpec("pixels", "absolute pixels of the original image", "image", "pixels",
              "absolute pixel coordinates, integer"),
    FrameSpec("unit", "floats 0-1 relative to the image", "fixed", "0-1",
              "between 0 and 1, with three decimal places", 1.0),
)}
FRAME_NAMES: tuple[str, ...] = tuple(FRAMES)


def frame_spec(name: str) -> FrameSpec:
    """The row of frame ``name`` (a ``ValueError`` listing the frames when there is none)."""
    spec = FRAMES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown coordinate frame {name!r}; choose one of {list(FRAME_NAMES)}")
    return spec


def check_frame(name: str, option: str | None = None) -> str:
    """``name`` when it names a frame; otherwise a ``ValueError`` listing the frames (and naming ``option``,
    the setting that held it, when given)."""
    if option is not None and name not in FRAMES:
        raise ValueError(f"{option} must be one of {list(FRAME_NAMES)}, got {name!r}")
    frame_spec(name)
    return name
