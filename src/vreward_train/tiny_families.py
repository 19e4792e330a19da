"""Tiny, download-free checkpoints of Qwen3-VL, Qwen3.5, InternVL and GLM-4.1V for tests and dry runs.

The companion of :mod:`vreward_train.tiny` (Qwen2-VL / Qwen2.5-VL) for the other families vreward-train trains.
:func:`build_family_model` writes, per family, what a released checkpoint holds, at a tiny size:

* a byte-level BPE tokenizer trained on the fly, with the family's special tokens (its chat, vision and box
  tokens: special where the released tokenizer marks them special, so decoding drops them as it does there) and
  ``<think>`` / ``</think>`` as plain added tokens (they survive decoding);
* a chat template that renders the family's conversation layout for system / user / assistant turns of text and
  images: Qwen3-VL-Instruct's (no default system prompt), Qwen3.5's (``enable_thinking`` opens or closes a
  ``<think>`` block in the generation prompt), InternVL3-hf's (``<IMG_CONTEXT>`` then a newline per image) and
  GLM-4.1V's (``[gMASK]<sop>``, ``<|user|>`` / ``<|assistant|>`` turns, images as
  ``<|begin_of_image|><|image|><|end_of_image|>``); written here from those layouts, not copied;
* the family's image processor (the PIL backends: no torchvision) with its patch and merge sizes and
  normalisation, and small pixel bounds;
* a randomly initialised model of the family's transformers class with tiny sizes (text hidden 64, 2 layers;
  vision width 32, 2 blocks), its token ids matching the tokenizer.

The folder loads back with :func:`vreward_train.models.load_model` / :func:`~vreward_train.models.load_processor`
and trains with TRL's ``GRPOTrainer`` on a CPU in seconds. Requires the ``train`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEXT_HIDDEN = 64
VISION_WIDTH = 32
# Qwen3-VL / Qwen3.5: patch 16, merge 2 (factor 32); at most 256 x 256 pixels (64 vision tokens).
QWEN3_PATCH = 16
QWEN3_MIN_PIXELS = 64 * 64
QWEN3_MAX_PIXELS = 256 * 256
# GLM-4.1V: patch 14, merge 2 (factor 28); GLM's smart_resize counts two frames (temporal patch 2) in the budget.
GLM_PATCH = 14
GLM_MIN_PIXELS = 2 * 56 * 56
GLM_MAX_PIXELS = 2 * 224 * 224
# InternVL: tiles of 56 x 56 pixels, patch 14 (4 x 4 patches), pixel shuffle 0.5 -> 4 tokens per tile;
# up to 4 tiles plus a thumbnail.
INTERNVL_TILE = 56
INTERNVL_PATCH = 14
INTERNVL_MAX_TILES = 4
INTERNVL_IMAGE_SEQ_LENGTH = (INTERNVL_TILE // INTERNVL_PATCH) ** 2 // 4

_QWEN_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
_INTERNVL_TOKENS = ("<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
                    "<video>")
_GLM_TOKENS = ("<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
               "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
               "<|end_of_video|>", "<|image|>", "<|video|>", "<|begin_of_box|>", "<|end_of_box|>")
_THINK = ("<think>", "</think>")

# Chat templates. Message content is a string or a list of parts ({"type": "image"} / {"type": "text", ...}).
_PARTS = ("{% macro render(content) %}{% if content is string %}{{ content }}{% else %}"
          "{% for part in content %}"
          "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}{{ IMAGE }}"
          "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
          "{% endfor %}{% endif %}{% endmacro %}")


def _template(image: str, body: str) -> str:
    return _PARTS.replace("{{ IMAGE }}", "{{ '" + image + "' }}") + body


# Qwen3-VL-Instruct: no default system prompt; <|im_start|>role\n...<|im_end|>\n; the model opens any <think>.
QWEN3VL_CHAT_TEMPLATE = _template(
    "<|vision_start|><|image_pad|><|vision_end|>",
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ render(m['content']) }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Qwen3.5: the same turns; the generation prompt opens a thinking block, or writes an empty closed one with
# enable_thinking=false.
QWEN35_CHAT_TEMPLATE = _template(
    "<|vision_start|><|image_pad|><|vision_end|>",
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ render(m['content']) }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}")
# InternVL3-hf: Qwen2.5's turns, an image as <IMG_CONTEXT> and a newline.
INTERNVL_CHAT_TEMPLATE = _template(
    "<IMG_CONTEXT>\\n",
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ render(m['content']) }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# GLM-4.1V: [gMASK]<sop>, then <|role|>\ncontent per turn; the next role token ends a turn.
GLM4V_CHAT_TEMPLATE = _template(
    "<|begin_of_image|><|image|><|end_of_image|>",
    "[gMASK]<sop>{% for m in messages %}<|{{ m['role'] }}|>\n{{ render(m['content']) }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")

# Prompts and answers in each family's syntax, so the BPE merges are not arbitrary.
_CORPUS = (
    "You are a helpful assistant.",
    "Detect all objects belonging to the category 'circle' in the image, and provide the bounding boxes "
    "(between 0 and 1000, integer, relative to the image width and height).",
    "If no object belonging to the category 'square' in the image, return 'No Objects'.",
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
    "The output answer format should be as follows: <think> ... </think> <answer> ... </answer>",
    '<think>I look for the category.</think> <answer>[{"bbox_2d": [254, 1, 638, 393], "label": "circle", '
    '"confidence": 1}, {"bbox_2d": [5, 6, 70, 80], "label": "square", "confidence": 0.5}]</answer>',
    "<answer><ref>triangle</ref><box>[[10, 20, 300, 400]]</box></answer>",
    "<answer><|begin_of_box|>[[5,6,70,80], [100,250,500,750]]<|end_of_box|></answer>",
    "<answer>No Objects</answer>",
    "Locate the square in the image and provide its bounding box. Please strictly follow the format.",
    "triangle square circle cat dog person car bird",
    "0 1 2 3 4 5 6 7 8 9 10 25 50 75 100 128 250 500 750 999 1000 0.25 0.5 0.75 {}[]():,.'\"",
)


@dataclass(frozen=True)
class TinyFamily:
    """How to build one family's tiny checkpoint: its tokens, template, image processor and config."""

    name: str
    special_tokens: Sequence[str]
    chat_template: str
    eos: str
    pad: str
    extra_special_tokens: dict[str, str]
    image_processor: Callable[[], Any]
    config: Callable[[Any], Any]
    generation_eos: Sequence[str]


def _qwen3_image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=QWEN3_MIN_PIXELS, max_pixels=QWEN3_MAX_PIXELS, patch_size=QWEN3_PATCH,
                                    merge_size=2, temporal_patch_size=2, image_mean=[0.5, 0.5, 0.5],
                                    image_std=[0.5, 0.5, 0.5])


def _glm_image_processor():
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    return Glm4vImageProcessorPil(size={"shortest_edge": GLM_MIN_PIXELS, "longest_edge": GLM_MAX_PIXELS},
                                  patch_size=GLM_PATCH, merge_size=2, temporal_patch_size=2)


def _internvl_image_processor():
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(size={"height": INTERNVL_TILE, "width": INTERNVL_TILE}, crop_to_patches=False,
                                    min_patches=1, max_patches=INTERNVL_MAX_TILES,
                                    image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def _ids(tokenizer, **tokens: str) -> dict[str, int]:
    return {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in tokens.items()}


def _text(tokenizer, **extra: Any) -> dict[str, Any]:
    return dict(vocab_size=len(tokenizer), hidden_size=TEXT_HIDDEN, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                tie_word_embeddings=True, **extra)


def _qwen3vl_config(tokenizer):
    from transformers import Qwen3VLConfig

    text = _text(tokenizer, head_dim=16, bos_token_id=None,
                 rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [2, 3, 3],
                                  "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=VISION_WIDTH, intermediate_size=64, num_heads=2, patch_size=QWEN3_PATCH,
                  spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=TEXT_HIDDEN,
                  num_position_embeddings=64, deepstack_visual_indexes=[0])
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                         **_ids(tokenizer, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>",
                                vision_start_token_id="<|vision_start|>", vision_end_token_id="<|vision_end|>"))


def _qwen35_config(tokenizer):
    from transformers import Qwen3_5Config

    # One linear-attention (gated delta net) layer and one full-attention layer, as the released 3:1 pattern in
    # miniature; partial rotary 0.25 of head_dim 32 = 8 dims, M-RoPE sections summing to 4.
    text = _text(tokenizer, head_dim=32, bos_token_id=None, layer_types=["linear_attention", "full_attention"],
                 linear_conv_kernel_dim=4, linear_key_head_dim=16, linear_value_head_dim=16,
                 linear_num_key_heads=2, linear_num_value_heads=4,
                 rope_parameters={"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25,
                                  "mrope_section": [2, 1, 1], "mrope_interleaved": True})
    vision = dict(depth=2, hidden_size=VISION_WIDTH, intermediate_size=64, num_heads=2, patch_size=QWEN3_PATCH,
                  spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=TEXT_HIDDEN,
                  num_position_embeddings=64)
    return Qwen3_5Config(text_config=text, vision_config=vision, tie_word_embeddings=True,
                         **_ids(tokenizer, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>",
                                vision_start_token_id="<|vision_start|>", vision_end_token_id="<|vision_end|>"))


def _internvl_config(tokenizer):
    from transformers import InternVLConfig

    text = dict(_text(tokenizer, bos_token_id=None), model_type="qwen2", rope_parameters={
        "rope_type": "default", "rope_theta": 1000000.0})
    vision = dict(hidden_size=VISION_WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  image_size=INTERNVL_TILE, patch_size=INTERNVL_PATCH, use_qk_norm=False)
    return InternVLConfig(text_config=text, vision_config=vision, downsample_ratio=0.5,
                          image_seq_length=INTERNVL_IMAGE_SEQ_LENGTH, tie_word_embeddings=True,
                          image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))


def _glm4v_config(tokenizer):
    from transformers import Glm4vConfig

    # partial rotary 0.5 of head_dim 16 = 8 dims, M-RoPE sections summing to 4 (GLM-4.1V: [8, 12, 12] of 64).
    text = _text(tokenizer, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                             "partial_rotary_factor": 0.5, "mrope_section": [1, 1, 2]})
    vision = dict(depth=2, hidden_size=VISION_WIDTH, intermediate_size=64, num_heads=2, patch_size=GLM_PATCH,
                  spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=TEXT_HIDDEN, image_size=56)
    return Glm4vConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                       **_ids(tokenizer, image_token_id="<|image|>", video_token_id="<|video|>",
                              image_start_token_id="<|begin_of_image|>", image_end_token_id="<|end_of_image|>",
                              video_start_token_id="<|begin_of_video|>", video_end_token_id="<|end_of_video|>"))


TINY_FAMILIES: dict[str, TinyFamily] = {row.name: row for row in (
    TinyFamily("qwen3vl", _QWEN_TOKENS, QWEN3VL_CHAT_TEMPLATE, "<|im_end|>", "<|endoftext|>",
               {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"},
               _qwen3_image_processor, _qwen3vl_config, ("<|im_end|>", "<|endoftext|>")),
    TinyFamily("qwen35", _QWEN_TOKENS, QWEN35_CHAT_TEMPLATE, "<|im_end|>", "<|endoftext|>",
               {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"},
               _qwen3_image_processor, _qwen35_config, ("<|im_end|>", "<|endoftext|>")),
    TinyFamily("internvl", _QWEN_TOKENS[:3] + _INTERNVL_TOKENS, INTERNVL_CHAT_TEMPLATE, "<|im_end|>",
               "<|endoftext|>", {"start_image_token": "<img>", "end_image_token": "</img>",
                                 "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"},
               _internvl_image_processor, _internvl_config, ("<|im_end|>", "<|endoftext|>")),
    TinyFamily("glm4v", _GLM_TOKENS, GLM4V_CHAT_TEMPLATE, "<|user|>", "<|endoftext|>", {},
               _glm_image_processor, _glm4v_config, ("<|endoftext|>", "<|user|>", "<|observation|>")),
)}
TINY_FAMILY_NAMES: tuple[str, ...] = tuple(TINY_FAMILIES)


def _row(family: str) -> TinyFamily:
    row = TINY_FAMILIES.get(family)
    if row is None:
        raise ValueError(f"no tiny builder for family {family!r}; these have one: {list(TINY_FAMILIES)}")
    return row


def build_family_tokenizer(family: str, vocab_size: int = 512):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with ``family``'s special tokens, ``<think>`` / ``</think>``
    as plain added tokens, its chat template, its end-of-turn token as eos; left padding, for generation."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    row = _row(family)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(row.special_tokens),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in _THINK])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=row.eos, pad_token=row.pad, unk_token=None,
                                   bos_token=None, model_max_length=8192, padding_side="left",
                                   extra_special_tokens=dict(row.extra_special_tokens))
    fast.chat_template = row.chat_template
    return fast


def build_family_processor(family: str, tokenizer=None):
    """The image-only processor of ``family`` (:func:`vreward_train.models.processor_class`) over its tiny
    tokenizer and image processor."""
    from vreward_train.families import train_family
    from vreward_train.models import processor_class

    row = _row(family)
    tokenizer = tokenizer if tokenizer is not None else build_family_tokenizer(family)
    kwargs: dict[str, Any] = {"image_seq_length": INTERNVL_IMAGE_SEQ_LENGTH} if family == "internvl" else {}
    processor = processor_class(family)(image_processor=row.image_processor(), tokenizer=tokenizer,
                                        chat_template=row.chat_template, **kwargs)
    processor.chat_template_defaults = dict(train_family(family).chat_template_kwargs)
    return processor


def build_family_config(family: str, tokenizer):
    """``family``'s model config at the tiny size, its token ids those of ``tokenizer``."""
    return _row(family).config(tokenizer)


def build_family_model(out_dir: str | os.PathLike, family: str, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` (one of :data:`TINY_FAMILY_NAMES`) with its processor to
    ``out_dir``; returns the path. Deterministic in ``seed`` (same weights, same tokenizer)."""
    import torch
    import transformers
    from transformers import GenerationConfig

    from vreward_train.families import train_family

    row = _row(family)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_family_processor(family)
    tokenizer = processor.tokenizer
    config = build_family_config(family, tokenizer)
    cls = getattr(transformers, train_family(family).model_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config).to(torch.float32)
    eos = [tokenizer.convert_tokens_to_ids(t) for t in row.generation_eos]
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                                               bos_token_id=None, do_sample=True, temperature=1.0)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
