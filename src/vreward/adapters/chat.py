"""Chat-template text as trainers hand it over: end-of-turn markers, vision placeholders and assistant turns.

Trainers that decode with special tokens kept (OpenRLHF always, EasyR1 with ``skip_special_tokens=false``) leave
``<|im_end|>`` and friends at the end of a response, where the format reward, which matches the whole text,
would fail; OpenRLHF's queries also carry each image as a run of hundreds of ``<|image_pad|>`` tokens where the
prompt has one.

>>> strip_end("<answer>1</answer><|im_end|>\\n<|endoftext|>")
'<answer>1</answer>'
>>> query = "<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>Find it"
>>> query[prompt_end(query, "<|vision_start|><|image_pad|><|vision_end|>Find"):]
' it'
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

_PLACEHOLDER_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in VISION_PLACEHOLDERS) + ")")


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


def prompt_end(query: str, prompt: str) -> int | None:
    """Where ``prompt`` ends in ``query`` when the query starts with it, each vision placeholder of the prompt
    standing for a run of one or more of that placeholder in the query (as a processor expands it); None when
    the query does not start with the prompt. Linear in the query's length, in string methods."""
    pieces = _PLACEHOLDER_SPLIT.split(prompt)  # literal text at even indices, placeholders at odd ones
    pos = 0
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if not query.startswith(piece, pos):
                return None
            pos += len(piece)
            continue
        following = pieces[i + 1] if i + 1 < len(pieces) else ""
        end = query.find(following, pos + len(piece)) if following else _run_end(query, piece, pos)
        run = end - pos
        if end < 0 or run < len(piece) or run % len(piece) or query.count(piece, pos, end) != run // len(piece):
            return None
        pos = end
    return pos


def _run_end(text: str, token: str, pos: int) -> int:
    while text.startswith(token, pos):
        pos += len(token)
    return pos


def after_last_assistant_turn(text: str, header: str = ASSISTANT_HEADER) -> str | None:
    """The text after the last assistant-turn header, or None when there is none."""
    at = text.rfind(header)
    return None if at < 0 else text[at + len(header):]
