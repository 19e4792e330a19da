"""Training data for visual RFT: rows with an ``image``, a ``problem`` and a ``solution``.

Three sources, one shape: every loader returns a ``datasets.Dataset`` whose ``image`` column is a ``datasets.Image``
feature (decoded to a PIL image on access; TRL's ``GRPOTrainer`` inserts it into the prompt), ``problem`` the
question text and ``solution`` the ground truth as vreward reads it (Visual-RFT's ``<answer>[{'Position': [x1, y1,
x2, y2], 'Confidence': 1}, ...]</answer>``, a class name, ...), plus ``width`` / ``height`` when known.

* :func:`load_visual_rft`: a Visual-RFT dataset (``DatasetDict`` saved with ``save_to_disk``, a folder of parquet
  files, or a hub id) with ``image``, ``problem``, ``solution`` columns;
* :func:`load_json`: a JSON list or JSONL file of records naming an image file (field names are options, paths
  relative to the file's folder or ``image_root``);
* :func:`build_coco_kshot`: Visual-RFT's k-shot detection set built from a COCO instances file: ``k`` images per
  category, one row per (image, category), boxes converted into the model's coordinate frame.

Bad input fails with a ``DataError`` naming the file, the line or record, and the field. See
``docs/training-data.md``.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vreward.frames import QWEN25VL_MAX_PIXELS, QWEN25VL_MIN_PIXELS, box_to_frame, frame_spec

if TYPE_CHECKING:
    import datasets

DETECTION_QUESTION = (
    "Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes "
    "({frame_words}) and confidence (between 0 and 1, with two decimal places).\n"
    "If no object belonging to the category '{category}' in the image, return 'No Objects'."
)


class DataError(ValueError):
    """Training data that cannot be used; the message names the file, the row and the field."""


# ---------------------------------------------------------------------------------------------------------------
# Boxes and solutions


def detection_question(category: str, frame: str = "qwen2vl") -> str:
    """Visual-RFT's detection question for ``category``, naming the coordinate convention of ``frame``."""
    return DETECTION_QUESTION.format(category=category, frame_words=frame_spec(frame).question_words)


def detection_solution(boxes: Iterable[Sequence[float]]) -> str:
    """Visual-RFT's solution text: ``<answer>[{'Position': [x1, y1, x2, y2], 'Confidence': 1}, ...]</answer>``."""
    items = ", ".join("{'Position': [" + ", ".join(_num(v) for v in box) + "], 'Confidence': 1}" for box in boxes)
    return f"<answer>[{items}]</answer>"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ---------------------------------------------------------------------------------------------------------------
# Visual-RFT datasets

REQUIRED_COLUMNS = ("image", "problem", "solution")


def load_visual_rft(path: str | os.PathLike, split: str = "train") -> datasets.Dataset:
    """A Visual-RFT dataset's ``split``: a ``DatasetDict`` (or ``Dataset``) saved with ``save_to_disk``, else
    anything ``datasets.load_dataset`` reads (a folder of parquet files, a hub id such as
    ``laolao77/ViRFT_COCO_base65``). It must have ``image``, ``problem`` and ``solution`` columns."""
    import datasets

    source = str(path)
    local = Path(path)
    if local.is_dir() and any((local / name).is_file() for name in ("dataset_dict.json", "state.json")):
        loaded = datasets.load_from_disk(source)
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{source}: no split {split!r} (splits: {sorted(loaded)})")
            ds = loaded[split]
        else:
            ds = loaded
    else:
        if not local.exists() and (local.is_absolute() or source.startswith(".") or source.count("/") != 1):
            raise DataError(f"{source}: no such file or directory (nor a hub dataset id 'owner/name')")
        try:
            ds = datasets.load_dataset(source, split=split)
        except (ValueError, OSError) as exc:  # unknown split, not on the hub, offline, ...
            where = "directory" if local.exists() else "file, directory or hub dataset"
            raise DataError(f"{source}: cannot load split {split!r} as a {where}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        raise DataError(f"{source} (split {split!r}): missing column(s) {missing}; columns: {ds.column_names}")
    return ds


def add_image_sizes(ds: datasets.Dataset, num_proc: int | None = None) -> datasets.Dataset:
    """``ds`` with ``width`` and ``height`` columns read from each image's header (no full decode)."""
    import datasets

    if "width" in ds.column_names and "height" in ds.column_names:
        return ds
    raw = ds.cast_column("image", datasets.Image(decode=False)) if isinstance(
        ds.features.get("image"), datasets.Image) else ds

    def sizes(batch: Mapping[str, list], indices: list[int]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"width": [], "height": []}
        for value, idx in zip(batch["image"], indices):
            w, h = _image_size(value, f"row {idx}")
            out["width"].append(w)
            out["height"].append(h)
        return out

    columns = raw.map(sizes, batched=True, with_indices=True, num_proc=num_proc,
                      remove_columns=raw.column_names, desc="reading image sizes")
    return ds.add_column("width", columns["width"]).add_column("height", columns["height"])


def _image_size(value: Any, where: str) -> tuple[int, int]:
    import io

    from PIL import Image

    size = getattr(value, "size", None)
    if isinstance(size, tuple) and len(size) == 2:
        return int(size[0]), int(size[1])
    if isinstance(value, Mapping):
        value = value.get("bytes") or value.get("path")
    try:
        if isinstance(value, bytes):
            with Image.open(io.BytesIO(value)) as im:
                return im.size
        if isinstance(value, str):
            with Image.open(value) as im:
                return im.size
    except OSError as exc:
        raise DataError(f"{where}: cannot read the image: {exc}") from None
    raise DataError(f"{where}: cannot read an image from {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------------
# JSON / JSONL


def load_json(path: str | os.PathLike, image_field: str = "image", problem_field: str = "problem",
              solution_field: str = "solution", image_root: str | os.PathLike | None = None,
              width_field: str = "width", height_field: str = "height", extra_fields: Sequence[str] = (),
              check_images: bool = True) -> datasets.Dataset:
    """Records of a JSONL file (one object a line; ``.jsonl`` / ``.ndjson``) or a JSON list, as a dataset.

    Each record names its image file in ``image_field`` (a path, or a list of one path), relative to
    ``image_root`` (default: the file's folder) unless absolute; ``problem_field`` holds the question text and
    ``solution_field`` the ground truth (a string; a list or dict is stored as its JSON text). ``width_field`` /
    ``height_field`` are kept as ``width`` / ``height`` when every record has them; ``extra_fields`` are copied
    as they are. With ``check_images``, every image file must exist. Errors name ``FILE:LINE`` (JSONL) or
    ``FILE: record N`` (JSON) and the field.
    """
    import datasets

    path = Path(path)
    root = Path(image_root) if image_root is not None else path.parent
    records = list(_read_records(path))
    if not records:
        raise DataError(f"{path}: no records")
    columns: dict[str, list] = {"image": [], "problem": [], "solution": []}
    sizes: dict[str, list] = {"width": [], "height": []}
    extras: dict[str, list] = {name: [] for name in extra_fields}
    for where, record in records:
        image = _field(record, image_field, where)
        if isinstance(image, list) and len(image) == 1:
            image = image[0]
        if not isinstance(image, str) or not image:
            raise DataError(f"{where}: field {image_field!r} must be an image path (a string), got "
                            f"{type(image).__name__}")
        image_path = Path(image) if Path(image).is_absolute() else root / image
        if check_images and not image_path.is_file():
            raise DataError(f"{where}: field {image_field!r}: image {image!r} not found (looked for {image_path})")
        problem = _field(record, problem_field, where)
        if not isinstance(problem, str):
            raise DataError(f"{where}: field {problem_field!r} must be a string, got {type(problem).__name__}")
        solution = _field(record, solution_field, where)
        if not isinstance(solution, str):
            if not isinstance(solution, (list, dict, int, float)) or isinstance(solution, bool):
                raise DataError(f"{where}: field {solution_field!r} must be a string, a list or a dict, got "
                                f"{type(solution).__name__}")
            solution = json.dumps(solution)
        columns["image"].append(str(image_path))
        columns["problem"].append(problem)
        columns["solution"].append(solution)
        for key, field in (("width", width_field), ("height", height_field)):
            value = record.get(field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise DataError(f"{where}: field {field!r} must be a positive number, got {value!r}")
            sizes[key].append(value)
        for name in extra_fields:
            extras[name].append(_field(record, name, where))
    if all(v is not None for v in sizes["width"] + sizes["height"]):
        columns.update(sizes)
    columns.update(extras)
    try:
        ds = datasets.Dataset.from_dict(columns)
    except (TypeError, ValueError) as exc:  # pyarrow: mixed types within an extra field
        raise DataError(f"{path}: cannot build a dataset from the records: {exc}") from None
    return ds.cast_column("image", datasets.Image())


def _read_records(path: Path) -> Iterable[tuple[str, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.suffix in (".jsonl", ".ndjson") or (path.suffix != ".json" and not text.lstrip().startswith("[")):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield where, record
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records (or JSONL), got {type(data).__name__}")
    for number, record in enumerate(data, 1):
        where = f"{path}: record {number}"
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield where, record


def _field(record: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in record:
        raise DataError(f"{where}: missing field {name!r} (fields: {sorted(record)})")
    return record[name]


def load_data(path: str | os.PathLike, split: str = "train", **json_options: Any) -> datasets.Dataset:
    """:func:`load_json` for a ``.json`` / ``.jsonl`` / ``.ndjson`` file, else :func:`load_visual_rft`."""
    if Path(path).is_file() and Path(path).suffix in (".json", ".jsonl", ".ndjson"):
        return load_json(path, **json_options)
    if json_options:
        raise TypeError(f"options {sorted(json_options)} apply to JSON/JSONL files only")
    return load_visual_rft(path, split=split)


# ---------------------------------------------------------------------------------------------------------------
# COCO k-shot


def build_coco_kshot(instances_json: str | os.PathLike, images_dir: str | os.PathLike, k: int,
                     categories: Sequence[str | int] | None = None, frame: str = "qwen2vl", seed: int = 0,
                     min_pixels: int = QWEN25VL_MIN_PIXELS, max_pixels: int = QWEN25VL_MAX_PIXELS,
                     check_images: bool = True) -> datasets.Dataset:
    """Visual-RFT's k-shot detection set from COCO annotations.

    For each category (``categories``: names or ids, default all, in the file's order) ``k`` images containing
    it are drawn (a seeded draw per category: the same ``seed`` gives the same images, whatever other categories
    are asked); each (image, category) pair is one row whose ``solution`` lists every non-crowd box of that
    category in that image, converted from COCO pixels ``[x, y, w, h]`` into ``frame`` (see
    :func:`box_to_frame`), and whose ``problem`` is :func:`detection_question`. Columns: ``image``, ``problem``,
    ``solution``, ``width``, ``height`` (of the original image), ``image_id``, ``category_id``, ``category``,
    ``image_path``. A category with fewer than ``k`` images keeps all it has (with a warning).
    ``min_pixels`` / ``max_pixels`` are the processor's (they decide Qwen2.5-VL's resized size).
    """
    import datasets

    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    frame_spec(frame)
    instances_json, images_dir = Path(instances_json), Path(images_dir)
    coco = _read_coco(instances_json)
    cats = coco["cats"]
    chosen = _select_categories(cats, categories, instances_json)
    images = coco["images"]
    boxes: dict[tuple[int, int], list[list[float]]] = defaultdict(list)
    for ann in coco["annotations"]:
        x, y, w, h = ann["bbox"]
        if ann.get("iscrowd", 0) or w <= 0 or h <= 0:
            continue
        boxes[(ann["image_id"], ann["category_id"])].append([x, y, x + w, y + h])
    by_category: dict[int, list[int]] = defaultdict(list)
    for image_id, category_id in boxes:
        by_category[category_id].append(image_id)

    rows: dict[str, list] = defaultdict(list)
    for category_id in chosen:
        name = cats[category_id]
        candidates = sorted(by_category.get(category_id, []))
        if not candidates:
            raise DataError(f"{instances_json}: category {name!r} (id {category_id}) has no non-crowd box")
        if len(candidates) < k:
            warnings.warn(f"category {name!r} has {len(candidates)} images with boxes, fewer than k={k}; "
                          "using all of them", stacklevel=2)
        picked = sorted(random.Random(f"{seed}:{category_id}").sample(candidates, min(int(k), len(candidates))))
        for image_id in picked:
            info = images[image_id]
            width, height = info["width"], info["height"]
            image_path = images_dir / info["file_name"]
            if check_images and not image_path.is_file():
                raise DataError(f"{instances_json}: image id {image_id}: file {info['file_name']!r} not found in "
                                f"{images_dir}")
            converted = [box_to_frame(b, width, height, frame, min_pixels, max_pixels)
                         for b in boxes[(image_id, category_id)]]
            rows["image"].append(str(image_path))
            rows["problem"].append(detection_question(name, frame))
            rows["solution"].append(detection_solution(converted))
            rows["width"].append(width)
            rows["height"].append(height)
            rows["image_id"].append(image_id)
            rows["category_id"].append(category_id)
            rows["category"].append(name)
            rows["image_path"].append(str(image_path))
    ds = datasets.Dataset.from_dict(dict(rows))
    return ds.cast_column("image", datasets.Image())


def _read_coco(path: Path) -> dict[str, Any]:
    from vreward.evaluate.coco_truth import read_coco_json

    try:
        data = read_coco_json(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise DataError(str(exc)) from None
    images: dict[int, dict] = {}
    for i, img in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        for field in ("id", "file_name", "width", "height"):
            if not isinstance(img, dict) or field not in img:
                raise DataError(f"{where}: missing field {field!r}")
        if not (_positive(img["width"]) and _positive(img["height"])):
            raise DataError(f"{where}: width and height must be positive numbers")
        images[img["id"]] = img
    cats: dict[int, str] = {}
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise DataError(f"{path}: categories[{i}]: needs 'id' and 'name'")
        cats[cat["id"]] = cat["name"]
    for i, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{i}]"
        for field in ("image_id", "category_id", "bbox"):
            if not isinstance(ann, dict) or field not in ann:
                raise DataError(f"{where}: missing field {field!r}")
        bbox = ann["bbox"]
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise DataError(f"{where}: field 'bbox' must be [x, y, width, height], got {bbox!r}")
        if ann["image_id"] not in images:
            raise DataError(f"{where}: image_id {ann['image_id']!r} is not in 'images'")
        if ann["category_id"] not in cats:
            raise DataError(f"{where}: category_id {ann['category_id']!r} is not in 'categories'")
    return {"images": images, "cats": cats, "annotations": data["annotations"]}


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _select_categories(cats: Mapping[int, str], categories: Sequence[str | int] | None, path: Path) -> list[int]:
    if categories is None:
        return list(cats)
    by_name = {_norm(name): cid for cid, name in cats.items()}
    out: list[int] = []
    for c in categories:
        cid = c if (isinstance(c, int) and c in cats) else by_name.get(_norm(str(c)))
        if cid is None:
            raise DataError(f"{path}: unknown category {c!r}; categories: {sorted(cats.values())}")
        if cid not in out:
            out.append(cid)
    return out


def _norm(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())
