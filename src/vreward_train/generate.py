"""Run a model over a dataset split and save its completions as JSONL for ``vreward score``.

Use::

    from vreward_train.generate import generate
    info = generate("runs/det", "data/shapes", split="test", output_jsonl="runs/det/test.jsonl")
    info["coords"], info["solution_coords"]    # the frames to score in: ('qwen2vl', 'qwen2vl')
    info["family"]                             # the family the completions are written by (vreward score --family)

Each line holds ``completion`` (the generated text), ``solution``, ``problem``, ``prompt`` (the question asked),
``width`` / ``height`` (of the original image), ``image_path`` when the image is a file on disk (or was saved
with ``save_images``), and the row's other plain columns (``image_id``, ``category_id``, ``category``, ...), so
``vreward score --coco-gt`` can compute mAP. Prompts are built exactly as in training (the task's Visual-RFT
prompt in the model family's coordinate convention). A LoRA output directory (``adapter_config.json``) is loaded
onto its base model and merged.

Requires the ``train`` extra (torch, transformers, datasets; peft for LoRA outputs).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vreward.atomic import atomic_writer
from vreward.progress import progress_bar

if TYPE_CHECKING:
    import datasets

# Columns never copied into the records (images and TRL's prompt messages).
_SKIP = {"image", "images", "prompt", "completion"}


def load_split(data: str | os.PathLike | datasets.Dataset, split: str = "test",
               image_root: str | os.PathLike | None = None) -> datasets.Dataset:
    """A split of a saved DatasetDict / Visual-RFT dataset, or a JSON/JSONL file's records, with image sizes."""
    import datasets

    from vreward_train import data as vdata

    if isinstance(data, datasets.Dataset):
        ds = data
    elif Path(data).is_file():
        ds = vdata.load_json(data, image_root=image_root)
    else:
        ds = vdata.load_visual_rft(data, split=split)
    return vdata.add_image_sizes(ds)


def load_for_generation(model_path: str | os.PathLike, dtype: str = "auto", device: str | None = None,
                        attn_implementation: str | None = None, min_pixels: int | None = None,
                        max_pixels: int | None = None):
    """(model, processor, family) of a checkpoint directory or hub id; LoRA adapters merged into their base."""
    import torch

    from vreward_train.models import load_model, load_processor, model_family

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    path = Path(model_path)
    adapter = path / "adapter_config.json"
    if adapter.is_file():
        from peft import PeftModel

        base = json.loads(adapter.read_text())["base_model_name_or_path"]
        model = load_model(base, dtype=dtype, attn_implementation=attn_implementation)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    else:
        model = load_model(model_path, dtype=dtype, attn_implementation=attn_implementation)
    processor = load_processor(model_path, min_pixels=min_pixels, max_pixels=max_pixels)
    model.to(device).eval()
    return model, processor, model_family(model)


def _image_path(row: Mapping[str, Any], raw: Any, data_root: Path | None) -> str | None:
    """The row's image file on disk: its ``image_path`` (relative to the dataset folder) or the image's path."""
    candidates = []
    value = row.get("image_path")
    if isinstance(value, str) and value:
        candidates += ([data_root / value] if data_root is not None else []) + [Path(value)]
    if isinstance(raw, Mapping) and isinstance(raw.get("path"), str):
        candidates.append(Path(raw["path"]))
    elif isinstance(raw, str):
        candidates.append(Path(raw))
    for path in candidates:
        if path.is_file():
            return str(path.resolve())
    return None


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def generate(model: str | os.PathLike, data: str | os.PathLike | datasets.Dataset, split: str = "test",
             output_jsonl: str | os.PathLike = "completions.jsonl", max_new_tokens: int = 512, batch_size: int = 8,
             task: str = "detection", prompt: str = "template", do_sample: bool = False, temperature: float = 1.0,
             max_samples: int | None = None, min_pixels: int | None = None, max_pixels: int | None = None,
             solution_coords: str = "qwen2vl", image_root: str | os.PathLike | None = None,
             save_images: bool = False, dtype: str = "auto", device: str | None = None, seed: int = 0,
             progress: bool = False) -> dict[str, Any]:
    """Generate one completion per row of ``data``'s ``split`` and write them to ``output_jsonl``.

    Greedy by default (``do_sample=False``). ``solution_coords`` is the frame of the data's ground truth
    (Visual-RFT data: ``qwen2vl``); the returned summary names both frames (``coords``: the model family's) and
    the ``vreward score`` command that scores the file. ``save_images`` writes images that are not files on disk
    to ``<output>.images/`` so the report's gallery can show them; ``progress`` shows a bar when stderr is a
    terminal. The file is written atomically (nothing is left at ``output_jsonl`` when generation fails).
    Returns a summary dict.
    """
    import torch

    from vreward_train.models import coordinate_frame, pixel_bounds

    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError("batch_size and max_new_tokens must be at least 1")
    torch.manual_seed(seed)
    net, processor, family = load_for_generation(model, dtype=dtype, device=device, min_pixels=min_pixels,
                                                 max_pixels=max_pixels)
    lo, hi = pixel_bounds(processor)
    ds = load_split(data, split, image_root)
    if max_samples is not None:
        ds = ds.select(range(min(max_samples, len(ds))))
    out = Path(output_jsonl)
    n = write_completions(net, processor, family, ds, out, data_root=data_root_of(data, image_root), task=task,
                          prompt=prompt, max_new_tokens=max_new_tokens, batch_size=batch_size, do_sample=do_sample,
                          temperature=temperature, save_images=save_images, progress=progress)
    coords = coordinate_frame(family)
    # --family: the rewards read the family's answer syntax (InternVL's <box>, GLM's box tokens) and frame
    frames = ("" if task == "classification"
              else f" --family {family} --coords {coords} --solution-coords {solution_coords}")
    if coords == "qwen25vl" or solution_coords == "qwen25vl":
        frames += f" --min-pixels {lo} --max-pixels {hi}"
    return {"output": str(out), "records": n, "task": task, "family": family, "coords": coords,
            "solution_coords": solution_coords, "min_pixels": lo, "max_pixels": hi,
            "score_command": f"vreward score {out} --task {task}{frames}"}


def data_root_of(data: str | os.PathLike | datasets.Dataset, image_root: str | os.PathLike | None = None,
                 ) -> Path | None:
    """The folder that the rows' relative ``image_path`` values start from: the dataset's folder, ``image_root``
    or a JSON file's folder (None for an in-memory dataset)."""
    import datasets

    if isinstance(data, datasets.Dataset):
        return None
    if Path(data).is_dir():
        return Path(data)
    return Path(image_root) if image_root is not None else Path(data).parent


def write_completions(net, processor, family: str, ds: datasets.Dataset, output_jsonl: str | os.PathLike, *,
                      data_root: Path | None = None, task: str = "detection", prompt: str = "template",
                      max_new_tokens: int = 512, batch_size: int = 8, do_sample: bool = False,
                      temperature: float = 1.0, save_images: bool = False, progress: bool = False) -> int:
    """Generate one completion per row of ``ds`` with the loaded model ``net`` (left in the mode it was in) and
    write the records (module doc) to ``output_jsonl`` atomically; returns the number written."""
    import datasets
    import torch
    from transformers import GenerationConfig

    from vreward_train.models import pixel_bounds
    from vreward_train.prompts import make_prompt

    lo, hi = pixel_bounds(processor)
    raw_images = (ds.cast_column("image", datasets.Image(decode=False))["image"]
                  if isinstance(ds.features.get("image"), datasets.Image) else [None] * len(ds))
    out = Path(output_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    image_dir = out.parent / f"{out.name}.images"
    gen = GenerationConfig.from_dict({**net.generation_config.to_dict(), "do_sample": do_sample,
                                      "max_new_tokens": max_new_tokens, "use_cache": True})
    if do_sample:
        gen.temperature = temperature
    else:
        gen.temperature = gen.top_p = gen.top_k = None
    device_ = next(net.parameters()).device
    bar = progress_bar(progress, desc="generating", unit=" rows", total=len(ds))
    was_training = net.training
    net.eval()
    n = 0
    try:
        with atomic_writer(out) as f:
            for start in range(0, len(ds), batch_size):
                rows = [ds[i] for i in range(start, min(start + batch_size, len(ds)))]
                messages = [make_prompt(task, r, family, prompt, lo, hi) for r in rows]
                texts = [processor.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
                         for m in messages]
                images = [[r["image"].convert("RGB")] for r in rows]
                inputs = processor(text=texts, images=images, return_tensors="pt", padding=True).to(device_)
                with torch.no_grad():
                    ids = net.generate(**inputs, generation_config=gen)
                completions = processor.tokenizer.batch_decode(ids[:, inputs["input_ids"].shape[1]:],
                                                               skip_special_tokens=True)
                for k, (row, message, completion) in enumerate(zip(rows, messages, completions)):
                    index = start + k
                    record = {"completion": completion, "solution": row.get("solution"),
                              "problem": row.get("problem"), "prompt": message[-1]["content"][-1]["text"]}
                    path = _image_path(row, raw_images[index], data_root)
                    if path is None and save_images:
                        image_dir.mkdir(exist_ok=True)
                        row["image"].save(image_dir / f"{index:06d}.png")
                        path = f"{image_dir.name}/{index:06d}.png"  # relative to the JSONL's folder
                    if path is not None:
                        record["image_path"] = path
                    for key, value in row.items():
                        if key not in _SKIP and key not in record and _plain(value):
                            record[key] = value
                    record["index"] = index
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                    n += 1
                bar.update(len(rows))
    finally:
        bar.close()
        net.train(was_training)
    return n
