"""What the demo learns, over seeds, how long it takes, and a miniature of Visual-RFT's claim: equal extra
compute on supervised steps or on GRPO, from few shots.

1. **The demo, per seed** (``--seeds``): ``vreward-train demo`` with its defaults, as a separate process timed
   from the outside (Python start-up and imports included, as a user sees it), with a fresh cache: the first
   run makes the data, the model and the warm-up. Then a second run of the first seed, from the cache. The
   held-out metrics before and after GRPO come from each run's ``learning.json``.
2. **Few shots, equal compute** (``--shots`` images of the large shapes, per seed): from the seed's warm-up
   checkpoint (cached by part 1), (a) GRPO as the demo runs it, on the few-shot images only, and (b) supervised
   fine-tuning on the same images (teacher forcing on their true boxes, constant learning rate, each of
   ``--sft-learning-rates``) for as many steps as fit in the wall time GRPO took (its held-out evaluations
   excepted). All are scored on the demo's held-out set.

Run: ``python benchmarks/bench_learning.py [--seeds 0 1 2] [--shots 16] [--no-few-shot]``; writes
``benchmarks/out/learning.json`` and the tables of ``docs/learning.md`` (between its ``bench_learning``
markers). One thread; about 45 minutes on a shared 2-core machine.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import OUT_DIR, ROOT, python, write_results

sys.path.insert(0, str(ROOT / "src"))  # this checkout's vreward_train, as the demo subprocesses get it
DOC = ROOT / "docs" / "learning.md"
METRICS = (("mean_iou_reward", "IoU reward"), ("mean_confidence_reward", "confidence reward"),
           ("mean_format_reward", "format reward"), ("ap", "AP"), ("ap50", "AP50"))


def quiet() -> None:
    import torch

    from vreward_train.cli import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------------ the demo


# --quick: a smoke test of this script (seconds per run, nothing learned)
QUICK_DATA = {"warmup_images": 8, "train_images": 4, "test_images": 3}
QUICK_OVERRIDES = ["warmup.steps=2", "grpo.max_steps=2", "eval.every_steps=1"]


def demo_settings(seed: int, quick: bool):
    from vreward_train.demo import DemoData, DemoSettings

    return DemoSettings(seed=seed, model_size="tiny", data=DemoData(**QUICK_DATA)) if quick else \
        DemoSettings(seed=seed)


def demo_run(seed: int, work: Path, cache: Path, quick: bool) -> dict[str, Any]:
    """``vreward-train demo`` in a fresh process: its learning.json, plus the outside wall time."""
    folder = work / f"demo_seed{seed}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    extra = ["--size", "tiny", *(f"--{k.replace('_', '-')}={v}" for k, v in QUICK_DATA.items()),
             *(a for o in QUICK_OVERRIDES for a in ("--set", o))] if quick else []
    t = time.perf_counter()
    done = subprocess.run([python(), "-m", "vreward_train.cli", "demo", str(folder), "--seed", str(seed),
                           "--cache-dir", str(cache), *extra], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    print(done.stdout, done.stderr[-2000:] if done.returncode else "", flush=True)
    if done.returncode:
        raise SystemExit(f"vreward-train demo --seed {seed} failed ({done.returncode})")
    learning = json.loads((folder / "learning.json").read_text())
    learning["wall_seconds"] = seconds
    return learning


# -------------------------------------------------------------------------------- few shots, equal compute


def few_shot_seed(seed: int, shots: int, work: Path, cache: Path, learning_rates: list[float],
                  quick: bool) -> dict[str, Any]:
    """GRPO and equal-time supervised fine-tuning from the seed's warm-up on ``shots`` large-shape images."""
    from vreward_train.config import load_config
    from vreward_train.demo import DEMO_CONFIG, prepare
    from vreward_train.heldout import HeldOutEvaluator, load_results
    from vreward_train.synthetic import make_shapes_dataset
    from vreward_train.train import EVAL_DIR, load_policy, run_inputs, solution_frame, train
    from vreward_train.warmup import supervised_warmup

    settings = demo_settings(seed, quick)
    overrides = QUICK_OVERRIDES if quick else []
    d = settings.data
    root = work / f"few_shot_seed{seed}"
    shutil.rmtree(root, ignore_errors=True)
    prepared = prepare(settings, overrides, root, cache, io.StringIO())
    shots_dir = make_shapes_dataset(root / "shots", n_train=shots, n_test=0, seed=seed + 20_000, sizes=d.sizes,
                                    size=(d.image_size, d.image_size), canvas="position", question="short",
                                    max_shapes=1, coco=False)
    base = [*overrides, f"model.path={prepared.warm_model}", f"data.path={shots_dir}", f"eval.path={prepared.data}",
            f"grpo.seed={seed}", "warmup.steps=0"]
    grpo = load_config(DEMO_CONFIG, [*base, f"output_dir={root / 'grpo'}"])
    t = time.perf_counter()
    train(grpo)
    grpo_seconds = time.perf_counter() - t
    results = load_results(root / "grpo" / EVAL_DIR)
    out = {"seed": seed, "shots": shots, "warm_start": results[0], "grpo": results[-1],
           "grpo_steps": grpo.grpo.max_steps, "grpo_seconds": grpo_seconds, "sft": []}
    for rate in learning_rates:
        sft = load_config(DEMO_CONFIG, [*base, f"output_dir={root / f'sft_{rate:g}'}",
                                        f"warmup.learning_rate={rate}", "warmup.schedule=constant"])
        inputs = run_inputs(sft)
        target = {"family": inputs.family, "solution_coords": solution_frame(sft, inputs.family)}
        model = load_policy(sft, bf16=False, for_warmup=True)
        evaluator = HeldOutEvaluator.from_config(sft, inputs.processor, inputs.family,
                                                 root / f"sft_{rate:g}" / EVAL_DIR)
        t = time.perf_counter()
        evaluator.evaluate(model, 0)
        eval_seconds = time.perf_counter() - t
        # GRPO's wall time less its evaluations (the same held-out set, the same cost), as supervised steps: the
        # step time is measured on a first block of steps, then as many more as the time left allows.
        budget = grpo_seconds - len(results) * eval_seconds
        probe = max(1, grpo.grpo.max_steps // 4)
        t = time.perf_counter()
        supervised_warmup(model, inputs.processor, inputs.rows, sft.task,
                          sft.warmup.model_copy(update={"steps": probe}), seed=seed, **target)
        per_step = (time.perf_counter() - t) / probe
        more = max(0, round(budget / per_step) - probe)
        supervised_warmup(model, inputs.processor, inputs.rows, sft.task,
                          sft.warmup.model_copy(update={"steps": more}), seed=seed + 1, **target)
        out["sft"].append({"learning_rate": rate, "steps": probe + more, "seconds": (probe + more) * per_step,
                           "result": evaluator.evaluate(model, probe + more).summary()})
    return out


# --------------------------------------------------------------------------------------------------- tables


def demo_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| seed | held-out metric | before GRPO | after GRPO | change |", "|---|---|---|---|---|"]
    for run in runs:
        seed = run["settings"]["seed"]
        for key, name in METRICS:
            b, a = run["before"][key], run["after"][key]
            lines.append(f"| {seed} | {name} | {b:.3f} | {a:.3f} | {a - b:+.3f} |")
    lines += ["", "| held-out metric | before GRPO, mean of seeds | after GRPO, mean of seeds | seeds improved |",
              "|---|---|---|---|"]
    for key, name in METRICS:
        b = statistics.fmean(r["before"][key] for r in runs)
        a = statistics.fmean(r["after"][key] for r in runs)
        up = sum(r["after"][key] > r["before"][key] for r in runs)
        same = all(r["after"][key] == r["before"][key] for r in runs)
        improved = "unchanged in every seed" if same else f"{up} of {len(runs)}"
        lines.append(f"| {name} | {b:.3f} | {a:.3f} | {improved} |")
    return lines


def time_table(runs: list[dict[str, Any]], cached: dict[str, Any]) -> list[str]:
    lines = ["| run | wall time (command line, outside) | data + model + warm-up | GRPO + evaluations + report |",
             "|---|---|---|---|"]
    for run in runs:
        t = run["timings"]
        lines.append(f"| seed {run['settings']['seed']}, first run | {run['wall_seconds']:.0f} s | "
                     f"{t['prepare']:.0f} s | {t['grpo']:.0f} s |")
    t = cached["timings"]
    lines.append(f"| seed {cached['settings']['seed']}, second run (cached) | {cached['wall_seconds']:.0f} s | "
                 f"{t['prepare']:.0f} s | {t['grpo']:.0f} s |")
    return lines


def few_shot_table(runs: list[dict[str, Any]]) -> list[str]:
    shots = runs[0]["shots"] if runs else 0
    lines = [f"| seed | from the warm-up, on {shots} large shapes | held-out IoU reward | held-out AP50 | steps | "
             "wall time |", "|---|---|---|---|---|---|"]
    for run in runs:
        rows = [("nothing more", run["warm_start"], "-", "-"),
                *((f"supervised, learning rate {s['learning_rate']:g}", s["result"], s["steps"],
                   f"{s['seconds']:.0f} s") for s in run["sft"]),
                ("GRPO", run["grpo"], run["grpo_steps"], f"{run['grpo_seconds']:.0f} s")]
        for name, r, steps, seconds in rows:
            lines.append(f"| {run['seed']} | {name} | {r['mean_iou_reward']:.3f} | {r['ap50']:.3f} | {steps} | "
                         f"{seconds} |")
    return lines


def write_doc(section: str, lines: list[str]) -> None:
    """Replace the text between ``<!-- bench_learning:SECTION -->`` and ``<!-- /bench_learning:SECTION -->``."""
    text = DOC.read_text(encoding="utf-8")
    begin, end = f"<!-- bench_learning:{section} -->", f"<!-- /bench_learning:{section} -->"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{DOC} has no {begin} ... {end} markers")
    DOC.write_text(pattern.sub(lambda _: "\n".join([begin, *lines, end]), text), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--sft-learning-rates", type=float, nargs="+", default=[2e-4, 1e-3])
    parser.add_argument("--no-few-shot", action="store_true")
    parser.add_argument("--work", type=Path, default=OUT_DIR / "learning")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny runs, docs left as they are")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite docs/learning.md's tables from benchmarks/out/learning.json")
    args = parser.parse_args()
    if args.render:
        results = json.loads((OUT_DIR / "learning.json").read_text())
        write_doc("demo", demo_table(results["demo"]))
        write_doc("time", time_table(results["demo"], results["cached_run"]))
        if "few_shot" in results:
            write_doc("few_shot", few_shot_table(results["few_shot"]))
        return
    cache = args.work / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # first runs are measured from nothing
    demos = [demo_run(seed, args.work, cache, args.quick) for seed in args.seeds]
    cached = demo_run(args.seeds[0], args.work, cache, args.quick)
    if not args.quick:
        write_doc("demo", demo_table(demos))
        write_doc("time", time_table(demos, cached))
    results: dict[str, Any] = {"demo": demos, "cached_run": cached}
    if not args.no_few_shot:
        quiet()
        few = [few_shot_seed(seed, args.shots, args.work, cache, args.sft_learning_rates, args.quick)
               for seed in args.seeds]
        if not args.quick:
            write_doc("few_shot", few_shot_table(few))
        results["few_shot"] = few
        print("\n".join(few_shot_table(few)))
    print("\n".join(demo_table(demos)), "\n".join(time_table(demos, cached)), sep="\n\n")
    write_results("learning_quick" if args.quick else "learning", results)


if __name__ == "__main__":
    main()
