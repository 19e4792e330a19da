"""Training data loaders: COCO k-shot, JSON/JSONL, Visual-RFT datasets, and the synthetic shapes set."""

from __future__ import annotations

import ast
import json
import re
import warnings

import pytest

datasets = pytest.importorskip("datasets")
pytest.importorskip("PIL")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from vreward import iou_reward, make_iou_reward  # noqa: E402
from vreward.frames import smart_resize  # noqa: E402
from vreward_train.data import (  # noqa: E402
    DataError,
    add_image_sizes,
    box_to_frame,
    build_coco_kshot,
    detection_question,
    load_data,
    load_json,
    load_visual_rft,
)
from vreward_train.synthetic import make_shapes_dataset  # noqa: E402


def _boxes(solution: str) -> list[list[float]]:
    inner = re.fullmatch(r"<answer>(.*)</answer>", solution).group(1)
    return [item["Position"] for item in ast.literal_eval(inner)]


# ---------------------------------------------------------------------------------------------------------------
# COCO k-shot

SIZES = [(640, 480), (500, 333), (300, 300), (1000, 700), (321, 123), (800, 600), (256, 512), (999, 1001)]


@pytest.fixture
def coco(tmp_path):
    """8 images; 'cat' in all 8, 'dog' in 3 (one crowd-only), 'traffic light' in 1; float COCO boxes."""
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    images, annotations = [], []
    for i, (w, h) in enumerate(SIZES, 1):
        Image.new("RGB", (w, h), (i * 20, 100, 100)).save(images_dir / f"{i:03d}.jpg")
        images.append({"id": i, "file_name": f"{i:03d}.jpg", "width": w, "height": h})

    def ann(image_id, category_id, bbox, iscrowd=0):
        annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category_id,
                            "bbox": bbox, "iscrowd": iscrowd, "area": bbox[2] * bbox[3]})

    for i, (w, h) in enumerate(SIZES, 1):
        ann(i, 1, [w * 0.1 + 0.37, h * 0.2 + 0.5, w * 0.33, h * 0.41])
    ann(2, 1, [3.3, 4.7, 50.2, 20.9])  # a second cat in image 2
    ann(1, 2, [10, 20, 30, 40])
    ann(4, 2, [0.4, 0.6, 999.2, 699.1])
    ann(5, 2, [5, 5, 20, 20], iscrowd=1)  # crowd: not a box to find
    ann(6, 2, [5, 5, 0, 20])  # degenerate: left out
    ann(3, 3, [100.5, 50.25, 20.5, 70.75])
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "traffic light"}]}))
    return path, images_dir, {a["id"]: a for a in annotations}


def _expected(coco_file, image_id, category_id, frame, min_pixels=3136, max_pixels=12845056):
    data = json.loads(coco_file.read_text())
    w, h = next((im["width"], im["height"]) for im in data["images"] if im["id"] == image_id)
    if frame == "qwen2vl":
        ex, ey = 1000, 1000
    else:
        ey, ex = smart_resize(h, w, min_pixels=min_pixels, max_pixels=max_pixels)
    out = []
    for a in data["annotations"]:
        if a["image_id"] == image_id and a["category_id"] == category_id and not a["iscrowd"] and a["bbox"][2] > 0:
            x, y, bw, bh = a["bbox"]
            out.append([round(x / w * ex), round(y / h * ey), round((x + bw) / w * ex), round((y + bh) / h * ey)])
    return out


@pytest.mark.filterwarnings("ignore:category 'traffic light' has 1 images")
@pytest.mark.parametrize("frame", ["qwen2vl", "qwen25vl"])
def test_kshot_converts_boxes_exactly_and_respects_k(coco, frame):
    path, images_dir, _ = coco
    ds = build_coco_kshot(path, images_dir, k=2, frame=frame, seed=0, min_pixels=3136, max_pixels=200_000)
    assert ds.column_names == ["image", "problem", "solution", "width", "height", "image_id", "category_id",
                               "category", "image_path"]
    per_category = {c: ds.filter(lambda r, c=c: r["category"] == c) for c in ("cat", "dog", "traffic light")}
    assert [len(per_category[c]) for c in ("cat", "dog", "traffic light")] == [2, 2, 1]
    assert set(per_category["dog"]["image_id"]) == {1, 4}  # crowd-only and degenerate-only images never drawn
    for row in ds:
        assert row["problem"] == detection_question(row["category"], frame)
        assert _boxes(row["solution"]) == _expected(path, row["image_id"], row["category_id"], frame,
                                                   max_pixels=200_000)
        assert row["image"].size == (row["width"], row["height"])
    big = ds.filter(lambda r: r["image_id"] == 4 and r["category"] == "dog")[0]
    if frame == "qwen2vl":
        assert "(between 0 and 1000, integer)" in big["problem"]
        assert _boxes(big["solution"]) == [[0, 1, 1000, 1000]]
    else:  # 1000 x 700 resized under 200k pixels: smart_resize -> 364 x 532
        assert smart_resize(700, 1000, min_pixels=3136, max_pixels=200_000) == (364, 532)
        assert _boxes(big["solution"]) == [[0, 0, 532, 364]]


def test_kshot_solutions_score_one_against_pixel_ground_truth(coco):
    """A model answering exactly the converted boxes scores ~1 with vreward's frame conversion of the pixel GT."""
    path, images_dir, anns = coco
    ds = build_coco_kshot(path, images_dir, k=8, categories=["cat"], frame="qwen25vl")
    pixel_gt = [json.dumps([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                            for a in anns.values() if a["image_id"] == r["image_id"] and a["category_id"] == 1])
                for r in ds]
    reward = make_iou_reward(coords="qwen25vl", solution_coords="pixels")
    solutions = list(ds["solution"])  # datasets 5: ds[column] is a lazy Column, not a list
    scores = reward(solutions, solution=pixel_gt, width=list(ds["width"]), height=list(ds["height"]))
    assert min(scores) > 0.97
    assert iou_reward(solutions, solution=solutions) == [1.0] * len(ds)


def test_kshot_draw_is_seeded_and_per_category(coco):
    path, images_dir, _ = coco

    def picks(seed, categories=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ds = build_coco_kshot(path, images_dir, k=3, categories=categories, seed=seed)
        return ds.filter(lambda r: r["category"] == "cat")["image_id"]

    assert picks(0) == picks(0)
    assert picks(0) == picks(0, categories=["CAT"])  # other categories do not change a category's draw
    assert len({tuple(picks(seed)) for seed in range(5)}) > 1
    with pytest.warns(UserWarning, match="fewer than k=3") as caught:
        ds = build_coco_kshot(path, images_dir, k=3, categories=["traffic_light", 2])
    assert [str(w.message).split(" fewer")[0] for w in caught] == [
        "category 'traffic light' has 1 images with boxes,", "category 'dog' has 2 images with boxes,"]
    assert ds["category_id"] == [3, 2, 2]


def test_kshot_errors_name_file_and_field(coco, tmp_path):
    path, images_dir, _ = coco
    with pytest.raises(DataError, match=r"instances.json: unknown category 'horse'; categories: \['cat', 'dog'"):
        build_coco_kshot(path, images_dir, k=1, categories=["horse"])
    with pytest.raises(ValueError, match="unknown coordinate frame 'xyxy'"):
        build_coco_kshot(path, images_dir, k=1, frame="xyxy")
    (images_dir / "003.jpg").unlink()
    with pytest.raises(DataError, match=r"image id 3: file '003.jpg' not found in .*images"):
        build_coco_kshot(path, images_dir, k=1, categories=["traffic light"])
    data = json.loads(path.read_text())
    data["annotations"][2]["bbox"] = [1, 2, 3]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"bad.json: annotations\[2\]: field 'bbox' must be \[x, y, width, height\]"):
        build_coco_kshot(bad, images_dir, k=1)
    del data["images"][0]["width"]
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"bad.json: images\[0\]: missing field 'width'"):
        build_coco_kshot(bad, images_dir, k=1)


def test_box_to_frame_keeps_boxes_non_degenerate():
    assert box_to_frame([10, 10, 10.2, 30], 1000, 1000) == [10, 10, 11, 30]  # collapsed by rounding: one unit wide
    assert box_to_frame([999.8, 0, 1000, 5], 1000, 1000) == [999, 0, 1000, 5]
    assert box_to_frame([0, 0, 50, 25], 100, 50, frame="unit") == [0.0, 0.0, 0.5, 0.5]
    assert box_to_frame([1.4, 2.6, 50.5, 25], 100, 50, frame="pixels") == [1, 3, 50, 25]


# ---------------------------------------------------------------------------------------------------------------
# JSON / JSONL


@pytest.fixture
def jsonl(tmp_path):
    (tmp_path / "imgs").mkdir()
    Image.new("RGB", (64, 48), "red").save(tmp_path / "imgs" / "a.png")
    Image.new("RGB", (30, 90), "blue").save(tmp_path / "imgs" / "b.png")
    records = [
        {"img": "imgs/a.png", "question": "Find the cat.", "answer": "<answer>[{'Position': [1, 2, 3, 4]}]</answer>",
         "w": 64, "h": 48, "id": 7},
        {"img": ["imgs/b.png"], "question": "Find the dog.", "answer": [[5, 6, 7, 8]], "w": 30, "h": 90, "id": 8},
    ]
    path = tmp_path / "data" / "train.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    return path, records


def test_jsonl_loader_resolves_paths_from_image_root(jsonl, tmp_path):
    path, _ = jsonl
    ds = load_json(path, image_field="img", problem_field="question", solution_field="answer", image_root=tmp_path,
                   width_field="w", height_field="h", extra_fields=["id"])
    assert ds.column_names == ["image", "problem", "solution", "width", "height", "id"]
    assert [im.size for im in ds["image"]] == [(64, 48), (30, 90)]
    assert ds["problem"] == ["Find the cat.", "Find the dog."]
    assert ds["solution"][1] == "[[5, 6, 7, 8]]"  # a list is stored as its JSON text
    assert ds["width"] == [64, 30] and ds["id"] == [7, 8]


def test_json_paths_are_relative_to_the_file(tmp_path):
    Image.new("RGB", (20, 10)).save(tmp_path / "x.png")
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"image": "x.png", "problem": "p", "solution": "s"}]))
    ds = load_data(path)
    assert ds[0]["image"].size == (20, 10) and "width" not in ds.column_names


def test_json_loader_errors_name_file_line_and_field(jsonl, tmp_path):
    path, records = jsonl
    with pytest.raises(DataError, match=r"train.jsonl:1: missing field 'solution' \(fields: \['answer'"):
        load_json(path, image_field="img", problem_field="question", image_root=tmp_path)
    with pytest.raises(DataError, match=r"train.jsonl:1: field 'img': image 'imgs/a.png' not found \(looked for "
                                        r".*data/imgs/a.png\)"):
        load_json(path, image_field="img", problem_field="question", solution_field="answer")
    records[1]["question"] = 5
    path.write_text("\n".join(json.dumps(r) for r in records))
    with pytest.raises(DataError, match=r"train.jsonl:2: field 'question' must be a string, got int"):
        load_json(path, image_field="img", problem_field="question", solution_field="answer", image_root=tmp_path)
    path.write_text(json.dumps(records[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"train.jsonl:2: not valid JSON"):
        load_json(path)
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([{"image": "imgs/a.png", "problem": "p", "solution": "s"}, {"image": "imgs/a.png"}]))
    with pytest.raises(DataError, match=r"list.json: record 2: missing field 'problem'"):
        load_json(as_list)


# ---------------------------------------------------------------------------------------------------------------
# Visual-RFT datasets and the shapes set


def test_shapes_dataset_round_trips_with_exact_boxes(tmp_path):
    out = make_shapes_dataset(tmp_path / "shapes", n_train=6, n_test=3, size=(112, 84), seed=3)
    train = load_visual_rft(out, split="train")
    test = load_visual_rft(out, split="test")
    coco = json.loads((out / "instances_train.json").read_text())
    assert len(coco["images"]) == 6 and len(json.loads((out / "instances_test.json").read_text())["images"]) == 3
    assert len(train) == len({(a["image_id"], a["category_id"]) for a in coco["annotations"]})
    assert set(test["image_id"]).isdisjoint(train["image_id"])
    for row in train:
        image = np.asarray(row["image"])
        assert image.shape == (84, 112, 3) and (row["width"], row["height"]) == (112, 84)
        colors, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
        background = colors[counts.argmax()]  # shapes cover well under half of the image
        anns = [a for a in coco["annotations"] if a["image_id"] == row["image_id"]]
        pixel_boxes = []
        for a in anns:
            x, y, w, h = a["bbox"]
            # the drawn shape spans exactly its box: the non-background pixels around it
            window = (image[max(y - 1, 0):y + h + 1, max(x - 1, 0):x + w + 1] != background).any(axis=2)
            ys, xs = np.nonzero(window)
            ox, oy = max(x - 1, 0), max(y - 1, 0)
            assert [xs.min() + ox, ys.min() + oy, xs.max() + ox + 1, ys.max() + oy + 1] == [x, y, x + w, y + h]
            if a["category_id"] == row["category_id"]:
                pixel_boxes.append([x, y, x + w, y + h])
        assert _boxes(row["solution"]) == [box_to_frame(b, 112, 84) for b in pixel_boxes]
        assert row["problem"] == detection_question(row["category"])
    again = make_shapes_dataset(tmp_path / "again", n_train=6, n_test=3, size=(112, 84), seed=3)
    assert load_visual_rft(again)["solution"] == train["solution"]


def test_shapes_in_qwen25vl_frame_are_pixels_of_the_resized_image(tmp_path):
    out = make_shapes_dataset(tmp_path / "s", n_train=3, n_test=0, size=(112, 112), frame="qwen25vl")
    assert smart_resize(112, 112) == (112, 112)
    coco = json.loads((out / "instances_train.json").read_text())
    row = load_visual_rft(out)[0]
    boxes = [[x, y, x + w, y + h] for a in coco["annotations"] for x, y, w, h in [a["bbox"]]
             if a["image_id"] == row["image_id"] and a["category_id"] == row["category_id"]]
    assert _boxes(row["solution"]) == boxes


def test_visual_rft_loader_errors(tmp_path):
    ds = datasets.Dataset.from_dict({"image": [str(tmp_path / "x.png")], "problem": ["p"]})
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"dd: no split 'test' \(splits: \['train'\]\)"):
        load_visual_rft(tmp_path / "dd", split="test")
    with pytest.raises(DataError, match=r"dd \(split 'train'\): missing column\(s\) \['solution'\]"):
        load_visual_rft(tmp_path / "dd")
    with pytest.raises(DataError, match="no such file or directory"):
        load_visual_rft(tmp_path / "missing")
    with pytest.raises(DataError, match=r"nobody/nothing: cannot load split 'train' as a file, directory or hub"):
        load_visual_rft("nobody/nothing")  # offline in tests (conftest): not on the hub


def test_visual_rft_parquet_folder_and_image_sizes(tmp_path):
    """The hub layout of Visual-RFT datasets (data/<split>-*.parquet) loads too; sizes come from image headers."""
    Image.new("RGB", (40, 24)).save(tmp_path / "a.png")
    Image.new("RGB", (10, 70)).save(tmp_path / "b.png")
    ds = datasets.Dataset.from_dict({"image": [str(tmp_path / "a.png"), str(tmp_path / "b.png")],
                                     "problem": ["p", "q"], "solution": ["s", "t"]})
    ds = ds.cast_column("image", datasets.Image())
    (tmp_path / "hub" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))
    loaded = load_visual_rft(tmp_path / "hub", split="train")
    assert list(loaded["problem"]) == ["p", "q"]
    sized = add_image_sizes(loaded)
    assert list(sized["width"]) == [40, 10] and list(sized["height"]) == [24, 70]
    assert sized[1]["image"].size == (10, 70)  # the image column is left as it was
