"""The model families vreward-train trains: rows of ``vreward.frames.FAMILIES`` with what training them needs.

Kept free of heavy imports, so the command line can offer the choices without loading transformers. A family is
found in vreward's table (:func:`vreward.frames.resolve_family`: a name, ``model_type``, Hub id or config);
:func:`trainable_family` then says whether vreward-train can train it, and :data:`NOT_TRAINED` says why not for
the others.

Each :class:`TrainFamily` row names the transformers class of each of the family's ``model_type`` values, the
image-only processor that serves it (:mod:`vreward_train.models`), how its prompts ask for boxes (``answers``:
Visual-RFT's ``[{'Position': ...}]`` lists for the Qwen2 lines Visual-RFT trained, the family's own syntax for the
others) and the keyword arguments its chat template is rendered with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vreward.frames import family_spec, resolve_family


@dataclass(frozen=True)
class TrainFamily:
    """How vreward-train trains one family of ``vreward.frames.FAMILIES``.

    ``model_classes``: the transformers class of each ``config.model_type`` of the family (the first is the one
    ``vreward-train tiny-model`` builds); ``processor``: the image-only processor class in
    :mod:`vreward_train.models`; ``answers``: ``"visual_rft"`` (prompts ask for Visual-RFT's
    ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}]`` lists, as the paper trained Qwen2-VL) or ``"native"`` (the
    family's own syntax, e.g. Qwen3-VL's ``[{"bbox_2d": [...], "label": ...}]``, written by
    ``vreward.families.format_answer``); ``chat_template_kwargs``: defaults for the chat template (Qwen3.5:
    ``enable_thinking=False``, so the template does not open a ``<think>`` block that Visual-RFT's format asks
    the completion to open); ``vision_attribute``: where the vision tower sits on the inner model.
    """

    name: str
    model_classes: Mapping[str, str]
    processor: str
    answers: Literal["visual_rft", "native"] = "native"
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    vision_attribute: str = "visual"

    @property
    def model_class(self) -> str:
        """The class of the family's first ``model_type`` (dense models; the tiny builders build it)."""
        return next(iter(self.model_classes.values()))

    @property
    def title(self) -> str:
        return family_spec(self.name).title


_QWEN = "ImageOnlyQwen2VLProcessor"
TRAIN_FAMILIES: dict[str, TrainFamily] = {row.name: row for row in (
    TrainFamily("qwen2vl", {"qwen2_vl": "Qwen2VLForConditionalGeneration"}, _QWEN, answers="visual_rft"),
    TrainFamily("qwen25vl", {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}, _QWEN, answers="visual_rft"),
    TrainFamily("qwen3vl", {"qwen3_vl": "Qwen3VLForConditionalGeneration",
                            "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration"}, _QWEN),
    TrainFamily("qwen35", {"qwen3_5": "Qwen3_5ForConditionalGeneration",
                           "qwen3_5_moe": "Qwen3_5MoeForConditionalGeneration"}, _QWEN,
                chat_template_kwargs={"enable_thinking": False}),
    TrainFamily("internvl", {"internvl": "InternVLForConditionalGeneration"}, "ImageOnlyInternVLProcessor",
                vision_attribute="vision_tower"),
    TrainFamily("glm4v", {"glm4v": "Glm4vForConditionalGeneration", "glm4v_moe": "Glm4vMoeForConditionalGeneration",
                          "glm46v": "Glm46VForConditionalGeneration"}, "ImageOnlyGlm4vProcessor"),
)}

# family -> the transformers class of its (dense) image-text-to-text model.
MODEL_CLASSES: dict[str, str] = {name: row.model_class for name, row in TRAIN_FAMILIES.items()}
TRAINABLE_FAMILIES: tuple[str, ...] = tuple(TRAIN_FAMILIES)

# The families of vreward's table that vreward-train does not train, and why (docs/training.md lists them).
NOT_TRAINED: dict[str, str] = {
    "mimovl": "MiMo-VL checkpoints are Qwen2.5-VL models (model_type qwen2_5_vl): they load and train as "
              "qwen25vl, but their answer convention is not verified (the family row is taken on trust)",
    "paligemma": "prompted with task prefixes (`detect cat`), not in a chat with Visual-RFT's "
                 "<think>/<answer> format; not added here",
    "florence2": "a sequence-to-sequence model prompted with task tokens (<OPEN_VOCABULARY_DETECTION>); TRL's "
                 "GRPOTrainer trains decoder-only models",
    "deepseekvl2": "no transformers class (the checkpoints need trust_remote_code and DeepSeek's own package)",
    "molmo": "no transformers class (remote code only), and it answers points, not boxes",
    "molmo2": "it answers points, not the boxes vreward-train's tasks ask for; its convention is not verified",
    "kimivl": "no transformers class for model_type kimi_vl (remote code only)",
    "llava_onevision": "its box convention (0-1 of the image padded to a square) is not confirmed for OneVision",
    "minicpmv": "checkpoints of model_type minicpmv / minicpmo need trust_remote_code (transformers' own "
                "minicpmv4_6 / minicpmv4_7 classes are other model_types, not in the family's row)",
    "rexomni": "Rex-Omni checkpoints are Qwen2.5-VL models answering in coordinate tokens; not added here",
}


def train_family(name: str) -> TrainFamily:
    """The row of a family vreward-train trains (by its name)."""
    row = TRAIN_FAMILIES.get(name)
    if row is None:
        raise ValueError(f"vreward-train does not train family {name!r}; it trains {list(TRAINABLE_FAMILIES)}")
    return row


def trainable_family(source: Any) -> str:
    """The name of ``source``'s family (anything :func:`vreward.frames.resolve_family` reads) when vreward-train
    trains it; a ``ValueError`` naming the trainable families (and why this one is not) otherwise."""
    spec = resolve_family(source)
    if spec.name not in TRAIN_FAMILIES:
        why = NOT_TRAINED.get(spec.name, "not added yet")
        raise ValueError(f"model family {spec.name!r} ({spec.title}) is known to vreward (its rewards read it) but "
                         f"vreward-train cannot train it yet ({why}); it trains {list(TRAINABLE_FAMILIES)}")
    return spec.name


def model_class_name(family: str, model_type: str | None = None) -> str:
    """The transformers class for a checkpoint of ``family`` with ``config.model_type == model_type`` (None: the
    family's dense class)."""
    row = train_family(family)
    if model_type is None:
        return row.model_class
    try:
        return row.model_classes[model_type]
    except KeyError:
        raise ValueError(f"no transformers class of family {family!r} loads model_type {model_type!r} (a "
                         f"remote-code checkpoint, e.g. InternVL's internvl_chat?); vreward-train loads the "
                         f"transformers-format ones: {dict(row.model_classes)}") from None
