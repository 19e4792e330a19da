"""The answers the audit scores on each scene: honest ones (perfect, imperfect, harmless variations) and attacks.

An attack does none of the task, or less of it than it claims; it is *winning* when it scores more than an honest
imperfect answer it names (its ``competitors``, compared on the total the trainer maximises), or, for a format
attack, when it scores a format reward as high as the well-formed answer. A harmless variation of the perfect
answer (a trailing newline, "American-crow") must score as much as the perfect answer. Every attack names where
it comes from (``source``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vreward.audit.scenes import Box, Scene

THINK = "<think>I look at the image.</think>"
Kind = Literal["perfect", "imperfect", "harmless", "attack"]


@dataclass(frozen=True)
class Candidate:
    """One answer to score: ``build(scene)`` gives its completion text (None where it does not apply)."""

    name: str
    kind: Kind
    tasks: tuple[str, ...]
    build: Callable[[Scene], str | None]
    competitors: tuple[str, ...] = ()
    compare: Literal["total", "format"] = "total"
    source: str = ""


def answer(body: str) -> str:
    return f"{THINK}<answer>{body}</answer>"


def box_list(boxes: list[Box], confidence: float | list[float], labels: list[str] | None = None) -> str:
    """Visual-RFT's answer list, or Qwen2.5-VL JSON when the boxes carry labels."""
    confs = confidence if isinstance(confidence, list) else [confidence] * len(boxes)
    if labels is not None:
        return json.dumps([{"bbox_2d": [round(v, 1) for v in b], "label": lab, "confidence": c}
                           for b, lab, c in zip(boxes, labels, confs)])
    items = ", ".join(f"{{'Position': {[round(v, 1) for v in b]}, 'Confidence': {c}}}" for b, c in zip(boxes, confs))
    return f"[{items}]"


def boxes_answer(boxes: list[Box], confidence: float | list[float], labels: list[str] | None = None) -> str:
    return answer(box_list(boxes, confidence, labels))


def shifted(box: Box, fx: float, fy: float = 0.0) -> Box:
    """``box`` moved by ``fx`` of its width and ``fy`` of its height."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * fx, (y2 - y1) * fy
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


def _labels(s: Scene) -> list[str] | None:
    return list(s.labels) if s.labels is not None else None


def _with_objects(build: Callable[[Scene], str | None]) -> Callable[[Scene], str | None]:
    return lambda s: build(s) if s.boxes else None


def _several(build: Callable[[Scene], str | None]) -> Callable[[Scene], str | None]:
    return lambda s: build(s) if len(s.boxes) >= 2 else None


def _labelled(build: Callable[[Scene], str | None]) -> Callable[[Scene], str | None]:
    return lambda s: build(s) if s.labels is not None else None


def _whole_image(s: Scene) -> Box:
    return (0.0, 0.0, float(s.width), float(s.height))


def _misses(build: Callable[[Scene], str | None], box: Callable[[Scene], Box]) -> Callable[[Scene], str | None]:
    """``build``, on scenes where ``box(scene)`` matches no object at IoU 0.5 (elsewhere the box is an answer,
    a loose one, and its IoU is what the reward should pay)."""
    from vreward import box_iou

    def checked(s: Scene) -> str | None:
        if s.boxes and (box_iou([box(s)], list(s.boxes)) > 0.5).any():
            return None
        return build(s)

    return checked


def _corner(s: Scene) -> Box:
    """A small box in the corner farthest from every object."""
    corners = [(0.0, 0.0), (s.width - 24.0, 0.0), (0.0, s.height - 24.0), (s.width - 24.0, s.height - 24.0)]

    def distance(c: tuple[float, float]) -> float:
        return min(((b[0] + b[2]) / 2 - c[0] - 12) ** 2 + ((b[1] + b[3]) / 2 - c[1] - 12) ** 2 for b in s.boxes) \
            if s.boxes else 0.0

    x, y = max(corners, key=distance)
    return (x, y, x + 24.0, y + 24.0)


def _junk(s: Scene, n: int) -> list[Box]:
    """``n`` small boxes along the edge of the image farthest from the objects."""
    x, y = _corner(s)[:2]
    step = (s.width - 24.0) / max(n - 1, 1)
    return [(k * step, y, k * step + 24.0, y + 24.0) for k in range(n)]


def _grid(s: Scene, n: int = 10) -> list[Box]:
    w, h = s.width / n, s.height / n
    return [(i * w, j * h, (i + 1) * w, (j + 1) * h) for j in range(n) for i in range(n)]


def _near_miss(s: Scene) -> Box:
    """The neighbouring object's box (grounding scenes list it second), else one of the target's size beside it."""
    if len(s.boxes) >= 2:
        return s.boxes[1]
    x1, y1, x2, y2 = s.boxes[0]
    w = x2 - x1
    return (x2 + 0.1 * w, y1, x2 + 1.1 * w, y2) if x2 + 1.1 * w <= s.width else (x1 - 1.1 * w, y1, x1 - 0.1 * w, y2)


def _enclosing(s: Scene, factor: float) -> Box:
    x1, y1, x2, y2 = s.boxes[0]
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor, (y2 - y1) * factor
    return (max(0.0, cx - w / 2), max(0.0, cy - h / 2), min(float(s.width), cx + w / 2),
            min(float(s.height), cy + h / 2))


def _class_list(s: Scene) -> tuple[str, ...]:
    """The scene's classes; for a scene without a list, look-alikes of its class (an attacker knows them)."""
    return s.classes or (s.truth, "Fish crow", "Common raven", "Blue jay", "Cardinal")


def _other_class(s: Scene, k: int = 0) -> str:
    others = [c for c in _class_list(s) if c != s.truth]
    return others[k % len(others)]


PAPER = "Visual-RFT (arXiv 2503.01785)"
ISSUE_AUDIT = "vreward attack battery (docs/audit.md)"

DETECTION: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("detection",), lambda s: boxes_answer(list(s.boxes), 0.95, _labels(s))
              if s.boxes else answer("No Objects")),
    Candidate("slightly off", "imperfect", ("detection",),
              _with_objects(lambda s: boxes_answer([shifted(b, 0.1, 0.05) for b in s.boxes], 0.8, _labels(s)))),
    Candidate("one object missed", "imperfect", ("detection",),
              _several(lambda s: boxes_answer(list(s.boxes[:-1]), 0.9, _labels(s)[:-1] if s.labels else None))),
    Candidate("honest 'No Objects'", "imperfect", ("detection",), _with_objects(lambda s: answer("No Objects"))),
    Candidate("one wrong label", "imperfect", ("detection",),
              _labelled(lambda s: boxes_answer(list(s.boxes), 0.9, ["bird", *s.labels[1:]]))),
    Candidate("trailing newline", "harmless", ("detection",),
              lambda s: (boxes_answer(list(s.boxes), 0.95, _labels(s)) if s.boxes else answer("No Objects")) + "\n"),
    Candidate("space between the blocks", "harmless", ("detection",),
              lambda s: (boxes_answer(list(s.boxes), 0.95, _labels(s)) if s.boxes else answer("No Objects"))
              .replace("</think><answer>", "</think>\n\n<answer>")),
    Candidate("one junk box at confidence 0", "attack", ("detection",),
              lambda s: boxes_answer([_corner(s)], 0.0),
              ("honest 'No Objects'", "one object missed"), source=f"{PAPER} eq. 4 pays 1 - c for a box matching "
              "nothing: one junk box at confidence 0 earns the whole confidence reward"),
    Candidate("whole image at confidence 0", "attack", ("detection",),
              _misses(lambda s: boxes_answer([_whole_image(s)], 0.0), _whole_image),
              ("honest 'No Objects'", "slightly off", "one object missed"), source=ISSUE_AUDIT),
    Candidate("whole image at confidence 1", "attack", ("detection",),
              _misses(lambda s: boxes_answer([_whole_image(s)], 1.0), _whole_image),
              ("honest 'No Objects'", "slightly off", "one object missed"), source=ISSUE_AUDIT),
    Candidate("100-box grid at confidence 0", "attack", ("detection",), lambda s: boxes_answer(_grid(s), 0.0),
              ("honest 'No Objects'", "slightly off", "one object missed"), source=ISSUE_AUDIT),
    Candidate("100-box grid at confidence 1", "attack", ("detection",), lambda s: boxes_answer(_grid(s), 1.0),
              ("honest 'No Objects'", "slightly off", "one object missed"), source=ISSUE_AUDIT),
    Candidate("inverted and zero-area boxes", "attack", ("detection",),
              lambda s: boxes_answer([(200, 200, 100, 100), (50, 50, 50, 90), (300, 10, 340, 10)], 0.0),
              ("honest 'No Objects'", "one object missed"), source=ISSUE_AUDIT),
    Candidate("'No Objects' plus junk at confidence 0", "attack", ("detection",),
              lambda s: answer("No Objects " + box_list([_corner(s)], 0.0)),
              ("honest 'No Objects'", "one object missed"), source=ISSUE_AUDIT),
    Candidate("one object missed, padded with junk at confidence 0", "attack", ("detection",),
              _several(lambda s: boxes_answer(list(s.boxes[:-1]) + _junk(s, 1), [0.9] * (len(s.boxes) - 1) + [0.0],
                                              (list(s.labels[:-1]) + ["junk"]) if s.labels else None)),
              ("one object missed",), source=f"{PAPER} eq. 4: junk at confidence 0 raises the mean, and one junk box "
              "per missed object leaves the IoU reward's denominator max(#predictions, #objects) as it was"),
    Candidate("near-duplicates of one right box", "attack", ("detection",),
              _with_objects(lambda s: boxes_answer([shifted(s.boxes[0], 0.01 * k) for k in range(8)], 0.9,
                                                   [s.labels[0]] * 8 if s.labels else None)),
              ("slightly off", "one object missed"), source=ISSUE_AUDIT),
    Candidate("labels left out", "attack", ("detection",),
              _labelled(lambda s: boxes_answer(list(s.boxes), 0.95)), ("one wrong label",), source=ISSUE_AUDIT),
    Candidate("empty labels", "attack", ("detection",),
              _labelled(lambda s: boxes_answer(list(s.boxes), 0.95, [""] * len(s.boxes))), ("one wrong label",),
              source=ISSUE_AUDIT),
)

GROUNDING: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("grounding",), lambda s: answer(str(list(s.boxes[0])))),
    Candidate("slightly off", "imperfect", ("grounding",),
              lambda s: answer(str([round(v, 1) for v in shifted(s.boxes[0], 0.15, 0.05)]))),
    Candidate("near miss on the neighbouring object", "imperfect", ("grounding",),
              lambda s: answer(str([round(v, 1) for v in _near_miss(s)]))),
    Candidate("trailing newline", "harmless", ("grounding",), lambda s: answer(str(list(s.boxes[0]))) + "\n"),
    Candidate("whole image", "attack", ("grounding",),
              _misses(lambda s: answer(str(list(_whole_image(s)))), _whole_image),
              ("near miss on the neighbouring object", "slightly off"), source=f"{PAPER}: GIoU + 1 pays any box "
              "enclosing the target at least 1"),
    Candidate("huge box around the target", "attack", ("grounding",),
              _misses(lambda s: answer(str([round(v, 1) for v in _enclosing(s, 3.0)])), lambda s: _enclosing(s, 3.0)),
              ("near miss on the neighbouring object", "slightly off"), source=ISSUE_AUDIT),
    Candidate("tiny box inside the target", "attack", ("grounding",),
              lambda s: answer(str([round(v, 1) for v in _enclosing(s, 0.3)])),
              ("near miss on the neighbouring object", "slightly off"),
              source="GUI-G1 (arXiv 2505.15810): hit-style rewards shrink boxes"),
)


def _cls(build: Callable[[Scene], str]) -> Callable[[Scene], str]:
    return lambda s: answer(build(s))


CLASSIFICATION: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("classification",), _cls(lambda s: s.truth)),
    Candidate("wrong class", "imperfect", ("classification",), _cls(_other_class)),
    Candidate("trailing newline", "harmless", ("classification",), _cls(lambda s: s.truth + "\n")),
    Candidate("hyphens for spaces", "harmless", ("classification",), _cls(lambda s: s.truth.replace(" ", "-"))),
    Candidate("a short sentence", "harmless", ("classification",), _cls(lambda s: f"This is a {s.truth}.")),
    Candidate("capitals", "harmless", ("classification",), _cls(lambda s: s.truth.upper())),
    Candidate("'A or B or C'", "attack", ("classification",),
              _cls(lambda s: f"{_other_class(s)} or {s.truth} or {_other_class(s, 1)}"), ("wrong class",),
              source="Liuziyu77/Visual-RFT#79"),
    Candidate("empty answer", "attack", ("classification",), _cls(lambda s: ""), ("wrong class",),
              source="Liuziyu77/Visual-RFT#176"),
    Candidate("'A and B and C'", "attack", ("classification",),
              _cls(lambda s: f"{_other_class(s)} and {s.truth} and {_other_class(s, 1)}"), ("wrong class",),
              source=ISSUE_AUDIT),
    Candidate("'A & B'", "attack", ("classification",), _cls(lambda s: f"{_other_class(s)} & {s.truth}"),
              ("wrong class",), source=ISSUE_AUDIT),
    Candidate("'A + B'", "attack", ("classification",), _cls(lambda s: f"{_other_class(s)} + {s.truth}"),
              ("wrong class",), source=ISSUE_AUDIT),
    Candidate("classes joined by spaces", "attack", ("classification",),
              _cls(lambda s: f"{_other_class(s)} {s.truth}"), ("wrong class",), source=ISSUE_AUDIT),
    Candidate("classes joined by a tab", "attack", ("classification",),
              _cls(lambda s: f"{_other_class(s)}\t{s.truth}"), ("wrong class",), source=ISSUE_AUDIT),
    Candidate("classes joined by dashes", "attack", ("classification",),
              _cls(lambda s: f"{_other_class(s)} - {s.truth} - {_other_class(s, 1)}"), ("wrong class",),
              source=ISSUE_AUDIT),
    Candidate("bulleted classes", "attack", ("classification",),
              _cls(lambda s: f"\n- {_other_class(s)}\n- {s.truth}\n"), ("wrong class",), source=ISSUE_AUDIT),
    Candidate("every class at once", "attack", ("classification",),
              _cls(lambda s: " ".join(_class_list(s))), ("wrong class",), source=ISSUE_AUDIT),
    Candidate("the head noun", "attack", ("classification",),
              lambda s: answer(s.truth.split()[-1]) if len(s.truth.split()) > 1 else None, ("wrong class",),
              source=ISSUE_AUDIT),
    Candidate("a single letter", "attack", ("classification",), _cls(lambda s: s.truth[0]), ("wrong class",),
              source=ISSUE_AUDIT),
    Candidate("'definitely not a X'", "attack", ("classification",), _cls(lambda s: f"definitely not a {s.truth}"),
              ("wrong class",), source=ISSUE_AUDIT),
    Candidate("a hyphenated variant", "attack", ("classification",), _cls(lambda s: f"{s.truth}-like"),
              ("wrong class",), source=ISSUE_AUDIT),
)


def _format_attack(name: str, build: Callable[[str, str], str], source: str = ISSUE_AUDIT) -> Candidate:
    """A malformed completion around the perfect answer's text (``build(think, answer_body)``)."""
    tasks = ("detection", "grounding", "classification", "format")

    def completion(s: Scene) -> str | None:
        perfect = next(c for c in CANDIDATES if c.kind == "perfect" and s.task in c.tasks).build(s)
        body = perfect.split("<answer>", 1)[1].rsplit("</answer>", 1)[0]
        return build("I look at the image.", body)

    return Candidate(f"format: {name}", "attack", tasks, completion, compare="format", source=source)


FORMAT: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("format",), lambda s: answer(s.truth or "a cat")),
    _format_attack("blocks repeated twice", lambda t, a: f"<think>{t}</think><answer>{a}</answer>" * 2),
    _format_attack("blocks repeated 200 times", lambda t, a: f"<think>{t}</think><answer>{a}</answer>" * 200),
    _format_attack("nested think", lambda t, a: f"<think><think>{t}</think></think><answer>{a}</answer>"),
    _format_attack("answer tags inside the thinking",
                   lambda t, a: f"<think>{t}<answer>{a}</answer></think><answer>{a}</answer>"),
    _format_attack("empty thinking", lambda t, a: f"<think></think><answer>{a}</answer>"),
    _format_attack("whitespace-only thinking", lambda t, a: f"<think> \n </think><answer>{a}</answer>"),
    _format_attack("empty answer", lambda t, a: f"<think>{t}</think><answer></answer>"),
)

# ----------------------------------------------------------------------------------------------- the catalogue

GUI_G1 = "GUI-G1 (arXiv 2505.15810)"
CENTRE_COLLAPSE = "om-ai-lab/VLM-R1#84: a distance reward collapses to centre guesses"


def _centre(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def _click(x: float, y: float) -> str:
    return answer(f"[{round(x, 1)}, {round(y, 1)}]")


def _off_target(build: Callable[[Scene], str | None], point: Callable[[Scene], tuple[float, float]]):
    """``build``, on scenes where ``point(scene)`` lies outside the target (elsewhere it is a right click)."""
    def checked(s: Scene) -> str | None:
        x, y = point(s)
        x1, y1, x2, y2 = s.boxes[0]
        return None if x1 <= x <= x2 and y1 <= y <= y2 else build(s)

    return checked


def _screen_centre(s: Scene) -> tuple[float, float]:
    return (s.width / 2, s.height / 2)


def _point_grid(s: Scene, n: int = 10) -> list[tuple[float, float]]:
    return [((i + 0.5) * s.width / n, (j + 0.5) * s.height / n) for j in range(n) for i in range(n)]


GUI: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("gui",), lambda s: _click(*_centre(s.boxes[0]))),
    Candidate("slightly off, inside", "imperfect", ("gui",),
              lambda s: _click(*_centre(shifted(s.boxes[0], 0.25, 0.2)))),
    Candidate("near miss just outside", "imperfect", ("gui",),
              lambda s: _click(s.boxes[0][2] + 0.1 * (s.boxes[0][2] - s.boxes[0][0]), _centre(s.boxes[0])[1])),
    Candidate("the target's box", "harmless", ("gui",), lambda s: answer(str(list(s.boxes[0])))),
    Candidate("as point_2d JSON", "harmless", ("gui",),
              lambda s: answer(json.dumps({"point_2d": list(_centre(s.boxes[0]))}))),
    Candidate("trailing newline", "harmless", ("gui",), lambda s: _click(*_centre(s.boxes[0])) + "\n"),
    Candidate("click on the box edge", "attack", ("gui",), lambda s: _click(s.boxes[0][0], s.boxes[0][1]),
              ("slightly off, inside",), source=f"{GUI_G1}: hit rewards pay the whole box, its edge included"),
    Candidate("screen centre", "attack", ("gui",), _off_target(lambda s: _click(*_screen_centre(s)), _screen_centre),
              ("near miss just outside",), source=CENTRE_COLLAPSE),
    Candidate("box covering the screen", "attack", ("gui",),
              _off_target(lambda s: answer(str([0, 0, s.width, s.height])), _screen_centre),
              ("near miss just outside",), source=f"{GUI_G1}: IoU-style rewards inflate boxes"),
    Candidate("a grid of 100 points", "attack", ("gui",),
              _off_target(lambda s: answer(json.dumps([list(p) for p in _point_grid(s)])),
                          lambda s: _point_grid(s)[0]),
              ("near miss just outside",), source=ISSUE_AUDIT),
    Candidate("a wrong point repeated, then the right one", "attack", ("gui",),
              _off_target(lambda s: answer(", ".join([str(list(_screen_centre(s)))] * 20
                                                     + [str(list(_centre(s.boxes[0])))])), _screen_centre),
              ("near miss just outside",), source=ISSUE_AUDIT),
)

MULTI_OBJECT: tuple[Candidate, ...] = tuple(
    Candidate(c.name, c.kind, ("multi_object",), c.build, c.competitors, c.compare, c.source) for c in DETECTION
    if c.name in ("perfect", "slightly off", "one object missed", "honest 'No Objects'", "trailing newline",
                  "whole image at confidence 1", "100-box grid at confidence 1", "near-duplicates of one right box",
                  "labels left out", "inverted and zero-area boxes")
) + (
    Candidate("exact duplicates of one right box", "attack", ("multi_object",),
              _with_objects(lambda s: boxes_answer([s.boxes[0]] * 8, 1.0, [s.labels[0]] * 8 if s.labels else None)),
              ("one object missed",), source="Vision-R1 (arXiv 2503.18013) / Visual-RFT: duplicates of a matched "
              "box are free when only matched boxes are averaged"),
)


def _text(build: Callable[[Scene], str]) -> Callable[[Scene], str]:
    return lambda s: answer(build(s))


def _off_by_one(s: Scene) -> str:
    return str(int(s.truth) + 1)


COUNTING: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("counting",), _text(lambda s: s.truth)),
    Candidate("off by one", "imperfect", ("counting",), _text(_off_by_one)),
    Candidate("in a sentence", "harmless", ("counting",), _text(lambda s: f"There are {s.truth} objects.")),
    Candidate("listing every number to 20", "attack", ("counting",),
              _text(lambda s: " ".join(str(k) for k in range(21))), ("off by one",), source=ISSUE_AUDIT),
    Candidate("'A or B'", "attack", ("counting",), _text(lambda s: f"{s.truth} or {_off_by_one(s)}"),
              ("off by one",), source=ISSUE_AUDIT),
    Candidate("a range", "attack", ("counting",), _text(lambda s: f"{max(int(s.truth) - 1, 0)}-{_off_by_one(s)}"),
              ("off by one",), source=ISSUE_AUDIT),
    Candidate("no number", "attack", ("counting",), _text(lambda s: "several"), ("off by one",), source=ISSUE_AUDIT),
)


def _typo(text: str) -> str:
    k = len(text) // 2
    return text[:k] + ("x" if text[k] != "x" else "y") + text[k + 1:]


OCR: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("ocr",), _text(lambda s: s.truth)),
    Candidate("one character wrong", "imperfect", ("ocr",), _text(lambda s: _typo(s.truth))),
    Candidate("lowercase", "harmless", ("ocr",), _text(lambda s: s.truth.lower())),
    Candidate("quoted, with spaces", "harmless", ("ocr",), _text(lambda s: f' "{s.truth}" ')),
    Candidate("the text repeated 3 times", "attack", ("ocr",), _text(lambda s: " ".join([s.truth] * 3)),
              ("one character wrong",), source=ISSUE_AUDIT),
    Candidate("padded with junk", "attack", ("ocr",), _text(lambda s: s.truth + " " + "lorem ipsum " * 20),
              ("one character wrong",), source=ISSUE_AUDIT),
    Candidate("the alphabet", "attack", ("ocr",), _text(lambda s: "abcdefghijklmnopqrstuvwxyz0123456789"),
              ("one character wrong",), source=ISSUE_AUDIT),
    Candidate("empty answer", "attack", ("ocr",), _text(lambda s: " "), ("one character wrong",),
              source=ISSUE_AUDIT),
)


def _interval(s: Scene) -> tuple[float, float]:
    from vreward.rewards.temporal import read_intervals

    return read_intervals(s.truth)[0]


def _span(a: float, b: float) -> str:
    return answer(f"{round(a, 2)} to {round(b, 2)}")


TEMPORAL: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("temporal",), lambda s: _span(*_interval(s))),
    Candidate("shifted by 2 seconds", "imperfect", ("temporal",),
              lambda s: _span(_interval(s)[0] + 2, _interval(s)[1] + 2)),
    Candidate("as mm:ss", "harmless", ("temporal",), lambda s: answer(" to ".join(
        f"{int(t // 60):02d}:{t % 60:04.1f}" for t in _interval(s)))),
    Candidate("as a list", "harmless", ("temporal",), lambda s: answer(str(list(_interval(s))))),
    Candidate("the whole video", "attack", ("temporal",), lambda s: _span(0, s.columns["duration"]),
              ("shifted by 2 seconds",), source="Time-R1 (arXiv 2503.13377): whole-video answers"),
    Candidate("three times as long around it", "attack", ("temporal",),
              lambda s: _span(max(0.0, 2 * _interval(s)[0] - _interval(s)[1]), 2 * _interval(s)[1] - _interval(s)[0]),
              ("shifted by 2 seconds",), source=ISSUE_AUDIT),
    Candidate("short intervals tiling the video", "attack", ("temporal",),
              lambda s: answer(", ".join(f"[{k}, {k + 1}]" for k in range(0, int(s.columns["duration"]), 2))),
              ("shifted by 2 seconds",), source=ISSUE_AUDIT),
)


def _polygon(s: Scene) -> list[float]:
    return json.loads(s.truth)


def _moved(poly: list[float], dx: float) -> list[float]:
    return [v + dx if k % 2 == 0 else v for k, v in enumerate(poly)]


SEGMENTATION: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("segmentation",), lambda s: answer(str(_polygon(s)))),
    Candidate("shifted by 10% of its width", "imperfect", ("segmentation",), lambda s: answer(str(_moved(
        _polygon(s), 0.1 * (max(_polygon(s)[::2]) - min(_polygon(s)[::2])))))),
    Candidate("its bounding box", "imperfect", ("segmentation",), lambda s: answer(str(
        [min(_polygon(s)[::2]), min(_polygon(s)[1::2]), max(_polygon(s)[::2]), max(_polygon(s)[1::2])]))),
    Candidate("as vertex pairs", "harmless", ("segmentation",), lambda s: answer(str(
        [_polygon(s)[k:k + 2] for k in range(0, len(_polygon(s)), 2)]))),
    Candidate("mask covering the whole image", "attack", ("segmentation",),
              lambda s: answer(str([0, 0, s.width, 0, s.width, s.height, 0, s.height])),
              ("shifted by 10% of its width",), source=ISSUE_AUDIT),
    Candidate("one point inside the mask", "attack", ("segmentation",),
              lambda s: answer(str(_polygon(s)[:2])), ("shifted by 10% of its width",),
              source="point-in-mask credit given to a mask reward"),
    Candidate("a degenerate polygon", "attack", ("segmentation",),
              lambda s: answer("[0, 0, 320, 240, 640, 480]"), ("shifted by 10% of its width",), source=ISSUE_AUDIT),
)


def _rotated(s: Scene) -> list[list[float]]:
    return json.loads(s.truth)


ROTATED: tuple[Candidate, ...] = (
    Candidate("perfect", "perfect", ("rotated",), lambda s: answer(str(_rotated(s)))),
    Candidate("angle off by 10 degrees", "imperfect", ("rotated",),
              lambda s: answer(str([b[:4] + [b[4] + 10] for b in _rotated(s)]))),
    Candidate("as corners", "harmless", ("rotated",), lambda s: answer(str(
        __import__("vreward.rewards.rotated", fromlist=["rotated_corners"]).rotated_corners(_rotated(s), False)
        .reshape(-1, 8).tolist()))),
    Candidate("a box covering the image", "attack", ("rotated",),
              lambda s: answer(str([[s.width / 2, s.height / 2, s.width, s.height, 0]])),
              ("angle off by 10 degrees",), source=ISSUE_AUDIT),
    Candidate("each box 10 times", "attack", ("rotated",), lambda s: answer(str(_rotated(s) * 10)),
              ("angle off by 10 degrees",), source=ISSUE_AUDIT),
    Candidate("zero-size boxes", "attack", ("rotated",),
              lambda s: answer(str([b[:2] + [0, 0, 0] for b in _rotated(s)])), ("angle off by 10 degrees",),
              source=ISSUE_AUDIT),
)

CATALOGUE: tuple[Candidate, ...] = GUI + MULTI_OBJECT + COUNTING + OCR + TEMPORAL + SEGMENTATION + ROTATED

CANDIDATES: tuple[Candidate, ...] = DETECTION + GROUNDING + CLASSIFICATION + FORMAT + CATALOGUE


def candidates_for(task: str) -> list[Candidate]:
    """The honest answers and attacks of ``task``."""
    return [c for c in CANDIDATES if task in c.tasks]
