"""Loading Qwen2-VL / Qwen2.5-VL models and an image-only processor that works without torchvision.

transformers 5's ``Qwen2VLProcessor`` and ``Qwen2_5_VLProcessor`` carry a video processor, and every video
processor needs torchvision, which has no CPU build on some machines. Visual-RFT trains on images only, so
:class:`ImageOnlyQwen2VLProcessor` keeps just the image processor and the tokenizer: it expands each
``<|image_pad|>`` of the text into one placeholder per merged vision patch exactly like the real processor, returns
``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids``, and serves as TRL's ``processing_class`` (TRL 1.16
``GRPOTrainer`` calls ``processing_class.apply_chat_template(conversation=..., add_generation_prompt=True,
tokenize=True, return_dict=True)`` with the dataset's ``image``/``images`` inserted into the prompt messages).
Qwen2-VL and Qwen2.5-VL share the image processor and the placeholder rule, so one class serves both.

Requires the ``train`` extra (torch, transformers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import ProcessorMixin

from vreward.frames import family_spec, resolve_family
from vreward_train.families import MODEL_CLASSES, trainable_family

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel


def model_family(path_or_config: str | os.PathLike | PretrainedConfig | PreTrainedModel | dict[str, Any]) -> str:
    """The family of a checkpoint (one vreward-train trains, :mod:`vreward_train.families`), from vreward's
    family table (its Hub id, else its model_type).

    Accepts a config, a model (its ``.config``), a config dict, a local checkpoint directory (its ``config.json``
    is read without importing the model), or a hub id (matched against the table's Hub ids, else its config read
    with ``AutoConfig``).
    """
    config = getattr(path_or_config, "config", path_or_config)
    local = isinstance(config, (str, os.PathLike)) and Path(config).is_dir()
    if local and not (Path(config) / "config.json").is_file():
        raise FileNotFoundError(f"{config} has no config.json: not a model checkpoint directory")
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    if isinstance(config, (str, os.PathLike)) and not Path(config).exists():
        try:
            resolve_family(config)
        except ValueError:
            from transformers import AutoConfig

            config = {**AutoConfig.from_pretrained(str(config)).to_dict(), "_name_or_path": str(config)}
    if isinstance(config, dict) and "model_type" not in config:
        raise ValueError("config dict has no 'model_type'")
    if not isinstance(config, (dict, str, os.PathLike)):
        raise TypeError(f"cannot read a model_type from {type(path_or_config).__name__}")
    try:
        return trainable_family(config)
    except ValueError as exc:
        raise ValueError(f"{exc} (from {_describe(path_or_config)})") from None


def coordinate_frame(family: str) -> str:
    """The vreward coordinate frame a family's grounding answers use (its row of ``vreward.frames.FAMILIES``)."""
    return family_spec(family).frame


def _describe(obj: Any) -> str:
    return str(obj) if isinstance(obj, (str, os.PathLike)) else type(obj).__name__


class ImageOnlyQwen2VLProcessor(ProcessorMixin):
    """The Qwen2-VL / Qwen2.5-VL processor without its video processor (no torchvision needed).

    ``processor(text=..., images=...)`` expands every ``<|image_pad|>`` into ``grid_t * grid_h * grid_w /
    merge_size**2`` copies (one per merged patch of that image), tokenizes, and returns ``input_ids``,
    ``attention_mask``, ``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids`` (1 on image tokens), as
    ``Qwen2VLProcessor`` does. Saved and loaded with ``save_pretrained`` / ``from_pretrained`` like any processor
    (``load_processor`` loads a real Qwen checkpoint into it too: only its image processor, tokenizer and chat
    template are read).
    """

    return_mm_token_type_ids = True

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = (getattr(tokenizer, "image_token_id", None)
                               or tokenizer.convert_tokens_to_ids(self.image_token))
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {self.image_token!r} token")
        self.video_token_id = (getattr(tokenizer, "video_token_id", None)
                               or tokenizer.convert_tokens_to_ids(self.video_token))
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        merge_length = self.image_processor.merge_size**2
        num_image_tokens = int(image_inputs["image_grid_thw"][image_idx].prod()) // merge_length
        return self.image_token * num_image_tokens

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens=True,
                                        clean_up_tokenization_spaces=False, **kwargs):
        """Decode generated token ids to text."""
        return self.tokenizer.batch_decode(generated_outputs, skip_special_tokens=skip_special_tokens,
                                           clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)

    @property
    def model_input_names(self):
        return super().model_input_names + ["mm_token_type_ids"]


def load_processor(path: str | os.PathLike, min_pixels: int | None = None, max_pixels: int | None = None,
                   **kwargs: Any) -> ImageOnlyQwen2VLProcessor:
    """The image-only processor of a local checkpoint directory or hub id.

    ``min_pixels`` / ``max_pixels`` bound the area of the resized image (``smart_resize``), hence the number of
    vision tokens; ``None`` keeps the checkpoint's values. The tokenizer pads on the left (for generation).
    ``kwargs`` go to ``from_pretrained`` (``revision``, ``cache_dir``, ...).
    """
    kwargs.setdefault("padding_side", "left")
    processor = ImageOnlyQwen2VLProcessor.from_pretrained(str(path), **kwargs)
    set_pixel_bounds(processor.image_processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return processor


def set_pixel_bounds(image_processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the Qwen2-VL image processor's ``min_pixels`` / ``max_pixels`` (kept in ``size``) in place."""
    if min_pixels is None and max_pixels is None:
        return
    size = dict(image_processor.size or {})
    lo = min_pixels if min_pixels is not None else size.get("shortest_edge")
    hi = max_pixels if max_pixels is not None else size.get("longest_edge")
    for name, value in (("min_pixels", lo), ("max_pixels", hi)):
        if value is None or int(value) <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(lo) > int(hi):
        raise ValueError(f"min_pixels ({lo}) must not exceed max_pixels ({hi})")
    size.update(shortest_edge=int(lo), longest_edge=int(hi))
    size.pop("min_pixels", None)
    size.pop("max_pixels", None)
    current = image_processor.size
    image_processor.size = size if current is None or isinstance(current, dict) else type(current)(**size)
    for name, value in (("min_pixels", lo), ("max_pixels", hi)):
        if hasattr(image_processor, name):
            setattr(image_processor, name, int(value))


def pixel_bounds(processor: Any) -> tuple[int, int]:
    """(min_pixels, max_pixels) of a processor or image processor: what ``smart_resize`` needs for the
    ``"qwen25vl"`` frame."""
    image_processor = getattr(processor, "image_processor", processor)
    size = dict(image_processor.size or {})
    return int(size["shortest_edge"]), int(size["longest_edge"])


def load_model(path: str | os.PathLike, dtype: str | torch.dtype = "auto", attn_implementation: str | None = None,
               **kwargs: Any) -> PreTrainedModel:
    """A Qwen2-VL / Qwen2.5-VL ``...ForConditionalGeneration`` from a local directory or hub id.

    ``dtype``: ``"auto"`` (the checkpoint's), ``"bfloat16"``, ``"float16"``, ``"float32"`` or a ``torch.dtype``.
    ``attn_implementation``: ``None`` (transformers' default: sdpa), ``"eager"``, ``"flash_attention_2"``, ...
    ``kwargs`` go to ``from_pretrained`` (``device_map``, ``revision``, ...).
    """
    import torch
    import transformers

    if isinstance(dtype, str) and dtype != "auto":
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use 'auto', 'bfloat16', 'float16' or 'float32'")
        dtype = resolved
    cls = getattr(transformers, MODEL_CLASSES[model_family(path)])
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    return cls.from_pretrained(str(path), dtype=dtype, **kwargs)
