"""Scenes the audit attacks: ground truth of one image (boxes in pixels, labels, a class), bundled or from data.

The bundled scenes are small and drawn by hand so that each attack has a case where it matters: two objects side
by side (a near miss lands on the neighbour), one object covering most of the image (the whole image almost
matches), an image without objects, labelled objects (Qwen2.5-VL style ground truth), and class lists with
look-alike names (head nouns, hyphenated variants, names with ``/``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Scene:
    """One ground truth to attack.

    ``boxes``: the objects in pixels ``(x1, y1, x2, y2)`` (detection: all of them; grounding: the first is the
    target, the rest are other objects in the image); ``labels``: one per box when the ground truth names its
    objects; ``truth``/``classes``: the true class and the class list (classification).
    """

    task: str
    name: str
    width: int = 640
    height: int = 480
    boxes: tuple[Box, ...] = ()
    labels: tuple[str, ...] | None = None
    truth: str | None = None
    classes: tuple[str, ...] | None = None
    note: str = ""
    columns: Mapping[str, Any] = field(default_factory=dict)

    def solution(self) -> str:
        """The scene's ground truth as the ``solution`` column holds it."""
        if self.task in ("classification", "counting", "ocr"):
            return f"<answer>{self.truth}</answer>"
        if self.task in TEXT_TRUTH_TASKS:
            return str(self.truth)
        if self.task in ("grounding", "gui"):
            return "No Objects" if not self.boxes else repr([list(self.boxes[0])])
        if not self.boxes:
            return "<answer>No Objects</answer>"
        if self.labels is not None:
            return json.dumps([{"bbox_2d": list(b), "label": lab} for b, lab in zip(self.boxes, self.labels)])
        items = ", ".join(f"{{'Position': {list(b)}, 'Confidence': 1}}" for b in self.boxes)
        return f"<answer>[{items}]</answer>"

    def reward_columns(self) -> dict[str, Any]:
        """The dataset columns a reward gets for this scene (one row)."""
        out: dict[str, Any] = {"solution": [self.solution()], "width": [self.width], "height": [self.height]}
        if self.classes is not None:
            out["classes"] = [list(self.classes)]
        out.update({k: [v] for k, v in self.columns.items()})
        return out


# Tasks whose ground truth is text (a count, a text, intervals, a polygon, rotated boxes), held in ``truth``.
TEXT_TRUTH_TASKS = ("classification", "counting", "ocr", "temporal", "segmentation", "rotated")
SQUARE = "[200, 150, 400, 150, 400, 350, 200, 350]"
L_SHAPE = "[100, 100, 300, 100, 300, 200, 200, 200, 200, 400, 100, 400]"

CUB = ("American crow", "Fish crow", "Common raven", "Blue jay", "Black and white warbler", "Cardinal")
AIRCRAFT = ("F/A-18", "F-16A/B", "Boeing 737", "Boeing 737-800", "Boeing 747", "Airbus A320")
FLOWERS = ("rose", "desert rose", "sunflower", "tiger lily", "daisy")

BUNDLED: tuple[Scene, ...] = (
    Scene("detection", "two objects side by side", boxes=((100, 150, 220, 300), (240, 150, 360, 300)),
          note="a box on one object is a near miss of the other"),
    Scene("detection", "one large object", boxes=((60, 40, 580, 440),),
          note="the object covers 68% of the image"),
    Scene("detection", "one small object", boxes=((300, 200, 340, 240),), note="0.5% of the image"),
    Scene("detection", "no objects", boxes=(), note="the right answer is 'No Objects'"),
    Scene("detection", "labelled objects", boxes=((100, 150, 220, 300), (400, 100, 560, 260)),
          labels=("cat", "dog"), note="Qwen2.5-VL style ground truth with labels"),
    Scene("grounding", "target beside a look-alike", boxes=((100, 150, 220, 300), (240, 150, 360, 300)),
          note="the second box is the neighbouring object"),
    Scene("grounding", "small target", boxes=((300, 200, 360, 250), (380, 200, 440, 250)),
          note="1% of the image"),
    Scene("grounding", "large target", boxes=((40, 30, 600, 450),), note="77% of the image"),
    Scene("classification", "bird species", truth="American crow", classes=CUB),
    Scene("classification", "bird species without a class list", truth="American crow",
          note="no `classes` column: the reward cannot tell class names from other words"),
    Scene("classification", "aircraft variant", truth="Boeing 737", classes=AIRCRAFT),
    Scene("classification", "name with a slash", truth="F/A-18", classes=AIRCRAFT),
    Scene("classification", "flower", truth="rose", classes=FLOWERS),
    Scene("format", "any answer", truth="a cat"),
    Scene("gui", "button left of the centre", 1280, 720, boxes=((100, 50, 220, 90),), note="a toolbar button"),
    Scene("gui", "small icon in a corner", 1280, 720, boxes=((1200, 20, 1230, 50),), note="0.1% of the screen"),
    Scene("gui", "large panel", 1280, 720, boxes=((700, 300, 1200, 650),), note="the screen centre lies outside"),
    Scene("multi_object", "two objects side by side", boxes=((100, 150, 220, 300), (240, 150, 360, 300))),
    Scene("multi_object", "labelled objects", boxes=((100, 150, 220, 300), (400, 100, 560, 260)),
          labels=("cat", "dog")),
    Scene("multi_object", "no objects", boxes=()),
    Scene("counting", "three objects", truth="3"),
    Scene("counting", "twelve objects", truth="12"),
    Scene("counting", "nothing to count", truth="0"),
    Scene("ocr", "a short sign", truth="STOP"),
    Scene("ocr", "a street name", truth="Main Street 42"),
    Scene("ocr", "a sentence", truth="Open daily from 9 am to 5 pm"),
    Scene("temporal", "a short event", truth="12.0 to 18.5", columns={"duration": 60.0}),
    Scene("temporal", "an event a minute in", truth="01:05 to 01:20", columns={"duration": 180.0}),
    Scene("segmentation", "a square object", truth=SQUARE, note="in pixels of a 640 x 480 image"),
    Scene("segmentation", "an L-shaped object", truth=L_SHAPE, note="its bounding box is not its mask"),
    Scene("rotated", "one rotated box", truth="[[320, 240, 200, 80, 30]]"),
    Scene("rotated", "two rotated boxes", truth="[[200, 200, 120, 60, 45], [450, 300, 100, 50, -20]]"),
)


def bundled(tasks: Iterable[str] | None = None) -> list[Scene]:
    """The bundled scenes (of ``tasks`` only, when given)."""
    wanted = None if tasks is None else set(tasks)
    return [s for s in BUNDLED if wanted is None or s.task in wanted]


def scenes_from_records(records: Iterable[Mapping[str, Any]], task: str, limit: int = 50) -> list[Scene]:
    """Scenes built from a dataset's rows (``solution`` plus ``width``/``height`` in pixels, ``classes``)."""
    from vreward.rewards.classification import strip_answer
    from vreward.solution import parse_solutions, solution_answers

    out: list[Scene] = []
    for i, row in enumerate(records):
        if len(out) >= limit:
            break
        if "solution" not in row:
            raise ValueError(f"record {i + 1}: no `solution` field")
        width, height = int(row.get("width") or 1000), int(row.get("height") or 1000)
        if task == "classification":
            truth = strip_answer(solution_answers([row["solution"]])[0])
            classes = tuple(row["classes"]) if row.get("classes") else None
            out.append(Scene(task, f"record {i + 1}", width, height, truth=truth, classes=classes))
            continue
        if task in TEXT_TRUTH_TASKS:
            truth = row["solution"] if isinstance(row["solution"], str) else json.dumps(row["solution"])
            if task in ("counting", "ocr"):
                truth = strip_answer(solution_answers([truth])[0])
            columns = {k: row[k] for k in ("duration",) if row.get(k) is not None}
            out.append(Scene(task, f"record {i + 1}", width, height, truth=truth, columns=columns))
            continue
        gt = parse_solutions([row["solution"]])
        labels = tuple(lab or "" for lab in gt.labels) if gt.has_labels else None
        out.append(Scene(task, f"record {i + 1}", width, height, tuple(map(tuple, gt.boxes.tolist())), labels))
    return out
