"""Model families: how a family writes boxes and points and which frame they are in, one row per family.

A family is a line of models that answer in one convention (Qwen2-VL, Qwen3-VL, PaliGemma, ...). Its row names
its coordinate frame (a row of :data:`vreward.frames.FRAMES`), its answer syntax (a row of
:data:`vreward.frames.syntax.SYNTAXES`), the ``config.model_type`` values of its transformers checkpoints and the
Hub repositories it publishes (``fnmatch`` patterns of ``owner/name``, matched without network), the words a
prompt uses to state its convention, and the source the row was checked against (docs/coordinate-frames.md
quotes them). :func:`resolve_family` finds a family from any of these.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vreward.frames.syntax import SYNTAXES, AnswerSyntax
from vreward.frames.table import check_frame, frame_spec, same_frame


@dataclass(frozen=True)
class FamilySpec:
    """One model family.

    ``frame``: the frame of its boxes; ``syntax``: how it writes them; ``model_types``: its checkpoints'
    ``config.model_type`` values (a family that shares another's, e.g. Rex-Omni's ``qwen2_5_vl``, lists none and
    is found by its Hub id); ``hub_patterns``: its Hub repositories; ``units``: its coordinates in a prompt's
    words; ``source``: where the row was checked (``verified`` False: taken on trust, see the docs);
    ``task_prompts``: the (detection, grounding) prompts of a family trained on task tokens (``{category}``,
    ``{expression}``), None for families prompted in words.
    """

    name: str
    title: str
    frame: str
    syntax: str
    model_types: tuple[str, ...]
    hub_patterns: tuple[str, ...]
    units: str
    source: str
    verified: bool = True
    task_prompts: tuple[str, str] | None = None

    @property
    def description(self) -> str:
        return f"{self.title}: {frame_spec(self.frame).description}"

    @property
    def answer_syntax(self) -> AnswerSyntax:
        return SYNTAXES[self.syntax]


_QWEN_2D = "https://github.com/QwenLM/Qwen3-VL/blob/main/cookbooks/2d_grounding.ipynb"
FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in (
    FamilySpec("qwen2vl", "Qwen2-VL", "qwen2vl", "qwen2vl", ("qwen2_vl",), ("qwen/qwen2-vl-*",),
               "between 0 and 1000, integer, relative to the image width and height",
               "Qwen2-VL report, arXiv:2409.12191 (sec. 2.2: boxes normalized to [0, 1000), written "
               "<|box_start|>(x1,y1),(x2,y2)<|box_end|> after <|object_ref_start|>...<|object_ref_end|>)"),
    FamilySpec("qwen25vl", "Qwen2.5-VL", "qwen25vl", "json", ("qwen2_5_vl",), ("qwen/qwen2.5-vl-*",),
               "in pixels of the image, integer",
               "Qwen2.5-VL report, arXiv:2502.13923 (absolute coordinates of the input image); maintainer "
               "HumanZhong, https://github.com/QwenLM/Qwen3-VL/issues/782 (\"absolute coordinates AFTER resizing\")"),
    FamilySpec("mimovl", "MiMo-VL", "qwen25vl", "json", (), ("xiaomimimo/mimo-vl-*",),
               "in pixels of the image, integer",
               "unverified: the issue's table; MiMo-VL checkpoints are Qwen2.5-VL models (model_type qwen2_5_vl)",
               verified=False),
    FamilySpec("qwen3vl", "Qwen3-VL", "rel1000", "json", ("qwen3_vl", "qwen3_vl_moe"), ("qwen/qwen3-vl-*",),
               "between 0 and 1000, integer, relative to the image width and height",
               f"{_QWEN_2D} (x / 1000 * width); maintainers HumanZhong "
               "https://github.com/QwenLM/Qwen3-VL/issues/1427 and ShuaiBai623 "
               "https://github.com/QwenLM/Qwen3-VL/issues/1659 (0-1000 of the original width and height); "
               "0-999 per Alibaba Cloud's docs, https://github.com/QwenLM/Qwen3-VL/issues/1741"),
    FamilySpec("qwen35", "Qwen3.5", "rel1000", "json", ("qwen3_5", "qwen3_5_moe"), ("qwen/qwen3.5-*",),
               "between 0 and 1000, integer, relative to the image width and height",
               "maintainer HumanZhong, https://github.com/QwenLM/Qwen3.8-Flash-Next/issues/4 (\"still relative "
               "coordinates normalized to [0, 1000]\" after Qwen3.5); Qwen3-VL's convention otherwise"),
    FamilySpec("internvl", "InternVL", "rel1000", "internvl", ("internvl", "internvl_chat"),
               ("opengvlab/internvl*",), "between 0 and 1000, integer, relative to the image width and height",
               "https://internvl.readthedocs.io/en/latest/get_started/chat_data_format.html#grounding-detection-data"
               " (round(x / width * 1000)); maintainer czczup, https://github.com/OpenGVLab/InternVL/issues/227"),
    FamilySpec("glm4v", "GLM-4.1V / 4.5V / 4.6V", "rel1000", "glm", ("glm4v", "glm4v_moe", "glm46v"),
               ("zai-org/glm-4.?v*", "thudm/glm-4.1v*"),
               "between 0 and 1000, integer, relative to the image width and height",
               "https://huggingface.co/zai-org/GLM-4.5V (boxes normalized by width / height and scaled by 1000); "
               "maintainer zRzRzRzRzRzRzR, https://github.com/zai-org/GLM-V/issues/114"),
    FamilySpec("paligemma", "PaliGemma 1 / 2", "bins1024", "paligemma", ("paligemma",), ("google/paligemma*",),
               "as location tokens <loc0000> to <loc1023> (1024 bins of the image), y before x",
               "https://github.com/google-research/big_vision/blob/main/big_vision/configs/proj/paligemma/README.md"
               " (1024 location tokens, ymin xmin ymax xmax); Google's inference notebook reads loc / 1024",
               task_prompts=("detect {category}\n", "detect {expression}\n")),
    FamilySpec("florence2", "Florence-2", "bins1000_centres", "florence2", ("florence2",),
               ("microsoft/florence-2-*", "florence-community/florence-2-*"),
               "as location tokens <loc_0> to <loc_999> (1000 bins of the image)",
               "transformers florence2/processing_florence2.py, Florence2PostProcessor.quantize / dequantize "
               "(1000 bins, floor on writing, bin centre + 0.5 on reading)",
               task_prompts=("<OPEN_VOCABULARY_DETECTION>{category}", "<CAPTION_TO_PHRASE_GROUNDING>{expression}")),
    FamilySpec("deepseekvl2", "DeepSeek-VL2", "rel999", "deepseekvl2", ("deepseek_vl_v2",),
               ("deepseek-ai/deepseek-vl2*",), "between 0 and 999, integer, relative to the image width and height",
               "maintainer charlesCXK, https://github.com/deepseek-ai/DeepSeek-VL2/issues/100 (\"normalized to "
               "the range [0, 999]\", x / 999 * width)"),
    FamilySpec("molmo", "Molmo", "percent", "molmo", ("molmo",), ("allenai/molmo-*", "allenai/molmoe-*"),
               "in percent of the image width and height, with one decimal place",
               "Ai2 (chrisc36), https://huggingface.co/allenai/Molmo-7B-O-0924/discussions/1 (\"normalized to "
               "between 0 and 100\")", task_prompts=("Point to every {category}.", "Point to {expression}.")),
    FamilySpec("molmo2", "Molmo2", "rel1000", "molmo2", ("molmo2",), ("allenai/molmo2-*",),
               "between 0 and 1000, integer, relative to the image width and height",
               "unverified against the model card: Molmo2 outputs quoted in public code, e.g. "
               "<points coords=\"1 1 073 160 2 173 600\" ...> read as 0-1000 (allenai/Molmo2-8B)", verified=False,
               task_prompts=("Point to every {category}.", "Point to {expression}.")),
    FamilySpec("kimivl", "Kimi-VL", "unit", "json", ("kimi_vl",), ("moonshotai/kimi-vl-*",),
               "between 0 and 1, with three decimal places, relative to the image width and height",
               "community reports, https://github.com/MoonshotAI/Kimi-VL/issues/56 and issues/52 "
               "({\"bbox_2d\": [0.280, 0.500, 0.520, 0.700]}; the demo multiplies by the image size)",
               verified=False),
    FamilySpec("llava_onevision", "LLaVA-OneVision", "unit_padded", "lists", ("llava_onevision",),
               ("llava-hf/llava-onevision-*", "lmms-lab/llava-onevision-*"),
               "between 0 and 1, with three decimal places, relative to the image padded to a square",
               "LLaVA-1.5 data convention, https://github.com/haotian-liu/LLaVA/issues/606 (boxes of the image "
               "padded to a square); disputed in issues/822 and not confirmed for OneVision", verified=False),
    FamilySpec("minicpmv", "MiniCPM-V / MiniCPM-o", "rel1000", "minicpmv", ("minicpmv", "minicpmo"),
               ("openbmb/minicpm-v*", "openbmb/minicpm-o*"),
               "between 0 and 1000, integer, relative to the image width and height",
               "maintainers floe20, https://github.com/OpenBMB/MiniCPM-V/issues/982 (MiniCPM-V 4.5: "
               "<box>x1 y1 x2 y2</box> normalized to 1000) and Cuiunbo, issues/185 (<point>x y</point>)"),
    FamilySpec("rexomni", "Rex-Omni", "rel999", "rexomni", (), ("idea-research/rex-omni*",),
               "as coordinate tokens <0> to <999> relative to the image width and height",
               "IDEA-Research/Rex-Omni rex_omni/parser.py (bins [0, 999], x / 999 * width; "
               "<|box_start|><x0><y0><x1><y1>, ...<|box_end|>)"),
)}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def family_spec(name: str) -> FamilySpec:
    """The row of family ``name`` (a ``ValueError`` listing the families when there is none)."""
    spec = FAMILIES.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown model family {name!r}; choose one of {list(FAMILY_NAMES)}")
    return spec


def family_of_model_type(model_type: str) -> FamilySpec | None:
    """The family whose checkpoints have ``config.model_type == model_type``, or None."""
    return next((spec for spec in FAMILIES.values() if model_type in spec.model_types), None)


def family_of_hub_id(repo_id: str) -> FamilySpec | None:
    """The family whose Hub patterns match ``repo_id`` (``owner/name``, a URL or a revision suffix allowed)."""
    repo = repo_id.strip().split("@")[0].removeprefix("https://").removeprefix("huggingface.co/").strip("/")
    parts = repo.lower().split("/")
    if len(parts) < 2:
        return None
    repo = "/".join(parts[:2])
    return next((spec for spec in FAMILIES.values()
                 if any(fnmatch.fnmatchcase(repo, pattern) for pattern in spec.hub_patterns)), None)


def resolve_family(source: str | os.PathLike | Mapping[str, Any]) -> FamilySpec:
    """The family of ``source``: a family name, a transformers ``model_type``, a Hub id, a checkpoint directory
    or its ``config.json`` path, or a config dict (by its ``model_type``; its ``_name_or_path`` Hub id names the
    families that share another's model_type). A ``ValueError`` lists the families when none fits."""
    if isinstance(source, Mapping):
        return _from_config(source, "the config")
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        spec = FAMILIES.get(text) or family_of_model_type(text)
        if spec is not None:
            return spec
        path = Path(text)
        if path.is_dir() or (path.is_file() and path.suffix == ".json"):
            return _from_config(_read_config(path), str(path))
        spec = family_of_hub_id(text)
        if spec is not None:
            return spec
        raise ValueError(f"unknown model family {text!r}: not a family, a transformers model_type, a known Hub id "
                         f"or a checkpoint; known families: {_known()}")
    raise ValueError(f"a model family is a name, model_type, Hub id, config path or config dict, not "
                     f"{type(source).__name__}; known families: {_known()}")


def family_frame(family: Any, coords: str | None) -> tuple[str, str]:
    """(the family's name, the model's frame) for settings naming ``family`` and ``coords``: ``coords`` None takes
    the family's frame; a ``coords`` that is another frame is a ``ValueError``."""
    spec = resolve_family(family)
    if coords is None:
        return spec.name, spec.frame
    if not same_frame(check_frame(coords, "coords"), spec.frame):
        raise ValueError(f"coords={coords!r} contradicts family {spec.name!r} ({spec.title}), whose boxes are in "
                         f"{spec.frame!r}; drop coords or pass coords={spec.frame!r}")
    return spec.name, coords


def _from_config(config: Mapping[str, Any], where: str) -> FamilySpec:
    """The family of its ``model_type``; its Hub id (``_name_or_path``) decides for families found only by Hub id,
    which share another family's model_type (Rex-Omni and MiMo-VL are ``qwen2_5_vl`` checkpoints)."""
    name = config.get("_name_or_path") or config.get("name_or_path")
    by_hub = family_of_hub_id(name) if isinstance(name, str) and name else None
    if by_hub is not None and not by_hub.model_types:
        return by_hub
    model_type = config.get("model_type")
    spec = family_of_model_type(model_type) if isinstance(model_type, str) else None
    spec = spec or by_hub
    if spec is None:
        raise ValueError(f"{where} has model_type {model_type!r}, which is no known family's; known families: "
                         f"{_known()}")
    return spec


def _read_config(path: Path) -> dict[str, Any]:
    config_file = path / "config.json" if path.is_dir() else path
    if not config_file.is_file():
        raise ValueError(f"{path} has no config.json: not a model checkpoint directory")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {config_file}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{config_file} is not a JSON object")
    return data


def _known() -> str:
    return ", ".join(f"{spec.name} ({spec.title})" for spec in FAMILIES.values())
