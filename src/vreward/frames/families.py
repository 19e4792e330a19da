"""Model families: which frame a family's boxes are in, one row per family.

A family is a line of models that answer in one convention (Qwen2-VL, Qwen2.5-VL, ...); ``model_types`` are
the ``config.model_type`` values of its transformers checkpoints, by which a checkpoint's family is found.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilySpec:
    """One model family: its name, its checkpoints' ``model_type`` values and the frame of its boxes."""

    name: str
    model_types: tuple[str, ...]
    frame: str
    description: str


FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (
    FamilySpec("qwen2vl", ("qwen2_vl",), "qwen2vl", "Qwen2-VL: boxes as integers 0-1000 relative to the image"),
    FamilySpec("qwen25vl", ("qwen2_5_vl",), "qwen25vl",
               "Qwen2.5-VL: boxes in absolute pixels of the image as its processor resized it"),
)}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def family_spec(name: str) -> FamilySpec:
    """The row of family ``name`` (a ``ValueError`` listing the families when there is none)."""
    spec = FAMILIES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown model family {name!r}; choose one of {list(FAMILY_NAMES)}")
    return spec


def family_of_model_type(model_type: str) -> FamilySpec | None:
    """The family whose checkpoints have ``config.model_type == model_type``, or None."""
    return next((spec for spec in FAMILIES.values() if model_type in spec.model_types), None)
