"""Loading the models vreward-train trains, and image-only processors that work without torchvision.

transformers 5's processors of these families (``Qwen2VLProcessor``, ``Qwen3VLProcessor``, ``InternVLProcessor``,
``Glm4vProcessor``, ...) carry a video processor, and every video processor needs torchvision, which has no CPU
build on some machines. Visual-RFT trains on images only, so the processors here keep just the image processor
and the tokenizer. Each expands the image placeholder of the text exactly like the family's own processor, returns
what the model's forward needs, and serves as TRL's ``processing_class`` (TRL 1.16 ``GRPOTrainer`` calls
``processing_class.apply_chat_template(conversation=..., add_generation_prompt=True, tokenize=True,
return_dict=True)`` with the dataset's ``image``/``images`` inserted into the prompt messages):

* :class:`ImageOnlyQwen2VLProcessor` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5: one rule for all four): each
  ``<|image_pad|>`` becomes one placeholder per merged vision patch, ``grid_t * grid_h * grid_w / merge_size**2``;
  returns ``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids``;
* :class:`ImageOnlyGlm4vProcessor` (GLM-4.1V / 4.5V / 4.6V): the same rule for ``<|image|>``;
* :class:`ImageOnlyInternVLProcessor` (InternVL 3 / 3.5, the ``-hf`` checkpoints): each ``<IMG_CONTEXT>`` becomes
  ``<img>``, ``image_seq_length`` placeholders per tile (the image cut into tiles, plus a thumbnail), ``</img>``;
  returns ``pixel_values`` (one row per tile).

Which one serves a checkpoint follows its family (:mod:`vreward_train.families`). Requires the ``train`` extra
(torch, transformers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import ProcessorMixin

from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, family_spec, resolve_family
from vreward_train.families import model_class_name, train_family, trainable_family

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


class _ImageOnly:
    """What the image-only processors share. ``chat_template_defaults``: keyword arguments the chat template is
    rendered with unless the caller gives them (the family's ``chat_template_kwargs``, set by
    :func:`load_processor`; e.g. Qwen3.5's ``enable_thinking=False``)."""

    chat_template_defaults: dict[str, Any] = {}

    def apply_chat_template(self, conversation, chat_template=None, **kwargs):
        for key, value in self.chat_template_defaults.items():
            kwargs.setdefault(key, value)
        return super().apply_chat_template(conversation, chat_template, **kwargs)

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens=True,
                                        clean_up_tokenization_spaces=False, **kwargs):
        """Decode generated token ids to text."""
        return self.tokenizer.batch_decode(generated_outputs, skip_special_tokens=skip_special_tokens,
                                           clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)


class ImageOnlyQwen2VLProcessor(_ImageOnly, ProcessorMixin):
    """The Qwen2-VL / Qwen2.5-VL / Qwen3-VL / Qwen3.5 processor without its video processor (no torchvision).

    The four families expand images by one rule (``Qwen3VLProcessor``, which Qwen3.5 uses too, repeats
    ``Qwen2VLProcessor``'s); they differ in the image processor's settings (patch 14 for Qwen2-VL / 2.5-VL, 16 for
    Qwen3-VL / 3.5), which the checkpoint's ``preprocessor_config.json`` carries.

    ``processor(text=..., images=...)`` expands every ``<|image_pad|>`` into ``grid_t * grid_h * grid_w /
    merge_size**2`` copies (one per merged patch of that image), tokenizes, and returns ``input_ids``,
    ``attention_mask``, ``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids`` (1 on image tokens), as
    ``Qwen2VLProcessor`` does. Saved and loaded with ``save_pretrained`` / ``from_pretrained`` like any processor
    (``load_processor`` loads a real Qwen checkpoint into it too: only its image processor, tokenizer and chat
    template are read).
    """

    return_mm_token_type_ids = True
    default_image_token = "<|image_pad|>"
    default_video_token = "<|video_pad|>"

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or self.default_image_token
        self.video_token = getattr(tokenizer, "video_token", None) or self.default_video_token
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

    @property
    def model_input_names(self):
        return super().model_input_names + ["mm_token_type_ids"]


class ImageOnlyGlm4vProcessor(ImageOnlyQwen2VLProcessor):
    """The GLM-4.1V / 4.5V / 4.6V processor without its video processor (no torchvision needed).

    ``Glm4vProcessor`` expands ``<|image|>`` (between ``<|begin_of_image|>`` and ``<|end_of_image|>``, which the
    chat template writes) into ``grid_t * grid_h * grid_w / merge_size**2`` copies, Qwen2-VL's rule; the image
    processor is GLM's (patch 14, merge 2, its own ``smart_resize``). Returns ``input_ids``, ``attention_mask``,
    ``pixel_values``, ``image_grid_thw`` and ``mm_token_type_ids`` (1 on image tokens).
    """

    default_image_token = "<|image|>"
    default_video_token = "<|video|>"


class ImageOnlyInternVLProcessor(_ImageOnly, ProcessorMixin):
    """The InternVL processor without its video processor (no torchvision needed), for the transformers-format
    checkpoints (``OpenGVLab/InternVL3-*-hf``, model_type ``internvl``).

    The chat template writes ``<IMG_CONTEXT>`` for an image; ``InternVLProcessor`` cuts the image into tiles of the
    image processor's size (``crop_to_patches``, up to ``max_patches`` tiles plus a thumbnail) and writes
    ``<img>`` + ``image_seq_length`` x ``<IMG_CONTEXT>`` per tile + ``</img>``; so does this class. Returns
    ``input_ids``, ``attention_mask`` and ``pixel_values`` (one row per tile). TRL's ``GRPOTrainer`` recovers the
    tiles per image from ``image_processor(images, crop_to_patches=True)["num_patches"]``.
    """

    images_kwargs = {"crop_to_patches": True}

    def __init__(self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None,
                 **kwargs):
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        self.image_seq_length = image_seq_length
        self.start_image_token = getattr(tokenizer, "start_image_token", None) or "<img>"
        self.end_image_token = getattr(tokenizer, "end_image_token", None) or "</img>"
        self.image_token = getattr(tokenizer, "context_image_token", None) or "<IMG_CONTEXT>"
        ids = [tokenizer.convert_tokens_to_ids(t) for t in (self.image_token, self.start_image_token,
                                                             self.end_image_token)]
        for token, token_id in zip((self.image_token, self.start_image_token, self.end_image_token), ids):
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise ValueError(f"the tokenizer has no {token!r} token")
        self.image_token_id, self.start_image_token_id, self.end_image_token_id = ids

    def __call__(self, images=None, text=None, videos=None, **kwargs):
        if videos is not None:
            raise ValueError(f"{type(self).__name__} processes images only")
        out = super().__call__(images=images, text=text, **kwargs)
        out.pop("num_patches", None)  # InternVLProcessor does not return it either: the model does not read it
        return out

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        tiles = int(image_inputs["num_patches"][image_idx])
        return self.start_image_token + self.image_token * (self.image_seq_length * tiles) + self.end_image_token


PROCESSOR_CLASSES: dict[str, type[ProcessorMixin]] = {cls.__name__: cls for cls in (
    ImageOnlyQwen2VLProcessor, ImageOnlyGlm4vProcessor, ImageOnlyInternVLProcessor)}


def processor_class(family: str) -> type[ProcessorMixin]:
    """The image-only processor class that serves ``family`` (a family vreward-train trains)."""
    return PROCESSOR_CLASSES[train_family(family).processor]


def load_processor(path: str | os.PathLike, min_pixels: int | None = None, max_pixels: int | None = None,
                   family: str | None = None, **kwargs: Any) -> ProcessorMixin:
    """The image-only processor of a local checkpoint directory or hub id, of the class that serves its family
    (:func:`processor_class`; a LoRA output directory: its base model's family).

    ``min_pixels`` / ``max_pixels`` bound the area of the resized image (``smart_resize``), hence the number of
    vision tokens; ``None`` keeps the checkpoint's values (InternVL tiles images instead: its processor takes
    neither). The tokenizer pads on the left (for generation). The family's ``chat_template_kwargs`` become the
    processor's chat-template defaults. ``family``: skip reading it from the checkpoint. ``kwargs`` go to
    ``from_pretrained`` (``revision``, ``cache_dir``, ...).
    """
    kwargs.setdefault("padding_side", "left")
    family = family or _processor_family(path)
    processor = processor_class(family).from_pretrained(str(path), **kwargs)
    processor.chat_template_defaults = dict(train_family(family).chat_template_kwargs)
    set_pixel_bounds(processor.image_processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return processor


# Processor classes (ours, and transformers' of released checkpoints) -> a family they serve, for a folder that
# holds a processor but no model config.
_PROCESSOR_FAMILIES = {"ImageOnlyQwen2VLProcessor": "qwen2vl", "Qwen2VLProcessor": "qwen2vl",
                       "Qwen2_5_VLProcessor": "qwen25vl", "Qwen3VLProcessor": "qwen3vl",
                       "ImageOnlyGlm4vProcessor": "glm4v", "Glm4vProcessor": "glm4v", "Glm46VProcessor": "glm4v",
                       "ImageOnlyInternVLProcessor": "internvl", "InternVLProcessor": "internvl"}


def _processor_family(path: str | os.PathLike) -> str:
    """:func:`checkpoint_family`, or for a folder with a processor only, the family its processor class serves."""
    try:
        return checkpoint_family(path)
    except FileNotFoundError:
        import json

        for name in ("processor_config.json", "preprocessor_config.json"):
            file = Path(path) / name
            if file.is_file():
                family = _PROCESSOR_FAMILIES.get(json.loads(file.read_text(encoding="utf-8")).get("processor_class"))
                if family is not None:
                    return family
        raise


def checkpoint_family(path: str | os.PathLike) -> str:
    """The family of a checkpoint (:func:`model_family`), or of its base model when ``path`` is a LoRA output
    directory (``adapter_config.json``, no ``config.json``)."""
    adapter = Path(path) / "adapter_config.json"
    if adapter.is_file() and not (Path(path) / "config.json").is_file():
        import json

        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if base:
            return model_family(base)
    return model_family(path)


def set_pixel_bounds(image_processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> None:
    """Set the Qwen2-VL image processor's ``min_pixels`` / ``max_pixels`` (kept in ``size``) in place (the
    Qwen3-VL, Qwen3.5 and GLM-4V image processors keep them the same way; InternVL's has none)."""
    if min_pixels is None and max_pixels is None:
        return
    size = dict(image_processor.size or {})
    if "shortest_edge" not in size and "longest_edge" not in size:
        raise ValueError(f"{type(image_processor).__name__} resizes to a fixed size {size} (tiles): it takes no "
                         "min_pixels / max_pixels; leave model.min_pixels and model.max_pixels unset")
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
    ``"qwen25vl"`` frame (vreward's defaults for an image processor without them, InternVL's)."""
    image_processor = getattr(processor, "image_processor", processor)
    size = dict(image_processor.size or {})
    if "shortest_edge" not in size or "longest_edge" not in size:  # InternVL's tiles: no frame depends on them
        return QWEN25VL_MIN_PIXELS, QWEN25VL_MAX_PIXELS
    return int(size["shortest_edge"]), int(size["longest_edge"])


def load_model(path: str | os.PathLike, dtype: str | torch.dtype = "auto", attn_implementation: str | None = None,
               **kwargs: Any) -> PreTrainedModel:
    """The ``...ForConditionalGeneration`` model of a checkpoint of a family vreward-train trains (the class of
    its ``model_type``, :data:`vreward_train.families.TRAIN_FAMILIES`), from a local directory or hub id.

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
    family = model_family(path)
    cls = getattr(transformers, model_class_name(family, _model_type(path)))
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    return cls.from_pretrained(str(path), dtype=dtype, **kwargs)


def _model_type(path: str | os.PathLike) -> str | None:
    """``model_type`` of a checkpoint's config (a local ``config.json``, else transformers' ``AutoConfig``)."""
    config_file = Path(path) / "config.json"
    if config_file.is_file():
        import json

        return json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(path)).model_type
