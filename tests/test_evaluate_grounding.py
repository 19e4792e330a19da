"""Grounding metrics (Acc@t, mean IoU, gIoU, cIoU; box and mask level) on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vreward
from vreward.evaluate.base import Record, Sample
from vreward.evaluate.grounding import GroundingMetrics, box_overlaps
from vreward.masks import box_rle, rle_total, to_rle

mask_utils = pytest.importorskip("pycocotools.mask")


def answer(box) -> str:
    return f"<think>looking</think><answer>[{{'bbox_2d': {list(box)}}}]</answer>"


def run(metrics: GroundingMetrics, completions: list[str], columns: dict, rewards=None) -> dict:
    """Feed one batch the way the driver does, and finalize."""
    records = [Record(i + 1, {k: v[i] for k, v in columns.items()}) for i in range(len(completions))]
    parsed = vreward.parse_completions(completions)
    rewards = rewards or (vreward.giou_reward, vreward.format_reward)
    results = {r.__name__: r.score(completions, **columns) for r in rewards}
    metrics.add(records, columns, parsed, results)
    return metrics.finalize()


A = [0, 0, 10, 10]


def test_hand_computed_box_metrics():
    completions = [
        answer(A),  # IoU 1: intersection 100, union 100
        answer([0, 0, 10, 20]),  # IoU 0.5 exactly: 100 / 200
        answer([5, 0, 15, 10]),  # IoU 1/3: 50 / 150
        "I think it is the cat on the left",  # no answer: IoU 0, union = the ground truth's 100
    ]
    m = GroundingMetrics(thresholds=(0.3, 0.5))
    r = run(m, completions, {"solution": [json.dumps(A)] * 4})
    assert r["samples"] == 4
    # Acc@t counts IoU strictly above t (VLM-R1's `iou > 0.5`): the IoU of exactly 0.5 is not correct at 0.5
    assert r["box"]["acc"] == {"0.3": 0.75, "0.5": 0.25}
    assert r["box"]["mean_iou"] == pytest.approx((1 + 0.5 + 1 / 3 + 0) / 4)
    assert r["box"]["giou"] == pytest.approx((1 + 0.5 + 1 / 3 + 0) / 4)
    assert r["box"]["ciou"] == pytest.approx((100 + 100 + 50 + 0) / (100 + 200 + 150 + 100))
    assert r["box"]["area_unit"] == "frame (unspecified)"
    assert r["mask"] is None
    assert r["failures"] == {"no_answer_tag": 1}
    assert list(r) == ["samples", "box", "mask", "failures"]
    json.dumps(r)  # JSON-serializable


def test_batches_accumulate_like_one_batch():
    completions = [answer(A), answer([0, 0, 10, 20]), answer([5, 0, 15, 10]), answer([20, 20, 30, 30])]
    solutions = [json.dumps(A), json.dumps(A), json.dumps([0, 0, 20, 10]), json.dumps(A)]
    whole = run(GroundingMetrics(), completions, {"solution": solutions})
    parts = GroundingMetrics()
    run(parts, completions[:1], {"solution": solutions[:1]})
    split = run(parts, completions[1:], {"solution": solutions[1:]})
    assert split == whole


def test_best_ground_truth_box_counts():
    gts = [[100, 100, 200, 200], [0, 0, 10, 10]]
    sol = "<answer>[" + ", ".join(f"{{'Position': {g}, 'Confidence': 1}}" for g in gts) + "]</answer>"
    r = run(GroundingMetrics(), [answer([0, 0, 10, 5])], {"solution": [sol]})
    assert r["box"]["giou"] == pytest.approx(0.5)
    assert r["box"]["ciou"] == pytest.approx(50 / 100)  # intersection and union of the best-matching box


def test_first_predicted_box_counts():
    text = "<answer>[{'bbox_2d': [50, 50, 60, 60]}, {'bbox_2d': [0, 0, 10, 10]}]</answer>"
    r = run(GroundingMetrics(), [text], {"solution": [json.dumps(A)]})
    assert r["box"]["giou"] == 0.0
    assert r["failures"] == {"no_overlap": 1}


def test_box_overlaps_agrees_with_box_iou():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (500, 4))
    b = rng.uniform(0, 100, (500, 4))
    a[::7] = a[::7, [2, 3, 0, 1]]  # some degenerate boxes
    a[3] = [np.nan, 0, 1, 1]
    iou, inter, union = box_overlaps(a, b)
    expected = np.diag(vreward.box_iou(a, b))
    np.testing.assert_array_equal(iou, expected)
    ok = iou > 0
    np.testing.assert_allclose(inter[ok] / union[ok], iou[ok])
    assert np.all(inter[~ok] == 0)


def test_empty_ground_truth_and_explicit_empty_answers():
    completions = [
        "<answer>No Objects</answer>",  # nothing to find, nothing found: correct (IoU 1, LISA's rule)
        answer(A),  # a box where there is nothing
        "<answer>[]</answer>",  # nothing found where there is something
        answer([20, 20, 30, 30]),  # no overlap
    ]
    solutions = ["<answer>No Objects</answer>", "[]", json.dumps(A), json.dumps(A)]
    r = run(GroundingMetrics(), completions, {"solution": solutions})
    assert r["box"]["acc"]["0.5"] == 0.25
    assert r["box"]["giou"] == 0.25
    assert r["box"]["mean_iou"] == 0.0  # over the two samples whose ground truth has a box
    # unions: 0 (both empty), the box on empty (100), the missed truth (100), the non-overlapping pair (200)
    assert r["box"]["ciou"] == 0.0
    assert r["failures"] == {"boxes_on_empty": 1, "missed_objects": 1, "no_overlap": 1}
    # every sample with IoU 0 has exactly one failure reason
    assert sum(r["failures"].values()) == 3


def test_thresholds_are_validated_and_keyed():
    for bad in [(0.0,), (1.0,), (1.5,), (-0.1,), (float("nan"),), ("0.5",), (True,), ()]:
        with pytest.raises(ValueError):
            GroundingMetrics(thresholds=bad)
    with pytest.raises(ValueError):
        GroundingMetrics(coords="normalized")
    m = GroundingMetrics(thresholds=(0.75, 0.5, 0.75))
    assert m.thresholds == (0.75, 0.5)
    r = run(m, [answer([0, 0, 10, 8])], {"solution": [json.dumps(A)]})  # IoU 0.8
    assert r["box"]["acc"] == {"0.75": 1.0, "0.5": 1.0}


def test_frames_convert_ground_truth_and_cIoU_uses_pixel_areas():
    # qwen2vl predictions (0-1000) against pixel ground truth on images of different sizes
    completions = [answer([0, 0, 500, 250]), answer([250, 0, 750, 500])]
    columns = {"solution": [json.dumps([0, 0, 50, 50]), json.dumps([0, 0, 100, 100])],
               "width": [100, 200], "height": [100, 200]}
    reward = vreward.make_giou_reward(coords="qwen2vl", solution_coords="pixels")
    m = GroundingMetrics(coords="qwen2vl", solution_coords="pixels")
    r = run(m, completions, columns, rewards=(reward,))
    assert r["box"]["giou"] == pytest.approx((0.5 + 1 / 3) / 2)
    # pixels: sample 1 intersection 50*25 = 1250, union 2500; sample 2 intersection 50*100 = 5000, union 15000
    assert r["box"]["ciou"] == pytest.approx((1250 + 5000) / (2500 + 15000))
    assert r["box"]["area_unit"] == "pixels"
    # the same numbers without image sizes, both sides in 0-1000: areas in frame units give another cIoU
    m2 = GroundingMetrics(coords="qwen2vl")
    r2 = run(m2, completions, {"solution": [json.dumps([0, 0, 500, 500])] * 2},
             rewards=(vreward.make_giou_reward(coords="qwen2vl"),))
    assert r2["box"]["giou"] == pytest.approx(r["box"]["giou"])
    assert r2["box"]["ciou"] == pytest.approx((125000 + 125000) / (250000 + 375000))
    assert r2["box"]["area_unit"] == "frame (qwen2vl)"


def test_pixel_frames_need_image_sizes():
    m = GroundingMetrics(coords="qwen25vl", solution_coords="pixels")
    with pytest.raises(ValueError, match="width"):
        run(m, [answer(A)], {"solution": [json.dumps(A)]}, rewards=(vreward.format_reward,))


def test_qwen25vl_frame_round_trip():
    # a 1000x500 image is resized by smart_resize to 1008x504: a pixel box maps into the resized frame
    sol = json.dumps([100, 100, 300, 200])
    pred = [100 * 1.008, 100 * 1.008, 300 * 1.008, 200 * 1.008]
    m = GroundingMetrics(coords="qwen25vl", solution_coords="pixels")
    reward = vreward.make_giou_reward(coords="qwen25vl", solution_coords="pixels")
    r = run(m, [answer(pred)], {"solution": [sol], "width": [1000], "height": [500]}, rewards=(reward,))
    assert r["box"]["giou"] == pytest.approx(1.0)
    assert r["box"]["ciou"] == pytest.approx(1.0)


def _rle(mask: np.ndarray, as_json: bool = True) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii") if as_json else rle["counts"]}


def test_mask_metrics_match_pycocotools():
    h, w = 40, 60
    m1 = np.zeros((h, w), np.uint8)
    m1[5:25, 10:30] = 1
    m1[20:30, 25:40] = 1
    m2 = np.zeros((h, w), np.uint8)
    m2[0:10, 0:50] = 1
    boxes = [[8, 4, 32, 28], [0, 0, 25, 12]]
    completions = [answer(b) for b in boxes]
    columns = {"solution": [json.dumps(A), json.dumps(A)], "mask": [_rle(m1), _rle(m2)],
               "width": [w, w], "height": [h, h]}
    m = GroundingMetrics(solution_coords="pixels")
    r = run(m, completions, columns, rewards=(vreward.format_reward,))
    gts = [mask_utils.encode(np.asfortranarray(x)) for x in (m1, m2)]
    preds = [mask_utils.frPyObjects(np.array([[x1, y1, x2 - x1, y2 - y1]], float), h, w)[0]
             for x1, y1, x2, y2 in boxes]
    ious = [mask_utils.iou([p], [g], [0])[0, 0] for p, g in zip(preds, gts)]
    inters = [mask_utils.area(mask_utils.merge([p, g], intersect=True)) for p, g in zip(preds, gts)]
    unions = [mask_utils.area(p) + mask_utils.area(g) - i for p, g, i in zip(preds, gts, inters)]
    mk = r["mask"]
    assert mk["samples"] == 2
    assert mk["giou"] == pytest.approx(np.mean(ious))
    assert mk["mean_iou"] == pytest.approx(np.mean(ious))
    assert mk["ciou"] == pytest.approx(sum(inters) / sum(unions))
    assert mk["acc"]["0.5"] == float(np.mean(np.array(ious) > 0.5))
    assert mk["predicted_from"] == {"mask": 0, "box": 2, "none": 0}
    assert 0 < min(ious) < max(ious) < 1  # the case is not trivial


def test_predicted_mask_polygon_mask_and_model_frame():
    h, w = 50, 100
    gt = np.zeros((h, w), np.uint8)
    gt[10:30, 20:60] = 1
    pred = np.zeros((h, w), np.uint8)
    pred[15:35, 20:60] = 1
    polygon = [[20, 10, 60, 10, 60, 30, 20, 30]]
    columns = {"solution": [json.dumps([20, 10, 60, 30])] * 3, "width": [w] * 3, "height": [h] * 3,
               "mask": [_rle(gt), polygon, _rle(gt, as_json=False)],
               "predicted_mask": [_rle(pred), None, None]}
    # the model answers in 0-1000: its box is mapped to pixels before rasterizing
    completions = [answer([0, 0, 100, 100]), answer([200, 200, 600, 600]), "no answer"]
    m = GroundingMetrics(coords="qwen2vl", solution_coords="pixels")
    reward = vreward.make_giou_reward(coords="qwen2vl", solution_coords="pixels")
    r = run(m, completions, columns, rewards=(reward,))
    g = mask_utils.encode(np.asfortranarray(gt))
    poly = mask_utils.merge(mask_utils.frPyObjects(polygon, h, w))
    box = mask_utils.frPyObjects(np.array([[20.0, 10.0, 40.0, 20.0]]), h, w)[0]
    expected = [mask_utils.iou([mask_utils.encode(np.asfortranarray(pred))], [g], [0])[0, 0],
                mask_utils.iou([box], [poly], [0])[0, 0],
                0.0]
    assert r["mask"]["predicted_from"] == {"mask": 1, "box": 1, "none": 1}
    assert r["mask"]["giou"] == pytest.approx(np.mean(expected))
    assert expected[1] == pytest.approx(1.0)


def test_mask_field_absent_or_none_gives_no_mask_metrics():
    r = run(GroundingMetrics(), [answer(A)], {"solution": [json.dumps(A)], "mask": [None]})
    assert r["mask"] is None


def test_bad_masks_name_the_line():
    columns = {"solution": [json.dumps(A)], "mask": [{"size": [4, 4], "counts": "zzz~"}]}
    with pytest.raises(ValueError, match="line 1"):
        run(GroundingMetrics(), [answer(A)], columns)
    with pytest.raises(ValueError, match="polygon mask needs the image size"):
        run(GroundingMetrics(), [answer(A)], {"solution": [json.dumps(A)], "mask": [[[0, 0, 5, 0, 5, 5]]]})
    with pytest.raises(ValueError, match="sum"):
        to_rle({"size": [2, 2], "counts": [1, 1]}, None, "x")
    with pytest.raises(ValueError, match="size"):
        to_rle(_rle(np.ones((3, 3))), (4, 4), "x")


def test_rle_total_and_box_rle():
    rng = np.random.default_rng(1)
    for _ in range(50):
        h, w = rng.integers(1, 30, 2)
        m = rng.random((h, w)) < rng.random()
        assert rle_total(mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))["counts"]) == h * w
    assert mask_utils.area(box_rle(np.array([np.nan, 0, 5, 5]), 10, 10)) == 0
    assert mask_utils.area(box_rle(np.array([-1e300, -1e300, 1e300, 1e300]), 10, 10)) == 100
    assert mask_utils.area(box_rle(np.array([2, 2, 6, 5]), 10, 10)) == 12


def test_samples_pixels_converts_frames():
    m = GroundingMetrics(coords="qwen2vl", solution_coords="pixels")
    s = Sample(line=3, score=0.0, reason=None, completion=answer([100, 200, 500, 1000]))
    out = m.samples_pixels(s, {"solution": json.dumps([10, 20, 30, 40]), "width": 200, "height": 100})
    assert out.predicted == [[20.0, 20.0, 100.0, 100.0]]
    assert out.truth == [[10.0, 20.0, 30.0, 40.0]]
    # neither frame set: the numbers are drawn as image pixels
    out = GroundingMetrics().samples_pixels(s, {"solution": json.dumps(A)})
    assert out.predicted == [[100.0, 200.0, 500.0, 1000.0]] and out.truth == [[0.0, 0.0, 10.0, 10.0]]
    # a cut-off completion: the driver's model-frame boxes are used
    cut = Sample(line=3, score=0.0, reason=None, completion="<answer>[{'bbox_2d': [1",
                 predicted=[[100.0, 200.0, 500.0, 1000.0]])
    out = m.samples_pixels(cut, {"solution": json.dumps([10, 20, 30, 40]), "width": 200, "height": 100})
    assert out.predicted == [[20.0, 20.0, 100.0, 100.0]]
    # no size known: unchanged
    assert m.samples_pixels(s, {"solution": json.dumps(A)}) is s


def test_table_and_figures(tmp_path):
    pytest.importorskip("matplotlib")
    m = GroundingMetrics(thresholds=(0.5, 0.75))
    run(m, [answer(A), answer([0, 0, 10, 20]), "x"], {"solution": [json.dumps(A)] * 3})
    lines = m.table()
    assert "Acc@0.5" in lines[0] and "Acc@0.75" in lines[0]
    assert any("no_answer_tag 1" in line for line in lines)
    figs = m.figures(tmp_path)
    assert [f.path.name for f in figs] == ["grounding_iou_hist.png", "grounding_acc_vs_threshold.png"]
    for f in figs:
        assert f.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_empty_run_finalizes():
    r = GroundingMetrics().finalize()
    assert r == {"samples": 0, "box": {"acc": {"0.5": None}, "mean_iou": None, "giou": None, "ciou": None,
                                       "area_unit": None}, "mask": None, "failures": {}}
