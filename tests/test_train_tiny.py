"""The tiny Qwen2-VL / Qwen2.5-VL checkpoints, the image-only processor, and one GRPO step in TRL (CPU, no download).

Proves that the pieces the training command builds on fit: ``build_tiny_model`` writes a checkpoint that
``load_model`` / ``load_processor`` read back; the processor expands the image placeholder as the real one does;
a forward pass and ``generate()`` run with an image; and TRL's ``GRPOTrainer`` trains a step on the shapes dataset
with vreward's detection rewards, the vision tower receiving gradients.
"""

from __future__ import annotations

import json
import shutil
import zlib

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

from vreward.frames import smart_resize  # noqa: E402
from vreward_train.models import (  # noqa: E402
    ImageOnlyQwen2VLProcessor,
    coordinate_frame,
    load_model,
    load_processor,
    model_family,
    pixel_bounds,
)
from vreward_train.tiny import MAX_PIXELS, MIN_PIXELS, build_tiny_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

FAMILIES = ("qwen2vl", "qwen25vl")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {family: build_tiny_model(root / family, family=family, seed=0) for family in FAMILIES}


def _messages(image, text="Detect all objects belonging to the category 'circle' in the image."):
    return [[{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]]


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_model_reloads_runs_and_generates(tiny, family):
    path = tiny[family]
    model = load_model(path, dtype="float32")
    processor = load_processor(path)
    assert model_family(path) == family
    assert type(model).__name__ == {"qwen2vl": "Qwen2VLForConditionalGeneration",
                                    "qwen25vl": "Qwen2_5_VLForConditionalGeneration"}[family]
    assert isinstance(processor, ImageOnlyQwen2VLProcessor)
    assert model.config.image_token_id == processor.image_token_id
    assert model.config.get_text_config().vocab_size == len(processor.tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 500_000

    image = Image.new("RGB", (112, 84), (200, 30, 30))
    inputs = processor.apply_chat_template(_messages(image), add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    # 84 x 112 pixels -> 6 x 8 patches of 14 -> 12 image tokens after the 2 x 2 merge, as Qwen2VLProcessor does
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 8]]
    assert int((inputs["input_ids"] == processor.image_token_id).sum()) == 12
    assert inputs["mm_token_type_ids"].sum().item() == 12
    assert inputs["pixel_values"].shape == (48, 3 * 2 * 14 * 14)
    with torch.no_grad():
        logits = model(**inputs).logits
        assert logits.shape == (1, inputs["input_ids"].shape[1], len(processor.tokenizer))
        assert torch.isfinite(logits).all()
        out = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert new.shape == (6,)
    assert isinstance(processor.batch_decode(new[None])[0], str)


def test_tiny_build_is_deterministic(tmp_path, tiny):
    again = build_tiny_model(tmp_path / "again", family="qwen2vl", seed=0)
    other = build_tiny_model(tmp_path / "other", family="qwen2vl", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny["qwen2vl"] / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()


def test_model_family_and_coordinate_frame(tiny, tmp_path):
    from transformers import AutoConfig

    assert model_family(tiny["qwen25vl"]) == "qwen25vl"
    assert model_family(str(tiny["qwen2vl"])) == "qwen2vl"
    assert model_family(AutoConfig.from_pretrained(tiny["qwen25vl"])) == "qwen25vl"
    assert model_family({"model_type": "qwen2_vl"}) == "qwen2vl"
    assert coordinate_frame("qwen2vl") == "qwen2vl"
    assert coordinate_frame("qwen25vl") == "qwen25vl"
    with pytest.raises(ValueError, match="unknown model family 'llava'"):
        coordinate_frame("llava")
    with pytest.raises(ValueError, match="model_type 'llama', which is no known family's"):
        model_family({"model_type": "llama"})
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    assert model_family(tmp_path) == "qwen3vl"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "paligemma"}))
    with pytest.raises(ValueError, match=r"'paligemma' \(PaliGemma 1 / 2\) is known .* cannot train it yet "
                       r"\(prompted with task prefixes.*\).* \(from .*\)"):
        model_family(tmp_path)
    assert model_family({"model_type": "qwen2_5_vl", "_name_or_path": "Qwen/Qwen2.5-VL-3B-Instruct"}) == "qwen25vl"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        model_family(tmp_path / "empty")


def test_processor_pixel_bounds_and_save_round_trip(tiny, tmp_path):
    processor = load_processor(tiny["qwen2vl"])
    assert pixel_bounds(processor) == (MIN_PIXELS, MAX_PIXELS)
    image = Image.new("RGB", (600, 400))
    text = ["<|vision_start|><|image_pad|><|vision_end|>boxes"]
    for lo, hi in ((MIN_PIXELS, MAX_PIXELS), (3136, 401408)):
        p = load_processor(tiny["qwen2vl"], min_pixels=lo, max_pixels=hi)
        grid = p(text=text, images=[image])["image_grid_thw"][0].tolist()
        h, w = smart_resize(400, 600, min_pixels=lo, max_pixels=hi)  # vreward's rule = the processor's rule
        assert grid == [1, h // 14, w // 14]
    p.save_pretrained(tmp_path)
    assert pixel_bounds(load_processor(tmp_path)) == (3136, 401408)
    with pytest.raises(ValueError, match="min_pixels .* must not exceed max_pixels"):
        load_processor(tiny["qwen2vl"], min_pixels=10_000, max_pixels=5_000)


def test_processor_loads_a_released_checkpoint_layout(tiny, tmp_path):
    """Released Qwen checkpoints keep the image processor in preprocessor_config.json (processor_class
    Qwen2VLProcessor) and the template in chat_template.json; only those parts are read."""
    dst = tmp_path / "released"
    shutil.copytree(tiny["qwen2vl"], dst)
    saved = json.loads((dst / "processor_config.json").read_text())
    (dst / "processor_config.json").unlink()
    image_config = dict(saved["image_processor"], processor_class="Qwen2VLProcessor")
    (dst / "preprocessor_config.json").write_text(json.dumps(image_config))
    template = (dst / "chat_template.jinja").read_text()
    (dst / "chat_template.jinja").unlink()
    (dst / "chat_template.json").write_text(json.dumps({"chat_template": template}))

    processor = load_processor(dst, min_pixels=3136, max_pixels=401408)
    assert processor.chat_template == template
    assert processor.tokenizer.padding_side == "left"
    text = processor.apply_chat_template(_messages(Image.new("RGB", (56, 56)))[0], add_generation_prompt=True,
                                         tokenize=False)
    assert "<|vision_start|><|image_pad|><|vision_end|>Detect" in text
    assert text.endswith("<|im_start|>assistant\n")

    # transformers 5's own Qwen2VLProcessor saves a video processor too: it is left out
    stock = tmp_path / "stock"
    shutil.copytree(tiny["qwen2vl"], stock)
    saved.update(processor_class="Qwen2VLProcessor", video_processor={"video_processor_type": "Qwen2VLVideoProcessor"})
    (stock / "processor_config.json").write_text(json.dumps(saved))
    processor = load_processor(stock)
    assert isinstance(processor, ImageOnlyQwen2VLProcessor) and not hasattr(processor, "video_processor")


def test_load_model_dtype(tiny):
    model = load_model(tiny["qwen25vl"], dtype="bfloat16", attn_implementation="eager")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        load_model(tiny["qwen25vl"], dtype="float8")


class Recording:
    """A reward that records what TRL passes and scores each completion by a hash of its text, so that a group's
    rewards differ and GRPO's advantages (hence the gradients) are not all zero."""

    __name__ = "hash_reward"

    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, completions, **kwargs):
        self.calls.append({"completions": completions, **kwargs})
        return [zlib.crc32(c[-1]["content"].encode()) % 1000 / 1000 for c in completions]


@pytest.mark.parametrize("family", FAMILIES)
def test_grpo_step_on_shapes_with_detection_rewards(tiny, tmp_path, family):
    pytest.importorskip("trl")
    from trl import GRPOConfig, GRPOTrainer

    from vreward_train import task_rewards
    from vreward_train.data import load_visual_rft
    from vreward_train.synthetic import make_shapes_dataset

    shapes = make_shapes_dataset(tmp_path / "shapes", n_train=4, n_test=0, size=(56, 56), seed=0,
                                 frame=coordinate_frame(family), max_shapes=1)
    dataset = load_visual_rft(shapes, split="train")
    dataset = dataset.map(lambda row: {"prompt": [{"role": "user", "content": row["problem"]}]})
    model = load_model(tiny[family], dtype="float32")
    processor = load_processor(tiny[family])
    funcs, weights = task_rewards("detection")
    spy = Recording()
    vision_before = next(model.model.visual.parameters()).detach().clone()

    args = GRPOConfig(
        output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
        max_completion_length=6, max_steps=1, learning_rate=1e-2, use_cpu=True, bf16=False,
        activation_checkpointing=False, report_to="none", logging_steps=1, save_strategy="no", seed=0,
        reward_weights=[*weights, 1.0], dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=[*funcs, spy], args=args, train_dataset=dataset,
                          processing_class=processor)
    trainer.train()

    assert trainer.state.global_step == 1
    logs = trainer.state.log_history[0]
    for name in ("iou_reward", "confidence_reward", "format_reward"):
        assert f"rewards/{name}/mean" in logs
        assert f"{name}/zero_reasons_frac" in logs  # vreward's reasons reached TRL's logger
    call = spy.calls[0]
    assert len(call["completions"]) == 4
    assert all(isinstance(im, Image.Image) and im.size == (56, 56) for im in call["image"])
    assert call["solution"][0].startswith("<answer>[{'Position': [")
    assert call["width"] == [56] * 4
    prompt_parts = call["prompts"][0][0]["content"]
    assert [part["type"] for part in prompt_parts] == ["image", "text"]  # TRL put the image into the prompt
    assert logs["grad_norm"] > 0
    vision_after = next(model.model.visual.parameters()).detach()
    assert not torch.equal(vision_before, vision_after)  # the loss saw pixel_values: the vision tower trained

    trainer.save_model(str(tmp_path / "final"))  # the trainer saves the processor beside the weights
    assert model_family(tmp_path / "final") == family
    saved = load_model(tmp_path / "final", dtype="float32")
    assert torch.equal(next(saved.model.visual.parameters()), vision_after)
    assert isinstance(load_processor(tmp_path / "final"), ImageOnlyQwen2VLProcessor)
