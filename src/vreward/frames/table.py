"""The coordinate frames: where a model's numbers live, one row per frame.

A frame maps a coordinate ``v`` written by a model to a fraction of the image: ``(v + offset) / extent`` of the
image width (x) or height (y). The extent is fixed (0-1000, 0-999, 0-100, 0-1, 1024 bins), or depends on the
image: its size in pixels, the size the Qwen2-VL / Qwen2.5-VL processor resizes it to
(:func:`vreward.frames.resize.smart_resize`), or the side of the image padded to a centred square. The offset is
in frame units: 0.5 when a value names a bin read at its centre (Florence-2), a per-image shift for the padded
square (LLaVA). :mod:`vreward.frames.convert` turns these rows into numbers; nothing else reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Extent = Literal["fixed", "image", "resized", "padded"]
Quantization = Literal["nearest", "bin"]


@dataclass(frozen=True)
class FrameSpec:
    """One coordinate frame.

    ``extent``: ``"fixed"`` (``fixed_extent`` on both axes), ``"image"`` (the image's width and height in
    pixels), ``"resized"`` (the size ``smart_resize`` gives, with the processor's ``min_pixels`` /
    ``max_pixels``) or ``"padded"`` (``fixed_extent`` spans the side of the image padded to a centred square).
    ``offset``: frame units added to a value before dividing by the extent (0.5: a value names a bin, read at
    its centre). How a writer writes a value: ``decimals`` after the point (0: integers), the nearest value or
    the index of the ``bin`` holding it (``quantization``), at most ``top`` (default: the extent; the last bin
    for bin frames). ``range`` says the values in words, for messages; ``question_words`` as a Visual-RFT
    detection question states them (its words for 0-1000: "between 0 and 1000, integer").
    """

    name: str
    description: str
    extent: Extent
    range: str
    question_words: str
    fixed_extent: float | None = None
    offset: float = 0.0
    decimals: int = 0
    quantization: Quantization = "nearest"
    top: float | None = None

    @property
    def needs_image_size(self) -> bool:
        return self.extent != "fixed"

    @property
    def mapping(self) -> tuple:
        """What places a value on the image: frames with equal mappings are the same frame under two names."""
        return (self.extent, self.fixed_extent, self.offset)

    @property
    def largest(self) -> float | None:
        """The largest value a model writes in this frame (None for frames sized by the image)."""
        return self.top if self.top is not None else self.fixed_extent


FRAMES: dict[str, FrameSpec] = {spec.name: spec for spec in (
    FrameSpec("qwen2vl", "integers 0-1000 relative to the image (Qwen2-VL's grounding convention)", "fixed",
              "0-1000", "between 0 and 1000, integer", 1000.0),
    FrameSpec("qwen25vl", "absolute pixels of the image as resized by the Qwen2.5-VL processor (smart_resize)",
              "resized", "pixels of the resized image", "absolute pixel coordinates, integer"),
    FrameSpec("pixels", "absolute pixels of the original image", "image", "pixels",
              "absolute pixel coordinates, integer"),
    FrameSpec("unit", "floats 0-1 relative to the image", "fixed", "0-1",
              "between 0 and 1, with three decimal places", 1.0, decimals=3),
    FrameSpec("rel1000", "integers 0-1000 relative to the image, 1000 the right / bottom edge (the frame of "
              "'qwen2vl' under the name of its scale)", "fixed", "0-1000", "between 0 and 1000, integer", 1000.0),
    FrameSpec("rel999", "integers 0-999 relative to the image, 999 the right / bottom edge", "fixed", "0-999",
              "between 0 and 999, integer", 999.0),
    FrameSpec("percent", "percent 0-100 of the image width and height", "fixed", "0-100",
              "between 0 and 100, with one decimal place", 100.0, decimals=1),
    FrameSpec("bins1024", "1024 location bins: value b is b / 1024 of the image (bin edges)", "fixed",
              "bins 0-1023", "location bins 0-1023, y before x", 1024.0, top=1023.0),
    FrameSpec("bins1000_centres", "1000 location bins: value b is the centre of its bin, (b + 0.5) / 1000 of the "
              "image", "fixed", "bins 0-999", "location bins 0-999", 1000.0, offset=0.5, quantization="bin",
              top=999.0),
    FrameSpec("unit_padded", "floats 0-1 relative to the image padded to a centred square of side max(width, "
              "height)", "padded", "0-1 of the padded square",
              "between 0 and 1 relative to the image padded to a square, with three decimal places", 1.0,
              decimals=3),
)}
FRAME_NAMES: tuple[str, ...] = tuple(FRAMES)


def frame_spec(name: str) -> FrameSpec:
    """The row of frame ``name`` (a ``ValueError`` listing the frames when there is none)."""
    spec = FRAMES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown coordinate frame {name!r}; choose one of {list(FRAME_NAMES)}")
    return spec


def same_frame(a: str, b: str) -> bool:
    """Whether frames ``a`` and ``b`` place every value at the same point of the image."""
    return a == b or frame_spec(a).mapping == frame_spec(b).mapping


def check_frame(name: str, option: str | None = None) -> str:
    """``name`` when it names a frame; otherwise a ``ValueError`` listing the frames (and naming ``option``,
    the setting that held it, when given)."""
    if option is not None and name not in FRAMES:
        raise ValueError(f"{option} must be one of {list(FRAME_NAMES)}, got {name!r}")
    frame_spec(name)
    return name
