"""The reward catalogue: hand-computed cases from each published definition, properties, batch = single, schedules,
per-source metrics, and points read from the answers."""

from __future__ import annotations

import math
import pickle
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vreward
from vreward.parsing import parse_texts
from vreward.registry import REWARDS
from vreward.rewards.counting import make_count_reward
from vreward.rewards.masks import make_mask_iou_reward
from vreward.rewards.multi_object import coco_ap, make_detection_reward
from vreward.rewards.ocr import make_ocr_reward
from vreward.rewards.points import make_gaussian_point_reward
from vreward.rewards.temporal import make_temporal_iou_reward, read_intervals, temporal_iou
from vreward.schedules import LinearSchedule, PiecewiseSchedule, resolve, training_progress

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wrap(body: str) -> str:
    return f"<think>.</think><answer>{body}</answer>"


def scores(reward, bodies, truths, **columns):
    return reward.score([wrap(b) for b in bodies], solution=list(truths), **columns)


# ------------------------------------------------------------------------------------------------------ points


def test_points_are_read_without_changing_the_box_parse():
    texts = [wrap("[100, 200]"), wrap('{"point_2d": [1.5, 2e3]} and (3, 4), (5, 6) then (7, 8)'),
             wrap("[[1, 2], [3, 4]]"), None, wrap("[1, 2, 3, 4]"), wrap("click(start_box='(12,34)')"),
             wrap("[1e400, 5] [0.1234567890123456789, 5]")]
    batch = parse_texts(texts)
    p = batch.points
    assert p.offsets.tolist() == [0, 1, 3, 5, 5, 5, 6, 7]
    assert p.points.tolist() == [[100, 200], [1.5, 2000], [7, 8], [1, 2], [3, 4], [12, 34],
                                 [0.1234567890123456789, 5]]
    assert batch[0].reason.value == "points_not_boxes" and batch[1].boxes[0].xyxy == (3, 4, 5, 6)


# ------------------------------------------------------------------------------------------------------ clicks


TARGET = "[100, 50, 220, 90]"  # centre (160, 70), size 120 x 40


def test_click_reward_hand_cases():
    r = scores(vreward.click_reward, ["[150, 70]", "[100, 50]", "[99.9, 70]", "[0, 0, 1280, 720]",
                                      "[100, 50, 220, 90]", "[0, 0], [160, 70]", "none", "[nan, 3]"], [TARGET] * 8)
    assert r.scores.tolist() == [1, 1, 0, 0, 1, 0, 0, 0]
    assert r.reasons == [None, None, "missed_target", "missed_target", None, "missed_target", "no_point", "no_point"]
    empty = scores(vreward.click_reward, ["No Objects", "[5, 5]"], ["No Objects"] * 2)
    assert empty.scores.tolist() == [1, 0] and empty.reasons[1] == "boxes_on_empty"
    assert scores(vreward.make_click_reward(box_answers="ignore"), [TARGET], [TARGET]).reasons == ["no_point"]


def test_gaussian_point_is_gui_g2s_formula():
    r = scores(vreward.gaussian_point_reward, ["[160, 70]", "[190, 70]", "[160, 90]", "[5000, 5000]"], [TARGET] * 4)
    sx, sy = 0.5 * 120, 0.5 * 40
    expected = [1.0, math.exp(-0.5 * (30 / sx) ** 2), math.exp(-0.5 * (20 / sy) ** 2)]
    assert r.scores[:3].tolist() == pytest.approx(expected)
    assert r.scores[3] == 0.0 and r.reasons[3] == "far_from_target"
    wide = scores(make_gaussian_point_reward(alpha=1.0), ["[190, 70]"], [TARGET]).scores[0]
    assert wide == pytest.approx(math.exp(-0.5 * (30 / 120) ** 2))
    best = scores(vreward.gaussian_point_reward, ["[500, 500]"], ["[[100, 50, 220, 90], [480, 480, 520, 520]]"])
    assert best.scores[0] == 1.0  # several targets: the best


def test_click_frames_map_the_target_into_the_models_frame():
    reward = vreward.make_click_reward(coords="qwen2vl", solution_coords="pixels")
    r = scores(reward, ["[125, 97]"], [TARGET], width=[1280], height=[720])  # 160 / 1280 * 1000, 70 / 720 * 1000
    assert r.scores[0] == 1.0


# ------------------------------------------------------------------------------------------- multi-object schemes


TWO = "[[0, 0, 10, 10], [20, 20, 30, 30]]"


def test_detection_f1_hand_cases():
    cases = {"[[0, 0, 10, 10], [20, 20, 30, 30]]": 1.0,
             "[[0, 0, 10, 10]]": 2 / 3,  # one missed
             "[[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]]": 0.8,  # a duplicate costs
             "[[0, 0, 10, 10], [0, 0, 10, 10]]": 0.5,
             "[[50, 50, 60, 60]]": 0.0, "[[20, 20, 30, 30], [0, 0, 10, 10]]": 1.0,  # order does not matter
             "[[0, 0, 10, 10], [5, 0, 15, 10]]": 0.5}  # IoU 1/3 is no match at 0.5
    r = scores(vreward.detection_f1_reward, list(cases), [TWO] * len(cases))
    assert r.scores.tolist() == pytest.approx(list(cases.values()))
    assert r.reasons[4] == "no_match"
    empty = scores(vreward.detection_f1_reward, ["No Objects", "[1, 1, 5, 5]", "No Objects"],
                   ["No Objects", "No Objects", TWO])
    assert empty.scores.tolist() == [1, 0, 0] and empty.reasons[1:] == ["boxes_on_empty", "missed_objects"]


def test_published_schemes_hand_cases():
    answer, truth = ["[[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 31]]"], [TWO]
    iou2 = 100 / 110
    expected = {"perception_r1": 0.8 + (1 + iou2) / 2 - (1 / 3 + 0) / 2, "v_triune": (1 + iou2) / 2 * 0.6,
                "vision_r1": 1.0 + (1 + iou2) / 2}
    for scheme, value in expected.items():
        assert scores(make_detection_reward(scheme), answer, truth, progress=0.0).scores[0] == pytest.approx(value)
    # V-Triune's dynamic threshold: the 0.909 match is lost at 0.95 (from 10% of training)
    assert scores(make_detection_reward("v_triune"), answer, truth, progress=0.2).scores[0] == pytest.approx(
        1 / 2 * 0.6)
    assert make_detection_reward("odlength").score_range == (0.0, 1.0)
    assert make_detection_reward("perception_r1").score_range == (-1.0, 2.0)


def test_odlength_map_equals_pycocotools():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from vreward.geometry import box_iou

    rng = np.random.default_rng(0)
    for _ in range(12):
        gt = rng.uniform(0, 300, (rng.integers(1, 5), 2))
        gt = np.concatenate([gt, gt + rng.uniform(20, 120, gt.shape)], 1)
        pred = np.concatenate([gt + rng.normal(0, 8, gt.shape), rng.uniform(0, 400, (rng.integers(0, 3), 4))])
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        pred = pred[rng.permutation(len(pred))]
        gl, pl = rng.integers(0, 2, len(gt)), rng.integers(0, 2, len(pred))
        coco = COCO()
        coco.dataset = {"images": [{"id": 0, "width": 2048, "height": 2048}],
                        "categories": [{"id": int(c)} for c in np.unique(gl)],
                        "annotations": [{"id": k + 1, "image_id": 0, "category_id": int(c), "iscrowd": 0,
                                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                                         "area": (b[2] - b[0]) * (b[3] - b[1])}
                                        for k, (b, c) in enumerate(zip(gt, gl))]}
        coco.createIndex()
        dets = [{"image_id": 0, "category_id": int(c), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": 1.0}
                for b, c in zip(pred, pl) if c in set(gl.tolist())]
        if not dets:
            continue
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            ev.evaluate()
            ev.accumulate()
        p = ev.eval["precision"][:, :, :, 0, -1]
        reference = float(np.mean([p[:, :, k][p[:, :, k] > -1].mean() for k in range(p.shape[2])]))
        assert coco_ap(pred, pl, gt, gl, box_iou) == pytest.approx(reference, abs=1e-12)


# ------------------------------------------------------------------------------------------- counting, OCR, time


def test_count_hand_cases():
    r = scores(vreward.count_reward, ["3", "There are three.", "3 cats, 3 in all", "1 2 3 4 5", "4", "many", ""],
               ["3"] * 6 + [3])
    assert r.scores.tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert r.reasons[3:] == ["several_numbers", "wrong_count", "no_number", "empty_answer"]
    rel = scores(make_count_reward(mode="relative"), ["4", "0", "0"], ["3", "3", "0"])
    assert rel.scores.tolist() == pytest.approx([0.75, 0.0, 1.0])
    boxes = scores(make_count_reward(count_from="boxes"), ["[1, 1, 5, 5], [6, 6, 9, 9]", "No Objects"], ["2", "0"])
    assert boxes.scores.tolist() == [1, 1]
    with pytest.warns(vreward.rewards.base.GroundTruthWarning):
        assert scores(vreward.count_reward, ["3"], ["3.5"]).reasons == ["bad_ground_truth"]


def test_ocr_hand_cases():
    r = scores(vreward.ocr_reward, ["STOP", "stop", "STOX", "STOP STOP", "", "zzzz"], ["STOP"] * 6)
    assert r.scores.tolist() == pytest.approx([1, 1, 0.75, 4 / 9, 0, 0])
    assert r.reasons[4:] == ["empty_answer", "wrong_text"]
    words = scores(make_ocr_reward(unit="word"), ["open daily 9 am", "open 9 am"], ["Open daily 9 am"] * 2)
    assert words.scores.tolist() == pytest.approx([1.0, 0.75])
    assert scores(make_ocr_reward(normalize=False), ["stop"], ["STOP"]).scores[0] == 0.0


def test_temporal_hand_cases():
    assert read_intervals("from 00:12 to 0:20.5, and [30s, 40 seconds] 1:02:03") == [(12, 20.5), (30, 40)]
    assert temporal_iou([(0, 10), (5, 15)], [(10, 20)]) == pytest.approx(5 / 20)
    r = scores(vreward.temporal_iou_reward, ["12 to 20", "0 to 60", "30 to 40", "none", "[10, 15], [17, 22]",
                                             "20 to 12"], ["12 to 20"] * 6)
    assert r.scores.tolist() == pytest.approx([1, 8 / 60, 0, 0, 6 / 12, 0])
    assert r.reasons[2:4] == ["no_temporal_overlap", "no_interval"] and r.reasons[5] == "no_temporal_overlap"
    time_r1 = make_temporal_iou_reward(penalize_distance=True)
    p = scores(time_r1, ["14 to 20"], ["12 to 20"], duration=[60]).scores[0]
    assert p == pytest.approx(6 / 8 * (1 - 2 / 60))
    with pytest.raises(ValueError, match="duration"):
        scores(time_r1, ["14 to 20"], ["12 to 20"])


# ------------------------------------------------------------------------------------------- masks, rotated boxes


SQUARE = "[[10, 10, 60, 10, 60, 60, 10, 60]]"


def test_mask_hand_cases():
    cols = {"width": [100] * 5, "height": [100] * 5}
    bodies = ["[10, 10, 60, 10, 60, 60, 10, 60]", "[[10, 10], [60, 10], [60, 60], [10, 60]]", "[0, 0, 100, 100]",
              "[30, 30]", "none"]
    r = scores(vreward.mask_iou_reward, bodies, [SQUARE] * 5, **cols)
    assert r.scores.tolist() == pytest.approx([1, 1, 0.25, 0, 0])
    assert r.reasons[3:] == ["no_shape", "no_shape"]
    point = scores(make_mask_iou_reward(answer="point"), ["[30, 30]", "[90, 90]"], [SQUARE] * 2,
                   width=[100] * 2, height=[100] * 2)
    assert point.scores.tolist() == [1, 0] and point.reasons[1] == "outside_mask"
    rle = '{"size": [100, 100], "counts": [0, 10000]}'
    assert scores(vreward.mask_iou_reward, ["[0, 0, 100, 0, 100, 100, 0, 100]"], [rle]).scores[0] == 1.0


def test_rotated_hand_cases():
    truth = ["[100, 100, 40, 20, 30]"] * 4
    r = scores(vreward.rotated_iou_reward, ["[100, 100, 40, 20, 30]", "[100, 100, 40, 20, 210]",
                                            "[100, 100, 40, 20, 30], [100, 100, 40, 20, 30]", "[100, 100, 0, 0, 0]"],
               truth)
    assert r.scores.tolist() == pytest.approx([1, 1, 0.5, 0])
    assert r.reasons[3] == "no_match"


# ------------------------------------------------------------------------------------------------- properties

CATALOGUE = ["click", "gaussian_point", "detection_f1", "count", "ocr", "temporal_iou", "mask_iou", "rotated_iou"]
TRUTHS = {"click": TARGET, "gaussian_point": TARGET, "detection_f1": TWO, "count": "3", "ocr": "Main Street 42",
          "temporal_iou": "12 to 20", "mask_iou": SQUARE, "rotated_iou": "[100, 100, 40, 20, 30]"}
FRAGMENTS = ["<answer>", "</answer>", "<think>", "</think>", "[", "]", "(", ")", ",", " ", "1", "12.5", "-3", "1e9",
             "nan", "to", ":", "00:12", "three", "STOP", '{"point_2d": ', "}", "\n", "é", "[100, 50, 220, 90]"]
text = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join) | st.text(max_size=60)


@SETTINGS
@given(st.sampled_from(CATALOGUE), st.lists(text, min_size=1, max_size=6))
def test_never_raises_stays_in_range_and_explains_every_zero(name, texts):
    reward = REWARDS[name].attribute(REWARDS[name].default_name)
    n = len(texts)
    result = reward.score(texts, solution=[TRUTHS[name]] * n, width=[100] * n, height=[100] * n)
    lo, hi = reward.score_range
    assert ((result.scores >= lo) & (result.scores <= hi)).all()
    assert all(r is not None for r, s in zip(result.reasons, result.scores) if s <= 0)


@SETTINGS
@given(st.sampled_from(CATALOGUE), st.lists(text, min_size=1, max_size=5))
def test_a_batch_scores_as_its_rows_alone(name, texts):
    reward = REWARDS[name].attribute(REWARDS[name].default_name)
    n = len(texts)
    columns = {"solution": [TRUTHS[name]] * n, "width": [100] * n, "height": [100] * n}
    batch = reward.score(texts, **columns).scores.tolist()
    single = [reward.score([t], **{k: v[:1] for k, v in columns.items()}).scores[0] for t in texts]
    assert batch == single


def test_sixteen_threads_score_and_explain_like_one():
    rng = random.Random(0)
    rewards = [REWARDS[name].attribute(REWARDS[name].default_name) for name in CATALOGUE]

    def batch(name: str) -> tuple[list[str], dict[str, list]]:
        n = rng.randint(1, 8)
        texts = [wrap(TRUTHS[name]) if rng.random() < 0.4 else "".join(rng.choices(FRAGMENTS, k=rng.randint(0, 20)))
                 for _ in range(n)]
        return texts, {"solution": [TRUTHS[name]] * n, "width": [100] * n, "height": [100] * n}

    jobs = [(r_i, *batch(CATALOGUE[r_i])) for r_i in range(len(rewards)) for _ in range(12)]

    def run(job):
        r_i, texts, columns = job
        return (rewards[r_i](texts, **columns),
                [(d.score, d.reason, d.details) for d in rewards[r_i].explain(texts, **columns)])

    expected = [run(job) for job in jobs]
    with ThreadPoolExecutor(16) as pool:
        for _ in range(4):
            order = rng.sample(range(len(jobs)), len(jobs))
            got = dict(zip(order, pool.map(run, [jobs[i] for i in order])))
            assert [got[i] for i in range(len(jobs))] == expected


@SETTINGS
@given(st.permutations([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 12], [50, 50, 60, 61], [21, 20, 30, 30]]))
def test_multi_object_schemes_ignore_the_order_of_boxes(boxes):
    reference = [[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 12], [50, 50, 60, 61], [21, 20, 30, 30]]
    for scheme in ("f1", "perception_r1", "v_triune", "vision_r1"):
        reward = make_detection_reward(scheme)
        a = scores(reward, [str(boxes)], [TWO], progress=0.5).scores[0]
        b = scores(reward, [str(reference)], [TWO], progress=0.5).scores[0]
        assert a == pytest.approx(b)


# -------------------------------------------------------------------------------------------------- schedules


class State:
    def __init__(self, global_step, max_steps):
        self.global_step, self.max_steps = global_step, max_steps


def test_schedules_read_trl_trainer_state_and_explicit_progress():
    s = PiecewiseSchedule(values=(0.85, 0.95, 0.99), boundaries=(0.1, 0.25))
    assert [resolve(s, {"trainer_state": State(k, 100)}) for k in (0, 9, 10, 24, 25, 100)] == [
        0.85, 0.85, 0.95, 0.95, 0.99, 0.99]
    assert resolve(s, {"step": 30, "max_steps": 100}) == 0.99 and resolve(s, {"progress": 0.12}) == 0.95
    by_step = PiecewiseSchedule(values=(0.5, 0.75), boundaries=(200,), by="step")
    assert resolve(by_step, {"step": 199}) == 0.5 and resolve(by_step, {"trainer_state": {"global_step": 200}}) == 0.75
    assert resolve(LinearSchedule(start=0.5, end=0.9), {"progress": 0.5}) == pytest.approx(0.7)
    assert training_progress({"trainer_state": None}) is None
    with pytest.raises(ValueError, match="needs the training step: pass trainer_state"):
        resolve(s, {})
    with pytest.raises(ValueError, match="max_steps is unknown"):
        resolve(s, {"step": 3})
    with pytest.raises(ValueError, match="one value more than boundaries"):
        PiecewiseSchedule(values=(1.0,), boundaries=(0.5,))


def test_a_scheduled_reward_never_silently_keeps_its_first_value():
    reward = make_detection_reward("vision_r1")
    with pytest.raises(ValueError, match="trainer_state"):
        reward([wrap(TWO)], solution=[TWO])
    assert reward([wrap(TWO)], solution=[TWO], trainer_state=State(10, 100)) == [2.0]
    custom = make_detection_reward("f1", threshold={"kind": "linear", "start": 0.3, "end": 0.9})
    restored = pickle.loads(pickle.dumps(custom))
    assert repr(restored) == repr(custom)
    assert restored([wrap("[[0, 0, 10, 10], [20, 20, 30, 30]]")], solution=[TWO], progress=1.0) == [1.0]
    with pytest.raises(ValueError, match="IoU thresholds"):
        make_detection_reward("f1", threshold={"values": [0.5, 1.5], "boundaries": [0.5]})
    with pytest.raises(ValueError, match="unknown schedule"):
        make_detection_reward("f1", threshold="sometimes")


# --------------------------------------------------------------------------------------------- per-source logs


def test_each_data_source_is_logged():
    logged = {}
    completions = [wrap("3"), wrap("4"), wrap("3"), wrap("x")]
    vreward.count_reward(completions, solution=["3"] * 4, data_source=["clevr", "clevr", "pixmo", "pixmo"],
                         log_metric=lambda k, v: logged.__setitem__(k, v))
    assert logged["count_reward/clevr/mean"] == 0.5 and logged["count_reward/pixmo/mean"] == 0.5
    assert logged["count_reward/clevr/zero/wrong_count"] == 0.5 and logged["count_reward/pixmo/zero/no_number"] == 0.5
    composite = vreward.make_task_reward("counting")
    logged.clear()
    composite(completions, solution=["3"] * 4, data_source=["a", "a", "b", "b"],
              log_metric=lambda k, v: logged.__setitem__(k, v))
    assert logged["counting_reward/a/mean"] == 1.5 and "count_reward/a/mean" not in logged
    off = make_count_reward(source_column=None)
    logged.clear()
    off(completions, solution=["3"] * 4, data_source=["a"] * 4, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert not any("/a/" in k for k in logged)


# -------------------------------------------------------------------------------------------------- vreward score


@pytest.mark.parametrize("task, rows, expected", [
    ("gui", [("[150, 70]", TARGET), ("[0, 0]", TARGET)], {"click_accuracy": 0.5}),
    ("counting", [("3", "3"), ("5", "3"), ("4", "3")], {"accuracy": 1 / 3, "mae": 1.0, "off_by_one": 1 / 3}),
    ("ocr", [("STOP", "STOP"), ("STOX", "STOP")], {"cer": 1 / 8, "wer": 1 / 2, "exact_match": 0.5}),
    ("temporal", [("12 to 20", "12 to 20"), ("16 to 24", "12 to 20"), ("0 to 60", "12 to 20")],
     {"recall": {"R@1,tIoU=0.3": 2 / 3, "R@1,tIoU=0.5": 1 / 3, "R@1,tIoU=0.7": 1 / 3},
      "miou": (1 + 4 / 12 + 8 / 60) / 3}),
    ("segmentation", [("[10, 10, 60, 10, 60, 60, 10, 60]", SQUARE), ("[0, 0, 100, 100]", SQUARE)],
     {"miou": 0.625, "ciou": (2500 + 2500) / (2500 + 10000)}),
])
def test_score_tasks_end_to_end(tmp_path, task, rows, expected):
    import json

    from vreward.evaluate import ScoreConfig, score

    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"completion": wrap(a), "solution": t, "width": 100, "height": 100}) + "\n"
                            for a, t in rows))
    summary = score(ScoreConfig(input=path, task=task, report=tmp_path / "report", summary=tmp_path / "s.json",
                                progress=False))
    metrics = summary["metrics"]
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key
    assert (tmp_path / "report" / "report.md").is_file() and json.loads((tmp_path / "s.json").read_text())
