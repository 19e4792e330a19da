"""A tiny synthetic detection set: drawn circles, squares and triangles with exactly known boxes.

:func:`make_shapes_dataset` writes, under ``out_dir``:

* the ``DatasetDict`` (``save_to_disk``; splits ``train`` and ``test``) in Visual-RFT's format: ``image``,
  ``problem``, ``solution`` (boxes in the model's frame), plus ``width``, ``height``, ``image_id``,
  ``category_id``, ``category`` and ``image_path`` (relative to ``out_dir``): one row per (image, shape category
  in it), as Visual-RFT asks about one category at a time;
* ``images/<split>/<n>.png``, the pictures;
* ``instances_<split>.json``, COCO ground truth in pixels, for ``vreward score --coco-gt`` (records carry
  ``image_id`` and ``category_id``).

Small images (default 112 x 112: 16 vision tokens for Qwen2-VL) keep a tiny model's vision tower fast on a CPU.
``canvas="position"`` fills the shapes with their position: inside a shape, green grows from left to right and
blue from top to bottom (red keeps the shape's grey level; the background stays a plain light grey). A shape's
pixels then say where they lie, as the learned position embeddings of a real vision encoder do after vast
pre-training; a 2 M-parameter model with only relative (rotary) positions reads it within minutes on a CPU (the
demo), where on plain pictures it learns to localize far later.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from typing import Literal

from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS
from vreward_train.data import box_to_frame, detection_question, detection_solution

CATEGORIES = ("circle", "square", "triangle")  # COCO ids 1, 2, 3
_PALETTE = ((220, 40, 40), (40, 90, 220), (30, 160, 60), (230, 160, 20), (150, 50, 190), (20, 20, 20))


def make_shapes_dataset(out_dir: str | os.PathLike, n_train: int = 16, n_test: int = 8,
                        size: tuple[int, int] = (112, 112), seed: int = 0, frame: str = "qwen2vl",
                        max_shapes: int = 3, min_pixels: int = QWEN25VL_MIN_PIXELS,
                        max_pixels: int = QWEN25VL_MAX_PIXELS, coco: bool = True,
                        canvas: Literal["plain", "position"] = "plain",
                        question: Literal["visual_rft", "short"] = "visual_rft",
                        sizes: tuple[float, float] = (0.2, 0.45)) -> Path:
    """Draw ``n_train`` + ``n_test`` images of ``size`` (width, height) with 1..``max_shapes`` non-overlapping
    shapes each and save the dataset to ``out_dir``; returns ``out_dir`` (``datasets.load_from_disk`` and
    :func:`vreward_train.data.load_visual_rft` read it). Deterministic in ``seed``. ``frame`` (and, for
    ``qwen25vl``, ``min_pixels`` / ``max_pixels``) sets the coordinates of the solutions; ``canvas`` is
    ``plain`` (coloured shapes on a light colour) or ``position`` (position-coded, see the module doc);
    ``question`` the ``problem`` text: Visual-RFT's detection question, or its first sentence alone (``short``:
    "Detect all objects belonging to the category 'circle'.", for tiny models trained with ``data.prompt:
    problem``, whose sequences it shortens by a third); ``sizes`` the range of a shape's height as a share of the
    shorter side."""
    import datasets
    from PIL import Image, ImageDraw

    width, height = (int(v) for v in size)
    if min(width, height) < 28:
        raise ValueError(f"size must be at least 28 x 28 pixels, got {size}")
    if n_train < 1 or n_test < 0 or max_shapes < 1:
        raise ValueError("n_train must be >= 1, n_test >= 0 and max_shapes >= 1")
    if not 0 < sizes[0] <= sizes[1] <= 1:
        raise ValueError(f"sizes must satisfy 0 < low <= high <= 1, got {sizes}")
    if question not in ("visual_rft", "short"):
        raise ValueError(f"question must be 'visual_rft' or 'short', got {question!r}")
    if canvas not in ("plain", "position"):
        raise ValueError(f"canvas must be 'plain' or 'position', got {canvas!r}")
    detection_question("x", frame)  # validates the frame
    out = Path(out_dir)
    rng = random.Random(seed)
    splits: dict[str, datasets.Dataset] = {}
    image_id = 0
    for split, count in (("train", n_train), ("test", n_test)):
        if count == 0:
            continue
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        rows: dict[str, list] = {k: [] for k in ("image", "problem", "solution", "width", "height", "image_id",
                                                 "category_id", "category", "image_path")}
        coco_images, coco_annotations = [], []
        for n in range(count):
            image_id += 1
            background = tuple(rng.randint(200, 255) for _ in range(3))
            image = Image.new("RGB", (width, height), background)
            draw = ImageDraw.Draw(image)
            shapes = _place_shapes(rng, width, height, rng.randint(1, max_shapes), sizes)
            for category, box in shapes:
                _draw(draw, category, box, rng.choice(_PALETTE))
            rel = f"images/{split}/{n:04d}.png"
            (position_filled(image, background) if canvas == "position" else image).save(out / rel)
            coco_images.append({"id": image_id, "file_name": rel, "width": width, "height": height})
            by_category: dict[str, list[list[int]]] = {}
            for category, box in shapes:
                by_category.setdefault(category, []).append(box)
                x1, y1, x2, y2 = box
                coco_annotations.append({"id": len(coco_annotations) + 1, "image_id": image_id,
                                         "category_id": CATEGORIES.index(category) + 1,
                                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                         "iscrowd": 0})
            for category in sorted(by_category, key=CATEGORIES.index):
                boxes = [box_to_frame(b, width, height, frame, min_pixels, max_pixels) for b in by_category[category]]
                rows["image"].append(str(out / rel))
                text = detection_question(category, frame)
                rows["problem"].append(text if question == "visual_rft" else text.split(" in the image")[0] + ".")
                rows["solution"].append(detection_solution(boxes))
                rows["width"].append(width)
                rows["height"].append(height)
                rows["image_id"].append(image_id)
                rows["category_id"].append(CATEGORIES.index(category) + 1)
                rows["category"].append(category)
                rows["image_path"].append(rel)
        splits[split] = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
        if coco:
            instances = {"images": coco_images, "annotations": coco_annotations,
                         "categories": [{"id": i + 1, "name": c, "supercategory": "shape"}
                                        for i, c in enumerate(CATEGORIES)]}
            (out / f"instances_{split}.json").write_text(json.dumps(instances, indent=1))
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return out


def position_filled(image, background: tuple[int, int, int]):
    """``image`` (shapes drawn on a ``background`` colour) on a grey background, each shape pixel holding its grey
    level in red, its x (0 at the left, 255 at the right) in green and its y in blue."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=np.int32)
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    height, width = grey.shape
    shape = (pixels != np.asarray(background)).any(axis=2)
    out = np.empty((height, width, 3), np.uint8)
    out[...] = grey[..., None]  # the background is the grey of its colour
    out[..., 1] = np.where(shape, np.linspace(0, 255, width).round().astype(np.uint8)[None, :], grey)
    out[..., 2] = np.where(shape, np.linspace(0, 255, height).round().astype(np.uint8)[:, None], grey)
    return Image.fromarray(out, "RGB")


def _place_shapes(rng: random.Random, width: int, height: int, count: int,
                  sizes: tuple[float, float]) -> list[tuple[str, list[int]]]:
    """Up to ``count`` (category, [x1, y1, x2, y2]), ``sizes`` of the shorter side high, not overlapping."""
    side = min(width, height)
    placed: list[tuple[str, list[int]]] = []
    for _ in range(count * 20):
        if len(placed) == count:
            break
        category = rng.choice(CATEGORIES)
        s = rng.randint(max(6, int(side * sizes[0])), max(7, int(side * sizes[1])))
        w = max(6, int(s * rng.uniform(0.7, 1.3))) if category == "triangle" else s
        w = min(w, width)
        x1, y1 = rng.randint(0, width - w), rng.randint(0, height - s)
        box = [x1, y1, x1 + w, y1 + s]
        if all(_apart(box, other) for _, other in placed):
            placed.append((category, box))
    return placed


def _apart(a: list[int], b: list[int], gap: int = 2) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def _draw(draw, category: str, box: list[int], color: tuple[int, int, int]) -> None:
    """Fill ``category``'s shape so that its pixels span exactly ``box`` (x2, y2 exclusive)."""
    x1, y1, x2, y2 = box
    if category == "circle":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=color)
    elif category == "square":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=color)
    else:
        apex = x1 + math.floor((x2 - 1 - x1) / 2)
        draw.polygon([(apex, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=color)
