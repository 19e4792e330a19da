"""`vreward score` end to end on the bundled sample and on files the tests write."""

from __future__ import annotations

import json

import pytest

from vreward.cli import main


def test_bundled_sample_is_scored_and_every_zero_explained(tmp_path, capsys):
    out, summary = tmp_path / "scores.jsonl", tmp_path / "summary.json"
    assert main(["score", "--output", str(out), "--summary-json", str(summary)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    s = json.loads(summary.read_text())
    assert len(rows) == s["records"] == 48
    for row in rows:
        for name in ("iou_reward", "confidence_reward", "format_reward"):
            assert (row[name] > 0) == (row[f"{name}_reason"] is None)
    mean_iou = sum(r["iou_reward"] for r in rows) / len(rows)
    assert s["rewards"]["iou_reward"]["mean"] == pytest.approx(mean_iou)
    assert "iou_reward" in capsys.readouterr().out


def test_malformed_line_names_file_and_line_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"completion": "<answer>[1, 2, 3, 4]</answer>", "solution": "[1, 2, 3, 4]"}\n{oops\n')
    out = tmp_path / "out.jsonl"
    assert main(["score", str(src), "--output", str(out)]) == 2
    assert f"{src}:2:" in capsys.readouterr().err
    assert not out.exists()
    assert main(["score", str(src), "--output", str(out), "--skip-bad"]) == 0
    assert [json.loads(x)["iou_reward"] for x in out.read_text().splitlines()] == [1.0]


def test_bad_ground_truth_is_a_clear_error(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"completion": "<answer>[1, 2, 3, 4]</answer>", "solution": "[1, 2, 3]"}\n')
    assert main(["score", str(src)]) == 2
    assert f"{src}:1: solution row 0" in capsys.readouterr().err


def test_classification_and_custom_fields(tmp_path, capsys):
    src = tmp_path / "cls.jsonl"
    rows = [{"text": "<think>x</think><answer>Tabby cat</answer>", "label": "tabby_cat"},
            {"text": "<think>x</think><answer>cat or dog</answer>", "label": "cat"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.jsonl"
    assert main(["score", str(src), "--task", "classification", "--completion-field", "text",
                 "--solution-field", "label", "--output", str(out)]) == 0
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["accuracy_reward"] for g in got] == [1.0, 0.0]
    assert got[1]["accuracy_reward_reason"] == "several_classes"


def test_readme_command_on_the_bundled_coco_sample(tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "examples" / "coco_sample"
    summary_path, report = tmp_path / "summary.json", tmp_path / "report"
    assert main(["score", str(root / "completions.jsonl"), "--coco-gt", str(root / "instances.json"),
                 "--summary-json", str(summary_path), "--report", str(report), "--no-progress"]) == 0
    summary = json.loads(summary_path.read_text())
    stats = summary["metrics"]["stats"]
    assert summary["records"] == 24 and 0.0 < stats["AP"] < stats["AP50"] <= 1.0
    assert (report / "report.html").exists() and list((report / "gallery").glob("*.png"))
    assert "AP50" in capsys.readouterr().out


def test_choice_options_offer_exactly_the_config_choices():
    from typing import Literal, get_args, get_origin

    from vreward.cli import _parser
    from vreward.evaluate import ScoreConfig

    score_parser = _parser()._subparsers._group_actions[0].choices["score"]
    options = {a.dest: a for a in score_parser._actions}
    literal = {name: f for name, f in ScoreConfig.model_fields.items() if get_origin(f.annotation) is Literal}
    assert set(literal) == {"input_format", "evaluator", "images", "categories", "matching", "match", "preset"}
    for name, field in literal.items():
        assert tuple(options[name].choices) == get_args(field.annotation), name
        # reward options pass only what the user gives (an option the task's rewards do not take is an error)
        assert options[name].default == (None if name in ("matching", "match") else field.default), name
