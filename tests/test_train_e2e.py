"""vreward-train end to end on CPU: tiny random Qwen2-VL / Qwen2.5-VL, the drawn-shapes data, TRL's GRPOTrainer.

Every task, both families, LoRA, resuming, generate -> score, and the demo command. A random model never writes a
rewarded answer (equal rewards, zero policy gradient), so the first run per family warms its model up on the
answer format (``warmup.steps``) and later runs start from that warmed copy.
"""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest

import vreward

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")
pytest.importorskip("datasets")
yaml = pytest.importorskip("yaml")

from safetensors.torch import load_file  # noqa: E402

from vreward.evaluate import ScoreConfig, score  # noqa: E402
from vreward_train.config import load_config  # noqa: E402
from vreward_train.generate import generate  # noqa: E402
from vreward_train.models import load_processor, pixel_bounds  # noqa: E402
from vreward_train.synthetic import make_shapes_dataset  # noqa: E402
from vreward_train.tiny import build_tiny_model  # noqa: E402
from vreward_train.train import WARMUP_DIR, build_rewards, train  # noqa: E402

pytestmark = [
    # The tiny model writes random numbers: frame warnings say nothing about its frame.
    pytest.mark.filterwarnings("ignore::vreward.FrameMismatchWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

DETECTION_REWARDS = ("iou_reward", "confidence_reward", "format_reward")
FAST = ["grpo.per_device_train_batch_size=4", "grpo.num_generations=4", "grpo.max_completion_length=96",
        "grpo.learning_rate=1e-3", "grpo.logging_steps=1", "grpo.seed=0", "grpo.extra={disable_tqdm: true}"]


def _config(model, data, out, *extra, task="detection"):
    return load_config(None, [f"task={task}", f"model.path={model}", f"data.path={data}", f"output_dir={out}",
                              *FAST, *extra])


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _changed(a, b):
    return [k for k in a if k in b and not torch.equal(a[k], b[k])]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), n_train=12, n_test=4, seed=0)


@pytest.fixture(scope="module", params=["qwen2vl", "qwen25vl"])
def detection_run(request, shapes, tmp_path_factory):
    """A detection run per family: warm-up, then 4 GRPO steps with checkpoints at 2 and 4."""
    family = request.param
    tmp = tmp_path_factory.mktemp(f"det_{family}")
    model = build_tiny_model(tmp / "model", family=family, seed=0)
    out = tmp / "run"
    config = _config(model, shapes, out, "grpo.max_steps=4", "grpo.save_steps=2", "warmup.steps=100",
                     "warmup.learning_rate=3e-3")
    assert train(config) == out
    return family, config, out


def test_detection_trains_and_logs_every_reward(detection_run):
    family, config, out = detection_run
    log = [e for e in _log(out) if "loss" in e]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    for entry in log:
        for name in DETECTION_REWARDS:
            low, high = getattr(vreward, name).score_range
            assert low <= entry[f"rewards/{name}/mean"] <= high, (name, entry)
        assert math.isfinite(entry["loss"])
    # GRPO itself moved the weights (the warmed-up copy is where it started; checkpoint-2 is halfway).
    start, mid, end = _weights(out / WARMUP_DIR), _weights(out / "checkpoint-2"), _weights(out)
    assert _changed(start, end) and set(mid) == set(end)
    assert any(e["grad_norm"] > 0 for e in log)
    assert any(e["rewards/format_reward/mean"] > 0 for e in log)  # the warm-up made rewarded answers possible
    assert (out / "vreward_train_config.yaml").is_file() and (out / "checkpoint-4").is_dir()
    assert yaml.safe_load((out / "vreward_train_config.yaml").read_text())["model"]["path"] == config.model.path
    assert json.loads((out / "config.json").read_text())["model_type"] == {"qwen2vl": "qwen2_vl",
                                                                           "qwen25vl": "qwen2_5_vl"}[family]


def test_rewards_use_the_model_frame(detection_run, shapes):
    family, config, out = detection_run
    lo, hi = pixel_bounds(load_processor(config.model.path))
    funcs, weights = build_rewards(config, family, lo, hi)
    assert [f.__name__ for f in funcs] == list(DETECTION_REWARDS) and weights == [1.0, 1.0, 1.0]
    for f in funcs[:2]:
        assert f.settings.coords == family and f.settings.solution_coords == "qwen2vl"  # shapes are in 0-1000
        assert (f.settings.min_pixels, f.settings.max_pixels) == (lo, hi)
    if family == "qwen25vl":  # a perfect answer in resized pixels scores 1 against the 0-1000 ground truth
        solution = "<answer>[{'Position': [250, 500, 750, 1000], 'Confidence': 1}]</answer>"
        w = h = 112  # smart_resize(112, 112) = 112 x 112
        answer = "<think>t</think><answer>[{'Position': [28, 56, 84, 112], 'Confidence': 1}]</answer>"
        assert funcs[0]([answer], solution=[solution], width=[w], height=[h]) == [1.0]


@pytest.mark.parametrize("detection_run", ["qwen2vl"], indirect=True)
def test_resume_continues_from_the_saved_step(detection_run, tmp_path):
    family, config, out = detection_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    resumed = load_config(None, [f"model.path={config.model.path}", f"data.path={config.data.path}",
                                 f"output_dir={copy}", *FAST, "grpo.max_steps=6", "grpo.save_steps=2",
                                 "warmup.steps=100", "resume_from_checkpoint=true"])
    before = len(_log(copy))
    train(resumed)
    new = [e for e in _log(copy)[before:] if "loss" in e]
    assert [e["step"] for e in new] == [5, 6]  # continued from checkpoint-4, not from 0
    state = json.loads((copy / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and (copy / "checkpoint-6").is_dir()
    # explicitly from checkpoint-2: steps 3.. again
    explicit = load_config(None, [f"model.path={config.model.path}", f"data.path={config.data.path}",
                                  f"output_dir={tmp_path / 'again'}", *FAST, "grpo.max_steps=3",
                                  f"resume_from_checkpoint={out / 'checkpoint-2'}"])
    train(explicit)
    assert [e["step"] for e in _log(tmp_path / "again") if "loss" in e] == [3]


def _shape_rows(shapes, split="train"):
    import datasets

    ds = datasets.load_from_disk(str(shapes))[split]
    return [{k: ds[i][k] for k in ("image_path", "category", "solution", "width", "height", "image_id")}
            for i in range(len(ds))]


@pytest.fixture(scope="module")
def task_files(shapes):
    """Classification and grounding records (JSONL, image files) made from the shapes set."""
    cls, grd, seen = [], [], set()
    for row in _shape_rows(shapes):
        box = [int(v) for v in re.findall(r"\d+", row["solution"].split("Position")[1])[:4]]
        grd.append({"image": row["image_path"], "problem": f"the {row['category']}",
                    "solution": f"<answer>{box}</answer>", "width": row["width"], "height": row["height"]})
        if row["image_id"] not in seen:
            seen.add(row["image_id"])
            cls.append({"image": row["image_path"], "problem": "Which shape is drawn in the image?",
                        "solution": f"<answer>{row['category']}</answer>"})
    paths = {}
    for name, rows in (("classification", cls), ("grounding", grd)):
        paths[name] = shapes / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


@pytest.mark.parametrize(("task", "names"), [("classification", ("accuracy_reward", "format_reward")),
                                             ("grounding", ("giou_reward", "format_reward"))])
def test_other_tasks_train(detection_run, task_files, tmp_path, task, names):
    family, config, out = detection_run
    warmed = out / WARMUP_DIR
    run = tmp_path / "run"
    train(_config(warmed, task_files[task], run, "grpo.max_steps=2", "grpo.save_steps=10", task=task))
    log = [e for e in _log(run) if "loss" in e]
    assert len(log) == 2
    for entry in log:
        for name in names:
            assert math.isfinite(entry[f"rewards/{name}/mean"]), (name, entry)
    assert "rewards/iou_reward/mean" not in log[0]


def test_coco_kshot_source_is_built_in_the_model_frame(detection_run, shapes, tmp_path):
    family, config, out = detection_run
    run = tmp_path / "coco"
    cfg = load_config(None, [f"model.path={out / WARMUP_DIR}", f"data.coco_instances={shapes / 'instances_train.json'}",
                             f"data.coco_images={shapes}", "data.shots=2", "data.categories=[circle, square]",
                             f"output_dir={run}", *FAST, "grpo.max_steps=1"])
    funcs, _ = build_rewards(cfg, family, *pixel_bounds(load_processor(cfg.model.path)))
    assert funcs[0].settings.coords == funcs[0].settings.solution_coords == family  # built in the model's frame
    train(cfg)
    assert [e["step"] for e in _log(run) if "loss" in e] == [1]


@pytest.mark.parametrize("detection_run", ["qwen25vl"], indirect=True)
def test_lora_trains_adapters_and_generates(detection_run, shapes, tmp_path):
    family, config, out = detection_run
    run = tmp_path / "lora"
    train(_config(out / WARMUP_DIR, shapes, run, "grpo.max_steps=3", "grpo.save_steps=10", "lora.enabled=true",
                  "lora.r=4", "lora.alpha=8"))
    adapter = json.loads((run / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["peft_type"] == "LORA"
    weights = load_file(str(run / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # B starts at zero: the adapters were trained
    assert not any("visual" in k for k in weights)  # attention projections of the language model only
    info = generate(run, shapes, split="test", output_jsonl=tmp_path / "lora.jsonl", max_new_tokens=16)
    assert info["records"] == sum(1 for _ in open(tmp_path / "lora.jsonl"))


def test_generate_then_score(detection_run, shapes, tmp_path):
    family, config, out = detection_run
    target = tmp_path / "sub" / "test.jsonl"
    info = generate(out, shapes, split="test", output_jsonl=target, max_new_tokens=96, batch_size=3)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert info["records"] == len(records) == len(_shape_rows(shapes, "test"))
    assert info["coords"] == family and info["solution_coords"] == "qwen2vl"
    for r in records:
        assert isinstance(r["completion"], str) and r["solution"].startswith("<answer>")
        assert r["width"] == r["height"] == 112 and "image_id" in r and "category_id" in r
        assert "Detect all objects" in r["prompt"] and r["problem"]
        assert (target.parent / r["image_path"]).is_file()
    summary = score(ScoreConfig(input=target, task="detection", coords=info["coords"],
                                solution_coords=info["solution_coords"], min_pixels=info["min_pixels"],
                                max_pixels=info["max_pixels"], coco_gt=shapes / "instances_test.json",
                                progress=False))
    assert summary["records"] == len(records)
    assert set(summary["rewards"]) == set(DETECTION_REWARDS)
    assert summary["metrics"] is not None
    assert f"--coords {family} --solution-coords qwen2vl" in info["score_command"]


SHORT_DEMO = ["--size", "tiny", "--warmup-images", "8", "--train-images", "4", "--test-images", "3", "--steps",
              "2", "--set", "warmup.steps=2", "--set", "eval.every_steps=1"]


def test_demo_command(tmp_path, capsys):
    from vreward_train.cli import main

    work, cache = tmp_path / "demo", tmp_path / "cache"
    assert main(["demo", str(work), "--cache-dir", str(cache), *SHORT_DEMO]) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err  # progress lines go to standard error
    for stage in ("[1/4] data and model", "[2/4] supervised warm-up", "[3/4] GRPO", "[4/4] held-out before"):
        assert stage in printed
    assert "GRPO: 2/2" in printed and "held-out at step    0/2" in printed and "before GRPO" in printed
    learning = json.loads((work / "learning.json").read_text())
    for side in ("before", "after"):
        assert {"mean_iou_reward", "mean_confidence_reward", "mean_format_reward", "ap", "ap50",
                "zero_reasons"} <= set(learning[side])
        assert learning[side]["records"] == 3
    assert (learning["before"]["step"], learning["after"]["step"]) == (0, 2)
    assert [e["step"] for e in learning["evaluations"]] == [0, 1, 2]
    report = work / "run" / "report"
    assert (report / "report.html").is_file() and (report / "rewards.png").is_file()
    assert (report / "heldout.png").is_file() and list((report / "gallery").glob("*.png"))
    log = [json.loads(line) for line in (work / "run" / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == [1, 2]  # an evaluation does not swallow its step's log
    assert [e["step"] for e in log if "eval/ap50" in e] == [0, 1, 2]
    # a second demo reuses the cached data and warm-up, and starts its run over
    assert main(["demo", str(work), "--cache-dir", str(cache), *SHORT_DEMO]) == 0
    assert "supervised warm-up: cached" in capsys.readouterr().out
    again = json.loads((work / "learning.json").read_text())
    assert again["warmup_cached"] and again["before"] == learning["before"]  # the cached start is the same model



def test_demo_of_a_family_answering_in_its_own_syntax(tmp_path, capsys):
    from vreward_train.cli import main

    work = tmp_path / "demo"
    assert main(["demo", str(work), "--no-cache", "--family", "internvl", *SHORT_DEMO[2:]]) == 0
    assert "building a random internvl (tiny size)" in capsys.readouterr().out  # the family's default size
    learning = json.loads((work / "learning.json").read_text())
    assert learning["settings"]["family"] == "internvl" and learning["after"]["records"] == 3
    assert (work / "run" / "report" / "report.html").is_file() and (work / "prepared" / "warmup").is_dir()

def test_cli_tiny_model_and_train(tmp_path, shapes, capsys):
    from vreward_train.cli import main

    assert main(["tiny-model", str(tmp_path / "m"), "--family", "qwen25vl"]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "qwen2_5_vl"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"path": str(tmp_path / "m")}, "data": {"path": str(shapes)},
                                   "output_dir": str(tmp_path / "o")}))
    # TRL's own check, reported as a config error: 4 completions per step cannot hold groups of 8
    assert main(["train", str(cfg), "--max-steps", "1", "--set", "grpo.per_device_train_batch_size=4"]) == 2
    assert "grpo: TRL rejects these settings" in capsys.readouterr().err
    assert main(["train", str(cfg), "--max-steps", "1", *[a for s in FAST for a in ("--set", s)]]) == 0
    assert (tmp_path / "o" / "model.safetensors").is_file()
    assert main(["train", str(cfg), "--resume", "--set", "output_dir=" + str(tmp_path / "none")]) == 2
    assert "no checkpoint-N folder" in capsys.readouterr().err
