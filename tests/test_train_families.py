"""vreward-train end to end on CPU for Qwen3-VL, Qwen3.5, InternVL and GLM-4V: tiny random checkpoints
(``vreward-train tiny-model --family ...``), TRL's GRPOTrainer, generate -> ``vreward score``.

Per family: build the tiny model, warm it up on its own answer syntax, train 2 GRPO steps with the detection
rewards, check the log has every reward and that GRPO moved the weights, then generate on the test split and score
the file with the family's syntax and frame. Small images (56 x 56, one shape) and two prompt groups per step keep
each family to about 10-20 s on a CPU and give the group rewards something to differ on.
"""

from __future__ import annotations

import json
import math
import shlex

import pytest

import vreward

# The tiny model writes random numbers: frame warnings say nothing about its frame; the real GLM processor's numpy
# use and transformers' deprecations are not ours.
pytestmark = [pytest.mark.filterwarnings(f"ignore::{kind}")
              for kind in ("vreward.FrameMismatchWarning", "FutureWarning", "DeprecationWarning")]
for _module in ("torch", "trl", "peft", "datasets", "safetensors"):
    pytest.importorskip(_module)

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from vreward.cli import main as vreward_main  # noqa: E402
from vreward_train.cli import main as train_main  # noqa: E402
from vreward_train.config import bundled_configs, load_config  # noqa: E402
from vreward_train.families import TRAIN_FAMILIES  # noqa: E402
from vreward_train.generate import generate  # noqa: E402
from vreward_train.models import load_model, load_processor, model_family, pixel_bounds  # noqa: E402
from vreward_train.synthetic import make_shapes_dataset  # noqa: E402
from vreward_train.tiny import build_tiny_model  # noqa: E402
from vreward_train.train import WARMUP_DIR, build_rewards, train  # noqa: E402

FAMILIES = ("qwen3vl", "qwen35", "internvl", "glm4v")
MODEL_TYPES = {"qwen3vl": "qwen3_vl", "qwen35": "qwen3_5", "internvl": "internvl", "glm4v": "glm4v"}
DETECTION_REWARDS = ("iou_reward", "confidence_reward", "format_reward")
FAST = ["grpo.per_device_train_batch_size=8", "grpo.num_generations=4", "grpo.max_completion_length=64",
        "grpo.learning_rate=1e-3", "grpo.logging_steps=1", "grpo.seed=0", "grpo.extra={disable_tqdm: true}"]


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), n_train=8, n_test=4, size=(56, 56), max_shapes=1,
                               seed=0)


@pytest.fixture(scope="module", params=FAMILIES)
def family_run(request, shapes, tmp_path_factory):
    """Per family: ``vreward-train tiny-model``, then a detection run (warm-up, 2 GRPO steps)."""
    family = request.param
    tmp = tmp_path_factory.mktemp(f"fam_{family}")
    assert train_main(["tiny-model", str(tmp / "model"), "--family", family]) == 0
    out = tmp / "run"
    config = load_config(None, [f"model.path={tmp / 'model'}", f"data.path={shapes}", f"output_dir={out}", *FAST,
                                "grpo.max_steps=2", "grpo.save_steps=10", "warmup.steps=80",
                                "warmup.learning_rate=3e-3"])
    assert train(config) == out
    return family, config, out


def test_family_trains_two_grpo_steps_with_every_reward(family_run):
    family, config, out = family_run
    assert json.loads((out / "config.json").read_text())["model_type"] == MODEL_TYPES[family]
    assert model_family(out) == family and model_family(config.model.path) == family
    log = [e for e in _log(out) if "loss" in e]
    assert [e["step"] for e in log] == [1, 2]
    for entry in log:
        for name in DETECTION_REWARDS:
            low, high = getattr(vreward, name).score_range
            assert low <= entry[f"rewards/{name}/mean"] <= high, (name, entry)
            assert f"{name}/zero_reasons_frac" in entry
        assert math.isfinite(entry["loss"])
    assert any(e["grad_norm"] > 0 for e in log)  # some group's rewards differed
    start, end = load_file(str(out / WARMUP_DIR / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(start) == set(end)
    assert [k for k in start if not torch.equal(start[k], end[k])]  # GRPO moved the weights
    # the rewards read the family's syntax, in its frame (rel1000), the data's 0-1000 as the ground truth frame
    lo, hi = pixel_bounds(load_processor(config.model.path))
    funcs, weights = build_rewards(config, family, lo, hi)
    assert [f.__name__ for f in funcs] == list(DETECTION_REWARDS) and weights == [1.0, 1.0, 1.0]
    for f in funcs[:2]:
        assert f.settings.family == family and f.settings.coords == "rel1000"
        assert f.settings.solution_coords == "qwen2vl"


def test_family_generates_and_vreward_scores_in_its_syntax(family_run, shapes, tmp_path, capsys):
    family, config, out = family_run
    target = tmp_path / "test.jsonl"
    info = generate(out, shapes, split="test", output_jsonl=target, max_new_tokens=64, batch_size=4)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert info["records"] == len(records) == 4
    assert (info["family"], info["coords"], info["solution_coords"]) == (family, "rel1000", "qwen2vl")
    example = {"qwen3vl": '"bbox_2d": [x1, y1, x2, y2]', "qwen35": '"bbox_2d": [x1, y1, x2, y2]',
               "internvl": "<box>[[x1, y1, x2, y2]]</box>", "glm4v": "<|begin_of_box|>[[x1,y1,x2,y2]"}[family]
    for r in records:
        assert isinstance(r["completion"], str) and example in r["prompt"] and "Position" not in r["prompt"]
    # the warmed-up model answers in its family's syntax (special box tokens, where the tokenizer has them,
    # are dropped by decoding: the lists between them stay)
    answers = " ".join(r["completion"] for r in records)
    assert {"qwen3vl": "bbox_2d", "qwen35": "bbox_2d", "internvl": "[[", "glm4v": "[["}[family] in answers
    # `vreward score` with the command generate suggests: --family, the frames
    command = shlex.split(info["score_command"])
    assert command[:2] == ["vreward", "score"] and f"--family {family}" in info["score_command"]
    summary = tmp_path / "summary.json"
    assert vreward_main([*command[1:], "--coco-gt", str(shapes / "instances_test.json"), "--summary-json",
                         str(summary), "--no-progress"]) == 0
    scored = json.loads(summary.read_text())
    assert scored["records"] == 4 and set(scored["rewards"]) == set(DETECTION_REWARDS)
    assert scored["metrics"] is not None
    assert "iou_reward" in capsys.readouterr().out


FAMILY_CONFIGS = {"detection_qwen3vl_2b.yaml": ("qwen3vl", "Qwen/Qwen3-VL-2B-Instruct"),
                  "detection_qwen3vl_4b.yaml": ("qwen3vl", "Qwen/Qwen3-VL-4B-Instruct"),
                  "detection_qwen3vl_8b.yaml": ("qwen3vl", "Qwen/Qwen3-VL-8B-Instruct"),
                  "grounding_qwen3vl_4b.yaml": ("qwen3vl", "Qwen/Qwen3-VL-4B-Instruct"),
                  "detection_qwen35_2b.yaml": ("qwen35", "Qwen/Qwen3.5-2B"),
                  "detection_qwen35_9b.yaml": ("qwen35", "Qwen/Qwen3.5-9B"),
                  "detection_internvl3_2b.yaml": ("internvl", "OpenGVLab/InternVL3-2B-hf"),
                  "detection_glm41v_9b.yaml": ("glm4v", "zai-org/GLM-4.1V-9B-Thinking")}


def test_shipped_family_configs_load_and_name_their_family(tmp_path):
    bundled = bundled_configs()
    data = tmp_path / "d"
    data.mkdir()
    for name, (family, hub_id) in FAMILY_CONFIGS.items():
        assert name in bundled, name
        cfg = load_config(name, [f"data.path={data}", "data.image_root=null"])
        assert cfg.model.family == family and cfg.model.path == hub_id, name
        assert vreward.families.detect(hub_id).name == family  # the Hub id alone names the family too
        assert cfg.grpo.bf16 and cfg.grpo.gradient_checkpointing, name
        assert (cfg.model.min_pixels is None) == (family == "internvl"), name


@pytest.mark.parametrize("name", [n for n, (_, _) in FAMILY_CONFIGS.items() if "8b" in n or "9b" in n])
def test_shipped_lora_targets_hit_the_language_model_only(name, tmp_path):
    """The LoRA targets of a shipped config, on the tiny model of its family (same module names): adapters on the
    language model's projections, none in the vision tower."""
    from peft import get_peft_model

    from vreward_train.train import lora_config

    family = FAMILY_CONFIGS[name][0]
    cfg = load_config(name, [f"data.path={tmp_path}", "data.image_root=null"])
    assert cfg.lora.enabled
    model = load_model(build_tiny_model(tmp_path / "m", family=family), dtype="float32")
    peft_model = get_peft_model(model, lora_config(cfg))
    adapted = {n.rsplit(".lora_A", 1)[0] for n, _ in peft_model.named_parameters() if ".lora_A" in n}
    vision = TRAIN_FAMILIES[family].vision_attribute
    assert adapted and not [n for n in adapted if f".{vision}." in n]
    layers = {n.split(".layers.")[1].split(".")[0] for n in adapted}
    assert layers == {"0", "1"}  # every text layer, Qwen3.5's linear-attention layer included


def test_trl_trains_the_vision_tower_on_tiles_and_grids(family_run, tmp_path):
    """TRL's GRPOTrainer on the family's processor, with images of several tiles (InternVL) or grid cells, and
    generation buffered over 2 accumulation steps (TRL splits pixel_values per prompt): a reward that varies
    (a hash of the text) gives a policy gradient, and the vision tower receives it."""
    import zlib

    from trl import GRPOConfig, GRPOTrainer

    from vreward_train.data import load_visual_rft

    family, config, _ = family_run
    shapes = make_shapes_dataset(tmp_path / "shapes", n_train=4, n_test=0, size=(112, 84), max_shapes=1, seed=0)
    ds = load_visual_rft(shapes, split="train").map(lambda row: {"prompt": [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": row["problem"]}]}]})

    def hash_reward(completions, **kwargs):
        return [zlib.crc32(c[-1]["content"].encode()) % 1000 / 1000 for c in completions]

    model = load_model(config.model.path, dtype="float32")
    vision = getattr(model.model, TRAIN_FAMILIES[family].vision_attribute)
    before = [p.detach().clone() for p in vision.parameters()]
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
                      gradient_accumulation_steps=2, max_completion_length=6, max_steps=1, learning_rate=1e-2,
                      use_cpu=True, bf16=False, activation_checkpointing=False, report_to="none", logging_steps=1,
                      save_strategy="no", seed=0, dataloader_num_workers=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=model, reward_funcs=[hash_reward], args=args, train_dataset=ds,
                          processing_class=load_processor(config.model.path))
    trainer.train()
    assert trainer.state.log_history[0]["grad_norm"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, vision.parameters()))
