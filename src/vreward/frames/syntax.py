"""Answer syntaxes: how a model family writes boxes and points, one row per syntax (:data:`SYNTAXES`).

A row reads and writes its syntax. Reading: syntaxes the scanner (:mod:`vreward._scan`) reads as written — the
Qwen2.5-VL / Qwen3-VL JSON, Qwen2-VL's ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, GLM's lists between box
tokens, bare lists — have no translator. The others have one: it rewrites every native box or point of a
completion, in place, into canonical text the scanner reads, ``[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]``
or ``[{"point_2d": [x, y], "label": "cat"}]``, with the numbers as written (put in x, y order; bins stay bins: the
family's frame says what they mean), and leaves everything else (``<think>``, ``<answer>`` tags, prose) where it
was, so the answer rules apply unchanged. Writing: :meth:`AnswerSyntax.write` turns boxes and points already in
the family's frame into its native text (:func:`vreward.families.format_answer` is the public entry).

Translators read hostile text: they never raise and never evaluate it, and run in time linear in its length.
Tokens are found by patterns that start with a literal character and cannot backtrack across each other, and
everything between two tokens is read once, as one slice. Labels longer than :data:`MAX_LABEL` characters are
cut, so the canonical text stays within a constant factor of the native one. A span holding a ``<think>`` or
``<answer>`` tag is never rewritten, so translation keeps every such tag where it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

MAX_LABEL = 200
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_INNER_LIST = re.compile(r"\[([^\[\]]*)\]")
_CONTROL = {c: " " for c in range(32)}
_ANSWER_TAGS = ("<answer>", "</answer>", "<think>", "</think>")


@dataclass(frozen=True)
class Item:
    """One box (4 numbers: x1, y1, x2, y2) or point (2 numbers: x, y) with its label; other counts are kept
    as a list the scanner counts as ``wrong_arity``. Numbers are text, as written."""

    numbers: tuple[str, ...]
    label: str | None = None


# ---------------------------------------------------------------------------------------------- canonical text


def _tag_free(span: str) -> bool:
    """Whether ``span`` holds none of the tags that delimit a completion's answer (so it may be rewritten)."""
    return not any(tag in span for tag in _ANSWER_TAGS)


def _json_string(label: str) -> str:
    label = label.strip()[:MAX_LABEL].translate(_CONTROL)
    return '"' + label.replace("\\", "\\\\").replace('"', '\\"') + '"'


def canonical(items: Sequence[Item]) -> str:
    """The canonical text of ``items``: a JSON list of ``bbox_2d`` / ``point_2d`` objects."""
    parts = []
    for item in items:
        body = "[" + ", ".join(item.numbers) + "]"
        key = {4: "bbox_2d", 2: "point_2d"}.get(len(item.numbers))
        if key is None:
            parts.append(body)
        elif item.label:
            parts.append(f'{{"{key}": {body}, "label": {_json_string(item.label)}}}')
        else:
            parts.append(f'{{"{key}": {body}}}')
    return "[" + ", ".join(parts) + "]"


def _groups(numbers: list[str], label: str | None, y_first: bool = False) -> list[Item]:
    """Numbers read in one place as items: boxes of 4 when they divide by 4, a point when there are 2, else one
    list of the wrong length. ``y_first``: each group is written y before x."""
    if not numbers:
        return []
    if len(numbers) % 4 == 0:
        groups = [numbers[k:k + 4] for k in range(0, len(numbers), 4)]
    else:
        groups = [numbers]
    if y_first:
        groups = [[g[1], g[0], g[3], g[2]] if len(g) == 4 else [g[1], g[0]] if len(g) == 2 else g for g in groups]
    return [Item(tuple(g), label) for g in groups]


# ------------------------------------------------------------------------------------------------ translators


@dataclass(frozen=True)
class TaggedSyntax:
    """Regions between tags (``<box>...</box>``), each labelled by a ``ref`` span directly before it.

    ``split``: how a region holds several items, ``"brackets"`` (each innermost ``[...]`` is one, or the whole
    region when it has none) or ``"commas"``.
    """

    ref: tuple[str, str] | None
    regions: tuple[tuple[str, str], ...]
    split: Literal["brackets", "commas"] = "brackets"

    @cached_property
    def pattern(self) -> re.Pattern:
        """All of the syntax's tags, longest first."""
        tags = {t for pair in (*self.regions, *([self.ref] if self.ref else [])) for t in pair}
        return re.compile("|".join(re.escape(t) for t in sorted(tags, key=len, reverse=True)))

    def translate(self, text: str) -> str:
        """``text`` with every closed region and its label rewritten as canonical text."""
        if not any(open_ in text for open_, _ in self.regions):
            return text
        closes = dict(self.regions)
        tokens = list(self.pattern.finditer(text))
        out: list[str] = []
        pos = 0
        label: tuple[int, int, str] | None = None  # (start, end, text) of the last ref span
        i = 0
        while i < len(tokens):
            tok, nxt = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else None
            kind = tok.group()
            if self.ref is not None and kind == self.ref[0] and nxt is not None and nxt.group() == self.ref[1]:
                name = text[tok.end():nxt.start()]
                label = (tok.start(), nxt.end(), name) if "<" not in name else None
                i += 2
                continue
            close = closes.get(kind)
            if close is None or nxt is None or nxt.group() != close:
                i += 1
                continue
            region = text[tok.end():nxt.start()]
            items = self._items(region) if _tag_free(region) else []
            if items:
                start, name = tok.start(), None
                if label is not None and (label[1] == start or text[label[1]:start].isspace()):
                    start, name = label[0], label[2]
                out += [text[pos:start], canonical([Item(it.numbers, name) for it in items])]
                pos = nxt.end()
            label = None
            i += 2
        out.append(text[pos:])
        return "".join(out)

    def _items(self, region: str) -> list[Item]:
        if self.split == "commas":
            parts = region.split(",")
        else:
            parts = [m.group(1) for m in _INNER_LIST.finditer(region)] or [region]
        return [Item(tuple(numbers)) for numbers in (_NUMBER.findall(p) for p in parts) if numbers]


def _runs(pattern: re.Pattern, text: str) -> Iterator[tuple[list[re.Match], int]]:
    """Runs of adjacent ``pattern`` tokens of ``text``, each with where the next run starts (or the text ends)."""
    tokens = list(pattern.finditer(text))
    i = 0
    while i < len(tokens):
        j = i
        while j + 1 < len(tokens) and tokens[j + 1].start() == tokens[j].end():
            j += 1
        yield tokens[i:j + 1], tokens[j + 1].start() if j + 1 < len(tokens) else len(text)
        i = j + 1


def _bins(run: list[re.Match]) -> list[str]:
    """The bin numbers of a run of location tokens (at most 4 digits each), without leading zeros."""
    return [str(int(m.group(1))) for m in run]


_LOC = re.compile(r"<loc(\d{4})>")
_SEGMENTS = re.compile(r"(?:\s*<seg\d{3}>)+")


def translate_paligemma(text: str) -> str:
    """PaliGemma: ``<loc y1><loc x1><loc y2><loc x2> label ; ...`` (segmentation tokens after a box skipped)."""
    if "<loc" not in text:
        return text
    out: list[str] = []
    pos = 0
    for run, limit in _runs(_LOC, text):
        end = run[-1].end()
        segments = _SEGMENTS.match(text, end)
        if segments is not None:
            end = segments.end()
        stop = min((k for k in (text.find(";", end, limit), text.find("<", end, limit)) if k >= 0), default=limit)
        label = text[end:stop].strip() or None
        out += [text[pos:run[0].start()], canonical(_groups(_bins(run), label, y_first=True))]
        pos = stop
    out.append(text[pos:])
    return "".join(out)


_FLORENCE_LOC = re.compile(r"<loc_(\d{1,4})>")


def translate_florence2(text: str) -> str:
    """Florence-2: ``label<loc_x1><loc_y1><loc_x2><loc_y2>...``; the label is the text since the previous tag."""
    if "<loc_" not in text:
        return text
    out: list[str] = []
    pos = 0
    for run, _ in _runs(_FLORENCE_LOC, text):
        start = run[0].start()
        tag_end = text.rfind(">", pos, start)
        label_start = tag_end + 1 if tag_end >= 0 else pos
        label = text[label_start:start].strip() or None
        out += [text[pos:label_start], canonical(_groups(_bins(run), label))]
        pos = run[-1].end()
    out.append(text[pos:])
    return "".join(out)


_MOLMO_TAG = re.compile(r"<(/?)(points?)\b([^<>]*)>")


def translate_molmo(text: str) -> str:
    """Molmo ``<point x="61.5" y="40.6" alt="cat">cat</point>`` / ``<points x1=".." y1=".." ...>`` and Molmo2
    ``<points coords="1 1 073 160 2 173 600" alt="boats">boats</points>`` (per image: its index, then id, x, y per
    point) as canonical points; the label is ``alt``, else the element's text."""
    if "<point" not in text:
        return text
    tags = list(_MOLMO_TAG.finditer(text))
    out: list[str] = []
    pos = i = 0
    while i < len(tags):
        tag = tags[i]
        if tag.group(1):
            i += 1
            continue
        nxt = tags[i + 1] if i + 1 < len(tags) else None
        closed = nxt is not None and nxt.group(1) == "/" and nxt.group(2) == tag.group(2) \
            and _tag_free(text[tag.end():nxt.start()])
        attributes = _attributes(tag.group(3))
        inner = text[tag.end():nxt.start()].strip() if closed else ""
        items = _molmo_items(attributes, attributes.get("alt") or inner or None)
        if items:
            out += [text[pos:tag.start()], canonical(items)]
            pos = nxt.end() if closed else tag.end()
        i += 2 if closed else 1
    out.append(text[pos:])
    return "".join(out)


def _attributes(source: str) -> dict[str, str]:
    """``name="value"`` pairs of a tag (split on quotes: linear, no backtracking)."""
    parts = source.split('"')
    found: dict[str, str] = {}
    for k in range(1, len(parts) - 1, 2):
        head = parts[k - 1].rstrip()
        if head.endswith("="):
            names = head[:-1].split()
            if names:
                found.setdefault(names[-1].lower(), parts[k])
    return found


def _molmo_items(attributes: dict[str, str], label: str | None) -> list[Item]:
    coords = attributes.get("coords")
    if coords is not None:
        items = []
        for group in coords.replace("\t", ";").split(";"):
            numbers = _NUMBER.findall(group)[1:]  # the image (frame) index first
            whole = len(numbers) - len(numbers) % 3
            items += [Item((numbers[k + 1], numbers[k + 2]), label) for k in range(0, whole, 3)]
            if whole < len(numbers):
                items.append(Item(tuple(numbers[whole:])))
        return items
    items = []
    for name, value in attributes.items():
        if name == "x" or (name[:1] == "x" and name[1:].isdigit()):
            y = attributes.get("y" + name[1:])
            if y is not None and _NUMBER.fullmatch(value.strip()) and _NUMBER.fullmatch(y.strip()):
                items.append(Item((value.strip(), y.strip()), label))
    return items


# ---------------------------------------------------------------------------------------------------- writers


def _write_json(items: Sequence[Item]) -> str:
    rows = []
    for it in items:
        key = "bbox_2d" if len(it.numbers) == 4 else "point_2d"
        label = f', "label": {json.dumps(it.label, ensure_ascii=False)}' if it.label else ""
        rows.append(f'{{"{key}": [{", ".join(it.numbers)}]{label}}}')
    return "[" + ", ".join(rows) + "]"


def _write_lists(items: Sequence[Item]) -> str:
    return ", ".join("[" + ", ".join(it.numbers) + "]" for it in items)


def _write_qwen2vl(items: Sequence[Item]) -> str:
    return "".join((f"<|object_ref_start|>{it.label}<|object_ref_end|>" if it.label else "")
                   + f"<|box_start|>({it.numbers[0]},{it.numbers[1]}),({it.numbers[2]},{it.numbers[3]})<|box_end|>"
                   for it in items)


def _write_tagged(ref: tuple[str, str], box: tuple[str, str], point: tuple[str, str] | None, inner: str,
                  separator: str) -> Callable[[Sequence[Item]], str]:
    def write(items: Sequence[Item]) -> str:
        out = []
        for it in items:
            tags = box if len(it.numbers) == 4 or point is None else point
            body = inner.format(separator.join(it.numbers))
            out.append((f"{ref[0]}{it.label}{ref[1]}" if it.label else "") + f"{tags[0]}{body}{tags[1]}")
        return "".join(out)
    return write


def _write_glm(items: Sequence[Item]) -> str:
    return "<|begin_of_box|>[" + ", ".join("[" + ",".join(it.numbers) + "]" for it in items) + "]<|end_of_box|>"


def _write_paligemma(items: Sequence[Item]) -> str:
    order = {4: (1, 0, 3, 2), 2: (1, 0)}
    return " ; ".join("".join(f"<loc{it.numbers[k].zfill(4)}>" for k in order[len(it.numbers)])
                      + (f" {it.label}" if it.label else "") for it in items)


def _write_florence2(items: Sequence[Item]) -> str:
    return "".join((it.label or "") + "".join(f"<loc_{n}>" for n in it.numbers) for it in items)


def _attribute(label: str | None) -> str:
    return (label or "object").replace('"', "'")


def _write_molmo(items: Sequence[Item]) -> str:
    return " ".join(f'<point x="{it.numbers[0]}" y="{it.numbers[1]}" alt="{_attribute(it.label)}">'
                    f'{_attribute(it.label)}</point>' for it in items)


def _write_molmo2(items: Sequence[Item]) -> str:
    label = _attribute(next((it.label for it in items if it.label), None))
    triplets = " ".join(f"{k} {it.numbers[0]} {it.numbers[1]}" for k, it in enumerate(items, start=1))
    return f'<points coords="1 {triplets}" alt="{label}">{label}</points>'


def _write_rexomni(items: Sequence[Item]) -> str:
    by_label: dict[str | None, list[Item]] = {}
    for it in items:
        by_label.setdefault(it.label, []).append(it)
    return "".join((f"<|object_ref_start|>{label}<|object_ref_end|>" if label else "") + "<|box_start|>"
                   + ", ".join("".join(f"<{n}>" for n in it.numbers) for it in group) + "<|box_end|>"
                   for label, group in by_label.items())


# ------------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class AnswerSyntax:
    """How a family writes boxes and points: ``boxes`` / ``points`` (an example; ``points`` None: it writes no
    points), its ``tokens``, whether it writes ``y_first``, its ``translate`` (None: the scanner reads it as
    written) and its writer."""

    name: str
    boxes: str | None
    points: str | None
    writer: Callable[[Sequence[Item]], str]
    translate: Callable[[str], str] | None = None
    tokens: tuple[str, ...] = ()
    y_first: bool = False

    def write(self, items: Sequence[Item]) -> str:
        """Native text of ``items`` (numbers already in the family's frame, formatted)."""
        for it in items:
            if len(it.numbers) not in (2, 4):
                raise ValueError(f"an item has {len(it.numbers)} numbers: write boxes (4) or points (2)")
            kind = "boxes" if len(it.numbers) == 4 else "points"
            if getattr(self, kind) is None:
                raise ValueError(f"answer syntax {self.name!r} writes no {kind}")
        return self.writer(items)


# InternVL and MiniCPM-V share their tags: a region holds [[...], ...] lists (InternVL) or bare numbers (MiniCPM-V)
_REF_BOX = TaggedSyntax(("<ref>", "</ref>"), (("<box>", "</box>"), ("<point>", "</point>")))
_DEEPSEEK = TaggedSyntax(("<|ref|>", "<|/ref|>"), (("<|det|>", "<|/det|>"),))
_REXOMNI = TaggedSyntax(("<|object_ref_start|>", "<|object_ref_end|>"), (("<|box_start|>", "<|box_end|>"),),
                        split="commas")

SYNTAXES: dict[str, AnswerSyntax] = {row.name: row for row in (
    AnswerSyntax("json", '[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}]', '[{"point_2d": [x, y], "label": "cat"}]',
                 _write_json),
    AnswerSyntax("lists", "[x1, y1, x2, y2]", "[x, y]", _write_lists),
    AnswerSyntax("qwen2vl", "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>",
                 None, _write_qwen2vl, tokens=("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                                               "<|box_end|>")),
    AnswerSyntax("internvl", "<ref>cat</ref><box>[[x1, y1, x2, y2]]</box>", "<ref>cat</ref><point>[[x, y]]</point>",
                 _write_tagged(("<ref>", "</ref>"), ("<box>", "</box>"), ("<point>", "</point>"), "[[{}]]", ", "),
                 _REF_BOX.translate, tokens=("<ref>", "</ref>", "<box>", "</box>")),
    AnswerSyntax("glm", "<|begin_of_box|>[[x1,y1,x2,y2]]<|end_of_box|>", "<|begin_of_box|>[[x,y]]<|end_of_box|>",
                 _write_glm, tokens=("<|begin_of_box|>", "<|end_of_box|>")),
    AnswerSyntax("paligemma", "<locY1><locX1><locY2><locX2> cat ; ... (4-digit bins, y first)", None,
                 _write_paligemma, translate_paligemma, tokens=("<loc0000>", "...", "<loc1023>"), y_first=True),
    AnswerSyntax("florence2", "cat<loc_x1><loc_y1><loc_x2><loc_y2>", "cat<loc_x><loc_y>", _write_florence2,
                 translate_florence2, tokens=("<loc_0>", "...", "<loc_999>")),
    AnswerSyntax("deepseekvl2", "<|ref|>cat<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>", None,
                 _write_tagged(("<|ref|>", "<|/ref|>"), ("<|det|>", "<|/det|>"), None, "[[{}]]", ", "),
                 _DEEPSEEK.translate, tokens=("<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>")),
    AnswerSyntax("molmo", None, '<point x="61.5" y="40.6" alt="cat">cat</point>', _write_molmo, translate_molmo),
    AnswerSyntax("molmo2", None, '<points coords="1 1 615 406" alt="cat">cat</points>', _write_molmo2,
                 translate_molmo),
    AnswerSyntax("minicpmv", "<ref>cat</ref><box>x1 y1 x2 y2</box>", "<point>x y</point>",
                 _write_tagged(("<ref>", "</ref>"), ("<box>", "</box>"), ("<point>", "</point>"), "{}", " "),
                 _REF_BOX.translate, tokens=("<ref>", "</ref>", "<box>", "</box>", "<point>", "</point>")),
    AnswerSyntax("rexomni", "<|object_ref_start|>cat<|object_ref_end|><|box_start|><x1><y1><x2><y2>, ...<|box_end|>",
                 "<|object_ref_start|>cat<|object_ref_end|><|box_start|><x><y><|box_end|>", _write_rexomni,
                 _REXOMNI.translate, tokens=("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
                                             "<|box_end|>")),
)}
SYNTAX_NAMES: tuple[str, ...] = tuple(SYNTAXES)

