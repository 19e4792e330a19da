"""The Qwen2-VL / Qwen2.5-VL processor's resize rule, which sets the ``"qwen25vl"`` frame's extent."""

from __future__ import annotations

import math

# Defaults of the released Qwen2.5-VL checkpoints' preprocessor_config.json.
QWEN25VL_MIN_PIXELS = 3136
QWEN25VL_MAX_PIXELS = 12845056


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = QWEN25VL_MIN_PIXELS,
                 max_pixels: int = QWEN25VL_MAX_PIXELS) -> tuple[int, int]:
    """(height, width) of the image the model sees, as transformers' ``qwen2_vl`` image processor resizes it."""
    if min(height, width) <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if max(height, width) / min(height, width) > 200:
        ratio = max(height, width) / min(height, width)
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {ratio}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar
