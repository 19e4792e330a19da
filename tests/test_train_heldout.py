"""Held-out evaluation during training (config, results, the callback's schedule), the training report, and the
pieces of the demo (warm-up schedule, model sizes, position-filled shapes). No training here: see
test_train_e2e.py for the demo end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("yaml")

from vreward_train.callbacks import HeldOutEvalCallback  # noqa: E402
from vreward_train.config import ConfigError, load_config  # noqa: E402
from vreward_train.heldout import HeldOutResult, result_of  # noqa: E402
from vreward_train.warmup import learning_rate_factor  # noqa: E402


@pytest.fixture
def base(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    return [f"model.path={tmp_path}", f"data.path={data}", f"output_dir={tmp_path / 'out'}"]


def test_eval_section_defaults_overrides_and_errors(base, tmp_path):
    cfg = load_config(None, base)
    assert cfg.eval.every_steps == 0 and cfg.eval.split == "test" and cfg.eval.at_start  # off by default
    cfg = load_config(None, [*base, "eval.every_steps=5", "eval.split=val", "eval.max_samples=20"])
    assert (cfg.eval.every_steps, cfg.eval.split, cfg.eval.max_samples) == (5, "val", 20)
    with pytest.raises(ConfigError, match=r"eval\.every_steps: Input should be greater than or equal to 0"):
        load_config(None, [*base, "eval.every_steps=-1"])
    with pytest.raises(ConfigError, match=r"eval.*does not exist"):
        load_config(None, [*base, f"eval.coco_gt={tmp_path / 'none.json'}"])
    with pytest.raises(ConfigError, match="unknown setting 'eval.steps'"):
        load_config(None, [*base, "eval.steps=3"])
    tiny = load_config("tiny_cpu.yaml", base)
    assert tiny.eval.every_steps > 0 and tiny.warmup.schedule == "one_cycle"


def _summary(iou: float, ap50: float) -> dict:
    return {"records": 4, "parse": {"ok": 4},
            "rewards": {"iou_reward": {"mean": iou, "zero_reasons": {"no_match": 2}},
                        "format_reward": {"mean": 1.0, "zero_reasons": {}}},
            "metrics": {"stats": {"AP": ap50 / 2, "AP50": ap50}, "detections": 4}}


def test_result_metrics_for_the_logs_and_the_summary(tmp_path):
    result = result_of(_summary(0.25, 0.5), 10, tmp_path / "step_000010.jsonl")
    assert result.log_metrics() == {"eval/iou_reward/mean": 0.25, "eval/iou_reward/zero/no_match": 0.5,
                                    "eval/format_reward/mean": 1.0, "eval/ap": 0.25, "eval/ap50": 0.5,
                                    "eval/detections": 4}
    summary = result.summary()
    assert summary["mean_iou_reward"] == 0.25 and summary["ap50"] == 0.5 and summary["step"] == 10
    assert summary["zero_reasons"] == {"iou_reward": {"no_match": 2}, "format_reward": {}}
    no_coco = result_of({**_summary(0.1, 0.0), "metrics": None}, 0, tmp_path / "x.jsonl")
    assert no_coco.ap is None and "eval/ap50" not in no_coco.log_metrics()


class _Evaluator:
    def __init__(self):
        self.steps = []

    def evaluate(self, model, step):
        self.steps.append(step)
        return HeldOutResult(step=step, records=1, reward_means={"iou_reward": step / 10}, zero_reasons={},
                             completions=Path(f"step_{step}.jsonl"))


def test_callback_evaluates_at_start_every_n_steps_and_after_the_last():
    evaluator, logged = _Evaluator(), []
    callback = HeldOutEvalCallback(evaluator, every_steps=3, log=logged.append)
    state = SimpleNamespace(global_step=0, max_steps=7, is_world_process_zero=True)
    control = SimpleNamespace(should_log=False)
    callback.on_train_begin(None, state, control, model="policy")
    for step in range(1, 8):
        state.global_step = step
        control.should_log = True  # the step's own training log is due
        callback.on_step_end(None, state, control, model="policy")
        assert control.should_log  # logging the evaluation left it due
    assert evaluator.steps == [0, 3, 6, 7]
    assert [m["eval/iou_reward/mean"] for m in logged] == [0.0, 0.3, 0.6, 0.7]
    assert [r.step for r in callback.results] == [0, 3, 6, 7]
    with pytest.raises(ValueError, match="every_steps"):
        HeldOutEvalCallback(evaluator, every_steps=0, log=logged.append)


def test_callback_skips_step_zero_when_resumed_or_asked():
    evaluator = _Evaluator()
    callback = HeldOutEvalCallback(evaluator, every_steps=2, log=lambda m: None, at_start=False)
    callback.on_train_begin(None, SimpleNamespace(global_step=0, max_steps=2, is_world_process_zero=True),
                            SimpleNamespace(should_log=False))
    assert evaluator.steps == []


def test_one_cycle_rises_then_decays_to_zero():
    factors = [learning_rate_factor(step, 100, "one_cycle") for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and max(factors) == 1.0 and factors.index(1.0) == 9
    assert factors[-1] < 1e-3 and all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert {learning_rate_factor(step, 100, "constant") for step in range(100)} == {1.0}


# ---------------------------------------------------------------------------------------------------- report


@pytest.fixture
def run_dir(tmp_path):
    """A run folder as training leaves it: log.jsonl with training and evaluation entries, two evaluations."""
    pytest.importorskip("matplotlib")
    from PIL import Image

    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    Image.new("RGB", (112, 112), (200, 200, 200)).save(tmp_path / "img.png")
    log = [{"step": 0, "eval/iou_reward/mean": 0.1, "eval/ap50": 0.2}]
    for step in (1, 2):
        log.append({"step": step, "loss": 0.1, "rewards/iou_reward/mean": 0.1 * step,
                    "iou_reward/zero_reasons_frac": 0.5, "completions/mean_length": 40 + step})
    log.append({"step": 2, "eval/iou_reward/mean": 0.4, "eval/ap50": 0.5})
    (run / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    hostile = "<script>alert(1)</script><answer>[{'Position': [100, 100, 600, 600], 'Confidence': 1}]</answer>"
    for step, completion in ((0, hostile), (2, "<think>t</think><answer>[{'Position': [0, 0, 500, 500], "
                                               "'Confidence': 1}]</answer>")):
        record = {"completion": completion, "solution": "<answer>[{'Position': [0, 0, 500, 500], "
                  "'Confidence': 1}]</answer>", "image_path": str(tmp_path / "img.png"), "width": 112,
                  "height": 112, "category": "circle", "index": 0}
        (run / "eval" / f"step_{step:06d}.jsonl").write_text(json.dumps(record) + "\n")
    return run


FRAMES = {"coords": "qwen2vl", "solution_coords": "qwen2vl", "min_pixels": 3136, "max_pixels": 50176}


def test_report_has_curves_table_and_escaped_gallery(run_dir):
    from vreward_train.report import before_after, read_log, write_training_report

    page = write_training_report(run_dir, FRAMES)
    assert page == run_dir / "report" / "report.html"
    text = page.read_text()
    for name in ("rewards", "zero_reasons", "completion_length", "heldout"):
        assert (run_dir / "report" / f"{name}.png").is_file(), name
    assert not (run_dir / "report" / "kl.png").exists() and "grpo.beta &gt; 0" in text  # beta 0: no KL logged
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "IoU reward 0.000" in text and "IoU reward 1.000" in text  # first and last evaluation of the row
    assert before_after(read_log(run_dir)) == [("iou_reward/mean", 0.1, 0.4), ("ap50", 0.2, 0.5)]
    from PIL import Image

    drawn = np.asarray(Image.open(next((run_dir / "report" / "gallery").glob("*.png"))))
    assert drawn.shape[0] == drawn.shape[1] and (drawn != 200).any()  # boxes drawn on the image


def test_report_without_evaluations_says_so(run_dir):
    from vreward_train.report import write_training_report

    for path in (run_dir / "eval").iterdir():
        path.unlink()
    lines = [line for line in (run_dir / "log.jsonl").read_text().splitlines() if "loss" in line]
    (run_dir / "log.jsonl").write_text("\n".join(lines) + "\n")
    text = write_training_report(run_dir, FRAMES).read_text()
    assert "no held-out evaluation: set eval.every_steps" in text and "Held-out predictions" not in text


# ------------------------------------------------------------------------------------------- demo pieces


def test_demo_model_size_and_mrope_sections():
    from vreward_train.tiny import TINY_SIZES, build_tiny_config, build_tiny_tokenizer, mrope_sections

    assert mrope_sections(16) == [2, 3, 3] and mrope_sections(128) == [16, 24, 24]  # Qwen2-VL's
    tokenizer = build_tiny_tokenizer()
    for family in ("qwen2vl", "qwen25vl"):
        text = build_tiny_config(tokenizer, family, "demo").get_text_config()
        assert (text.hidden_size, text.num_hidden_layers) == (TINY_SIZES["demo"].text_hidden, 4)
        assert sum(text.rope_parameters["mrope_section"]) == text.hidden_size // text.num_attention_heads // 2
    with pytest.raises(ValueError, match="unknown tiny model size"):
        build_tiny_config(tokenizer, "qwen2vl", "huge")
    assert [tokenizer.decode([i]) for i in tokenizer("[254, 31]")["input_ids"]][1:4] == ["2", "5", "4"]


def test_position_filled_shapes_keep_exact_boxes(tmp_path):
    from vreward_train.data import load_visual_rft
    from vreward_train.synthetic import make_shapes_dataset

    out = make_shapes_dataset(tmp_path / "s", n_train=4, n_test=0, seed=1, canvas="position", question="short",
                              sizes=(0.5, 0.6), max_shapes=1)
    coco = json.loads((out / "instances_train.json").read_text())
    for row, ann in zip(load_visual_rft(out), coco["annotations"]):
        image = np.asarray(row["image"]).astype(int)
        x, y, w, h = ann["bbox"]
        assert 56 <= h <= 67 and row["problem"] == f"Detect all objects belonging to the category '{row['category']}'."
        grey = (image[..., 0] == image[..., 1]) & (image[..., 1] == image[..., 2])
        ys, xs = np.nonzero(~grey)  # shape pixels carry their position, the background is grey
        assert xs.min() >= x and xs.max() < x + w and ys.min() >= y and ys.max() < y + h
        inside = image[y + h // 2, x:x + w]
        mask = ~grey[y + h // 2, x:x + w]
        assert np.all(np.diff(inside[mask, 1]) >= 0)  # green grows to the right
    with pytest.raises(ValueError, match="canvas"):
        make_shapes_dataset(tmp_path / "bad", canvas="noise")
