"""The image-only processors, tiny builders, prompts and warm-up targets of every family vreward-train trains.

The processors must expand image placeholders exactly as the families' own transformers processors do: each is
compared with the real class (``Qwen2VLProcessor``, ``Qwen2_5_VLProcessor``, ``Qwen3VLProcessor`` — which Qwen3.5
uses —, ``InternVLProcessor``, ``Glm4vProcessor``), built here without its video processor (the one part that
needs torchvision), on the same tokenizer and image processor, and checked against the documented rules.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402

import vreward  # noqa: E402
from vreward.frames import smart_resize  # noqa: E402
from vreward_train.families import (  # noqa: E402
    NOT_TRAINED,
    TRAIN_FAMILIES,
    TRAINABLE_FAMILIES,
    model_class_name,
    trainable_family,
)
from vreward_train.models import (  # noqa: E402
    ImageOnlyGlm4vProcessor,
    ImageOnlyInternVLProcessor,
    ImageOnlyQwen2VLProcessor,
    load_processor,
    pixel_bounds,
    processor_class,
    set_pixel_bounds,
)
from vreward_train.prompts import make_prompt, native_answer, question  # noqa: E402
from vreward_train.tiny import build_tiny_processor  # noqa: E402
from vreward_train.tiny_families import (  # noqa: E402
    INTERNVL_IMAGE_SEQ_LENGTH,
    INTERNVL_TILE,
    QWEN3_MAX_PIXELS,
    QWEN3_MIN_PIXELS,
    TINY_FAMILY_NAMES,
    build_family_processor,
    build_family_tokenizer,
)
from vreward_train.train import warn_if_template_opens_thinking  # noqa: E402
from vreward_train.warmup import warmup_target  # noqa: E402

NEW_FAMILIES = ("qwen3vl", "qwen35", "internvl", "glm4v")
IMAGES = [(100, 70), (300, 70), (56, 56), (640, 480)]


def _tiny_processor(family):
    return build_tiny_processor() if family in ("qwen2vl", "qwen25vl") else build_family_processor(family)


@pytest.fixture
def real_processor(monkeypatch):
    """The family's own transformers processor over our processor's parts, with no video processor."""
    import transformers
    from transformers import ProcessorMixin

    check = ProcessorMixin.check_argument_for_proper_class

    def without_video(self, name, arg):
        return None if name == "video_processor" and arg is None else check(self, name, arg)

    monkeypatch.setattr(ProcessorMixin, "check_argument_for_proper_class", without_video)
    classes = {"qwen2vl": "Qwen2VLProcessor", "qwen25vl": "Qwen2_5_VLProcessor", "qwen3vl": "Qwen3VLProcessor",
               "qwen35": "Qwen3VLProcessor", "internvl": "InternVLProcessor", "glm4v": "Glm4vProcessor"}

    def build(ours, family):
        extra = {"image_seq_length": ours.image_seq_length} if family == "internvl" else {}
        return getattr(transformers, classes[family])(image_processor=ours.image_processor, tokenizer=ours.tokenizer,
                                                      video_processor=None, chat_template=ours.chat_template, **extra)

    return build


@pytest.mark.parametrize("family", ("qwen2vl", "qwen25vl", *NEW_FAMILIES))
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # transformers' Glm4vProcessor
def test_placeholders_expand_exactly_as_the_real_processor(family, real_processor):
    ours = _tiny_processor(family)
    real = real_processor(ours, family)
    messages = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Detect circle."}]}],
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "and"}, {"type": "image"},
                                              {"type": "text", "text": "Locate the square."}]}]]
    texts = [ours.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in messages]
    images = [[Image.new("RGB", IMAGES[0], (200, 30, 30))],
              [Image.new("RGB", size, (30, 30, 200)) for size in IMAGES[1:3]]]
    got = ours(text=texts, images=images, padding=True, return_tensors="pt")
    want = real(text=texts, images=images, padding=True, return_tensors="pt")
    assert sorted(got) == sorted(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    # one more image size, alone (tiles of InternVL, resizing of the others)
    text = ours.apply_chat_template(messages[0], add_generation_prompt=True, tokenize=False)
    image = [Image.new("RGB", IMAGES[3])]
    got, want = ours(text=[text], images=[image]), real(text=[text], images=[image])
    assert got["input_ids"] == want["input_ids"]


@pytest.mark.parametrize("family", ("qwen3vl", "qwen35", "glm4v"))
def test_grid_families_follow_the_documented_rule(family):
    """One placeholder per merged patch: grid_t * grid_h * grid_w / merge**2, the grid from smart_resize."""
    processor = build_family_processor(family)
    ip = processor.image_processor
    factor = ip.patch_size * ip.merge_size
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}],
        add_generation_prompt=True, tokenize=False)
    for width, height in IMAGES:
        out = processor(text=[text], images=[[Image.new("RGB", (width, height))]])
        lo, hi = pixel_bounds(processor)
        if family == "glm4v":  # GLM's resize bounds two frames (temporal patch 2): 2 * h * w
            lo, hi = lo // 2, hi // 2
        h, w = smart_resize(height, width, factor=factor, min_pixels=lo, max_pixels=hi)
        grid = [1, h // ip.patch_size, w // ip.patch_size]
        assert out["image_grid_thw"][0].tolist() == grid, (width, height)
        count = sum(1 for t in out["input_ids"][0] if t == processor.image_token_id)
        assert count == grid[1] * grid[2] // ip.merge_size ** 2
        assert sum(out["mm_token_type_ids"][0]) == count


def test_internvl_expands_tiles_as_documented():
    """<img> + image_seq_length x <IMG_CONTEXT> per tile + </img>; tiles: the image cut into rows x columns of the
    tile size (the grid whose aspect ratio is closest, at most max_patches), plus a thumbnail when cut."""
    processor = build_family_processor("internvl")
    tok = processor.tokenizer
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}],
        add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\n<IMG_CONTEXT>\nx<|im_end|>\n<|im_start|>assistant\n"
    for (width, height), tiles in (((56, 56), 1), ((112, 56), 3), ((112, 112), 5), ((640, 480), 5)):
        out = processor(text=[text], images=[[Image.new("RGB", (width, height))]], return_tensors="pt")
        assert out["pixel_values"].shape == (tiles, 3, INTERNVL_TILE, INTERNVL_TILE), (width, height)
        ids = out["input_ids"][0].tolist()
        start, end = ids.index(tok.convert_tokens_to_ids("<img>")), ids.index(tok.convert_tokens_to_ids("</img>"))
        assert ids[start + 1:end] == [processor.image_token_id] * (INTERNVL_IMAGE_SEQ_LENGTH * tiles)
        assert "num_patches" not in out  # as InternVLProcessor: the model does not read it


CHAT = {
    "qwen3vl": "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\n",
    # rendered with the family's chat_template_kwargs: enable_thinking=False closes an empty thinking block
    "qwen35": "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q<|im_end|>\n<|im_start|>assistant\n"
              "<think>\n\n</think>\n\n",
    "internvl": "<|im_start|>user\n<IMG_CONTEXT>\nQ<|im_end|>\n<|im_start|>assistant\n",
    "glm4v": "[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>Q<|assistant|>\n",
}


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_chat_templates_render_the_family_layout(family):
    processor = build_family_processor(family)
    user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q"}]}]
    assert processor.apply_chat_template(user, add_generation_prompt=True, tokenize=False) == CHAT[family]
    turns = [{"role": "system", "content": "SYS1"}, *user, {"role": "assistant", "content": "ANS1"}]
    text = processor.apply_chat_template(turns, tokenize=False)
    assert text.index("SYS1") < text.index("Q<") < text.index("ANS1") and not text.endswith("assistant\n")


def test_qwen35_thinking_switch_and_the_open_think_warning():
    processor = build_family_processor("qwen35")
    user = [{"role": "user", "content": "Q"}]
    assert processor.apply_chat_template(user, add_generation_prompt=True, tokenize=False,
                                         enable_thinking=True).endswith("<|im_start|>assistant\n<think>\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_template_opens_thinking(processor)
    processor.chat_template_defaults = {}
    with pytest.warns(UserWarning, match="opens a <think> block"):
        assert warn_if_template_opens_thinking(processor)


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_tokenizers_keep_think_and_drop_special_tokens(family):
    tok = build_family_tokenizer(family)
    text = "<think>a</think> <answer>b</answer>"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    specials = {"qwen3vl": "<|image_pad|>", "qwen35": "<|vision_start|>", "internvl": "<box>",
                "glm4v": "<|begin_of_box|>"}[family]
    assert tok.decode(tok(specials + "x")["input_ids"], skip_special_tokens=True) == "x"
    assert tok.eos_token == {"glm4v": "<|user|>"}.get(family, "<|im_end|>")


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_processor_save_load_round_trip_and_released_layout(family, tmp_path):
    processor = build_family_processor(family)
    processor.save_pretrained(tmp_path / "saved")
    again = load_processor(tmp_path / "saved", family=family)
    assert type(again) is type(processor)
    assert again.chat_template == processor.chat_template
    assert again.chat_template_defaults == dict(TRAIN_FAMILIES[family].chat_template_kwargs)
    assert again.tokenizer.padding_side == "left"
    # a released checkpoint: the image processor in preprocessor_config.json, transformers' processor class, a
    # video processor entry; only the image processor, tokenizer and template are read
    released = tmp_path / "released"
    shutil.copytree(tmp_path / "saved", released)
    saved = json.loads((released / "processor_config.json").read_text())
    (released / "processor_config.json").unlink()
    real_name = {"qwen3vl": "Qwen3VLProcessor", "qwen35": "Qwen3VLProcessor", "internvl": "InternVLProcessor",
                 "glm4v": "Glm4vProcessor"}[family]
    (released / "preprocessor_config.json").write_text(json.dumps(dict(saved["image_processor"],
                                                                       processor_class=real_name)))
    loaded = load_processor(released)
    assert isinstance(loaded, processor_class(family)) and not hasattr(loaded, "video_processor")


def test_processor_classes_follow_the_family_table():
    assert {f: processor_class(f) for f in TRAINABLE_FAMILIES} == {
        "qwen2vl": ImageOnlyQwen2VLProcessor, "qwen25vl": ImageOnlyQwen2VLProcessor,
        "qwen3vl": ImageOnlyQwen2VLProcessor, "qwen35": ImageOnlyQwen2VLProcessor,
        "internvl": ImageOnlyInternVLProcessor, "glm4v": ImageOnlyGlm4vProcessor}
    assert set(TINY_FAMILY_NAMES) == set(TRAINABLE_FAMILIES) - {"qwen2vl", "qwen25vl"}
    assert not set(NOT_TRAINED) & set(TRAINABLE_FAMILIES)
    assert set(NOT_TRAINED) | set(TRAINABLE_FAMILIES) == set(vreward.families.FAMILY_NAMES)
    for name in NOT_TRAINED:
        with pytest.raises(ValueError, match=re.escape(f"cannot train it yet ({NOT_TRAINED[name]})")):
            trainable_family(name)
    with pytest.raises(ValueError, match="loads model_type 'internvl_chat' .* transformers-format ones"):
        model_class_name("internvl", "internvl_chat")
    assert model_class_name("glm4v", "glm4v_moe") == "Glm4vMoeForConditionalGeneration"
    with pytest.raises(ValueError, match="fixed size .* no min_pixels / max_pixels"):
        set_pixel_bounds(build_family_processor("internvl").image_processor, max_pixels=10_000)


ROW = {"problem": "circle", "category": "circle", "width": 640, "height": 480,
       "solution": "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 1}, "
                   "{'Position': [600, 50, 900, 400], 'Confidence': 1}]</answer>"}
NATIVE = {"qwen3vl": '[{"bbox_2d": [100, 100, 500, 500], "label": "circle", "confidence": 1}, '
                     '{"bbox_2d": [600, 50, 900, 400], "label": "circle", "confidence": 1}]',
          "internvl": "<ref>circle</ref><box>[[100, 100, 500, 500]]</box>"
                      "<ref>circle</ref><box>[[600, 50, 900, 400]]</box>",
          "glm4v": "<|begin_of_box|>[[100,100,500,500], [600,50,900,400]]<|end_of_box|>"}
NATIVE["qwen35"] = NATIVE["qwen3vl"]


@pytest.mark.parametrize("family", NEW_FAMILIES)
def test_prompts_and_warmup_targets_are_in_the_family_syntax(family):
    text = question("detection", ROW, family)
    example = {"qwen3vl": '[{"bbox_2d": [x1, y1, x2, y2], "label": "circle", "confidence": number}, ',
               "internvl": "<ref>circle</ref><box>[[x1, y1, x2, y2]]</box><ref>circle</ref><box>",
               "glm4v": "<|begin_of_box|>[[x1,y1,x2,y2], [x1,y1,x2,y2]]<|end_of_box|>"}
    assert example.get(family, example["qwen3vl"]) in text
    # a JSON box has room for a confidence (the confidence reward and COCO AP read it); the tags have none
    assert ("and confidence (between 0 and 1" in text) == (family in ("qwen3vl", "qwen35"))
    assert "between 0 and 1000, integer, relative to the image width and height" in text and "Position" not in text
    assert native_answer("detection", ROW, family) == NATIVE[family]
    target = warmup_target(ROW, "detection", family)
    assert target == f"<think>I look for the category.</think> <answer>{NATIVE[family]}</answer>"
    # the rewards of the family read the target as a perfect answer (the ground truth in Visual-RFT's 0-1000)
    for reward in (vreward.make_iou_reward(family=family, solution_coords="qwen2vl"),
                   vreward.make_confidence_reward(family=family, solution_coords="qwen2vl"), vreward.format_reward):
        assert reward([target], solution=[ROW["solution"]], width=[640], height=[480]) == [1.0]
    grounding = dict(ROW, problem="the red circle", solution="<answer>[100, 100, 500, 500]</answer>")
    target = warmup_target(grounding, "grounding", family)
    assert vreward.make_giou_reward(family=family, solution_coords="qwen2vl")(
        [target], solution=[grounding["solution"]], width=[640], height=[480]) == [vreward.giou_reward.score_range[1]]
    assert "the red circle" in make_prompt("grounding", grounding, family)[0]["content"][1]["text"]
    # Visual-RFT's lists stay the prompts and targets of the Qwen2 lines
    assert "'Position': [x1, y1, x2, y2]" in question("detection", ROW, "qwen2vl")
    assert warmup_target(ROW, "detection", "qwen2vl").endswith(ROW["solution"])


def test_warmup_targets_convert_from_the_data_frame():
    # the same boxes stated in pixels of the 640 x 480 image
    row = dict(ROW, solution="<answer>[[64, 48, 320, 240], [384, 24, 576, 192]]</answer>")
    assert native_answer("detection", row, "qwen3vl", solution_coords="pixels") == NATIVE["qwen3vl"]
    assert native_answer("detection", dict(ROW, solution="<answer>No Objects</answer>"), "glm4v") == "No Objects"


def test_tiny_qwen3_image_processor_bounds():
    processor = build_family_processor("qwen3vl")
    assert pixel_bounds(processor) == (QWEN3_MIN_PIXELS, QWEN3_MAX_PIXELS)
    assert pixel_bounds(build_family_processor("internvl")) == (vreward.frames.QWEN25VL_MIN_PIXELS,
                                                               vreward.frames.QWEN25VL_MAX_PIXELS)
