"""The model families vreward-train trains: rows of ``vreward.frames.FAMILIES`` with their transformers class.

Kept free of heavy imports, so the command line can offer the choices without loading transformers.
"""

from __future__ import annotations

# family -> the transformers class of its image-text-to-text model.
MODEL_CLASSES: dict[str, str] = {"qwen2vl": "Qwen2VLForConditionalGeneration",
                                 "qwen25vl": "Qwen2_5_VLForConditionalGeneration"}
TRAINABLE_FAMILIES: tuple[str, ...] = tuple(MODEL_CLASSES)

