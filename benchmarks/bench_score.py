"""Offline scoring with benchmark metrics: ``vreward score`` against the COCO evaluators, one thread.

(a) A synthetic COCO-val2017-scale set (5,000 images, ~37k ground-truth boxes over 80 categories, ~171k
    detections): pycocotools' COCOeval and faster-coco-eval timed directly on the detections (result dicts in
    memory, as ``json.load`` of a results file gives them), and their 12 stats compared.
(b) The same detections as saved Visual-RFT completions, one JSONL record per (image, category) that has
    detections or ground truth (``<think>..</think><answer>[{'Position': [...], 'Confidence': c}]</answer>``
    in the qwen2vl 0-1000 frame, fields ``image_id``, ``category_id``): ``vreward score`` end to end through
    its Python API (read, parse, rewards, frame conversion, COCOeval, summary, report without images), timed
    against faster-coco-eval's own evaluation (target <= 1.3x). vreward's 12 stats must equal pycocotools'
    run on the *same converted boxes* within 1e-12 (the 0-1000 integers lose precision against the original
    detections, so those are not the reference).
(c) 1,000,000 saved detection completions scored with the rewards only (no COCO), in a subprocess: wall time
    (target <= 15 s) and peak RSS of the child (target < 1 GiB).

Run: ``python benchmarks/bench_score.py [--repeats 5] [--big 1000000] [--quick]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import contextlib
import gc
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import fmt_rate, fmt_s, print_table, python, summary, write_results

COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32,
            33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,
            60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
IMAGE_SHAPES = ((640, 480), (480, 640), (640, 427), (427, 640), (640, 426), (500, 375), (640, 360), (612, 612))
STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
GiB = 1 << 30


# ------------------------------------------------------------------------------------------------ the data set


def make_coco_set(n_images: int = 5000, seed: int = 0) -> tuple[dict, np.ndarray]:
    """COCO-val2017-like ground truth and detections.

    Ground truth: ~7.35 objects per image (Poisson), 80 categories with COCO's ids and a skewed frequency
    (one dominant "person"), log-uniform sizes (all three area ranges), 1.2% crowd boxes, segmentation-like
    areas (45-90% of the box). Detections: ~1.2 jittered boxes per object (scores ~ Beta(5, 2)) and false
    positives on the image's categories and on 9 others (scores ~ Beta(2, 5)).
    Returns the GT dict and an (N, 7) array [image_id, category_id, x1, y1, x2, y2, score] (pixels).
    """
    rng = np.random.default_rng(seed)
    shapes = np.array(IMAGE_SHAPES)[rng.integers(0, len(IMAGE_SHAPES), n_images)]
    images = [{"id": 100000 + 7 * k, "width": int(w), "height": int(h), "file_name": f"{k:012d}.jpg"}
              for k, (w, h) in enumerate(shapes.tolist())]
    cat_p = rng.dirichlet(np.full(80, 0.35))
    cat_p[0] += 0.25
    cat_p /= cat_p.sum()
    anns: list[dict] = []
    dets: list[tuple] = []
    cat_ids = np.array(COCO_IDS)
    for img, n in zip(images, rng.poisson(7.35, n_images).tolist()):
        iid, W, H = img["id"], img["width"], img["height"]
        cats = cat_ids[rng.choice(80, n, p=cat_p)].tolist()
        side = np.exp(rng.uniform(np.log(4), np.log(min(W, H) * 0.95), n))
        ar = np.exp(rng.normal(0, 0.5, n))
        w = np.minimum(side * np.sqrt(ar), W - 1)
        h = np.minimum(side / np.sqrt(ar), H - 1)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        crowd = (rng.random(n) < 0.012).tolist()
        fill = rng.uniform(0.45, 0.9, n).tolist()
        for c, xx, yy, ww, hh, cr, f in zip(cats, x.tolist(), y.tolist(), w.tolist(), h.tolist(), crowd, fill):
            bx = [round(xx, 2), round(yy, 2), round(ww, 2), round(hh, 2)]
            anns.append({"id": len(anns) + 1, "image_id": iid, "category_id": c, "bbox": bx,
                         "area": round(ww * hh * f, 2), "iscrowd": int(cr)})
            for _ in range(int(rng.random() < 0.9) + int(rng.random() < 0.3)):
                j = rng.normal(0, 0.1, 4) * [bx[2], bx[3], bx[2], bx[3]]
                dets.append((iid, c, bx[0] + j[0], bx[1] + j[1], bx[0] + bx[2] + j[2], bx[1] + bx[3] + j[3],
                             rng.beta(5, 2)))
        for c in sorted(set(cats)) + rng.choice(cat_ids, 9, replace=False).tolist():
            for _ in range(int(rng.poisson(1.7))):
                s = float(np.exp(rng.uniform(np.log(6), np.log(min(W, H) * 0.8))))
                x0, y0 = rng.uniform(0, W - s), rng.uniform(0, H - s * 0.8)
                dets.append((iid, c, x0, y0, x0 + s, y0 + s * 0.8, rng.beta(2, 5)))
    gt = {"info": {"description": "synthetic COCO-val2017-scale set (vreward benchmark)"}, "images": images,
          "annotations": anns, "categories": [{"id": i, "name": f"category_{i}", "supercategory": "thing"}
                                              for i in COCO_IDS]}
    arr = np.array(dets, np.float64)
    arr[:, 6] = np.round(arr[:, 6], 3)  # confidences as a model writes them
    return gt, arr


def result_dicts(dets: np.ndarray) -> list[dict]:
    """COCO result dicts [image_id, category_id, bbox xywh, score] of (N, 7) xyxy detections."""
    return [{"image_id": int(i), "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
            for i, c, x1, y1, x2, y2, s in dets.tolist()]


def write_completions(path: Path, gt: dict, dets: np.ndarray) -> tuple[int, np.ndarray]:
    """One JSONL record per (image, category) with detections or ground truth, boxes in the qwen2vl frame.

    Returns the record count and the detections the records mean, converted back to pixels exactly as a
    reader of the 0-1000 integers must (``q * size / 1000``), in record order.
    """
    size = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    order = np.lexsort((dets[:, 1], dets[:, 0]))  # by image, then category; stable
    d = dets[order]
    wh = np.array([size[int(i)] for i in d[:, 0].tolist()], np.float64)
    scale = np.concatenate([wh, wh], axis=1)
    q = np.clip(np.rint(d[:, 2:6] / scale * 1000.0), 0, 1000).astype(np.int64)
    back = q.astype(np.float64) * scale / 1000.0
    pairs_with_gt = {(a["image_id"], a["category_id"]) for a in gt["annotations"]}
    keys = list(zip(d[:, 0].astype(np.int64).tolist(), d[:, 1].astype(np.int64).tolist()))
    starts = [0] + [k for k in range(1, len(keys)) if keys[k] != keys[k - 1]] + [len(keys)]
    by_pair = {keys[a]: (a, b) for a, b in zip(starts[:-1], starts[1:])}
    qs, scores = q.tolist(), d[:, 6].tolist()
    n = 0
    with path.open("w") as f:
        for iid, cid in sorted(set(by_pair) | pairs_with_gt):
            span = by_pair.get((iid, cid))
            name = f"category_{cid}"
            if span is None:
                answer = "No Objects"
            else:
                answer = "[" + ", ".join(f"{{'Position': [{b[0]}, {b[1]}, {b[2]}, {b[3]}], 'Confidence': {c}}}"
                                         for b, c in zip(qs[span[0]:span[1]], scores[span[0]:span[1]])) + "]"
            text = f"<think>Looking for every {name} in the image.</think><answer>{answer}</answer>"
            f.write(json.dumps({"image_id": iid, "category_id": cid, "completion": text}) + "\n")
            n += 1
    # the records list pairs in sorted order, which is the detections' order here
    converted = np.concatenate([d[:, :2], back, d[:, 6:7]], axis=1)
    return n, converted


# ------------------------------------------------------------------------------------------------ evaluators


def run_pycocotools(gt_path: Path, res: list[dict]) -> tuple[np.ndarray, dict[str, float]]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        gt = COCO(str(gt_path))
        t1 = time.perf_counter()
        dt = gt.loadRes(res)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        t2 = time.perf_counter()
    return np.array(ev.stats[:12]), {"gt_load_s": t1 - t0, "eval_s": t2 - t1}


def run_faster_coco_eval(gt_path: Path, res: list[dict], gc_paused: bool = False,
                         ) -> tuple[np.ndarray, dict[str, float]]:
    from faster_coco_eval import COCO, COCOeval_faster

    t0 = time.perf_counter()
    gt = COCO(str(gt_path))
    t1 = time.perf_counter()
    if gc_paused:
        gc.disable()
    try:
        dt = gt.loadRes(res)
        ev = COCOeval_faster(gt, dt, "bbox", print_function=lambda *a, **k: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    finally:
        gc.enable()
    t2 = time.perf_counter()
    return np.array(ev.stats[:12]), {"gt_load_s": t1 - t0, "eval_s": t2 - t1}


def run_faster_coco_eval_gc_paused(gt_path: Path, res: list[dict]) -> tuple[np.ndarray, dict[str, float]]:
    """faster-coco-eval with Python's cyclic GC paused (what vreward does around the evaluator)."""
    return run_faster_coco_eval(gt_path, res, gc_paused=True)


def timed_evaluator(fn, gt_path: Path, dets: np.ndarray, repeats: int) -> dict[str, Any]:
    """Best of ``repeats``: each run gets fresh result dicts (loadRes mutates them)."""
    runs = []
    stats = None
    for _ in range(repeats):
        res = result_dicts(dets)
        gc.collect()
        stats, t = fn(gt_path, res)
        runs.append(t)
    return {"stats": stats.tolist(), "eval": summary([r["eval_s"] for r in runs]),
            "gt_load": summary([r["gt_load_s"] for r in runs]),
            "total": summary([r["eval_s"] + r["gt_load_s"] for r in runs])}


# ------------------------------------------------------------------------------------------------ vreward score


def score_api():
    """The lead's ``vreward score`` Python API, or None while it does not exist."""
    try:
        from vreward.evaluate import ScoreConfig, score
    except ImportError:
        return None
    return score, ScoreConfig


def run_vreward(api, records_path: Path, gt_path: Path, report_dir: Path | None) -> tuple[dict, float]:
    score, ScoreConfig = api
    config = ScoreConfig(input=records_path, task="detection", coco_gt=gt_path, output=None, summary=None,
                         report=report_dir, progress=False)
    t = time.perf_counter()
    with warnings_ignored():
        result = score(config)
    return result, time.perf_counter() - t


@contextlib.contextmanager
def warnings_ignored():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------------------------------------ 1M rewards only


CHILD = r"""
import os, sys, time, json, resource
os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
t0 = time.perf_counter()
from pathlib import Path
from vreward.evaluate import ScoreConfig, score
t1 = time.perf_counter()
summary = score(ScoreConfig(input=Path(sys.argv[1]), task="detection", output=Path(sys.argv[2]), summary=None,
                            report=None, progress=False))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "score_s": t2 - t1, "records": summary.get("records"),
                  "maxrss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def write_big_corpus(path: Path, n: int, seed: int) -> None:
    """``n`` records {completion, solution} of the reward benchmarks' detection corpus (all its variants)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus import make_detection_corpus

    with path.open("w") as f:
        step = 100_000
        for k in range(0, n, step):
            comps, sols, _ = make_detection_corpus(min(step, n - k), seed + k, group=8)
            f.writelines(json.dumps({"completion": c[0]["content"], "solution": s}) + "\n"
                         for c, s in zip(comps, sols))


LAUNCHER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "stdout": proc.stdout, "stderr": proc.stderr[-3000:],
                  "children_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_big(path: Path, out: Path) -> dict[str, Any]:
    """Score ``path`` in a fresh subprocess; its wall time and peak RSS.

    Linux carries a process's resident-set high-water mark across ``fork`` + ``exec``, so a child started
    from this (large) process would report at least this process's size. The child is therefore started by a
    small launcher process, and its peak is the launcher's ``getrusage(RUSAGE_CHILDREN).ru_maxrss``.
    """
    proc = subprocess.run([python(), "-c", LAUNCHER, python(), "-c", CHILD, str(path), str(out)],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"launcher failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    launched = json.loads(proc.stdout.strip().splitlines()[-1])
    if launched["rc"]:
        raise RuntimeError(f"child failed ({launched['rc']}):\n{launched['stderr']}")
    child = json.loads(launched["stdout"].strip().splitlines()[-1])
    return {"wall_s": launched["wall_s"], **child, "peak_rss_bytes": launched["children_maxrss_kib"] * 1024}


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of faster-coco-eval and vreward")
    parser.add_argument("--pycocotools-repeats", type=int, default=1)
    parser.add_argument("--big", type=int, default=1_000_000, help="completions of the rewards-only run")
    parser.add_argument("--big-repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images, args.repeats, args.big, args.big_repeats = 300, 1, 20_000, 1
    results: dict[str, Any] = {"config": vars(args)}
    tmp = Path(tempfile.mkdtemp(prefix="vreward-bench-score-"))

    t = time.perf_counter()
    gt, dets = make_coco_set(args.images, seed=0)
    gt_path = tmp / "instances_synthetic.json"
    gt_path.write_text(json.dumps(gt))
    records_path = tmp / "completions.jsonl"
    n_records, converted = write_completions(records_path, gt, dets)
    n_pairs = len({(int(i), int(c)) for i, c in dets[:, :2].tolist()})
    data = {"images": len(gt["images"]), "gt_boxes": len(gt["annotations"]),
            "crowd_boxes": sum(a["iscrowd"] for a in gt["annotations"]), "categories": len(gt["categories"]),
            "detections": len(dets), "pairs_with_detections": n_pairs, "records": n_records,
            "records_bytes": records_path.stat().st_size, "generate_s": time.perf_counter() - t}
    results["data"] = data
    print(f"data: {data['images']} images, {data['gt_boxes']} GT boxes ({data['crowd_boxes']} crowd), "
          f"{data['categories']} categories, {data['detections']} detections; {n_records} records "
          f"({data['records_bytes'] / 1e6:.1f} MB)")

    # (a) the evaluators directly on the original detections
    fce = timed_evaluator(run_faster_coco_eval, gt_path, dets, args.repeats)
    fce_gc = timed_evaluator(run_faster_coco_eval_gc_paused, gt_path, dets, args.repeats)
    pct = timed_evaluator(run_pycocotools, gt_path, dets, args.pycocotools_repeats)
    diff = float(np.max(np.abs(np.array(fce["stats"]) - np.array(pct["stats"]))))
    results["evaluators"] = {"faster-coco-eval": fce, "faster-coco-eval_gc_paused": fce_gc, "pycocotools": pct,
                             "max_abs_stat_diff": diff}
    print("\n(a) evaluators on the original detections (GT loaded from file, then loadRes + evaluate + "
          "accumulate + summarize)")
    print_table([["faster-coco-eval", fmt_s(fce["gt_load"]["min_s"]), fmt_s(fce["eval"]["min_s"]),
                  fmt_s(fce["eval"]["median_s"])],
                 ["faster-coco-eval, GC paused", fmt_s(fce_gc["gt_load"]["min_s"]), fmt_s(fce_gc["eval"]["min_s"]),
                  fmt_s(fce_gc["eval"]["median_s"])],
                 ["pycocotools", fmt_s(pct["gt_load"]["min_s"]), fmt_s(pct["eval"]["min_s"]),
                  fmt_s(pct["eval"]["median_s"])]],
                ["evaluator", "GT load", "eval (min)", "eval (median)"])
    print(f"    12 stats: max |faster-coco-eval - pycocotools| = {diff:.3g}; AP = {fce['stats'][0]:.4f}")

    # reference for (b): pycocotools on the boxes the completions mean (0-1000 integers back in pixels)
    ref_stats, _ = run_pycocotools(gt_path, result_dicts(converted))
    results["reference_converted"] = {"evaluator": "pycocotools", "stats": ref_stats.tolist()}

    # (b) vreward score end to end
    api = score_api()
    if api is None:
        results["vreward"] = {"available": False,
                              "note": "vreward.evaluate.score is not importable in this checkout"}
        print("\n(b) vreward score: API not available (from vreward.evaluate import score, ScoreConfig failed)")
    else:
        run_vreward(api, records_path, gt_path, None)  # warm-up: numba cache, imports
        # Interleaved with faster-coco-eval runs, so that both see the same machine load (it drifts).
        runs, report_runs, fce_runs, last = [], [], [], None
        for k in range(args.repeats):
            res = result_dicts(dets)
            gc.collect()
            fce_runs.append(run_faster_coco_eval(gt_path, res)[1])
            del res
            gc.collect()
            last, secs = run_vreward(api, records_path, gt_path, None)
            runs.append(secs)
            gc.collect()
            _, secs = run_vreward(api, records_path, gt_path, tmp / f"report_{k}")
            report_runs.append(secs)
        metrics = last["metrics"]
        ours = np.array([metrics["stats"][k] for k in STATS])
        agree = float(np.max(np.abs(ours - ref_stats)))
        t_v, t_r = summary(runs), summary(report_runs)
        base = min(r["eval_s"] for r in fce_runs)
        base_total = min(r["eval_s"] + r["gt_load_s"] for r in fce_runs)
        base_gc = fce_gc["eval"]["min_s"]
        ratio_report = t_r["min_s"] / base
        results["vreward"] = {
            "available": True, "time_with_report": t_r, "time_without_report": t_v,
            "fce_interleaved": summary([r["eval_s"] for r in fce_runs]),
            "records_per_s": n_records / t_r["min_s"],
            "ratio_to_fce_eval": ratio_report, "ratio_to_fce_gt_load_plus_eval": t_r["min_s"] / base_total,
            "ratio_to_fce_eval_gc_paused": t_r["min_s"] / base_gc,
            "ratio_without_report_to_fce_eval": t_v["min_s"] / base,
            "target_ratio": 1.3, "target_met": ratio_report <= 1.3,
            "stats": ours.tolist(), "max_abs_diff_vs_pycocotools_converted": agree,
            "agreement_met": agree <= 1e-12, "evaluator": metrics.get("evaluator"),
            "detections": metrics.get("detections"),
        }
        print(f"\n(b) vreward score end to end on {n_records} records ({len(converted)} boxes), "
              f"best of {args.repeats}, interleaved with faster-coco-eval runs (best {fmt_s(base)}); ratios of "
              f"the best times")
        print_table([[label, fmt_s(t["min_s"]), fmt_s(t["median_s"]), f"{t['min_s'] / base:.2f}x",
                      f"{t['min_s'] / base_total:.2f}x", f"{t['min_s'] / base_gc:.2f}x"]
                     for label, t in (("read .. summary + report (no images)", t_r),
                                      ("read .. summary, no report", t_v))],
                    ["vreward score", "min", "median", "/ fce eval", "/ fce GT load + eval",
                     "/ fce eval, GC paused"])
        ratio_eval = ratio_report
        print(f"    target <= 1.3x faster-coco-eval's evaluation: {'MET' if ratio_eval <= 1.3 else 'MISSED'}; "
              f"12 stats vs pycocotools on the converted boxes: max |diff| = {agree:.3g} "
              f"({'MET' if agree <= 1e-12 else 'MISSED'} 1e-12)")

    # (c) 1M completions, rewards only
    if not args.skip_big:
        if api is None:
            results["big"] = {"available": False}
        else:
            big_path = tmp / "big.jsonl"
            t = time.perf_counter()
            write_big_corpus(big_path, args.big, seed=7)
            gen_s = time.perf_counter() - t
            runs = [run_big(big_path, tmp / f"big_scores_{k}.jsonl") for k in range(args.big_repeats)]
            best = min(runs, key=lambda r: r["wall_s"])
            peak = max(r["peak_rss_bytes"] for r in runs)
            results["big"] = {"available": True, "completions": args.big, "generate_s": gen_s,
                              "input_bytes": big_path.stat().st_size, "runs": runs,
                              "wall": summary([r["wall_s"] for r in runs]),
                              "score": summary([r["score_s"] for r in runs]),
                              "peak_rss_bytes": peak, "target_wall_s": 15.0, "target_rss_bytes": GiB,
                              "wall_target_met": best["wall_s"] <= 15.0, "rss_target_met": peak < GiB}
            print(f"\n(c) {args.big:,} completions, rewards only, fresh subprocess "
                  f"({big_path.stat().st_size / 1e6:.0f} MB input)")
            print_table([[fmt_s(best["wall_s"]), fmt_s(best["score_s"]), fmt_s(best["import_s"]),
                          fmt_rate(args.big / best["wall_s"], "completions/s"), f"{peak / 2**20:.0f} MiB"]],
                        ["wall (process)", "score()", "import", "rate (wall)", "peak RSS"])
            print(f"    targets: wall <= 15 s {'MET' if best['wall_s'] <= 15 else 'MISSED'}; "
                  f"peak RSS < 1 GiB {'MET' if peak < GiB else 'MISSED'}")
            for p in tmp.glob("big*"):
                p.unlink()

    shutil.rmtree(tmp, ignore_errors=True)
    path = write_results("score", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
