"""vreward-train's configuration (files, overrides, clear errors), prompts, bundled configs and CLI plumbing.

No training here (see test_train_e2e.py); needs pyyaml, not torch.
"""

from __future__ import annotations

import json

import pytest

yaml = pytest.importorskip("yaml")

from vreward_train.cli import main  # noqa: E402
from vreward_train.config import (  # noqa: E402
    ConfigError,
    TrainConfig,
    apply_overrides,
    bundled_configs,
    load_config,
    parse_value,
)
from vreward_train.prompts import box_units, category_of, conversation, make_prompt, question  # noqa: E402

TASK_CONFIGS = ("detection_qwen2vl_2b.yaml", "detection_qwen25vl_7b.yaml", "classification_qwen2vl_2b.yaml",
                "grounding_qwen2vl_2b.yaml", "tiny_cpu.yaml")


@pytest.fixture
def config_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "task": "detection",
        "model": {"path": "Qwen/Qwen2-VL-2B-Instruct"},
        "data": {"path": str(data)},
        "grpo": {"learning_rate": 1e-6, "num_generations": 4, "per_device_train_batch_size": 4},
        "output_dir": str(tmp_path / "out"),
    }))
    return path


def test_file_plus_overrides(config_file):
    cfg = load_config(config_file, [
        "grpo.learning_rate=2e-5", "lora.enabled=true", "lora.target_modules=[q_proj, v_proj]",
        "rewards.weights.format=0.5", "rewards.options.iou={threshold: 0.75}", "grpo.extra.top_k=20",
        "resume_from_checkpoint=true"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.grpo.learning_rate == 2e-5 and cfg.grpo.num_generations == 4
    assert cfg.lora.enabled and cfg.lora.target_modules == ("q_proj", "v_proj")
    assert cfg.reward_names() == ["iou", "confidence", "format"]
    assert cfg.reward_weights() == [1.0, 1.0, 0.5]
    assert cfg.rewards.options == {"iou": {"threshold": 0.75}}
    assert cfg.grpo.extra == {"top_k": 20}
    assert cfg.resume_from_checkpoint is True
    # CPU-safe defaults: bf16 / gradient checkpointing decided at run time (off without CUDA)
    assert cfg.grpo.bf16 is None and cfg.grpo.gradient_checkpointing is None
    with pytest.raises(Exception, match="frozen"):
        cfg.task = "grounding"


def test_json_config_and_reward_subset(tmp_path, config_file):
    data = yaml.safe_load(config_file.read_text())
    data["task"] = "grounding"
    data["rewards"] = {"preset": "visual_rft", "names": ["giou"], "options": {"giou": {"scale": "unit"}}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    cfg = load_config(path)
    assert cfg.task == "grounding" and cfg.reward_names() == ["giou"] and cfg.reward_weights() == [1.0]


def test_values_are_read_as_yaml_scalars():
    assert parse_value("1e-5") == 1e-5 and parse_value("3") == 3 and parse_value("true") is True  # YAML 1.1: str
    assert parse_value("null") is None and parse_value("[a, b]") == ["a", "b"] and parse_value("x: [") == "x: ["
    assert apply_overrides({"grpo": {"beta": 0.1}}, ["grpo.seed=2", "task=grounding"]) == {
        "grpo": {"beta": 0.1, "seed": 2}, "task": "grounding"}


@pytest.mark.parametrize(("override", "message"), [
    ("grpo.learning_rate=-1", r"grpo\.learning_rate: Input should be greater than 0"),
    ("grpo.num_generations=one", r"grpo\.num_generations: Input should be a valid integer"),
    ("task=segmentation", r"task: Input should be 'detection', 'classification' or 'grounding'"),
    ("grpo.vllm_mode=remote", r"grpo\.vllm_mode"),
    ("rewards.options.iou={threshold: 2}", r"rewards\.options\.iou\.threshold: Input should be less than 1"),
    ("rewards.options.iou={coords: qwen25vl}", r"rewards\.options\.iou: \['coords'\] follow model\.family"),
    ("rewards.weights.accuracy=1", r"rewards\.weights: \['accuracy'\] do not apply to task 'detection'"),
    ("grpo.extra={beta: 0.1}", r"extra sets \['beta'\]"),
    ("model.min_pixels=5000000", r"model: Value error|min_pixels \(5000000\) must not exceed"),
    ("resume_from_checkpoint=/no/such/ckpt", r"resume_from_checkpoint: Value error|is not a directory"),
])
def test_bad_values_name_the_field_and_the_file(config_file, override, message):
    overrides = [override]
    if "min_pixels" in override:
        overrides.append("model.max_pixels=1000000")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(config_file, overrides)
    assert str(config_file) in str(info.value)


def test_unknown_keys_and_missing_files(tmp_path, config_file):
    with pytest.raises(ConfigError, match=r"unknown setting 'learning_rate'; did you mean grpo\.learning_rate"):
        load_config(config_file, ["learning_rate=1e-5"])
    with pytest.raises(ConfigError, match=r"unknown setting 'grpo\.learnin_rate'"):
        load_config(config_file, ["grpo.learnin_rate=1e-5"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(config_file, ["grpo.beta"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  path: x\n  colour: red\ndata: {path: /no/such/dir}\noutput_dir: o\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    text = str(info.value)
    assert str(bad) in text and "model.colour: unknown setting" in text and "data: Value error" not in text
    assert "data: path: /no/such/dir does not exist" in text
    with pytest.raises(ConfigError, match="no such file, and no bundled config"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listy)


def test_bundled_configs_are_packaged_and_valid(tmp_path):
    bundled = bundled_configs()
    for name in (*TASK_CONFIGS, "accelerate/ddp.yaml", "accelerate/zero2.yaml", "accelerate/zero3.yaml"):
        assert name in bundled, name
    data = tmp_path / "d"
    data.mkdir()
    for name in TASK_CONFIGS:
        cfg = load_config(name, [f"data.path={data}", f"model.path={tmp_path}", "data.image_root=null"])
        if name != "tiny_cpu.yaml":
            assert cfg.grpo.bf16 and cfg.grpo.gradient_checkpointing, name
    assert load_config("detection_qwen25vl_7b", [f"data.path={data}"]).lora.enabled
    for name, kind, stage in (("ddp", "MULTI_GPU", None), ("zero2", "DEEPSPEED", 2), ("zero3", "DEEPSPEED", 3)):
        acc = yaml.safe_load(bundled[f"accelerate/{name}.yaml"].read_text())
        assert acc["distributed_type"] == kind and acc["mixed_precision"] == "bf16"
        assert (acc.get("deepspeed_config") or {}).get("zero_stage") == stage


def test_cli_configs_and_print_config(capsys, config_file):
    assert main(["configs"]) == 0
    listed = capsys.readouterr().out.split()
    assert "detection_qwen2vl_2b.yaml" in listed and "accelerate/zero3.yaml" in listed
    assert main(["configs", "accelerate/zero2.yaml", "--path"]) == 0
    assert capsys.readouterr().out.strip().endswith("zero2.yaml")
    assert main(["train", str(config_file), "--print-config", "--max-steps", "7", "--lora", "--set",
                 "grpo.beta=0"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["grpo"]["max_steps"] == 7 and printed["grpo"]["beta"] == 0 and printed["lora"]["enabled"]


def test_cli_config_errors_exit_2_naming_the_field(capsys, config_file):
    assert main(["train", str(config_file), "--set", "grpo.num_generations=1"]) == 2
    err = capsys.readouterr().err
    assert "grpo.num_generations: Input should be greater than or equal to 2" in err and str(config_file) in err
    assert main(["train", str(config_file), "--set", "lora.rank=8"]) == 2
    assert "unknown setting 'lora.rank'" in capsys.readouterr().err
    assert main(["configs", "nope.yaml"]) == 2
    assert "no bundled config" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train"])
    assert info.value.code == 2



@pytest.mark.parametrize("command", ["tiny-model", "demo"])
def test_cli_model_sizes_follow_the_family(tmp_path, capsys, command):
    from vreward_train.demo import DemoSettings

    # the demo size exists for the Qwen2 lines; the other families' builders make the tiny size only
    with pytest.raises(SystemExit) as info:
        main([command, str(tmp_path / "x"), "--family", "qwen3vl", "--size", "demo"])
    assert info.value.code == 2 and "a qwen3vl model has the 'tiny' size" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="'tiny' size"):
        DemoSettings(family="internvl")
    assert DemoSettings(family="internvl", model_size="tiny").model_size == "tiny"


# ---------------------------------------------------------------------------------------------------------------
# Prompts

VISUAL_RFT_DETECTION = (
    "Detect all objects belonging to the category 'traffic light' in the image, and provide the bounding boxes "
    "(between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).\nIf no object "
    "belonging to the category 'traffic light' in the image, return 'No Objects'.\nOutput the thinking process in "
    "<think> </think> and final answer in <answer> </answer> tags."
)


def test_detection_prompt_states_the_family_frame():
    q2 = question("detection", {"problem": VISUAL_RFT_DETECTION}, family="qwen2vl")
    assert "category 'traffic light'" in q2 and "between 0 and 1000" in q2
    assert "[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]" in q2 and "<think>" in q2
    q25 = question("detection", {"category": "cat", "problem": "ignored", "width": 640, "height": 480},
                   family="qwen25vl", min_pixels=3136, max_pixels=401408)
    assert "category 'cat'" in q25 and "0 and 1000" not in q25
    assert "in pixels of the image" in q25 and "the image is 644x476 pixels" in q25  # smart_resize(480, 640)
    assert "pixels of the image" in box_units("qwen25vl") and category_of({"problem": "dog"}) == "dog"
    with pytest.raises(ValueError, match="cannot tell the category"):
        category_of({"problem": "A long question.\nWith lines."})
    with pytest.raises(ValueError, match="unknown model family"):
        box_units("llava")


def test_classification_grounding_and_problem_mode():
    full = "This is an image of a flower. Name it. Output ... in <answer> </answer> tags."
    assert question("classification", {"problem": full}) == full  # already a Visual-RFT prompt
    q = question("classification", {"problem": "Which shape is drawn?"})
    assert q.startswith("Which shape is drawn?\n") and "<answer>category name</answer>" in q
    g = question("grounding", {"problem": "the red circle"}, family="qwen2vl")
    assert g.startswith("Locate the red circle in the image") and "<answer>[x1, y1, x2, y2]</answer>" in g
    assert question("detection", {"problem": "as is"}, mode="problem") == "as is"
    prompt = make_prompt("detection", {"category": "square"}, family="qwen2vl")
    assert prompt[0]["role"] == "user" and prompt[0]["content"][0] == {"type": "image"}
    assert prompt[0]["content"][1]["type"] == "text" and "'square'" in prompt[0]["content"][1]["text"]
    assert conversation("t", with_image=False) == [{"role": "user", "content": [{"type": "text", "text": "t"}]}]
