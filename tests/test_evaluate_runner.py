"""The `vreward score` driver: inputs, accounting of every record, bad input, atomic outputs."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from vreward.evaluate import InputError, ScoreConfig, score

GOOD = {"completion": "<think>x</think><answer>[{'Position': [0, 0, 10, 10], 'Confidence': 0.9}]</answer>",
        "solution": "<answer>[{'Position': [0, 0, 10, 10], 'Confidence': 1}]</answer>"}
MISS = {"completion": "<think>x</think><answer>[{'Position': [50, 50, 60, 60], 'Confidence': 0.9}]</answer>",
        "solution": GOOD["solution"]}
JUNK = {"completion": "no tags here", "solution": GOOD["solution"]}


def write_jsonl(path, rows, extra_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(extra_lines))
    return path


def test_every_record_is_accounted_for(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, MISS, JUNK, GOOD])
    out, summ = tmp_path / "out.jsonl", tmp_path / "summary.json"
    summary = score(ScoreConfig(input=src, output=out, summary=summ, progress=False, batch_size=3))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert [r["iou_reward"] for r in rows] == [1.0, 0.0, 0.0, 1.0]
    assert [r["iou_reward_reason"] for r in rows] == [None, "no_match", "no_answer_tag", None]
    assert summary["records"] == 4 and summary["parse"] == {"ok": 3, "no_answer_tag": 1}
    assert summary["parse_failures"] == 1
    assert summary["rewards"]["iou_reward"]["mean"] == pytest.approx(0.5)
    assert summary["rewards"]["iou_reward"]["zero_reasons"] == {"no_match": 1, "no_answer_tag": 1}
    assert json.loads(summ.read_text()) == summary


def test_json_list_and_saved_dataset_inputs(tmp_path):
    datasets = pytest.importorskip("datasets")
    as_list = tmp_path / "in.json"
    as_list.write_text(json.dumps([GOOD, MISS]))
    assert score(ScoreConfig(input=as_list, progress=False))["rewards"]["iou_reward"]["mean"] == 0.5
    ds_dir = tmp_path / "ds"
    datasets.DatasetDict({"test": datasets.Dataset.from_list([GOOD, JUNK])}).save_to_disk(str(ds_dir))
    summary = score(ScoreConfig(input=ds_dir, progress=False))
    assert summary["records"] == 2 and summary["parse"] == {"ok": 1, "no_answer_tag": 1}


def test_json_list_and_dataset_records_are_numbered_from_1(tmp_path):
    datasets = pytest.importorskip("datasets")
    as_list = tmp_path / "in.json"
    as_list.write_text(json.dumps([GOOD, MISS]))
    out = tmp_path / "out.jsonl"
    score(ScoreConfig(input=as_list, output=out, progress=False))
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 2]
    as_list.write_text(json.dumps([GOOD, [1, 2]]))
    with pytest.raises(InputError, match=rf"{as_list}: record 2: expected a JSON object"):
        score(ScoreConfig(input=as_list, progress=False))
    as_list.write_text(json.dumps([GOOD, {"solution": GOOD["solution"]}]))
    with pytest.raises(InputError, match=rf"{as_list}: record 2: missing field 'completion'"):
        score(ScoreConfig(input=as_list, progress=False))
    ds_dir = tmp_path / "ds"
    datasets.Dataset.from_list([GOOD, {"completion": "x", "solution": "[1, 2, 3]"}]).save_to_disk(str(ds_dir))
    with pytest.raises(InputError, match=rf"{ds_dir}: record 2: solution row 1"):
        score(ScoreConfig(input=ds_dir, progress=False))


def test_malformed_line_stops_with_file_and_line_and_writes_nothing(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD], extra_lines=["{not json\n", "[1, 2]\n"])
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match=rf"{src}:2: malformed JSON"):
        score(ScoreConfig(input=src, output=out, progress=False))
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))
    summary = score(ScoreConfig(input=src, output=out, skip_bad=True, progress=False))
    assert summary["records"] == 1 and summary["skipped_bad_records"] == 2
    assert summary["skipped_by_problem"] == {"malformed JSON": 1, "not a JSON object": 1}


def test_missing_fields_name_the_line(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, {"solution": GOOD["solution"]}])
    with pytest.raises(InputError, match=r":2: missing field 'completion'"):
        score(ScoreConfig(input=src, progress=False))
    src = write_jsonl(tmp_path / "in2.jsonl", [GOOD, {"completion": GOOD["completion"]}])
    with pytest.raises(InputError, match=r":2: missing field 'solution'"):
        score(ScoreConfig(input=src, progress=False))
    src = write_jsonl(tmp_path / "in3.jsonl", [GOOD, {"completion": "x", "solution": "[1, 2, 3]"}])
    with pytest.raises(InputError, match=r":2: solution row 1"):
        score(ScoreConfig(input=src, progress=False))


def test_format_task_needs_no_ground_truth(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": GOOD["completion"]}, {"completion": "plain"}])
    summary = score(ScoreConfig(input=src, task="format", progress=False))
    assert summary["rewards"]["format_reward"] == {"mean": 0.5, "zero_reasons": {"format": 1}}


def test_boxes_outside_the_frame_are_counted(tmp_path):
    far = {"completion": "<answer>[0, 0, 1200, 10]</answer>", "solution": "[0, 0, 10, 10]"}
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD, far])
    summary = score(ScoreConfig(input=src, coords="qwen2vl", solution_coords="qwen2vl", progress=False))
    assert (summary["boxes"], summary["boxes_outside_frame"]) == (2, 1)


def test_configuration_errors_are_clear(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        ScoreConfig(input=tmp_path / "nope.jsonl")
    src = write_jsonl(tmp_path / "in.jsonl", [GOOD])
    with pytest.raises(ValidationError, match="task 'detection'"):
        ScoreConfig(input=src, task="grounding", coco_gt=src)
    with pytest.raises(ValidationError, match="thresholds"):
        ScoreConfig(input=src, thresholds=(0.5, 1.5))
