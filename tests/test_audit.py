"""vreward audit: the defaults hold against every attack, the paper's definitions show their holes by name."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vreward.audit import BUNDLED, AuditConfig, audit, markdown, scenes_from_records, table, to_html
from vreward.audit.candidates import CANDIDATES
from vreward.cli import main
from vreward.registry import REWARDS, TASKS

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def defaults():
    return audit()


@pytest.fixture(scope="module")
def paper():
    return audit(AuditConfig.of_preset("visual_rft"))


def test_the_defaults_hold_on_every_bundled_scene(defaults):
    assert defaults.passed, "\n".join(table(defaults, failures_only=True))
    attacks = [v for v in defaults.verdicts if v.kind == "attack"]
    assert len(attacks) > 150 and {v.task for v in attacks} == set(TASKS)


def test_the_audit_covers_every_task_and_reward(defaults):
    assert {s.task for s in BUNDLED} == set(TASKS)
    scored = {name for v in defaults.verdicts for name in v.scores}
    assert scored == {spec.default_name for spec in REWARDS.values()}
    assert all(c.source for c in CANDIDATES if c.kind == "attack")


@pytest.mark.parametrize("hole", [
    "one junk box at confidence 0", "100-box grid at confidence 0", "'No Objects' plus junk at confidence 0",
    "one object missed, padded with junk at confidence 0", "labels left out", "empty labels", "whole image",
    "'A and B and C'", "classes joined by spaces", "the head noun", "a single letter", "'definitely not a X'",
    "format: blocks repeated 200 times", "format: empty thinking", "confidence pushed to 1",
])
def test_the_paper_preset_shows_its_holes_by_name(paper, hole):
    assert hole in {v.name for v in paper.failures}


def test_reports_render(defaults, tmp_path):
    assert "attacks beat an honest answer" in table(defaults)[-1]
    md = markdown(defaults)
    assert md.startswith("# vreward audit: preset default") and "Liuziyu77/Visual-RFT#79" in md
    assert "<table>" in to_html(defaults)


def test_cli_exit_codes(tmp_path, capsys):
    assert main(["audit", "--task", "classification"]) == 0
    assert main(["audit", "--preset", "visual_rft", "--task", "detection", "--report", str(tmp_path)]) == 1
    assert (tmp_path / "audit.md").is_file() and (tmp_path / "audit.html").is_file()
    assert "WINS" in capsys.readouterr().out
    assert main(["audit", "--preset", "visual_rft", "--no-fail"]) == 0


def test_a_users_own_reward(capsys):
    assert main(["audit", "--task", "classification", "--reward", "audit_user_rewards:contains_either_way"]) == 1
    assert "the head noun" in capsys.readouterr().out
    assert main(["audit", "--reward", "audit_user_rewards:nope", "--task", "classification"]) == 2
    assert main(["audit", "--reward", "audit_user_rewards:contains_either_way"]) == 2  # which task?


def test_scenes_from_a_dataset(tmp_path):
    rows = [{"solution": "[10, 10, 100, 100]", "width": 640, "height": 480},
            {"solution": '[{"bbox_2d": [10, 10, 100, 100], "label": "cat"}]', "width": 640, "height": 480}]
    scenes = scenes_from_records(rows, "detection")
    assert [s.labels for s in scenes] == [None, ("cat",)] and scenes[0].boxes == ((10.0, 10.0, 100.0, 100.0),)
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["audit", "--task", "detection", "--data", str(path)]) == 0
    with pytest.raises(ValueError, match="record 1: no `solution`"):
        scenes_from_records([{}], "detection")
