"""Chat-template text as trainers hand it over: end-of-turn markers, vision placeholders and assistant turns.

Trainers that decode with special tokens kept (OpenRLHF always, EasyR1 with ``skip_special_tokens=false``) leave
``<|im_end|>`` and friends at the end of a response, where the format reward, which matches the whole text,
would fail; OpenRLHF's queries also carry each image as a run of hundreds of ``<|image_pad|>`` tokens where the
prompt has one.

>>> strip_end("<answer>1</answer><|im_end|>\\n<|endoftext|>")
'<answer>1</answer>'
>>> collapse_placeholders("<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>Find")
'<|vision_start|><|image_pad|><|vision_end|>Find'
>>> after_last_assistant_turn("<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n<answer>2</answer>")
'<answer>2</answer>'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_STRIP_SUFFIXES: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|end|>")
# Tokens a processor repeats once per image patch or video frame (Qwen2-VL / Qwen2.5-VL / Qwen3-VL, InternVL).
VISION_PLACEHOLDERS: tuple[str, ...] = ("<|image_pad|>", "<|video_pad|>", "<|vision_pad|>", "<IMG_CONTEXT>")
# The header of an assistant turn in ChatML templates (Qwen, InternVL).
ASSISTANT_HEADER = "<|im_start|>assistant\n"

_PLACEHOLDER_RUNS = re.compile("|".join(f"(?:{re.escape(p)}){{2,}}" for p in VISION_PLACEHOLDERS))


def strip_end(text: str, suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> str:
    """``text`` without surrounding whitespace and trailing end-of-sequence markers (repeatedly)."""
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for s in suffixes:
            if s and text.endswith(s):
                text = text[: -len(s)].rstrip()
                changed = True
    return text


def collapse_placeholders(text: str) -> str:
    """Each run of one vision placeholder token replaced by a single one (as the chat template writes it)."""
    if "<" not in text:
        return text
    return _PLACEHOLDER_RUNS.sub(lambda m: m.group(0)[: m.group(0).index(">") + 1], text)


def after_last_assistant_turn(text: str, header: str = ASSISTANT_HEADER) -> str | None:
    """The text after the last assistant-turn header, or None when there is none."""
    at = text.rfind(header)
    return None if at < 0 else text[at + len(header):]
