"""The model families vreward-train trains: rows of ``vreward.frames.FAMILIES`` with their transformers class.

Kept free of heavy imports, so the command line can offer the choices without loading transformers. A family is
found in vreward's table (:func:`vreward.frames.resolve_family`: a name, ``model_type``, Hub id or config);
:func:`trainable_family` then says whether vreward-train can train it.
"""

from __future__ import annotations

from typing import Any

from vreward.frames import resolve_family

# family -> the transformers class of its image-text-to-text model.
MODEL_CLASSES: dict[str, str] = {"qwen2vl": "Qwen2VLForConditionalGeneration",
                                 "qwen25vl": "Qwen2_5_VLForConditionalGeneration"}
TRAINABLE_FAMILIES: tuple[str, ...] = tuple(MODEL_CLASSES)


def trainable_family(source: Any) -> str:
    """The name of ``source``'s family (anything :func:`vreward.frames.resolve_family` reads) when vreward-train
    trains it; a ``ValueError`` naming the trainable families otherwise."""
    spec = resolve_family(source)
    if spec.name not in MODEL_CLASSES:
        raise ValueError(f"model family {spec.name!r} ({spec.title}) is known to vreward (its rewards read it) but "
                         f"vreward-train cannot train it yet; it trains {list(TRAINABLE_FAMILIES)}")
    return spec.name
