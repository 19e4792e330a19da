"""DetectionMetrics: COCO / LVIS bbox metrics of saved completions, checked against pycocotools run directly."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from vreward import make_confidence_reward, make_iou_reward, parse_completions
from vreward.evaluate.base import Record, Sample
from vreward.evaluate.coco_eval import cocoeval_ious, make_evaluator
from vreward.evaluate.coco_truth import CocoTruth
from vreward.evaluate.detection import COCO_STATS, DetectionMetrics
from vreward.frames import smart_resize

pytest.importorskip("pycocotools")
HAVE_FCE = True
try:
    import faster_coco_eval  # noqa: F401
except ImportError:  # pragma: no cover - faster-coco-eval is optional
    HAVE_FCE = False
EVALUATORS = ["pycocotools"] + (["faster-coco-eval"] if HAVE_FCE else [])
needs_fce = pytest.mark.skipif(not HAVE_FCE, reason="faster-coco-eval not installed")

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "traffic_light"}, {"id": 5, "name": "dog"},
              {"id": 7, "name": "hair drier"}]  # 7: ground truth but never detected
IMAGES = [{"id": 11, "width": 640, "height": 480}, {"id": 12, "width": 500, "height": 375},
          {"id": 13, "width": 800, "height": 600},  # no annotations
          {"id": 14, "width": 333, "height": 500}, {"id": 15, "width": 1024, "height": 683}]


def make_gt(seed: int = 0, n_images: int | None = None) -> dict:
    """COCO ground truth with boxes of every area range, crowd boxes and an image without annotations."""
    rng = np.random.default_rng(seed)
    images = list(IMAGES)
    if n_images is not None:
        images = [{"id": 100 + k, "width": int(rng.integers(200, 1200)), "height": int(rng.integers(200, 900))}
                  for k in range(n_images)]
    anns = []
    for img in images:
        if img["id"] == 13:
            continue
        for cat in CATEGORIES:
            for _ in range(int(rng.integers(0, 4))):
                side = float(rng.choice([12.0, 20.0, 45.0, 80.0, 150.0, 260.0]))
                w = min(side * rng.uniform(0.6, 1.6), img["width"] - 2)
                h = min(side * rng.uniform(0.6, 1.6), img["height"] - 2)
                x = float(rng.uniform(0, img["width"] - w))
                y = float(rng.uniform(0, img["height"] - h))
                crowd = int(rng.random() < 0.08)
                anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat["id"],
                             "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                             "area": round(w * h * float(rng.uniform(0.5, 0.95)), 2), "iscrowd": crowd})
    return {"images": images, "annotations": anns, "categories": CATEGORIES}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def make_predictions(gt: dict, seed: int = 1, skip_cats: tuple[int, ...] = (7,)):
    """Per (image, category): pixel boxes (jittered truths and false positives) with 2-decimal confidences."""
    rng = np.random.default_rng(seed)
    by_pair: dict[tuple[int, int], list] = {}
    for a in gt["annotations"]:
        by_pair.setdefault((a["image_id"], a["category_id"]), []).append(a["bbox"])
    preds = {}
    for img in gt["images"]:
        for cat in CATEGORIES:
            if cat["id"] in skip_cats:
                continue
            boxes = []
            for x, y, w, h in by_pair.get((img["id"], cat["id"]), []):
                if rng.random() < 0.85:
                    j = rng.normal(0, 0.08, 4) * [w, h, w, h]
                    boxes.append([x + j[0], y + j[1], x + w + j[2], y + h + j[3]])
            for _ in range(int(rng.integers(0, 3))):
                s = rng.uniform(15, 200)
                x = rng.uniform(0, img["width"] - s)
                y = rng.uniform(0, img["height"] - s * 0.8)
                boxes.append([x, y, x + s, y + s * 0.8])
            if boxes or rng.random() < 0.5:
                conf = np.round(rng.uniform(0.05, 0.99, len(boxes)), 2).tolist()
                preds[(img["id"], cat["id"])] = [(b, c) for b, c in zip(boxes, conf)]
    return preds


def to_qwen2vl(box, width, height) -> list[int]:
    x1, y1, x2, y2 = box
    return [int(np.clip(round(x1 / width * 1000), 0, 1000)), int(np.clip(round(y1 / height * 1000), 0, 1000)),
            int(np.clip(round(x2 / width * 1000), 0, 1000)), int(np.clip(round(y2 / height * 1000), 0, 1000))]


def visual_rft_completion(items) -> str:
    if not items:
        return "<think>I see none.</think><answer>No Objects</answer>"
    body = ", ".join(f"{{'Position': {b}, 'Confidence': {c}}}" for b, c in items)
    return f"<think>Looking at the image.</think><answer>[{body}]</answer>"


def build_records(gt: dict, preds: dict, category=lambda cid: cid):
    """Visual-RFT completions in the qwen2vl frame, and the pixel detections they mean (in record order)."""
    sizes = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    records, expected = [], []
    for line, ((iid, cid), items) in enumerate(sorted(preds.items()), 1):
        w, h = sizes[iid]
        q = [(to_qwen2vl(b, w, h), c) for b, c in items]
        records.append(Record(line, {"completion": visual_rft_completion(q), "image_id": iid,
                                     "category_id": category(cid)}))
        for b, c in q:
            px = np.array(b, np.float64) * np.array([w, h, w, h], np.float64) / 1000.0
            expected.append({"image_id": iid, "category_id": cid,
                             "bbox": [px[0], px[1], px[2] - px[0], px[3] - px[1]], "score": c})
    return records, expected


def score_records(metrics: DetectionMetrics, records: list[Record], batch_size: int = 7) -> dict:
    """What the driver does: columns, the rewards, then ``add``; returns ``finalize()``."""
    opts = {"coords": metrics.coords, "solution_coords": metrics.solution_coords,
            "min_pixels": metrics.min_pixels, "max_pixels": metrics.max_pixels}
    iou, conf = make_iou_reward(**opts), make_confidence_reward(**opts)
    for k in range(0, len(records), batch_size):
        batch = records[k:k + batch_size]
        cols = metrics.columns(batch)
        fields = {f for r in batch for f in r.data} - {"completion"}
        kwargs = {f: [r.data.get(f) for r in batch] for f in fields}
        kwargs.update(cols)
        completions = [r.data["completion"] for r in batch]
        results = {"iou_reward": iou.score(completions, **kwargs), "confidence_reward": conf.score(completions,
                                                                                                 **kwargs)}
        metrics.add(batch, kwargs, parse_completions(completions), results)
    return metrics.finalize()


def pycocotools_direct(gt_path: Path, dets: list[dict], img_ids=None, cat_ids=None):
    """pycocotools' own COCOeval on result dicts (the reference)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes([dict(d) for d in dets])
        ev = COCOeval(gt, dt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_stats_equal(got: dict, want, tol: float = 1e-12):
    want = list(want)
    assert len(want) == 12
    for name, w in zip(COCO_STATS, want):
        assert abs(got["stats"][name] - w) <= tol, (name, got["stats"][name], w)


@pytest.fixture()
def coco(tmp_path):
    gt = make_gt(0)
    return gt, write_json(tmp_path / "instances.json", gt)


# ------------------------------------------------------------------------------------------ agreement with COCO


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_stats_equal_pycocotools_run_directly(coco, evaluator):
    gt, path = coco
    preds = make_predictions(gt)
    records, expected = build_records(gt, preds)
    assert any(a["iscrowd"] for a in gt["annotations"])
    areas = [a["area"] for a in gt["annotations"]]
    assert min(areas) < 32 ** 2 < 96 ** 2 < max(areas)  # every area range is populated
    m = DetectionMetrics(gt_path=path, evaluator=evaluator)
    got = score_records(m, records)
    ref = pycocotools_direct(path, expected)
    assert_stats_equal(got, ref.stats)
    assert got["evaluator"] == evaluator
    assert got["detections"] == len(expected)
    assert 0.2 < got["stats"]["AP"] < 0.9
    # the converted boxes are exactly the pixel boxes the completions mean
    dets = m.detections()
    np.testing.assert_array_equal(dets[:, 1:5], np.array([d["bbox"] for d in expected]))
    np.testing.assert_array_equal(dets[:, 5], [d["score"] for d in expected])
    # per category: AP from pycocotools' precision array, GT counts without crowd boxes
    p = ref.eval["precision"]
    for k, row in enumerate(got["per_category"]):
        pk = p[:, :, k, 0, 2]
        assert row["id"] == ref.params.catIds[k]
        assert row["AP"] == pytest.approx(pk[pk > -1].mean() if (pk > -1).any() else -1.0, abs=1e-12)
        n_gt = sum(1 for a in gt["annotations"] if a["category_id"] == row["id"] and not a["iscrowd"])
        assert row["n_gt"] == n_gt
        assert row["n_det"] == sum(1 for d in expected if d["category_id"] == row["id"])
    drier = next(r for r in got["per_category"] if r["name"] == "hair drier")
    assert drier["n_det"] == 0 and drier["n_gt"] > 0 and drier["AP"] == 0.0
    assert got["boxes_outside_image"] == got["degenerate_boxes"] == got["unknown_labels"] == 0
    assert got["default_score_used"] == 0
    json.dumps(got)  # JSON-serializable


@needs_fce
def test_faster_coco_eval_equals_pycocotools_on_a_larger_set(tmp_path):
    gt = make_gt(3, n_images=120)
    path = write_json(tmp_path / "gt.json", gt)
    records, expected = build_records(gt, make_predictions(gt, seed=4, skip_cats=()))
    results = {}
    for evaluator in ("pycocotools", "faster-coco-eval"):
        results[evaluator] = score_records(DetectionMetrics(gt_path=path, evaluator=evaluator), records, 64)
    a, b = results["pycocotools"], results["faster-coco-eval"]
    assert_stats_equal(b, [a["stats"][n] for n in COCO_STATS])
    assert_stats_equal(a, pycocotools_direct(path, expected).stats)
    assert [r["AP"] for r in a["per_category"]] == pytest.approx([r["AP"] for r in b["per_category"]], abs=1e-12)


def test_precomputed_ious_are_cocoeval_ious_bit_for_bit(coco):
    """faster-coco-eval is handed every (image, category) IoU matrix computed at once: they must be the
    matrices COCOeval computes pair by pair (same detection order, maxDets cut, crowd rule, same bits)."""
    gt, path = coco
    preds = make_predictions(gt, seed=21)
    rng = np.random.default_rng(5)
    crowd = next(a for a in gt["annotations"] if a["iscrowd"])
    x, y, w, h = crowd["bbox"]
    many = [([x + dx, y + dy, x + w + dx, y + h + dy], round(float(c), 1))  # ties, and more than maxDets=100
            for dx, dy, c in zip(rng.normal(0, 3, 130), rng.normal(0, 3, 130), rng.uniform(0, 1, 130))]
    many += [([x, y, x + w, y + h], 0.5), ([x + w, y, x + 2 * w, y + h], 0.9)]  # identical; touching edge
    preds[(crowd["image_id"], crowd["category_id"])] = many
    dets = np.array([[iid, b[0], b[1], b[2] - b[0], b[3] - b[1], c, cid]
                     for (iid, cid), items in sorted(preds.items()) for b, c in items], np.float64)
    img_ids, cat_ids = sorted(i["id"] for i in gt["images"]), sorted(c["id"] for c in CATEGORIES)
    table = cocoeval_ious(CocoTruth(path), dets, img_ids, cat_ids, 100)
    expected = [{"image_id": int(d[0]), "category_id": int(d[6]), "bbox": d[1:5].tolist(), "score": d[5]}
                for d in dets]
    ref = pycocotools_direct(path, expected)
    pairs = {k: v for k, v in ref.ious.items() if len(v)}
    assert set(table) == set(pairs)
    for key, want in pairs.items():
        assert table[key].shape == np.shape(want), key
        np.testing.assert_array_equal(table[key], want)
    assert table[(crowd["image_id"], crowd["category_id"])].shape[0] == 100


def test_evaluator_backends_share_one_interface(coco):
    gt, path = coco
    m = DetectionMetrics(gt_path=path)
    score_records(m, build_records(gt, make_predictions(gt, seed=8))[0])
    img_ids, cat_ids = sorted(i["id"] for i in gt["images"]), [1, 3, 5, 7]
    runs = {name: make_evaluator(name).evaluate(m.truth, m.detections(), img_ids, cat_ids) for name in EVALUATORS}
    for ev in runs.values():
        assert ev.precision.shape == (10, 101, 4, 4, 3) and ev.recall.shape == (10, 4, 4, 3)
        assert ev.max_dets == (1, 10, 100) and ev.max_det_index == 2 and len(ev.coco_stats) == 12
    first, *others = runs.values()
    for ev in others:
        np.testing.assert_allclose(ev.precision, first.precision, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ev.coco_stats, first.coco_stats, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="evaluator must be one of"):
        make_evaluator("detectron")
    with pytest.raises(ValueError, match="no LVIS rules"):
        make_evaluator("pycocotools").evaluate(m.truth, m.detections(), img_ids, cat_ids, lvis=True)


def test_auto_picks_faster_coco_eval_when_installed(coco):
    _, path = coco
    assert DetectionMetrics(gt_path=path).evaluator == ("faster-coco-eval" if HAVE_FCE else "pycocotools")


def test_category_names_match_ids(coco):
    gt, path = coco
    preds = make_predictions(gt)
    spelled = {1: "PERSON", 3: "Traffic Light", 5: " dog ", 7: "hair_drier"}
    by_id = score_records(DetectionMetrics(gt_path=path, evaluator="pycocotools"), build_records(gt, preds)[0])
    records, _ = build_records(gt, preds, category=lambda cid: spelled[cid])
    m = DetectionMetrics(gt_path=path, evaluator="pycocotools")
    assert m.columns(records[:5]) == DetectionMetrics(gt_path=path).columns(build_records(gt, preds)[0][:5])
    by_name = score_records(m, records)
    assert_stats_equal(by_name, [by_id["stats"][n] for n in COCO_STATS], tol=0.0)
    records, _ = build_records(gt, preds, category=lambda cid: str(cid))  # ids written as strings
    assert score_records(DetectionMetrics(gt_path=path, evaluator="pycocotools"), records)["stats"] == \
        by_id["stats"]
    bad = [Record(4, {"completion": "", "image_id": 11, "category_id": "unicorn"})]
    with pytest.raises(ValueError, match=r"line 4: category_id 'unicorn' is not a category"):
        DetectionMetrics(gt_path=path).columns(bad)
    with pytest.raises(ValueError, match=r"line 9: category_id 2 is not a category"):
        DetectionMetrics(gt_path=path).columns([Record(9, {"completion": "", "image_id": 11, "category_id": 2})])


def test_labels_name_the_category_when_records_have_none(coco):
    gt, path = coco
    sizes = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    names = {1: "person", 3: "traffic light", 5: "Dog"}
    preds = make_predictions(gt, seed=5)
    by_image: dict[int, list] = {}
    for (iid, cid), items in sorted(preds.items()):
        by_image.setdefault(iid, []).extend((b, c, names[cid], cid) for b, c in items)
    records, expected = [], []
    for line, (iid, items) in enumerate(sorted(by_image.items()), 1):
        w, h = sizes[iid]
        objs = []
        for b, c, name, cid in items:
            q = to_qwen2vl(b, w, h)
            objs.append({"bbox_2d": q, "label": name, "confidence": c})
            px = np.array(q, np.float64) * np.array([w, h, w, h], np.float64) / 1000.0
            expected.append({"image_id": iid, "category_id": cid,
                             "bbox": [px[0], px[1], px[2] - px[0], px[3] - px[1]], "score": c})
        objs.append({"bbox_2d": [1, 1, 50, 50], "label": "unicorn", "confidence": 0.5})
        objs.append({"bbox_2d": [5, 5, 60, 60], "confidence": 0.4})  # no label at all
        text = "<think>.</think><answer>```json\n" + json.dumps(objs) + "\n```</answer>"
        records.append(Record(line, {"completion": text, "image_id": iid}))
    m = DetectionMetrics(gt_path=path, evaluator="pycocotools")
    cols = m.columns(records[:1])
    truth = [a for a in gt["annotations"] if a["image_id"] == records[0].data["image_id"] and not a["iscrowd"]]
    objs = json.loads(cols["solution"][0])
    assert len(objs) == len(truth)
    assert {d["label"] for d in objs} <= {c["name"] for c in CATEGORIES}
    assert sorted(d["bbox_2d"] for d in objs) == sorted(
        [a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in truth)
    got = score_records(m, records)
    assert got["unknown_labels"] == 2 * len(records)
    assert got["detections"] == len(expected)
    # unknown labels are left out; the rest is what pycocotools says of the named detections
    expected_sorted = sorted(expected, key=lambda d: (d["image_id"],))
    assert_stats_equal(got, pycocotools_direct(path, expected_sorted).stats)


def test_missing_confidence_uses_default_score_and_warns_once(coco):
    gt, path = coco
    records = [Record(k + 1, {"completion": f"<think>.</think><answer>[{{'Position': [10, 10, {300 + k}, 400]}}, "
                                            f"{{'Position': [500, 500, 900, 900], 'Confidence': 0.3}}]</answer>",
                              "image_id": 11, "category_id": 1}) for k in range(4)]
    m = DetectionMetrics(gt_path=path, default_score=0.75, evaluator="pycocotools")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score_records(m, records, batch_size=2)  # two batches without confidences: one warning
    messages = [str(w.message) for w in caught if "default_score" in str(w.message)]
    assert len(messages) == 1
    assert "order" in messages[0]
    result = m.finalize()
    assert result["default_score_used"] == 4
    np.testing.assert_array_equal(m.detections()[:, 5], [0.75, 0.3] * 4)


def test_qwen25vl_boxes_are_scaled_from_the_resized_image(coco):
    gt, path = coco
    min_pixels, max_pixels = 3136, 200_000  # small max_pixels: the resize really shrinks
    sizes = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    preds = make_predictions(gt, seed=7)
    records, expected = [], []
    for line, ((iid, cid), items) in enumerate(sorted(preds.items()), 1):
        w, h = sizes[iid]
        rh, rw = smart_resize(h, w, min_pixels=min_pixels, max_pixels=max_pixels)
        assert rw * rh <= max_pixels and (rw, rh) != (w, h)
        objs = []
        for b, c in items:
            q = [round(b[0] * rw / w), round(b[1] * rh / h), round(b[2] * rw / w), round(b[3] * rh / h)]
            objs.append({"bbox_2d": q, "confidence": c})
            px = np.array(q, np.float64) * np.array([w, h, w, h], np.float64) / np.array([rw, rh, rw, rh], float)
            expected.append({"image_id": iid, "category_id": cid,
                             "bbox": [px[0], px[1], px[2] - px[0], px[3] - px[1]], "score": c})
        text = "<think>.</think><answer>" + json.dumps(objs) + "</answer>"
        records.append(Record(line, {"completion": text, "image_id": iid, "category_id": cid}))
    m = DetectionMetrics(gt_path=path, coords="qwen25vl", min_pixels=min_pixels, max_pixels=max_pixels,
                         evaluator="pycocotools")
    got = score_records(m, records)
    np.testing.assert_allclose(m.detections()[:, 1:5], [d["bbox"] for d in expected], rtol=0, atol=1e-9)
    assert_stats_equal(got, pycocotools_direct(path, expected).stats)
    # the resized frame's integer rounding costs little against the unrounded boxes
    exact = [{"image_id": iid, "category_id": cid, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": c}
             for (iid, cid), items in sorted(preds.items()) for b, c in items]
    assert abs(got["stats"]["AP50"] - pycocotools_direct(path, exact).stats[1]) < 0.1


@pytest.mark.parametrize("coords", ["pixels", "unit"])
def test_pixel_and_unit_frames(coco, coords):
    gt, path = coco
    box = [64.0, 48.0, 320.0, 240.0]  # image 11 is 640 x 480
    written = box if coords == "pixels" else [0.1, 0.1, 0.5, 0.5]
    text = f"<think>.</think><answer>[{{'Position': {written}, 'Confidence': 0.9}}]</answer>"
    m = DetectionMetrics(gt_path=path, coords=coords, evaluator="pycocotools")
    score_records(m, [Record(1, {"completion": text, "image_id": 11, "category_id": 1})])
    np.testing.assert_allclose(m.detections()[0, 1:5], [64.0, 48.0, 256.0, 192.0], rtol=1e-12)


def test_boxes_outside_the_image_and_degenerate_boxes_are_counted(coco):
    gt, path = coco
    # image 11 is 640 x 480; qwen2vl units: 1 unit = 0.64 px across, 0.48 px down
    items = [
        ([0, 0, 1000, 1000], 0.9),  # the whole image: inside
        ([-1, 0, 500, 500], 0.8),  # 0.64 px beyond the left edge: within the 1 px slack
        ([-2, 0, 500, 500], 0.7),  # 1.28 px beyond: outside
        ([100, 100, 1010, 500], 0.6),  # 6.4 px beyond the right edge: outside
        ([300, 300, 300, 600], 0.5),  # zero width: degenerate
        ([400, 400, 350, 500], 0.4),  # x2 < x1: degenerate
    ]
    rec = Record(1, {"completion": visual_rft_completion(items), "image_id": 11, "category_id": 1})
    m = DetectionMetrics(gt_path=path, evaluator="pycocotools")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rewards may warn about the odd boxes; not under test here
        got = score_records(m, [rec])
    assert got["boxes_outside_image"] == 2
    assert got["degenerate_boxes"] == 2
    assert got["detections"] == 4
    assert (m.detections()[:, 3] > 0).all()


def test_unknown_image_id_names_the_line(coco):
    _, path = coco
    m = DetectionMetrics(gt_path=path)
    good = Record(1, {"completion": "", "image_id": 11, "category_id": 1})
    with pytest.raises(ValueError, match=r"line 7: image_id 999 is not an image of .*instances\.json"):
        m.columns([good, Record(7, {"completion": "", "image_id": 999, "category_id": 1})])
    with pytest.raises(ValueError, match=r"line 3: missing field 'image_id'"):
        m.columns([Record(3, {"completion": "", "category_id": 1})])
    with pytest.raises(ValueError, match=r"line 5: img '11x' is not an image"):
        DetectionMetrics(gt_path=path, image_id_field="img").columns(
            [Record(5, {"completion": "", "img": "11x", "category_id": 1}), good])
    assert m.columns([Record(2, {"completion": "", "image_id": "11", "category_id": 1})])["width"] == [640]


def test_vreward_score_names_the_input_file_and_line_of_a_bad_record(coco, tmp_path):
    from vreward.evaluate import InputError, ScoreConfig, score

    _, path = coco
    rows = [{"completion": "", "image_id": 11, "category_id": 1}, {"completion": "", "image_id": 999}]
    src = tmp_path / "completions.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=rf"^{src}:2: image_id 999 is not an image of "):
        score(ScoreConfig(input=src, coco_gt=path, progress=False))
    listed = tmp_path / "completions.json"
    listed.write_text(json.dumps([rows[0], {"completion": "", "image_id": 11, "category_id": "unicorn"}]))
    with pytest.raises(InputError, match=rf"^{listed}: record 2: category_id 'unicorn' is not a category"):
        score(ScoreConfig(input=listed, coco_gt=path, progress=False))


# ------------------------------------------------------------------------------------------------- columns


def test_columns_give_pixel_ground_truth_sizes_and_keep_own_solutions(coco):
    gt, path = coco
    m = DetectionMetrics(gt_path=path)
    crowd = next(a for a in gt["annotations"] if a["iscrowd"])
    iid, cid = crowd["image_id"], crowd["category_id"]
    records = [Record(1, {"completion": "", "image_id": iid, "category_id": cid}),
               Record(2, {"completion": "", "image_id": 13, "category_id": 1}),  # image without objects
               Record(3, {"completion": "", "image_id": 12, "category_id": 7, "solution": "[1, 2, 3, 4]"})]
    cols = m.columns(records)
    want = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
            for a in gt["annotations"] if (a["image_id"], a["category_id"]) == (iid, cid) and not a["iscrowd"]]
    assert want and json.loads(cols["solution"][0]) == want
    assert cols["solution"][1] == "[]"  # "no objects" for the rewards
    assert cols["solution"][2] == "[1, 2, 3, 4]"
    size = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    assert cols["width"] == [size[iid][0], 800, 500]
    assert cols["height"] == [size[iid][1], 600, 375]
    own = m.columns([records[2]])
    assert "solution" not in own and own["width"] == [500]


def test_the_rewards_score_against_the_ground_truth_columns(coco):
    gt, path = coco
    target = next(a for a in gt["annotations"] if not a["iscrowd"] and a["bbox"][2] > 40 and a["bbox"][3] > 40)
    iid, cid = target["image_id"], target["category_id"]
    w, h = next((i["width"], i["height"]) for i in gt["images"] if i["id"] == iid)
    pairs = [a for a in gt["annotations"] if (a["image_id"], a["category_id"]) == (iid, cid) and not a["iscrowd"]]
    items = [(to_qwen2vl([a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]],
                         w, h), 0.9) for a in pairs]
    records = [Record(1, {"completion": visual_rft_completion(items), "image_id": iid, "category_id": cid}),
               Record(2, {"completion": visual_rft_completion([]), "image_id": 13, "category_id": 1})]
    m = DetectionMetrics(gt_path=path)
    cols = m.columns(records)
    iou = make_iou_reward(coords="qwen2vl", solution_coords="pixels")
    scores = iou.score([r.data["completion"] for r in records], **cols).scores
    assert scores[0] > 0.9  # exact truths up to the 0-1000 rounding
    assert scores[1] == 1.0  # "No Objects" on an image without objects


# ---------------------------------------------------------------------------------------------- image choice


def test_images_gt_counts_unscored_images_and_scored_does_not(coco):
    gt, path = coco
    preds = {k: v for k, v in make_predictions(gt).items() if k[0] in (11, 12)}
    records, expected = build_records(gt, preds)
    all_images = score_records(DetectionMetrics(gt_path=path, evaluator="pycocotools"), records)
    scored = score_records(DetectionMetrics(gt_path=path, evaluator="pycocotools", images="scored"), records)
    assert_stats_equal(all_images, pycocotools_direct(path, expected).stats)
    assert_stats_equal(scored, pycocotools_direct(path, expected, img_ids=[11, 12]).stats)
    assert scored["n_images"] == 2 and all_images["n_images"] == len(gt["images"])
    assert scored["stats"]["AR100"] > all_images["stats"]["AR100"]  # unscored images' objects count as missed
    cats = score_records(DetectionMetrics(gt_path=path, evaluator="pycocotools", categories="scored"), records)
    assert cats["n_categories"] == 3
    assert_stats_equal(cats, pycocotools_direct(path, expected, cat_ids=[1, 3, 5]).stats)


# ------------------------------------------------------------------------------------------------- options


def test_constructor_validates_options_and_ground_truth(tmp_path, coco, monkeypatch):
    _, path = coco
    with pytest.raises(FileNotFoundError, match="nope.json"):
        DetectionMetrics(gt_path=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json: not valid JSON"):
        DetectionMetrics(gt_path=bad)
    with pytest.raises(ValueError, match=r"missing list field 'categories'"):
        DetectionMetrics(gt_path=write_json(tmp_path / "x.json", {"images": [], "annotations": []}))
    no_size = {"images": [{"id": 1}], "annotations": [], "categories": CATEGORIES}
    with pytest.raises(ValueError, match=r"images\[0\] \(id 1\): fields 'width' and 'height'"):
        DetectionMetrics(gt_path=write_json(tmp_path / "y.json", no_size))
    orphan = make_gt(0)
    orphan["annotations"][3]["image_id"] = 4242
    with pytest.raises(ValueError, match=r"annotations\[3\]: image_id 4242 is not in 'images'"):
        DetectionMetrics(gt_path=write_json(tmp_path / "z.json", orphan))
    for kwargs, match in [({"coords": "xyxy"}, "coords must be one of"), ({"evaluator": "detectron"}, "evaluator"),
                          ({"images": "all"}, "images must be"), ({"default_score": float("nan")}, "default_score"),
                          ({"min_pixels": 10, "max_pixels": 5}, "min_pixels"), ({"category_field": ""}, "category"),
                          ({"lvis": "yes"}, "lvis")]:
        with pytest.raises(ValueError, match=match):
            DetectionMetrics(gt_path=path, **kwargs)
    with pytest.raises(ValueError, match="needs faster-coco-eval"):
        DetectionMetrics(gt_path=path, lvis=True, evaluator="pycocotools")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "faster_coco_eval"
                        else real(name, *a))
    with pytest.raises(ValueError, match="evaluator='faster-coco-eval' is not installed"):
        DetectionMetrics(gt_path=path, evaluator="faster-coco-eval")
    assert DetectionMetrics(gt_path=path).evaluator == "pycocotools"


def test_annotation_ids_that_break_cocoeval_are_renumbered(tmp_path):
    gt = make_gt(0)
    preds = make_predictions(gt)
    records, expected = build_records(gt, preds)
    path = write_json(tmp_path / "ok.json", gt)
    want = pycocotools_direct(path, expected).stats
    for a in gt["annotations"]:
        a["id"] -= 1  # starts at 0: pycocotools would take annotation 0 for "unmatched"
    got = score_records(DetectionMetrics(gt_path=write_json(tmp_path / "zero.json", gt), evaluator="pycocotools"),
                        records)
    assert_stats_equal(got, want)


# ---------------------------------------------------------------------------------------------------- LVIS


def lvis_gt() -> dict:
    """Two images. Image 1: apple and banana present, cherry verified absent, banana not exhaustively
    annotated. Image 2: apple and date present, banana verified absent. Cherry has no ground truth at all."""
    cats = [{"id": 1, "name": "apple", "frequency": "f"}, {"id": 2, "name": "banana", "frequency": "c"},
            {"id": 3, "name": "cherry", "frequency": "r"}, {"id": 4, "name": "date_fruit", "frequency": "r"}]
    images = [{"id": 1, "width": 400, "height": 400, "neg_category_ids": [3], "not_exhaustive_category_ids": [2]},
              {"id": 2, "width": 400, "height": 400, "neg_category_ids": [2], "not_exhaustive_category_ids": []}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 100, 100], "area": 10000},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [200, 200, 50, 50], "area": 2500},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [50, 50, 200, 200], "area": 40000},
            {"id": 4, "image_id": 2, "category_id": 4, "bbox": [0, 0, 20, 20], "area": 400}]
    return {"images": images, "annotations": anns, "categories": cats}


def pixel_record(line, iid, cid, items) -> Record:
    body = ", ".join(f"{{'Position': {b}, 'Confidence': {c}}}" for b, c in items)
    return Record(line, {"completion": f"<answer>[{body}]</answer>", "image_id": iid, "category_id": cid})


@needs_fce
def test_lvis_federated_rules(tmp_path):
    path = write_json(tmp_path / "lvis.json", lvis_gt())

    def run(*extra: Record) -> dict:
        perfect = [pixel_record(1, 1, 1, [([10, 10, 110, 110], 0.9)]),  # apple, image 1
                   pixel_record(2, 2, 1, [([50, 50, 250, 250], 0.8)]),  # apple, image 2
                   pixel_record(3, 1, 2, [([200, 200, 250, 250], 0.7)]),  # banana, image 1
                   pixel_record(4, 2, 4, [([0, 0, 20, 20], 0.6)])]  # date, image 2
        return score_records(DetectionMetrics(gt_path=path, lvis=True, coords="pixels"), perfect + list(extra))

    def false_positive(iid, cid):
        return pixel_record(5, iid, cid, [([300, 300, 390, 390], 0.99)])  # empty corner, above every score

    base = run()
    assert base["rules"] == "lvis"
    assert list(base["stats"]) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR@300",
                                   "ARs@300", "ARm@300", "ARl@300"]
    assert base["stats"]["AP"] == base["stats"]["APr"] == base["stats"]["APc"] == base["stats"]["APf"] == 1.0
    cherry = next(r for r in base["per_category"] if r["name"] == "cherry")
    assert cherry["AP"] == -1.0 and cherry["n_gt"] == 0 and cherry["frequency"] == "r"
    # a false apple where apples are annotated: a false positive (frequent group)
    assert run(false_positive(2, 1))["stats"]["APf"] < 1.0
    # a false banana on image 2, where banana is verified absent (negative list): a false positive
    assert run(false_positive(2, 2))["stats"]["APc"] < 1.0
    # a false banana on image 1, where banana is not exhaustively annotated: ignored
    assert run(false_positive(1, 2))["stats"]["APc"] == 1.0
    # a date on image 1, where date is neither annotated nor verified absent: dropped
    assert run(false_positive(1, 4))["stats"]["APr"] == 1.0
    # the same date box under COCO rules would be a false positive
    coco_path = write_json(tmp_path / "as_coco.json", {**lvis_gt(), "images": [
        {k: v for k, v in i.items() if k in ("id", "width", "height")} for i in lvis_gt()["images"]]})
    perfect = [pixel_record(1, 2, 4, [([0, 0, 20, 20], 0.6)]), false_positive(1, 4)]
    assert score_records(DetectionMetrics(gt_path=coco_path, coords="pixels"), perfect)["stats"]["AP"] < 1.0


@needs_fce
def test_lvis_keeps_the_300_best_detections_per_image(tmp_path):
    path = write_json(tmp_path / "lvis.json", lvis_gt())
    rng = np.random.default_rng(0)
    # 300 confident false apples on image 1 plus the true apple with a lower score: the true one is cut.
    fps = [([float(x), 300.0, float(x) + 5, 305.0], 0.99) for x in rng.uniform(150, 390, 300)]
    records = [pixel_record(1, 1, 1, fps + [([10, 10, 110, 110], 0.5)]),
               pixel_record(2, 2, 1, [([50, 50, 250, 250], 0.8)])]
    m = DetectionMetrics(gt_path=path, lvis=True, coords="pixels")
    got = score_records(m, records)
    assert got["over_max_dets_per_image"] == 1
    assert got["detections"] == 301  # 300 on image 1, 1 on image 2
    apple = next(r for r in got["per_category"] if r["name"] == "apple")
    assert apple["n_det"] == 301
    # AR@300 averages apple, banana and date (cherry has no ground truth); banana and date are never
    # detected. Apple's recall is 1/2 with its true box on image 1 cut, 1 when it ranks in the first 300.
    assert got["stats"]["AR@300"] == pytest.approx(0.5 / 3, abs=1e-12)
    records[0] = pixel_record(1, 1, 1, fps[:299] + [([10, 10, 110, 110], 0.5)])
    again = score_records(DetectionMetrics(gt_path=path, lvis=True, coords="pixels"), records)
    assert again["over_max_dets_per_image"] == 0
    assert again["stats"]["AR@300"] == pytest.approx(1 / 3, abs=1e-12)


def test_lvis_ground_truth_needs_its_fields(tmp_path):
    gt = lvis_gt()
    del gt["categories"][1]["frequency"]
    with pytest.raises(ValueError, match=r"categories\[1\] \(id 2\): LVIS ground truth needs 'frequency'"):
        DetectionMetrics(gt_path=write_json(tmp_path / "a.json", gt), lvis=True,
                         evaluator="faster-coco-eval" if HAVE_FCE else "auto")
    gt = lvis_gt()
    del gt["images"][0]["neg_category_ids"]
    if HAVE_FCE:
        with pytest.raises(ValueError, match=r"images\[0\] \(id 1\): LVIS ground truth needs a list field"):
            DetectionMetrics(gt_path=write_json(tmp_path / "b.json", gt), lvis=True)


# ------------------------------------------------------------------------------------------- table, figures


def test_table_figures_and_samples(coco, tmp_path):
    gt, path = coco
    records, _ = build_records(gt, make_predictions(gt))
    m = DetectionMetrics(gt_path=path, evaluator="pycocotools")
    got = score_records(m, records)
    lines = m.table()
    text = "\n".join(lines)
    for name in COCO_STATS:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert f"{got['stats']['AP']:.4f}" in text
    assert "hair drier" in text and "traffic_light" in text
    pytest.importorskip("matplotlib")
    figs = m.figures(tmp_path / "figs")
    assert len(figs) == 1 and figs[0].path.exists()
    assert figs[0].path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = records[0]
    cols = m.columns([rec])
    row = {**rec.data, **{k: v[0] for k, v in cols.items()}}
    sample = m.samples_pixels(Sample(line=1, score=0.0, reason=None, completion=rec.data["completion"]), row)
    w, h = cols["width"][0], cols["height"][0]
    want = parse_completions([rec.data["completion"]]).boxes * np.array([w, h, w, h]) / 1000.0
    np.testing.assert_allclose(sample.predicted, want, rtol=1e-12)
    truth = json.loads(cols["solution"][0])
    np.testing.assert_allclose(np.array(sample.truth).reshape(-1, 4), np.array(truth).reshape(-1, 4))
    assert sample.label == next(c["name"] for c in CATEGORIES if c["id"] == rec.data["category_id"])


def test_many_categories_table_shows_top_and_bottom(tmp_path):
    cats = [{"id": k, "name": f"class_{k}"} for k in range(1, 31)]
    images = [{"id": 1, "width": 100, "height": 100}]
    anns = [{"id": k, "image_id": 1, "category_id": k, "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0}
            for k in range(1, 31)]
    path = write_json(tmp_path / "many.json", {"images": images, "annotations": anns, "categories": cats})
    # category k is found with IoU that falls as k grows
    records = [pixel_record(k, 1, k, [([10, 10, 60 + k, 60 + k], 0.9)]) for k in range(1, 31)]
    m = DetectionMetrics(gt_path=path, coords="pixels", evaluator="pycocotools")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score_records(m, records)
    lines = m.table()
    assert any("... 10 more ..." in line for line in lines)
    shown = [line.split()[0] for line in lines if line.strip().startswith("class_")]
    assert shown[:2] == ["class_1", "class_2"] and shown[-1] == "class_30" and len(shown) == 20


def test_nothing_added_still_evaluates(coco):
    _, path = coco
    for evaluator in EVALUATORS:
        got = DetectionMetrics(gt_path=path, evaluator=evaluator).finalize()
        assert got["detections"] == 0
        assert got["stats"]["AP"] == 0.0 and got["stats"]["AR100"] == 0.0


def test_importing_the_module_stays_light():
    code = ("import sys, vreward.evaluate.detection; "
            "print(sorted(m for m in ('pycocotools', 'faster_coco_eval', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_vreward_score_end_to_end_matches_pycocotools(coco, tmp_path):
    from vreward.evaluate import ScoreConfig, score

    gt, path = coco
    records, expected = build_records(gt, make_predictions(gt, seed=11))
    src = tmp_path / "completions.jsonl"
    src.write_text("".join(json.dumps(r.data) + "\n" for r in records))
    want = pycocotools_direct(path, expected).stats
    for evaluator in EVALUATORS:
        summary = score(ScoreConfig(input=src, task="detection", coco_gt=path, evaluator=evaluator, batch_size=5,
                                    report=tmp_path / f"report_{evaluator}", progress=False))
        assert summary["records"] == len(records)
        assert_stats_equal(summary["metrics"], want)
        assert summary["metrics"]["evaluator"] == evaluator
        assert (tmp_path / f"report_{evaluator}" / "detection_pr_curves.png").exists()
