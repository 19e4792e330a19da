"""``vreward-train demo``: a tiny model learns to localize by supervision, then GRPO with vreward's rewards
improves it on a shifted distribution, measured on held-out images before and after.

The stages:

1. **Data and model.** Drawn shapes with known boxes (:mod:`vreward_train.synthetic`; position-filled, short
   questions): a warm-up set of small shapes (20-45 % of the side) and a GRPO set of larger ones (45-70 %) with
   its held-out test split; a random Qwen2-VL / Qwen2.5-VL of the ``"demo"`` size (~2 M parameters).
2. **Supervised warm-up** (``warmup`` of ``tiny_cpu.yaml``): teacher forcing on the small shapes until the model
   writes the answer format and localizes roughly. It has never seen a large shape: on the held-out set its
   boxes are too small.
3. **GRPO** (``grpo`` of ``tiny_cpu.yaml``) on the large shapes with the task's default rewards (iou, confidence,
   format: ``vreward.registry``), the boxes known to the rewards only; the held-out set is evaluated before the
   first step and every ``eval.every_steps`` steps (:mod:`vreward_train.heldout`).
4. **Before and after**: the first and the last held-out evaluation side by side, ``learning.json``, and the
   run's report (``run/report/report.html``: curves and a gallery).

Stages 1-2 are cached under ``<cache>/demo/<key>`` (``VREWARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/vreward``, else
``~/.cache/vreward``), keyed by every setting that decides them; they are deterministic in the seed, so a
cached run equals a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vreward.atomic import atomic_directory, write_atomic

if TYPE_CHECKING:
    from vreward_train.config import TrainConfig

DEMO_CONFIG = "tiny_cpu.yaml"
CACHE_FORMAT = 1  # bump when what a cache entry holds changes
LEARNING_FILE = "learning.json"
DONE_FILE = "done.json"
RUN_DIR = "run"


@dataclass(frozen=True)
class DemoData:
    """The demo's drawn-shapes sets: small shapes for the warm-up, larger ones for GRPO and the held-out test."""

    warmup_images: int = 2000
    warmup_sizes: tuple[float, float] = (0.2, 0.45)
    train_images: int = 500
    test_images: int = 100
    sizes: tuple[float, float] = (0.45, 0.7)
    image_size: int = 112


@dataclass(frozen=True)
class DemoSettings:
    """What the demo builds: the model family and size, the data, and the seed of everything (model weights,
    drawings, warm-up order, GRPO sampling)."""

    family: str = "qwen2vl"
    model_size: str = "demo"
    seed: int = 0
    data: DemoData = field(default_factory=DemoData)

    def __post_init__(self) -> None:
        from vreward_train.tiny import check_tiny_size

        check_tiny_size(self.family, self.model_size)

    @property
    def frame(self) -> str:
        """The family's box frame, the one the data's answers are written in (so the warm-up teaches it)."""
        from vreward.frames import family_spec

        return family_spec(self.family).frame


def default_cache_dir() -> Path:
    """``VREWARD_CACHE_DIR``, else ``$XDG_CACHE_HOME/vreward``, else ``~/.cache/vreward``."""
    if os.environ.get("VREWARD_CACHE_DIR"):
        return Path(os.environ["VREWARD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vreward"


def cache_key(settings: DemoSettings, warmup_config: TrainConfig) -> str:
    """A digest of everything that decides the data, the random model and the warm-up checkpoint."""
    import transformers

    import vreward_train

    decided_by = {"format": CACHE_FORMAT, "vreward_train": vreward_train.__version__,
                  "transformers": transformers.__version__, "settings": asdict(settings),
                  "warmup": warmup_config.warmup.model_dump(), "prompt": warmup_config.data.prompt,
                  "model": warmup_config.model.model_dump(exclude={"path"}), "task": warmup_config.task}
    return hashlib.sha256(json.dumps(decided_by, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Prepared:
    """The cached stages: the warm-up checkpoint, the GRPO / held-out data, and whether they came from the cache."""

    warm_model: Path
    data: Path
    cached: bool


def prepare(settings: DemoSettings, overrides: list[str], work: Path, cache_dir: Path | None,
            out: TextIO) -> Prepared:
    """Stages 1-2: the data and the warm-up checkpoint, from ``cache_dir`` when made before with the same
    settings (``cache_dir`` None: no cache, made afresh in ``work/prepared``)."""
    from vreward_train.config import load_config

    work.mkdir(parents=True, exist_ok=True)
    settled = load_config(DEMO_CONFIG, [f"model.path={work}", f"data.path={work}", f"output_dir={work}",
                                        *overrides])
    key = cache_key(settings, settled)
    root = Path(cache_dir) / "demo" / key if cache_dir is not None else work / "prepared"
    if cache_dir is not None and (root / DONE_FILE).is_file():
        done = json.loads((root / DONE_FILE).read_text())
        _say(out, f"[1/4] data and model: cached in {root}")
        _say(out, f"[2/4] supervised warm-up: cached ({done['warmup_steps']} steps, loss {done['loss_first']:.3f} "
                  f"-> {done['loss_last']:.3f}, made in {done['seconds']:.0f} s)")
        return Prepared(root / "warmup", root / "shapes", True)
    if cache_dir is None:
        shutil.rmtree(root, ignore_errors=True)
    with atomic_directory(root) as build:  # kept if another demo makes the same entry meanwhile
        t = time.perf_counter()
        _say(out, f"[1/4] data and model: drawing {settings.data.warmup_images} + {settings.data.train_images} + "
                  f"{settings.data.test_images} images, building a random {settings.family} "
                  f"({settings.model_size} size)")
        model_dir, warmup_data, data_dir = _build_inputs(settings, build)
        _say(out, f"      {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        config = load_config(DEMO_CONFIG, [f"model.path={model_dir}", f"data.path={warmup_data}",
                                           f"data.solution_coords={settings.frame}", f"output_dir={build}",
                                           *overrides, f"grpo.seed={settings.seed}"])  # the warm-up's order: the key's
        _say(out, f"[2/4] supervised warm-up: {config.warmup.steps} steps of {config.warmup.batch_size} small "
                  f"shapes (learning rate {config.warmup.learning_rate:g}, {config.warmup.schedule})")
        from vreward_train.train import run_inputs, warm_start

        losses = warm_start(config, run_inputs(config), build / "warmup")
        seconds = time.perf_counter() - t
        first, last = (losses[0], losses[-1]) if losses else (float("nan"), float("nan"))
        _say(out, f"      loss {first:.3f} -> {last:.3f} in {seconds:.1f} s")
        done = {"warmup_steps": len(losses), "loss_first": first, "loss_last": last, "seconds": seconds,
                "key": key}
        write_atomic(build / DONE_FILE, json.dumps(done, indent=1))
    return Prepared(root / "warmup", root / "shapes", False)


def _build_inputs(settings: DemoSettings, build: Path) -> tuple[Path, Path, Path]:
    """The random model, the warm-up set and the GRPO / held-out set under ``build``."""
    from vreward_train.synthetic import make_shapes_dataset
    from vreward_train.tiny import build_tiny_model

    d = settings.data
    common = {"size": (d.image_size, d.image_size), "canvas": "position", "question": "short", "max_shapes": 1,
              "frame": settings.frame}
    model_dir = build_tiny_model(build / "model", family=settings.family, seed=settings.seed,
                                 size=settings.model_size)
    warmup_data = make_shapes_dataset(build / "warmup_shapes", n_train=d.warmup_images, n_test=0,
                                      seed=settings.seed, sizes=d.warmup_sizes, coco=False, **common)
    data_dir = make_shapes_dataset(build / "shapes", n_train=d.train_images, n_test=d.test_images,
                                   seed=settings.seed + 10_000, sizes=d.sizes, **common)
    return model_dir, warmup_data, data_dir


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The whole demo


def grpo_config(settings: DemoSettings, prepared: Prepared, work: Path, overrides: list[str],
                steps: int | None) -> TrainConfig:
    """Stage 3's configuration: ``tiny_cpu.yaml`` from the warm-up checkpoint on the GRPO set, no warm-up."""
    from vreward_train.config import load_config

    return load_config(DEMO_CONFIG, [f"model.path={prepared.warm_model}", f"data.path={prepared.data}",
                                     f"data.solution_coords={settings.frame}",
                                     f"output_dir={work / RUN_DIR}", f"grpo.seed={settings.seed}", *overrides,
                                     *([f"grpo.max_steps={steps}"] if steps is not None else []),
                                     "warmup.steps=0"])


def run_demo(work: Path, settings: DemoSettings = DemoSettings(), steps: int | None = None,
             overrides: list[str] | None = None, cache_dir: Path | None = None,
             out: TextIO | None = None) -> dict[str, Any]:
    """The whole demo in ``work`` (module doc); returns what ``work/learning.json`` holds (``before``,
    ``after``, ``timings``, ...). ``steps`` overrides ``grpo.max_steps``; ``cache_dir`` None: no cache."""
    from vreward_train.heldout import load_results
    from vreward_train.train import CONFIG_FILE, EVAL_DIR, REPORT_DIR, train

    out = out if out is not None else sys.stdout
    overrides = list(overrides or [])
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    run_dir = work / RUN_DIR
    if (run_dir / CONFIG_FILE).is_file():  # a previous demo's run: start over
        shutil.rmtree(run_dir)
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise FileExistsError(f"{run_dir} exists and is not a previous demo run; choose another folder")
    start = time.perf_counter()
    prepared = prepare(settings, overrides, work, cache_dir, out)
    prepared_at = time.perf_counter()
    config = grpo_config(settings, prepared, work, overrides, steps)
    if not config.eval.every_steps:
        raise ValueError("the demo compares held-out evaluations: eval.every_steps must be at least 1")
    g = config.grpo
    _say(out, f"[3/4] GRPO: {g.max_steps} steps of {g.per_device_train_batch_size // g.num_generations} large "
              f"shapes x {g.num_generations} sampled answers (temperature {g.temperature:g}, learning rate "
              f"{g.learning_rate:g}), rewards {', '.join(config.reward_names())}; held-out evaluation of "
              f"{settings.data.test_images} images every {config.eval.every_steps} steps")
    train(config, compact_logs=True)
    trained_at = time.perf_counter()
    results = load_results(run_dir / EVAL_DIR)
    learning = {"before": results[0], "after": results[-1], "evaluations": results,
                "settings": asdict(settings), "grpo_steps": g.max_steps, "warmup_cached": prepared.cached,
                "warm_model": str(prepared.warm_model), "data": str(prepared.data),
                "report": str(run_dir / REPORT_DIR / "report.html"),
                "timings": {"prepare": prepared_at - start, "grpo": trained_at - prepared_at,
                            "total": time.perf_counter() - start}}
    write_atomic(work / LEARNING_FILE, json.dumps(learning, indent=1))
    _say(out, f"[4/4] held-out before and after GRPO ({results[0]['records']} rows)")
    _say(out, "")
    _say(out, "\n".join(comparison_table(results[0], results[-1])))
    t = learning["timings"]
    _say(out, f"\ndemo finished in {t['total']:.0f} s (data, model and warm-up {t['prepare']:.0f} s"
              f"{', cached' if prepared.cached else ''}; GRPO with evaluations and report {t['grpo']:.0f} s)")
    _say(out, f"learning.json in {work}; report: {learning['report']}")
    return learning


def comparison_table(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The terminal table of two held-out evaluations: reward means, AP, AP50, detections, zero reasons."""
    rows = [(key.removeprefix("mean_"), before[key], after[key]) for key in before if key.startswith("mean_")]
    rows += [(name, before[key], after[key]) for name, key in (("COCO AP", "ap"), ("COCO AP50", "ap50"))
             if before.get(key) is not None]
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [f"{'held-out metric':<{width}} {'before GRPO':>12} {'after GRPO':>12} {'change':>8}"]
    lines += [f"{name:<{width}} {b:>12.4f} {a:>12.4f} {a - b:>+8.4f}" for name, b, a in rows]
    lines.append(f"{'detections':<{width}} {before['detections'] or 0:>12} {after['detections'] or 0:>12}")
    for name in before["zero_reasons"]:
        lines.append(f"zero reasons of {name}: before {_reasons(before['zero_reasons'][name])}; after "
                     f"{_reasons(after['zero_reasons'].get(name, {}))}")
    return lines


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
