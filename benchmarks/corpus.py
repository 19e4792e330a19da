"""Deterministic synthetic corpora of Visual-RFT-style completions and solutions for the benchmarks.

Completions are in TRL's conversational form (``[{"role": "assistant", "content": text}]``); solutions are
Visual-RFT ground-truth strings (``"<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}]</answer>"``)
in Qwen2-VL's 0-1000 integer frame. Every completion comes with a *kind* saying which variant generated it,
so disagreements between implementations can be attributed to a formatting variant.

Detection kinds and their approximate shares:

* well formed (~85%): ``ok`` (single quotes, Python-repr style), ``double_quotes`` (JSON),
  ``ok_spaced`` (extra spaces inside brackets and braces), ``lowercase_keys``
  (``'position'``/``'confidence'``), ``newlines`` (one item per line),
  ``no_objects`` (``No Objects`` answered on an empty ground truth), ``boxes_on_empty`` (boxes predicted on
  an empty ground truth), ``missed_all`` (``No Objects`` on a non-empty ground truth), ``empty_list``
  (``[]``: every object missed and no false positive);
* malformed (~10%): ``truncated`` (cut mid-item, no ``</answer>``), ``no_answer_tag``, ``wrong_arity``
  (an item with ``[x, y]``), ``empty_answer``, ``prose_answer``.

Predicted boxes are mostly jittered copies of ground-truth boxes (IoU mostly > 0.5), plus misses, loose
boxes, false positives and exact duplicates, at most 15 per completion, with confidences in 0.5-1.0 written
with one or two decimals.
"""

from __future__ import annotations

import numpy as np

Completion = list[dict[str, str]]

OBJECTS = ("person", "car", "dog", "cat", "bicycle", "traffic light", "chair", "bottle", "bird", "umbrella")
CLASSES = ("sunflower", "daisy", "black_eyed_susan", "tiger lily", "bird of paradise", "moon orchid",
           "globe_thistle", "pink primrose", "sweet pea", "english marigold", "wild pansy", "snapdragon")

_THINK = (
    "The image shows {n} {obj} that I need to localize.",
    "I look for every {obj} in the scene and estimate its bounding box.",
    "There appear to be {n} instances of {obj}; some are partially occluded.",
    "The {obj} near the center is clearly visible, the others are smaller.",
    "I will give each {obj} a confidence reflecting how sure I am.",
    "The lighting is dim on the left side, which makes one {obj} harder to see.",
)
_PROSE = (
    "There is a {obj} on the left side of the image.",
    "I cannot determine the exact location of the {obj}.",
    "The {obj} is located near the top right corner.",
)

# (kind, probability) for completions whose ground truth is not empty; must sum to 1.
DETECTION_KINDS: tuple[tuple[str, float], ...] = (
    ("ok", 0.655),
    ("double_quotes", 0.08),
    ("lowercase_keys", 0.05),
    ("newlines", 0.07),
    ("missed_all", 0.01),
    ("truncated", 0.035),
    ("no_answer_tag", 0.02),
    ("wrong_arity", 0.02),
    ("empty_answer", 0.015),
    ("prose_answer", 0.015),
    ("ok_spaced", 0.03),
)
EMPTY_GT_RATE = 0.05
NO_OBJECTS_ON_EMPTY = 0.8


class _Stream:
    """Seeded numpy random numbers served one at a time from pre-drawn blocks (fast scalar draws)."""

    def __init__(self, seed: int, block: int = 1 << 16):
        self._rng = np.random.default_rng(seed)
        self._block = block
        self._u: list[float] = []
        self._z: list[float] = []

    def random(self) -> float:
        """Uniform in [0, 1)."""
        if not self._u:
            self._u = self._rng.random(self._block).tolist()
        return self._u.pop()

    def normal(self) -> float:
        """Standard normal."""
        if not self._z:
            self._z = self._rng.standard_normal(self._block).tolist()
        return self._z.pop()

    def integers(self, lo: int, hi: int) -> int:
        """Integer in [lo, hi)."""
        return lo + int(self.random() * (hi - lo))

    def choice(self, cum: list[float]) -> int:
        """Index drawn from cumulative probabilities ``cum``."""
        u = self.random() * cum[-1]
        for i, c in enumerate(cum):
            if u < c:
                return i
        return len(cum) - 1


Box = list[int]


def _gt_boxes(rs: _Stream, n: int) -> list[Box]:
    """``n`` random integer boxes inside the 0-1000 frame, sides 30-500."""
    out = []
    for _ in range(n):
        w, h = rs.integers(30, 501), rs.integers(30, 501)
        x1, y1 = int(rs.random() * (1000 - w)), int(rs.random() * (1000 - h))
        out.append([x1, y1, x1 + w, y1 + h])
    return out


def _jitter(rs: _Stream, box: Box, rel: float) -> Box:
    """``box`` with each side moved by a normal offset of ``rel`` times the box size, kept valid."""
    w, h = box[2] - box[0], box[3] - box[1]
    b = [min(max(round(v + rs.normal() * rel * s), 0), 1000) for v, s in zip(box, (w, h, w, h), strict=True)]
    x1, x2 = sorted((b[0], b[2]))
    y1, y2 = sorted((b[1], b[3]))
    return [x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)]


def _confidence(rs: _Stream) -> str:
    c = 0.5 + 0.5 * rs.random()
    return f"{c:.1f}" if rs.random() < 0.5 else f"{c:.2f}"


def _predictions(rs: _Stream, gt: list[Box]) -> list[tuple[Box, str]]:
    """Predicted (box, confidence text) pairs for ground truth ``gt``."""
    preds: list[tuple[Box, str]] = []
    for box in gt:
        u = rs.random()
        if u < 0.08:
            continue  # missed
        rel = 0.05 if u < 0.85 else 0.25  # tight (IoU mostly > 0.5) or loose
        preds.append((_jitter(rs, box, rel), _confidence(rs)))
        if rs.random() < 0.07:
            preds.append((_jitter(rs, box, 0.05), _confidence(rs)))  # near duplicate
    r = rs.random()
    n_fp = 0 if r < 0.6 else 1 if r < 0.85 else 2 if r < 0.95 else rs.integers(3, 16)
    for b in _gt_boxes(rs, n_fp):
        preds.append((b, _confidence(rs)))
    if preds and rs.random() < 0.06:
        preds.append(preds[rs.integers(0, len(preds))])  # exact duplicate
    preds.sort(key=lambda _: rs.random())  # shuffle
    return preds[:15]


def _items(preds: list[tuple[list[int], str]], kind: str) -> list[str]:
    if kind == "double_quotes":
        fmt = '{{"Position": [{}, {}, {}, {}], "Confidence": {}}}'
    elif kind == "lowercase_keys":
        fmt = "{{'position': [{}, {}, {}, {}], 'confidence': {}}}"
    elif kind == "ok_spaced":
        fmt = "{{ 'Position': [ {}, {}, {}, {} ], 'Confidence': {} }}"
    else:
        fmt = "{{'Position': [{}, {}, {}, {}], 'Confidence': {}}}"
    return [fmt.format(*b, c) for b, c in preds]


def _think(rs: _Stream, n_gt: int, obj: str) -> str:
    k = rs.integers(1, 4)
    first = rs.integers(0, len(_THINK))
    return " ".join(_THINK[(first + 2 * j) % len(_THINK)].format(n=n_gt, obj=obj) for j in range(k))


def _solution(gt: list[Box]) -> str:
    items = ", ".join(f"{{'Position': [{b[0]}, {b[1]}, {b[2]}, {b[3]}], 'Confidence': 1}}" for b in gt)
    return f"<answer>[{items}]</answer>"


def _detection_text(rs: _Stream, gt: list[Box], kind: str, obj: str) -> tuple[str, str]:
    """Completion text and its final kind (``empty_list`` when no box was left to write)."""
    think = f"<think>{_think(rs, len(gt), obj)}</think>"
    sep = "\n" if rs.random() < 0.5 else ""
    if kind in ("no_objects", "missed_all"):
        return f"{think}{sep}<answer>No Objects</answer>", kind
    if kind == "empty_answer":
        return f"{think}{sep}<answer></answer>", kind
    if kind == "prose_answer":
        return f"{think}{sep}<answer>{_PROSE[rs.integers(0, len(_PROSE))].format(obj=obj)}</answer>", kind
    preds = _predictions(rs, gt)
    if not preds:
        return f"{think}{sep}<answer>[]</answer>", "empty_list"
    items = _items(preds, kind)
    if kind == "wrong_arity":
        j = rs.integers(0, len(items))
        b, c = preds[j]
        items[j] = f"{{'Position': [{b[0]}, {b[1]}], 'Confidence': {c}}}"
    if kind == "newlines":
        body = "[\n" + ",\n".join(items) + "\n]"
    else:
        body = "[" + ", ".join(items) + "]"
    if kind == "no_answer_tag":
        return f"{think}{sep}{body}", kind
    if kind == "truncated":
        cut = rs.integers(max(1, len(body) // 3), len(body))
        return f"{think}{sep}<answer>{body[:cut]}", kind
    return f"{think}{sep}<answer>{body}</answer>", kind


def _message(text: str) -> Completion:
    return [{"role": "assistant", "content": text}]


def _cumulative(probs: list[float]) -> list[float]:
    return np.cumsum(probs).tolist()


def make_detection_corpus(
    n: int, seed: int = 0, group: int = 1
) -> tuple[list[Completion], list[str], list[str]]:
    """``n`` detection completions, their solutions and the kind of each completion.

    ``group`` consecutive completions answer the same prompt (GRPO's ``num_generations``): they share the
    ground truth and the object name, as in a GRPO batch.
    """
    rs = _Stream(seed)
    names = [k for k, _ in DETECTION_KINDS]
    cum = _cumulative([p for _, p in DETECTION_KINDS])
    completions: list[Completion] = []
    solutions: list[str] = []
    kinds: list[str] = []
    gt: list[Box] = []
    solution, obj = "", ""
    for i in range(n):
        if i % group == 0:
            gt = [] if rs.random() < EMPTY_GT_RATE else _gt_boxes(rs, rs.integers(1, 6))
            solution, obj = _solution(gt), OBJECTS[rs.integers(0, len(OBJECTS))]
        if not gt:
            kind = "no_objects" if rs.random() < NO_OBJECTS_ON_EMPTY else "boxes_on_empty"
        else:
            kind = names[rs.choice(cum)]
        text, kind = _detection_text(rs, gt, kind, obj)
        completions.append(_message(text))
        solutions.append(solution)
        kinds.append(kind)
    return completions, solutions, kinds


def make_corpus(n: int, seed: int = 0, group: int = 1) -> tuple[list[Completion], list[str]]:
    """``n`` detection completions (TRL conversational form) and their Visual-RFT solutions."""
    completions, solutions, _ = make_detection_corpus(n, seed, group)
    return completions, solutions


def make_classification_corpus(n: int, seed: int = 0, group: int = 1) -> tuple[list[Completion], list[str], list[str]]:
    """``n`` classification completions, solutions (``<answer>class</answer>``) and kinds; ``group`` consecutive
    completions answer the same prompt (GRPO's ``num_generations``) and share its class.

    Kinds: ``correct``, ``correct_variant`` (spaces/underscores/case changed), ``wrong``, ``sentence``
    (the class inside a sentence), ``several`` (two classes named), ``empty_answer``, ``no_answer_tag``.
    """
    rs = _Stream(seed)
    names = ("correct", "correct_variant", "wrong", "sentence", "several", "empty_answer", "no_answer_tag")
    cum = _cumulative([0.5, 0.1, 0.25, 0.05, 0.04, 0.03, 0.03])
    completions: list[Completion] = []
    solutions: list[str] = []
    kinds: list[str] = []
    gt = ""
    for i in range(n):
        if i % group == 0:
            gt = CLASSES[rs.integers(0, len(CLASSES))]
        other = CLASSES[(CLASSES.index(gt) + rs.integers(1, len(CLASSES))) % len(CLASSES)]
        kind = names[rs.choice(cum)]
        answer = {
            "correct": gt,
            "correct_variant": gt.replace("_", " ").title(),
            "wrong": other,
            "sentence": f"This flower is a {gt.replace('_', ' ')}.",
            "several": f"{gt}, {other}",
            "empty_answer": "",
            "no_answer_tag": gt,
        }[kind]
        think = f"<think>The petals and the leaves suggest a {gt if rs.random() < 0.7 else other}.</think>"
        text = f"{think}\n{answer}" if kind == "no_answer_tag" else f"{think}\n<answer>{answer}</answer>"
        completions.append(_message(text))
        solutions.append(f"<answer>{gt}</answer>")
        kinds.append(kind)
    return completions, solutions, kinds


def make_grounding_corpus(n: int, seed: int = 0, group: int = 1) -> tuple[list[Completion], list[str], list[str]]:
    """``n`` grounding completions with one predicted box, single-box solutions, and kinds; ``group`` consecutive
    completions answer the same prompt (GRPO's ``num_generations``) and share its box and object.

    Kinds: ``position`` (Visual-RFT list of one ``Position`` dict), ``bare_list`` (``[x1, y1, x2, y2]``),
    ``bbox_2d`` (Qwen2.5-VL JSON), ``far`` (a box far from the target), ``malformed`` (prose answer).
    """
    rs = _Stream(seed)
    names = ("position", "bare_list", "bbox_2d", "far", "malformed")
    cum = _cumulative([0.45, 0.25, 0.15, 0.1, 0.05])
    completions: list[Completion] = []
    solutions: list[str] = []
    kinds: list[str] = []
    gt, obj = [], ""
    for i in range(n):
        if i % group == 0:
            gt, obj = _gt_boxes(rs, 1), OBJECTS[rs.integers(0, len(OBJECTS))]
        kind = names[rs.choice(cum)]
        b = _gt_boxes(rs, 1)[0] if kind == "far" else _jitter(rs, gt[0], 0.1)
        c = _confidence(rs)
        position = f"[{{'Position': [{b[0]}, {b[1]}, {b[2]}, {b[3]}], 'Confidence': {c}}}]"
        answer = {
            "position": position,
            "bare_list": f"[{b[0]}, {b[1]}, {b[2]}, {b[3]}]",
            "bbox_2d": f'[{{"bbox_2d": [{b[0]}, {b[1]}, {b[2]}, {b[3]}], "label": "{obj}"}}]',
            "far": position,
            "malformed": _PROSE[rs.integers(0, len(_PROSE))].format(obj=obj),
        }[kind]
        think = f"<think>The {obj} the question refers to is the one I focus on.</think>"
        completions.append(_message(f"{think}\n<answer>{answer}</answer>"))
        solutions.append(_solution(gt))
        kinds.append(kind)
    return completions, solutions, kinds


def kind_counts(kinds: list[str]) -> dict[str, int]:
    """How many completions of each kind."""
    out: dict[str, int] = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def fresh_copy(completions: list[Completion]) -> list[Completion]:
    """New message lists and dicts holding the same strings, as a trainer builds them every step."""
    return [[dict(m) for m in c] for c in completions]
