"""Model families: detection, the round trip pixel truth -> native answer -> reward 1.0, each family's own
syntax as its documentation writes it (the sources are the family rows', docs/coordinate-frames.md), the
off-by-one conventions, frame diagnostics and the ``family=`` option of every surface."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from pydantic import ValidationError

import vreward
from vreward import families
from vreward.frames import (
    FAMILIES,
    FRAMES,
    SYNTAXES,
    box_to_frame,
    convert_boxes,
    frame_spec,
    point_to_frame,
    to_pixels,
)
from vreward.parsing import parse_completion, parse_texts

BOX_FAMILIES = [name for name, spec in FAMILIES.items() if spec.answer_syntax.boxes is not None]
POINT_FAMILIES = [name for name, spec in FAMILIES.items() if spec.answer_syntax.points is not None]

# An image and boxes every frame writes exactly: integer pixels of a 1000 x 500 image are integers in 0-1000,
# tenths in percent, thousandths in 0-1 (the padded square is 1000 x 1000, the image 250 below its top).
W, H = 1000, 500
EXACT = [[100, 50, 400, 300], [520, 125, 990, 480]]
# Florence-2 reads a bin at its centre: pixel boxes at bin centres (of a 1000 x 1000 image) come back exactly.
FLORENCE_EXACT = [[100.5, 50.5, 400.5, 300.5], [520.5, 125.5, 990.5, 480.5]]


def answer(text: str) -> str:
    return f"<think>ok</think><answer>{text}</answer>"


def exact_case(family: str) -> tuple[list, int, int]:
    """Pixel boxes and an image size that ``family``'s frame represents without rounding."""
    frame = FAMILIES[family].frame
    if frame == "bins1000_centres":
        return FLORENCE_EXACT, 1000, 1000
    if frame == "bins1024":
        return [[128, 64, 512, 384], [640, 200, 1000, 480]], 1024, 512
    if frame == "rel999":
        return [[99, 45, 399, 300], [519, 126, 990, 480]], 999, 999
    if frame == "qwen25vl":
        return EXACT, 1008, 504  # multiples of 28: smart_resize keeps the size
    return EXACT, W, H


def pixel_truth(boxes: list) -> list[str]:
    return [json.dumps([{"bbox_2d": b} for b in boxes])]


# ------------------------------------------------------------------------------------------------ detection


@pytest.mark.parametrize(("source", "name"), [
    ("qwen3_vl", "qwen3vl"), ("qwen3_vl_moe", "qwen3vl"), ("qwen2_5_vl", "qwen25vl"), ("paligemma", "paligemma"),
    ("Qwen/Qwen3-VL-8B-Instruct", "qwen3vl"), ("OpenGVLab/InternVL3-8B-hf", "internvl"),
    ("https://huggingface.co/Qwen/Qwen3.5-9B", "qwen35"), ("zai-org/GLM-4.5V", "glm4v"),
    ("google/paligemma2-3b-mix-448", "paligemma"), ("microsoft/Florence-2-large", "florence2"),
    ("deepseek-ai/deepseek-vl2-small", "deepseekvl2"), ("allenai/Molmo-7B-D-0924", "molmo"),
    ("allenai/Molmo2-8B", "molmo2"), ("IDEA-Research/Rex-Omni", "rexomni"), ("XiaomiMiMo/MiMo-VL-7B-RL", "mimovl"),
    ("openbmb/MiniCPM-V-4_5", "minicpmv"), ("llava-hf/llava-onevision-qwen2-7b-ov-hf", "llava_onevision"),
    ("moonshotai/Kimi-VL-A3B-Instruct", "kimivl"), ("internvl", "internvl"), ("glm46v", "glm4v"),
])
def test_detect_from_model_type_and_hub_id(source, name):
    assert families.detect(source).name == name


def test_detect_from_config_dict_path_and_directory(tmp_path):
    assert families.detect({"model_type": "qwen3_vl"}).name == "qwen3vl"
    # Rex-Omni and MiMo-VL are Qwen2.5-VL checkpoints: their Hub id decides
    assert families.detect({"model_type": "qwen2_5_vl", "_name_or_path": "IDEA-Research/Rex-Omni"}).name == "rexomni"
    assert families.detect({"model_type": "qwen2_5_vl", "_name_or_path": "/ckpt/step-100"}).name == "qwen25vl"
    # a Hub name never overrides a family that has model_types of its own
    assert families.detect({"model_type": "qwen3_vl", "_name_or_path": "me/qwen2-vl-ft"}).name == "qwen3vl"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "glm4v_moe"}))
    assert families.detect(tmp_path).name == "glm4v"
    assert families.detect(str(tmp_path / "config.json")).name == "glm4v"


def test_unknown_families_are_clear_errors_listing_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model family 'llama'.*qwen3vl \(Qwen3-VL\).*paligemma"):
        families.detect("llama")
    with pytest.raises(ValueError, match=r"model_type 'llama', which is no known family's.*known families"):
        families.detect({"model_type": "llama"})
    with pytest.raises(ValueError, match="has no config.json"):
        (tmp_path / "empty").mkdir()
        families.detect(tmp_path / "empty")
    with pytest.raises(ValidationError, match=r"unknown model family 'nope'.*known families"):
        vreward.make_iou_reward(family="nope")


def test_every_family_row_names_a_frame_a_syntax_and_a_source():
    seen: dict[str, str] = {}
    for spec in FAMILIES.values():
        assert spec.frame in FRAMES and spec.syntax in SYNTAXES and spec.source and spec.units
        assert all(p == p.lower() and "/" in p for p in spec.hub_patterns)
        for model_type in spec.model_types:
            assert seen.setdefault(model_type, spec.name) == spec.name, model_type


# ----------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("family", BOX_FAMILIES)
def test_round_trip_pixel_truth_native_answer_iou_one(family):
    boxes, width, height = exact_case(family)
    text = families.format_answer(boxes, family, width=width, height=height, labels=["cat", "dog"])
    r = vreward.make_iou_reward(family=family, solution_coords="pixels")
    sizes = {"width": [width], "height": [height]}
    assert r([answer(text)], solution=pixel_truth(boxes), **sizes) == [pytest.approx(1.0, abs=1e-12)]
    g = vreward.make_giou_reward(family=family, solution_coords="pixels")
    perfect = vreward.make_giou_reward(coords="pixels")([answer(pixel_truth(boxes[:1])[0])],
                                                        solution=pixel_truth(boxes[:1]), **sizes)
    assert g([answer(text)], solution=pixel_truth(boxes[:1]), **sizes) == [pytest.approx(perfect[0], abs=1e-12)]
    parsed = parse_completion(answer(text), family=family)
    read = to_pixels(np.array([b.xyxy for b in parsed.boxes]), np.array([0, len(boxes)]), FAMILIES[family].frame,
                     (np.array([float(width)]), np.array([float(height)])))
    np.testing.assert_allclose(read, boxes, atol=1e-9)
    labelled = FAMILIES[family].syntax not in ("glm", "lists")  # GLM and bare lists write no labels
    assert [b.label for b in parsed.boxes] == (["cat", "dog"] if labelled else [None, None])


@pytest.mark.parametrize("family", BOX_FAMILIES)
def test_round_trip_of_arbitrary_boxes_is_within_the_frame_resolution(family):
    rng = np.random.default_rng(7)
    boxes = []
    for _ in range(20):
        x1, y1 = rng.uniform(0, 600), rng.uniform(0, 300)
        boxes.append([x1, y1, x1 + rng.uniform(80, 390), y1 + rng.uniform(60, 190)])
    text = families.format_answer(boxes, family, width=1000, height=500)
    r = vreward.make_iou_reward(family=family, solution_coords="pixels", match_labels=False)
    scores = r([answer(text)], solution=pixel_truth(boxes), width=[1000], height=[500])
    assert scores[0] > 0.98


@pytest.mark.parametrize("family", POINT_FAMILIES)
def test_points_round_trip_to_canonical_points(family):
    points = [[250, 125], [600, 400]]
    text = families.format_points(points, family, width=W, height=H, labels=["cat", "cat"])
    parsed = parse_completion(answer(text), family=family)
    assert parsed.dropped == {"points": 2} and parsed.reason.value == "points_not_boxes"
    read = parse_texts([answer(text)], family=family).texts[0].replace(" ", "")
    for point in points:
        x, y = point_to_frame(point, W, H, FAMILIES[family].frame)
        assert f"[{x},{y}]" in read


def test_point_only_families_write_no_boxes():
    with pytest.raises(ValueError, match="writes no boxes"):
        families.format_answer([[1, 2, 3, 4]], "molmo", width=W, height=H)
    with pytest.raises(ValueError, match="writes no points"):
        families.format_points([[1, 2]], "paligemma", width=W, height=H)
    assert families.format_answer([], "qwen3vl", width=W, height=H) == "No Objects"


# ------------------------------------------------------------------- native syntax, as the families write it


def iou(family: str, text: str, truth: list, width: int = W, height: int = H, **options) -> float:
    r = vreward.make_iou_reward(family=family, solution_coords="pixels", **options)
    return r([text], solution=pixel_truth(truth), width=[width], height=[height])[0]


def test_native_qwen_family_answers():
    # Qwen2-VL report (arXiv:2409.12191): <|box_start|>(x1,y1),(x2,y2)<|box_end|> in [0, 1000)
    q2 = answer("<|object_ref_start|>the cat<|object_ref_end|><|box_start|>(120,230),(560,780)<|box_end|>")
    assert iou("qwen2vl", q2, [[120, 115, 560, 390]]) == pytest.approx(1.0)
    assert parse_completion(q2, family="qwen2vl").boxes[0].label == "the cat"
    # Qwen2.5-VL cookbook: JSON in pixels of the image the processor resized (1344 x 784 -> itself)
    q25 = answer('```json\n[{"bbox_2d": [135, 114, 1016, 672], "label": "house"}]\n```')
    assert iou("qwen25vl", q25, [[135, 114, 1016, 672]], 1344, 784) == pytest.approx(1.0)
    # Qwen3-VL, QwenLM/Qwen3-VL#2020: the same JSON in 0-1000 of the original image
    q3 = answer('[{"bbox_2d": [323, 118, 444, 825], "label": "watch"}]')
    assert iou("qwen3_vl", q3, [[1380 * 0.323, 245 * 0.118, 1380 * 0.444, 245 * 0.825]], 1380, 245) == \
        pytest.approx(1.0)
    assert iou("Qwen/Qwen3.5-9B", q3, [[323, 59, 444, 412.5]]) == pytest.approx(1.0)


def test_native_tagged_answers():
    # InternVL docs / OpenGVLab/InternVL#227: <ref>XXX</ref><box>[[253, 231, 733, 787]]</box>, 0-1000
    internvl = answer("<ref>the dog</ref><box>[[253, 231, 733, 787], [10, 20, 30, 40]]</box>")
    assert iou("internvl", internvl, [[253, 115.5, 733, 393.5], [10, 10, 30, 20]]) == pytest.approx(1.0)
    assert [b.label for b in parse_completion(internvl, family="internvl").boxes] == ["the dog", "the dog"]
    # DeepSeek-VL2, deepseek-ai/DeepSeek-VL2#100: <|ref|>..<|/ref|><|det|>[[...]]<|/det|>, 0-999
    deepseek = answer("<|ref|>compact car<|/ref|><|det|>[[220, 416, 417, 720]]<|/det|>")
    assert iou("deepseekvl2", deepseek, [[220, 416, 417, 720]], 999, 999) == pytest.approx(1.0)
    # MiniCPM-V 4.5, OpenBMB/MiniCPM-V#982: <box>x1 y1 x2 y2</box>, 0-1000
    minicpm = answer("<ref>book</ref><box>100 200 300 400</box>")
    assert iou("minicpmv", minicpm, [[100, 100, 300, 200]]) == pytest.approx(1.0)
    # GLM-4.6V's answer: <|begin_of_box|>[[94,598,177,991]]<|end_of_box|>, 0-1000 (read as written)
    glm = answer("The second bottle is <|begin_of_box|>[[94,598,177,991]]<|end_of_box|>.")
    assert iou("glm4v", glm, [[94, 299, 177, 495.5]]) == pytest.approx(1.0)
    # Rex-Omni's parser docstring: bin tokens <0>..<999>, several boxes of one phrase separated by commas
    rex = answer("<|object_ref_start|>person<|object_ref_end|><|box_start|><0><35><980><987>, "
                 "<646><0><999><940><|box_end|>")
    assert iou("rexomni", rex, [[0, 35, 980, 987], [646, 0, 999, 940]], 999, 999) == pytest.approx(1.0)


def test_native_paligemma_is_y_first_in_1024_bins():
    # big_vision's PaliGemma parse demo: <loc ymin><loc xmin><loc ymax><loc xmax> label ; ... with <seg> tokens
    text = ("<loc0000><loc0000><loc0930><loc1012> <seg114><seg074><seg106><seg044><seg030><seg027><seg119><seg119>"
            "<seg120><seg117><seg082><seg082><seg051><seg005><seg125><seg097> wall ; "
            "<loc0722><loc0047><loc0895><loc0378> window")
    parsed = parse_completion(text, family="paligemma", require_answer_tag=False)
    assert [(b.xyxy, b.label) for b in parsed.boxes] == [((0.0, 0.0, 1012.0, 930.0), "wall"),
                                                         ((47.0, 722.0, 378.0, 895.0), "window")]
    truth = [[0, 0, 1012, 930], [47, 722, 378, 895]]
    assert iou("paligemma", text, truth, 1024, 1024, require_answer_tag=False) == pytest.approx(1.0)
    # 1024 bins at their edges: <loc1023> is 1023/1024 of the image, not all of it
    px = to_pixels(np.array([[0.0, 0.0, 1023.0, 1023.0]]), np.array([0, 1]), "bins1024",
                   (np.array([2048.0]), np.array([1024.0])))
    assert px.tolist() == [[0.0, 0.0, 2046.0, 1023.0]]
    assert box_to_frame([0, 0, 2048, 1024], 2048, 1024, "bins1024") == [0, 0, 1023, 1023]


def test_native_florence2_bins_are_read_at_their_centres():
    # transformers' Florence2PostProcessor: (bin + 0.5) * size / 1000; written floor(x / size * 1000)
    text = answer("car<loc_52><loc_333><loc_932><loc_774>door<loc_0><loc_0><loc_999><loc_999>")
    parsed = parse_completion(text, family="florence2")
    assert [b.label for b in parsed.boxes] == ["car", "door"]
    px = to_pixels(np.array([b.xyxy for b in parsed.boxes]), np.array([0, 2]), "bins1000_centres",
                   (np.array([1000.0]), np.array([500.0])))
    assert px.tolist() == [[52.5, 166.75, 932.5, 387.25], [0.5, 0.25, 999.5, 499.75]]
    assert box_to_frame([52.5, 166.75, 932.5, 387.25], 1000, 500, "bins1000_centres") == [52, 333, 932, 774]
    assert box_to_frame([0, 0, 1000, 500], 1000, 500, "bins1000_centres") == [0, 0, 999, 999]
    assert iou("florence2", text, [[52.5, 166.75, 932.5, 387.25], [0.5, 0.25, 999.5, 499.75]]) == \
        pytest.approx(1.0)


def test_native_points_of_molmo_and_molmo2():
    # Molmo (Ai2, allenai/Molmo-7B-O-0924 discussion 1): percent 0-100
    molmo = answer('<point x="61.5" y="40.6" alt="cat">cat</point> <points x1="9.1" y1="11.7" x2="17.2" '
                   'y2="41.3" alt="boats">boats</points>')
    read = parse_texts([molmo], family="molmo").texts[0]
    assert '{"point_2d": [61.5, 40.6], "label": "cat"}' in read and '[17.2, 41.3]' in read
    # Molmo2: coords="<image> <id> <x> <y> ..." in 0-1000
    molmo2 = answer('Counting the <points coords="1 1 073 160 2 173 600" alt="boats">the boats</points> shows 2.')
    read = parse_texts([molmo2], family="molmo2").texts[0]
    assert '[073, 160]' in read and '[173, 600]' in read and read.endswith("shows 2.</answer>")
    assert parse_completion(molmo2, family="molmo2").dropped == {"points": 2}


def test_native_unit_families():
    # Kimi-VL, MoonshotAI/Kimi-VL#56: {"bbox_2d": [0.280, 0.500, 0.520, 0.700]} in 0-1 of the image
    kimi = answer('{"bbox_2d": [0.280, 0.500, 0.520, 0.700]}')
    assert iou("kimivl", kimi, [[280, 250, 520, 350]]) == pytest.approx(1.0)
    # LLaVA (haotian-liu/LLaVA#606): 0-1 of the image padded to a centred square; 1000 x 500 pads 250 on top
    llava = answer("[0.28, 0.5, 0.52, 0.6]")
    assert iou("llava_onevision", llava, [[280, 250, 520, 350]]) == pytest.approx(1.0)
    assert box_to_frame([280, 250, 520, 350], 1000, 500, "unit_padded") == [0.28, 0.5, 0.52, 0.6]


def test_off_by_one_scales_999_and_1000():
    sizes = (np.array([1998.0]), np.array([999.0]))
    edge = np.array([[0.0, 0.0, 999.0, 999.0]])
    assert to_pixels(edge, np.array([0, 1]), "rel999", sizes).tolist() == [[0.0, 0.0, 1998.0, 999.0]]
    assert to_pixels(edge, np.array([0, 1]), "rel1000", sizes).tolist() == [[0.0, 0.0, 1996.002, 998.001]]
    # 999 against 1000 moves a coordinate by at most 0.1% of the image: IoU stays above 0.99
    box = answer('[{"bbox_2d": [100, 100, 900, 900]}]')
    assert iou("qwen3vl", box, [[100 / 999 * 1000, 50 / 999 * 1000, 900 / 999 * 1000, 450 / 999 * 1000]]) > 0.99


# -------------------------------------------------------------------------------- options, caches, warnings


def test_family_sets_coords_and_agreeing_coords_are_kept():
    r = vreward.make_iou_reward(family="qwen3_vl")
    assert (r.settings.family, r.settings.coords) == ("qwen3vl", "rel1000")
    assert vreward.make_iou_reward(family="qwen3vl", coords="qwen2vl").settings.coords == "qwen2vl"
    with pytest.raises(ValidationError, match=r"coords='pixels' contradicts family 'qwen3vl'"):
        vreward.make_iou_reward(family="qwen3vl", coords="pixels")
    moved = vreward.make_iou_reward(r.settings, family="paligemma")
    assert (moved.settings.family, moved.settings.coords) == ("paligemma", "bins1024")
    assert vreward.make_iou_reward(family={"model_type": "internvl"}).settings.family == "internvl"


def test_coords_alone_behaves_as_before():
    completions = [answer("[{'Position': [0, 0, 500, 500], 'Confidence': 0.9}]"), answer("[10, 20, 30, 40]")]
    sol = ["[0, 0, 320, 240]", "[10, 20, 30, 40]"]
    plain = vreward.make_iou_reward(coords="qwen2vl", solution_coords="pixels")
    family = vreward.make_iou_reward(family="qwen2vl", solution_coords="pixels")
    kw = {"width": [640, 1000], "height": [480, 1000]}
    assert plain(completions, solution=sol, **kw) == family(completions, solution=sol, **kw)
    # a family the scanner reads as written shares the plain parse (same cache key)
    assert parse_texts(completions, family="qwen3vl").key == parse_texts(completions).key


def test_the_translation_is_part_of_the_parse_cache_key():
    text = [answer("<ref>a</ref><box>[[1, 2, 3, 4]]</box>")]
    assert parse_texts(text, family="internvl").boxes.tolist() == [[1, 2, 3, 4]]
    assert parse_texts(text, family="internvl").key != parse_texts(text).key
    assert [b.label for b in parse_completion(text[0]).boxes] == [None]
    assert [b.label for b in parse_completion(text[0], family="internvl").boxes] == ["a"]


def test_task_reward_family_applies_to_box_rewards_only():
    reward = vreward.make_task_reward("detection", family="paligemma")
    families_by_reward = {r.__name__: getattr(r.settings, "family", None) for r in reward.rewards}
    assert families_by_reward == {"iou_reward": "paligemma", "confidence_reward": "paligemma", "format_reward": None}
    text = answer("<loc0000><loc0000><loc0512><loc0512> cat")
    canonical = answer('[{"bbox_2d": [0, 0, 512, 512], "label": "cat"}]')  # the same box, read as written
    sol = ['[{"bbox_2d": [0, 0, 512, 512], "label": "cat"}]']
    assert reward([text], solution=sol) == vreward.make_task_reward("detection")([canonical], solution=sol)
    assert reward.score_all([text], solution=sol).parts["iou_reward"].scores.tolist() == [1.0]


def frame_warnings(reward, completions, solution, **columns) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reward(completions, solution=solution, **columns)
    return [str(w.message) for w in caught if issubclass(w.category, vreward.FrameMismatchWarning)]


def test_mismatch_warnings_name_the_family_the_numbers_fit():
    r = vreward.make_iou_reward(family="qwen3vl")
    pixels = [answer('[{"bbox_2d": [1500, 1200, 1800, 1900]}]')] * 4
    (message,) = frame_warnings(r, pixels, ["[100, 100, 200, 200]"] * 4)
    assert "family 'qwen3vl'" in message and "Qwen2.5-VL" in message and "family='qwen25vl'" in message
    kimi = vreward.make_iou_reward(family="kimivl", solution_coords="pixels")
    messages = frame_warnings(kimi, [answer('[{"bbox_2d": [100, 200, 300, 400]}]')] * 3, ["[100, 200, 300, 400]"] * 3,
                              width=[1000] * 3, height=[1000] * 3)
    assert any("expects 0-1" in m and "'qwen3vl'" in m and "'internvl'" in m for m in messages)
    r = vreward.make_iou_reward(family="qwen3vl")
    messages = frame_warnings(r, [answer('[{"bbox_2d": [0.1, 0.2, 0.3, 0.4]}]')] * 3, ["[100, 200, 300, 400]"] * 3)
    assert any("coords='unit'" in m and "'kimivl'" in m for m in messages)


def test_paligemma_boxes_written_x_first_are_reported():
    r = vreward.make_iou_reward(family="paligemma", require_answer_tag=False)
    truth = ["[128, 256, 512, 768]", "[100, 300, 200, 900]", "[10, 500, 100, 700]"]
    x_first = ["<loc0128><loc0256><loc0512><loc0768> a", "<loc0100><loc0300><loc0200><loc0900> a",
               "<loc0010><loc0500><loc0100><loc0700> a"]
    (message,) = frame_warnings(r, x_first, truth)
    assert "writes y before x" in message and "the model writes x first" in message
    y_first = ["<loc0256><loc0128><loc0768><loc0512> a", "<loc0300><loc0100><loc0900><loc0200> a",
               "<loc0500><loc0010><loc0700><loc0100> a"]
    assert frame_warnings(vreward.make_iou_reward(family="paligemma", require_answer_tag=False), y_first,
                          truth) == []


def test_frames_with_offsets_convert_both_ways():
    sizes = (np.array([1000.0, 300.0]), np.array([500.0, 600.0]))
    offsets = np.array([0, 1, 2])
    px = np.array([[100.0, 50.0, 400.0, 300.0], [30.0, 60.0, 150.0, 540.0]])
    for frame in FRAMES:
        there = convert_boxes(px, offsets, "pixels", frame, sizes)
        np.testing.assert_allclose(convert_boxes(there, offsets, frame, "pixels", sizes), px, atol=1e-9)
        np.testing.assert_allclose(to_pixels(there, offsets, frame, sizes), px, atol=1e-9)
    assert frame_spec("rel1000").mapping == frame_spec("qwen2vl").mapping


# ----------------------------------------------------------------------------------------------- surfaces


def test_score_config_and_cli_take_a_family(tmp_path):
    from vreward.cli import main
    from vreward.evaluate import ScoreConfig, score

    path = tmp_path / "completions.jsonl"
    rows = [{"completion": answer("<loc0000><loc0000><loc0512><loc0512> cat"),
             "solution": '[{"bbox_2d": [0, 0, 512, 512], "label": "cat"}]'}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    config = ScoreConfig(input=path, family="google/paligemma2-3b-pt-224", progress=False)
    assert (config.family, config.coords) == ("paligemma", "bins1024")
    assert score(config)["rewards"]["iou_reward"]["mean"] == 1.0
    with pytest.raises(ValidationError, match="contradicts family"):
        ScoreConfig(input=path, family="paligemma", coords="qwen2vl")
    assert main(["score", str(path), "--family", "paligemma", "--no-progress"]) == 0
    assert main(["score", str(path), "--family", "no-such-family", "--no-progress"]) == 2


def test_adapters_take_a_family():
    from vreward.adapters import easyr1, verl
    from vreward.adapters.openrlhf import parse_request

    text = answer("<ref>cat</ref><box>[[0, 0, 500, 500]]</box>")
    sol = '[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]'
    rows = verl.compute_score_batch(["coco"], [text], [sol], [{"family": "internvl"}])
    assert rows[0]["iou_reward"] == 1.0
    assert verl.compute_score("coco", text, sol, None, family="internvl")["iou_reward"] == 1.0
    out = easyr1.compute_score([{"response": text, "ground_truth": sol, "response_length": 3}], family="internvl")
    assert out[0]["iou"] == 1.0
    rows = parse_request({"query": ["p" + text], "prompts": ["p"],
                          "labels": [{"solution": sol, "family": "internvl"}]})
    assert rows[0].family == "internvl"


def test_server_takes_a_family():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from vreward.server import create_app

    text = answer("<loc0000><loc0000><loc0512><loc0512> cat")
    sol = '[{"bbox_2d": [0, 0, 512, 512], "label": "cat"}]'
    best = vreward.make_task_reward("detection")([answer(sol)], solution=[sol])  # the same box read as written
    client = TestClient(create_app(family="paligemma"))
    body = client.post("/score", json={"completions": [text], "solutions": [sol]}).json()
    assert body["rewards"]["iou_reward"]["scores"] == [1.0]
    plain = TestClient(create_app())
    body = plain.post("/score", json={"completions": [text], "solutions": [sol]}).json()
    assert body["rewards"]["iou_reward"]["scores"] == [0.0]
    body = plain.post("/score", json={"completions": [text], "solutions": [sol], "family": "paligemma"}).json()
    assert body["total"] == best
    bad = plain.post("/score", json={"completions": [text], "solutions": [sol], "family": "nope"})
    assert bad.status_code == 422 and "unknown model family" in bad.json()["error"]
    rlhf = plain.post("/openrlhf", json={"query": ["p" + text], "prompts": ["p"],
                                         "labels": [{"solution": sol, "family": "paligemma"}]})
    assert rlhf.json()["rewards"] == best
    with pytest.raises(ValueError, match="unknown model family"):
        create_app(family="nope")


def test_training_config_reads_the_core_table_and_trains_its_families():
    pytest.importorskip("transformers")
    from vreward_train.config import ModelSection

    assert ModelSection(path="x", family="qwen2_vl").family == "qwen2vl"
    assert ModelSection(path="x", family="Qwen/Qwen2.5-VL-3B-Instruct").family == "qwen25vl"
    assert ModelSection(path="x", family="Qwen/Qwen3-VL-8B-Instruct").family == "qwen3vl"
    assert ModelSection(path="x", family="qwen3_5").family == "qwen35"
    assert ModelSection(path="x", family="OpenGVLab/InternVL3-2B-hf").family == "internvl"
    assert ModelSection(path="x", family="zai-org/GLM-4.5V").family == "glm4v"
    with pytest.raises(ValidationError, match=r"'florence2' \(Florence-2\) is known to vreward .* cannot train it"):
        ModelSection(path="x", family="florence2")
    with pytest.raises(ValidationError, match="unknown model family"):
        ModelSection(path="x", family="llama")


def test_family_checks_sample_large_batches():
    r = vreward.make_iou_reward(family="qwen3vl")
    n = 3000
    completions = [answer('[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]')] * n
    assert r(completions, solution=["[[1, 2, 3, 4], [5, 6, 7, 8]]"] * n) == [1.0] * n
