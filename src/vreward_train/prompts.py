"""Visual-RFT's prompts per task, in the coordinate convention of the model family, as TRL conversational
prompts with an image.

The model thinks in ``<think>…</think>`` and answers in ``<answer>…</answer>``. Detection answers are Visual-RFT
lists ``[{'Position': [x1, y1, x2, y2], 'Confidence': c}]``; grounding answers one box ``[x1, y1, x2, y2]``;
classification answers a name. Boxes are stated in the family's frame: integers 0-1000 relative to the image for
Qwen2-VL (``"qwen2vl"``), pixels of the image as the model sees it (resized by the processor) for Qwen2.5-VL
(``"qwen25vl"``), whose prompt also states that size.

The families Visual-RFT did not train (Qwen3-VL, Qwen3.5, InternVL, GLM-4V: ``answers="native"`` in
:mod:`vreward_train.families`) are asked for boxes in their own syntax and frame, inside the same
``<think>``/``<answer>`` format: Qwen3-VL for ``[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]`` in 0-1000 (with a
``"confidence"`` key for detection, which the JSON syntax has room for),
InternVL for ``<ref>cat</ref><box>[[x1, y1, x2, y2]]</box>``, GLM for ``<|begin_of_box|>[[...]]<|end_of_box|>``
(the writers of ``vreward.frames.SYNTAXES``); :func:`native_answer` writes a row's ground truth that way (the
warm-up's targets).

>>> text = question("detection", {"problem": "circle"}, family="qwen2vl")
>>> text.splitlines()[0][:80]
"Detect all objects belonging to the category 'circle' in the image, and provide "
>>> conversation("a question")
[{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'a question'}]}]

TRL 1.16's ``GRPOTrainer`` fills each ``{"type": "image"}`` placeholder with the row's ``image`` column (or the
list in ``images``) before applying the processor's chat template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vreward import families
from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS
from vreward.frames.syntax import Item

FORMAT_INSTRUCTION = "Output the thinking process in <think> </think> and final answer in <answer> </answer> tags."
STRICT = "Please strictly follow the format."

DETECTION = (
    "Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes "
    "({units}) and confidence (between 0 and 1, with two decimal places).\n"
    "If no object belonging to the category '{category}' in the image, return 'No Objects'.\n"
    + FORMAT_INSTRUCTION + " The output answer format should be as follows:\n"
    "<think> ... </think> <answer>[{{'Position': [x1, y1, x2, y2], 'Confidence': number}}, ...]</answer>\n"
    + STRICT
)
GROUNDING = (
    "Locate {expression} in the image and provide its bounding box ({units}).\n"
    + FORMAT_INSTRUCTION + " The output answer format should be as follows:\n"
    "<think> ... </think> <answer>[x1, y1, x2, y2]</answer>\n"
    + STRICT
)
CLASSIFICATION = (
    "{question}\n"
    + FORMAT_INSTRUCTION + " The output answer format should be as follows:\n"
    "<think> ... </think> <answer>{answer}</answer>\n"
    + STRICT
)
CLASSIFICATION_QUESTION = "This is an image containing {subject}. Please identify the {kind} based on the image."
# The prompt template of every task vreward-train trains (tasks of vreward.registry.TASKS).
TEMPLATES = {"detection": DETECTION, "classification": CLASSIFICATION, "grounding": GROUNDING}
# The box tasks for families answering in their own syntax ({example}: the syntax's writer around x1 ... y2).
DETECTION_NATIVE = (
    "Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes "
    "({units}){confidence}.\n"
    "If no object belonging to the category '{category}' in the image, return 'No Objects'.\n"
    + FORMAT_INSTRUCTION + " The output answer format should be as follows:\n"
    "<think> ... </think> <answer>{example}</answer>\n"
    + STRICT
)
GROUNDING_NATIVE = (
    "Locate {expression} in the image and provide its bounding box ({units}).\n"
    + FORMAT_INSTRUCTION + " The output answer format should be as follows:\n"
    "<think> ... </think> <answer>{example}</answer>\n"
    + STRICT
)
NATIVE_TEMPLATES = {"detection": DETECTION_NATIVE, "grounding": GROUNDING_NATIVE}
# Answer syntaxes with a place for a box's confidence: a JSON box object's "confidence" key, which vreward's scanner
# reads. Detection prompts of these families ask for it (the confidence reward and COCO AP need it); boxes of the
# other syntaxes (InternVL's <box>, GLM's box tokens) state none and count at confidence 1.
CONFIDENCE_SYNTAXES = ("json",)
CONFIDENCE_WORDS = " and confidence (between 0 and 1, with two decimal places)"

# A Visual-RFT detection prompt names its category as: category 'zebra'
_CATEGORY = re.compile(r"category\s+['\u2018\u2019\"]([^'\u2018\u2019\"]+)['\u2018\u2019\"]")
# Text from which on a Visual-RFT prompt gives output instructions.
_INSTRUCTIONS = re.compile(r"\s*(First output|Output the thinking|Output the final|Please strictly)", re.I)


def check_task(task: str) -> str:
    """``task`` when it has a training prompt (a ``ValueError`` naming the tasks that have one otherwise)."""
    if task not in TEMPLATES:
        raise ValueError(f"task {task!r} has no training prompt; choose one of {list(TEMPLATES)}")
    return task


def box_units(family: str, width: int | None = None, height: int | None = None,
              min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """The family's coordinate convention in words (its row of ``vreward.frames.FAMILIES``); for Qwen2.5-VL with
    the size the model sees."""
    return families.box_units(family, width, height, min_pixels, max_pixels)


def category_of(row: Mapping[str, Any]) -> str:
    """The category a detection row asks for: its ``category`` column, the category named by a Visual-RFT
    prompt in ``problem``, or ``problem`` itself when it is a bare name."""
    for key in ("category", "category_name", "label"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    problem = str(row.get("problem") or "").strip()
    match = _CATEGORY.search(problem)
    if match:
        return match.group(1).strip()
    if problem and "\n" not in problem and len(problem) <= 80:
        return problem.rstrip(".?")
    raise ValueError(f"cannot tell the category of a detection row from its problem {problem[:80]!r}: give a "
                     "`category` column, or set data.prompt: problem to use the text as given")


def _bare_question(problem: str) -> str:
    """``problem`` without the output-format instructions a Visual-RFT prompt appends."""
    match = _INSTRUCTIONS.search(problem)
    return (problem[:match.start()] if match else problem).strip()


def question(task: str, row: Mapping[str, Any], family: str = "qwen2vl", mode: str = "template",
             min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """The prompt text of ``row`` for ``task`` (``mode="problem"``: the row's ``problem`` as given)."""
    problem = str(row.get("problem") or "").strip()
    if mode == "problem":
        if not problem:
            raise ValueError("the row has no `problem` text")
        return problem
    if mode != "template":
        raise ValueError(f"unknown prompt mode {mode!r}; choose 'template' or 'problem'")
    check_task(task)
    if task == "classification":
        if "<answer>" in problem:
            return problem  # already a whole Visual-RFT prompt; no coordinates to restate
        bare = _bare_question(problem)
        if not bare:
            bare = CLASSIFICATION_QUESTION.format(subject="an object", kind="category of the object")
        return CLASSIFICATION.format(question=bare, answer="category name")
    units = box_units(family, row.get("width"), row.get("height"), min_pixels, max_pixels)
    if native_answers(family):
        label = answer_label(task, row)
        if task == "detection":
            confident = states_confidence(family)
            example = _syntax_example(family, label, 2, confidence="number" if confident else None)
            return DETECTION_NATIVE.format(category=label, units=units, example=example,
                                           confidence=CONFIDENCE_WORDS if confident else "")
        example = _syntax_example(family, label, 1)
        return GROUNDING_NATIVE.format(expression=_as_phrase(expression_of(row)), units=units, example=example)
    if task == "detection":
        return DETECTION.format(category=category_of(row), units=units)
    return GROUNDING.format(expression=_as_phrase(expression_of(row)), units=units)


def expression_of(row: Mapping[str, Any]) -> str:
    """The referring expression of a grounding row: its ``expression`` column, else its ``problem`` without
    Visual-RFT's output instructions."""
    problem = str(row.get("problem") or "").strip()
    expression = str(row.get("expression") or "").strip() or _bare_question(problem)
    if not expression:
        raise ValueError("a grounding row needs its referring expression in `problem` (or `expression`)")
    return expression


def native_answers(family: str) -> bool:
    """Whether ``family``'s prompts ask for its own answer syntax (``answers="native"`` in
    :mod:`vreward_train.families`) rather than Visual-RFT's ``Position`` lists."""
    from vreward_train.families import TRAIN_FAMILIES

    row = TRAIN_FAMILIES.get(families.detect(family).name)
    return row is not None and row.answers == "native"


def answer_label(task: str, row: Mapping[str, Any]) -> str | None:
    """The label a native answer gives its boxes: the detection category, or the grounding expression when it is
    a short phrase (None otherwise)."""
    if task == "detection":
        return category_of(row)
    phrase = _as_phrase(expression_of(row))
    return None if phrase.startswith('"') else phrase


def states_confidence(family: str) -> bool:
    """Whether ``family``'s answer syntax has a place for a box's confidence (:data:`CONFIDENCE_SYNTAXES`)."""
    return families.detect(family).syntax in CONFIDENCE_SYNTAXES


def _syntax_example(family: str, label: str | None, count: int, confidence: str | None = None) -> str:
    """``count`` boxes of placeholder coordinates as ``family`` writes them (with ``confidence`` as each JSON box
    object's last key)."""
    text = families.detect(family).answer_syntax.write([Item(("x1", "y1", "x2", "y2"), label)] * count)
    return text if confidence is None else _with_confidence(text, confidence)


def _with_confidence(text: str, value: str) -> str:
    """JSON box objects ``text`` (the json syntax's writer's output) with a ``"confidence": value`` key each."""
    import json

    objects = [json.dumps(o, ensure_ascii=False)[:-1] + f', "confidence": {value}}}' for o in json.loads(
        text.replace("x1, y1, x2, y2", '"x1, y1, x2, y2"'))]
    return ("[" + ", ".join(objects) + "]").replace('"x1, y1, x2, y2"', "x1, y1, x2, y2")


def native_answer(task: str, row: Mapping[str, Any], family: str, solution_coords: str = "qwen2vl",
                  min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS) -> str:
    """The ground truth of ``row`` (its ``solution`` in ``solution_coords``, its ``width`` / ``height``) as
    ``family`` answers: its boxes in the family's frame and syntax (``vreward.families.format_answer``), labelled
    as :func:`answer_label` says; "No Objects" for a detection row without boxes."""
    import numpy as np

    from vreward.frames import to_pixels
    from vreward.solution import parse_solutions

    truth = parse_solutions([row["solution"]])
    width, height = int(row["width"]), int(row["height"])
    sizes = (np.array([width], float), np.array([height], float))
    boxes = to_pixels(truth.boxes, truth.offsets, solution_coords, sizes, min_pixels, max_pixels)
    if task == "grounding":
        boxes = boxes[:1]
    label = answer_label(task, row)
    text = families.format_answer(boxes, family, width=width, height=height, labels=[label] * len(boxes),
                                  min_pixels=min_pixels, max_pixels=max_pixels)
    if task == "detection" and len(boxes) and states_confidence(family):
        text = _with_confidence(text, "1")  # Visual-RFT's solutions state confidence 1
    return text


def _as_phrase(expression: str) -> str:
    """A referring expression as it reads inside "Locate ... in the image" (quoted unless it is a phrase)."""
    text = expression.rstrip(" .?")
    return text if len(text.split()) <= 12 and not re.search(r"[.?!:]", text) else f'"{text}"'


def conversation(text: str, with_image: bool = True) -> list[dict[str, Any]]:
    """TRL's conversational prompt: one user turn, the image placeholder first, then the text."""
    content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def make_prompt(task: str, row: Mapping[str, Any], family: str = "qwen2vl", mode: str = "template",
                min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS,
                ) -> list[dict[str, Any]]:
    """``row`` as TRL's conversational prompt with an image."""
    return conversation(question(task, row, family, mode, min_pixels, max_pixels))
