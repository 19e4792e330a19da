"""Regenerate examples/coco_sample: a tiny COCO ground truth with drawn images and model completions.

Run from the repository root: ``python examples/make_coco_sample.py``. Deterministic (seeded).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "coco_sample"
CATEGORIES = [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}, {"id": 3, "name": "triangle"}]
COLORS = {1: (220, 60, 60), 2: (60, 120, 220), 3: (60, 180, 90)}


def main() -> None:
    rng = random.Random(3)
    images, annotations, records = [], [], []
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    for image_id in range(1, 9):
        w, h = rng.choice([(320, 240), (400, 300), (256, 256)])
        im = Image.new("RGB", (w, h), (235, 232, 225))
        draw = ImageDraw.Draw(im)
        boxes = {}
        for _ in range(rng.randint(0, 4)):
            cat = rng.randint(1, 3)
            bw, bh = rng.randint(30, w // 3), rng.randint(30, h // 3)
            x, y = rng.randint(0, w - bw), rng.randint(0, h - bh)
            shape = [x, y, x + bw, y + bh]
            if cat == 1:
                draw.ellipse(shape, fill=COLORS[cat])
            elif cat == 2:
                draw.rectangle(shape, fill=COLORS[cat])
            else:
                draw.polygon([(x, y + bh), (x + bw / 2, y), (x + bw, y + bh)], fill=COLORS[cat])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cat,
                                "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0})
            boxes.setdefault(cat, []).append(shape)
        name = f"{image_id:03d}.png"
        im.save(OUT / "images" / name)
        images.append({"id": image_id, "file_name": name, "width": w, "height": h})
        for cat in CATEGORIES:
            records.append(_record(rng, image_id, name, w, h, cat, boxes.get(cat["id"], [])))
    gt = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (OUT / "instances.json").write_text(json.dumps(gt, indent=1))
    with (OUT / "completions.jsonl").open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def _record(rng: random.Random, image_id: int, name: str, w: int, h: int, cat: dict, boxes: list) -> dict:
    """A Qwen2-VL-style answer in 0-1000 coordinates: jittered true boxes, sometimes a miss or a stray box."""
    preds = []
    for x1, y1, x2, y2 in boxes:
        if rng.random() < 0.15:
            continue
        j = [rng.randint(-6, 6) for _ in range(4)]
        q = [round((x1 + j[0]) / w * 1000), round((y1 + j[1]) / h * 1000),
             round((x2 + j[2]) / w * 1000), round((y2 + j[3]) / h * 1000)]
        preds.append((q, round(rng.uniform(0.55, 0.98), 2)))
    if rng.random() < 0.2:
        preds.append(([rng.randint(0, 600), rng.randint(0, 600), rng.randint(700, 999), rng.randint(700, 999)],
                      round(rng.uniform(0.2, 0.5), 2)))
    think = f"<think>I look for every {cat['name']} in the image.</think>"
    if not preds:
        answer = "No Objects"
    else:
        answer = "[" + ", ".join(f"{{'Position': {q}, 'Confidence': {c}}}" for q, c in preds) + "]"
    return {"image_id": image_id, "category_id": cat["id"], "image_path": f"images/{name}",
            "completion": f"{think}\n<answer>{answer}</answer>"}


if __name__ == "__main__":
    main()
