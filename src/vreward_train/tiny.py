"""Tiny, download-free Qwen2-VL / Qwen2.5-VL checkpoints for tests and dry runs.

No model can be downloaded on this project's machines, so :func:`build_tiny_model` writes one: a byte-level BPE
tokenizer trained on the fly (with Qwen's special and vision tokens and Qwen2-VL's chat template), the Qwen2-VL
image processor (patch 14, merge 2, as the released checkpoints, so ``vreward.frames.smart_resize`` and the
``"qwen25vl"`` frame apply unchanged; at most 224 x 224 pixels per image), and a randomly initialised
``Qwen2VLForConditionalGeneration`` or ``Qwen2_5_VLForConditionalGeneration`` of one of the sizes in
:data:`TINY_SIZES`: ``"tiny"`` (text hidden 64, 2 layers; vision 1-2 blocks of width 32; ~0.1 M parameters), for
tests, and ``"demo"`` (text hidden 192, 4 layers; vision 3 blocks of width 96; ~2 M parameters), big enough to
learn to localize drawn shapes on a CPU in minutes (``vreward-train demo``). The folder loads back with
:func:`vreward_train.models.load_model` and :func:`vreward_train.models.load_processor`. A fresh model answers
random text, but every code path of training and generation (vision tower, M-RoPE positions, image placeholders)
runs, in seconds on a CPU. :func:`build_tiny_model` hands the other families vreward-train trains to
:mod:`vreward_train.tiny_families` (the ``"tiny"`` size only).

Requires the ``train`` extra (torch, transformers, tokenizers, pillow).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                  "<|box_end|>", "<|quad_start|>", "<|quad_end|>", VISION_START, VISION_END, "<|vision_pad|>",
                  IMAGE_PAD, VIDEO_PAD)

# Qwen2-VL-Instruct's chat template (the same for Qwen2.5-VL-Instruct, whose default system prompt is also
# "You are a helpful assistant."): an image part becomes <|vision_start|><|image_pad|><|vision_end|>.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Visual-RFT style prompts and answers, so the BPE merges are not arbitrary.
_CORPUS = (
    "You are a helpful assistant.",
    "Detect all objects belonging to the category 'circle' in the image, and provide the bounding boxes "
    "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).",
    "If no object belonging to the category 'square' in the image, return 'No Objects'.",
    "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.",
    "The output answer format should be as follows: <think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], "
    "'Confidence': number}, ...]</answer>",
    "<think>There is a red circle near the top left and a blue triangle below it.</think>",
    "<answer>[{'Position': [10, 20, 300, 400], 'Confidence': 0.9}]</answer>",
    "<answer>[{'Position': [254, 1, 638, 393], 'Confidence': 1}, {'Position': [5, 6, 70, 80], "
    "'Confidence': 0.55}]</answer>",
    "<answer>No Objects</answer>",
    "Please strictly follow the format. triangle square circle cat dog person car bird",
    "<think>I look for the category.</think> <think>I look for the object.</think>",
    "<think>I look at the object.</think>",
    "0 1 2 3 4 5 6 7 8 9 10 25 50 75 100 128 250 500 750 999 1000 0.25 0.5 0.75 {}[]():,.'\"",
)


@dataclass(frozen=True)
class TinySize:
    """The dimensions of a tiny model: the language model's and the vision tower's."""

    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    vision_width: int
    vision_depth: int
    vision_heads: int


TINY_SIZES: dict[str, TinySize] = {
    "tiny": TinySize(text_hidden=64, text_layers=2, text_heads=4, text_kv_heads=2, text_intermediate=128,
                     vision_width=32, vision_depth=1, vision_heads=2),
    "demo": TinySize(text_hidden=192, text_layers=4, text_heads=6, text_kv_heads=2, text_intermediate=512,
                     vision_width=96, vision_depth=3, vision_heads=4),
}
TinySizeName = Literal["tiny", "demo"]
# The families built here, in every size; the others vreward-train trains are built by vreward_train.tiny_families.
SIZED_FAMILIES = ("qwen2vl", "qwen25vl")
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
MIN_PIXELS = 56 * 56
MAX_PIXELS = 224 * 224


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with Qwen's special tokens and Qwen2-VL's chat template.

    Every byte is in the alphabet, so any text round-trips; digits are single tokens. ``<|endoftext|>`` pads,
    ``<|im_end|>`` ends a turn (the eos token); left padding, for generation.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Numbers split into single digits, as Qwen2's tokenizer does: a coordinate is a few digit tokens, the same
    # tokens for every number, which a small model learns to write far sooner than arbitrary number merges.
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_CORPUS) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=IM_END, pad_token=ENDOFTEXT, unk_token=None,
                                   bos_token=None, model_max_length=4096, padding_side="left")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_processor(tokenizer=None):
    """:class:`~vreward_train.models.ImageOnlyQwen2VLProcessor` over the tiny tokenizer and the Qwen2-VL image
    processor (the PIL one: no torchvision needed), ``MIN_PIXELS``..``MAX_PIXELS`` pixels per image."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from vreward_train.models import ImageOnlyQwen2VLProcessor

    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH_SIZE,
                                               merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE)
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                     chat_template=CHAT_TEMPLATE)


def build_tiny_config(tokenizer, family: Literal["qwen2vl", "qwen25vl"] = "qwen2vl", size: TinySizeName = "tiny"):
    """A Qwen2-VL / Qwen2.5-VL config sized to ``tokenizer`` and to ``TINY_SIZES[size]`` (M-RoPE sections in
    the released models' proportions, summing to head_dim / 2; vision patch 14, merge 2)."""
    dims = tiny_size(size)
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", IMAGE_PAD), ("video_token_id", VIDEO_PAD), ("vision_start_token_id", VISION_START),
        ("vision_end_token_id", VISION_END))}
    text = dict(vocab_size=len(tokenizer), hidden_size=dims.text_hidden, intermediate_size=dims.text_intermediate,
                num_hidden_layers=dims.text_layers, num_attention_heads=dims.text_heads,
                num_key_value_heads=dims.text_kv_heads, max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                 "mrope_section": mrope_sections(dims.text_hidden // dims.text_heads)},
                bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                tie_word_embeddings=True)
    if family == "qwen2vl":
        from transformers import Qwen2VLConfig

        vision = dict(depth=dims.vision_depth, embed_dim=dims.vision_width, hidden_size=dims.text_hidden,
                      mlp_ratio=2, num_heads=dims.vision_heads, patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE,
                      temporal_patch_size=TEMPORAL_PATCH_SIZE)
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
    if family == "qwen25vl":
        from transformers import Qwen2_5_VLConfig

        depth = max(2, dims.vision_depth)  # windowed blocks, then a full-attention last block
        vision = dict(depth=depth, hidden_size=dims.vision_width, intermediate_size=2 * dims.vision_width,
                      out_hidden_size=dims.text_hidden, num_heads=dims.vision_heads, patch_size=PATCH_SIZE,
                      spatial_merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE, window_size=112,
                      fullatt_block_indexes=[depth - 1])
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True, **ids)
    raise ValueError(f"unknown family {family!r}; choose 'qwen2vl' or 'qwen25vl'")


def tiny_size(name: str) -> TinySize:
    """The dimensions of size ``name`` (a ``ValueError`` naming the sizes when there is none)."""
    if name not in TINY_SIZES:
        raise ValueError(f"unknown tiny model size {name!r}; choose one of {list(TINY_SIZES)}")
    return TINY_SIZES[name]


def check_tiny_size(family: str, size: str) -> None:
    """A ``ValueError`` unless a random ``family`` model of size ``size`` can be built: every size for
    :data:`SIZED_FAMILIES`, ``"tiny"`` for the families of :mod:`vreward_train.tiny_families`."""
    tiny_size(size)
    if family not in SIZED_FAMILIES and size != "tiny":
        raise ValueError(f"model size {size!r} is built for {' and '.join(SIZED_FAMILIES)} only; a {family} "
                         "model has the 'tiny' size")


def mrope_sections(head_dim: int) -> list[int]:
    """M-RoPE's (temporal, height, width) sections for ``head_dim``, in Qwen2-VL's 16 : 24 : 24 proportion."""
    half = head_dim // 2
    spatial = (half - half // 4) // 2
    return [half - 2 * spatial, spatial, spatial]


def build_tiny_model(out_dir: str | os.PathLike, family: str = "qwen2vl", seed: int = 0,
                     size: TinySizeName = "tiny") -> Path:
    """Write a tiny random Qwen2-VL (``family="qwen2vl"``) or Qwen2.5-VL checkpoint of ``TINY_SIZES[size]``
    with its processor to ``out_dir``, or one of another family vreward-train trains (size ``"tiny"`` only;
    :mod:`vreward_train.tiny_families`); returns the path. Deterministic in ``seed`` (same weights, same
    tokenizer)."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

    check_tiny_size(family, size)
    if family not in SIZED_FAMILIES:  # the other families' builders: vreward_train.tiny_families
        from vreward_train.tiny_families import build_family_model

        return build_family_model(out_dir, family, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_tiny_processor()
    tokenizer = processor.tokenizer
    config = build_tiny_config(tokenizer, family, size)
    cls = Qwen2VLForConditionalGeneration if family == "qwen2vl" else Qwen2_5_VLForConditionalGeneration
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id], pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None, do_sample=True, temperature=1.0)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
