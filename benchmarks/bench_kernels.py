"""Kernel throughput, one thread: pairwise IoU (vs numpy broadcasting) and batch greedy matching.

* ``box_iou``: box pairs per second for N x N boxes, N in (64, 256, 1024, 4096), output allocation
  included, against the usual numpy broadcasting formula (torchvision's ``box_iou`` written in numpy);
  also ``box_iou(a, b, out=buf)`` writing into a reused output (no page faults on a fresh array), and
  ``ndarray.fill`` of that output, the memory-write ceiling for an N x N float64 result on this machine.
* ``match_batch``: completions per second for Visual-RFT greedy matching of 100,000 completions whose
  boxes are already arrays (parsed beforehand, not timed); for context the same matching done by the
  reference's ``sort_and_calculate_iou`` on pre-parsed Python dicts, and ``dedup_keep`` alone.

Run: ``python benchmarks/bench_kernels.py [--sizes 64 256 1024 4096] [--n 100000]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import gc
import time
from typing import Any

import numpy as np

import reference_visual_rft as ref
from common import fmt_rate, fmt_s, print_table, summary, timeit, write_results
from corpus import make_detection_corpus


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` valid float64 boxes in a 0-1000 frame."""
    xy = rng.uniform(0, 900, size=(n, 2))
    wh = rng.uniform(5, 300, size=(n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, 1000.0)], axis=1)


def numpy_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix by numpy broadcasting (the torchvision formula)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def repeats_for(seconds_per_call: float, budget: float = 1.0, lo: int = 5, hi: int = 2000) -> int:
    return int(min(hi, max(lo, budget / max(seconds_per_call, 1e-9))))


def bench_pairwise(sizes: list[int]) -> list[dict[str, Any]]:
    from vreward import box_iou

    rng = np.random.default_rng(0)
    box_iou(random_boxes(rng, 8), random_boxes(rng, 8))  # JIT load
    out = []
    for n in sizes:
        a, b = random_boxes(rng, n), random_boxes(rng, n)
        err = float(np.abs(box_iou(a, b) - numpy_iou(a, b)).max())
        row: dict[str, Any] = {"n": n, "pairs": n * n, "max_abs_diff_vs_numpy": err}
        out_buf = np.empty((n, n))
        fns = {
            "vreward": lambda a=a, b=b: box_iou(a, b),
            "vreward_kernel_preallocated": lambda a=a, b=b, o=out_buf: box_iou(a, b, out=o),
            "numpy": lambda a=a, b=b: numpy_iou(a, b),
            "memory_fill_ceiling": lambda o=out_buf: o.fill(0.5),
        }
        for name, fn in fns.items():
            one = timeit(fn, 2)[-1]
            gc.collect()
            s = summary(timeit(fn, repeats_for(one)))
            row[name] = {**s, "pairs_per_s": n * n / s["min_s"], "pairs_per_s_median": n * n / s["median_s"]}
        out.append(row)
    return out


def bench_matching(n: int, repeats: int) -> dict[str, Any]:
    from vreward import parse_completions, parse_solutions
    from vreward.matching import dedup_keep, match_batch

    comps, sols, _ = make_detection_corpus(n, seed=7, group=8)
    parsed = parse_completions(comps)
    gt = parse_solutions(sols)
    boxes, offsets = np.array(parsed.boxes), np.array(parsed.offsets)
    scores = np.where(np.isnan(parsed.confidences), 1.0, parsed.confidences)
    gt_boxes, gt_offsets = np.array(gt.boxes), np.array(gt.offsets)
    keep = dedup_keep(boxes, offsets)

    def match() -> Any:
        return match_batch(boxes, scores, offsets, gt_boxes, gt_offsets, threshold=0.5)

    def match_dedup() -> Any:
        return match_batch(boxes, scores, offsets, gt_boxes, gt_offsets, threshold=0.5,
                           active=dedup_keep(boxes, offsets))

    match()
    gc.collect()
    out: dict[str, Any] = {"n_completions": n, "n_pred_boxes": len(boxes), "n_gt_boxes": len(gt_boxes)}
    for name, fn in (("match_batch", match), ("dedup_keep", lambda: dedup_keep(boxes, offsets)),
                     ("dedup_keep+match_batch", match_dedup)):
        s = summary(timeit(fn, repeats))
        out[name] = {**s, "completions_per_s": n / s["min_s"], "completions_per_s_median": n / s["median_s"]}

    # The reference's matching on the same boxes, already decoded into Visual-RFT dicts (no JSON parsing).
    pred_dicts, gt_dicts = [], []
    for i in range(n):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        pred_dicts.append([{"Position": boxes[k].tolist(), "Confidence": float(scores[k])}
                           for k in range(lo, hi) if keep[k]])
        g_lo, g_hi = int(gt_offsets[i]), int(gt_offsets[i + 1])
        gt_dicts.append([{"Position": gt_boxes[k].tolist()} for k in range(g_lo, g_hi)])
    t = time.perf_counter()
    ref_results = [ref.sort_and_calculate_iou(g, p) for g, p in zip(gt_dicts, pred_dicts, strict=True)]
    t = time.perf_counter() - t
    out["reference_sort_and_calculate_iou"] = {"min_s": t, "completions_per_s": n / t}

    # Cross-check: per completion, the sorted matched IoUs agree.
    res = match_batch(boxes, scores, offsets, gt_boxes, gt_offsets, threshold=0.5, active=keep)
    bad = 0
    for i, r in enumerate(ref_results):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        ours = sorted(float(v) for v, k in zip(res.iou[lo:hi], keep[lo:hi], strict=True) if k)
        bad += ours != sorted(float(v) for v, _ in r)
    out["completions_disagreeing_with_reference"] = bad
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--n", type=int, default=100_000, help="completions for the matching benchmark")
    parser.add_argument("--repeats", type=int, default=20, help="timed matching calls")
    args = parser.parse_args()

    pairwise = bench_pairwise(args.sizes)
    print("pairwise IoU, N x N boxes (best of repeats; output allocation included)")
    rows = []
    for r in pairwise:
        ours, kernel, theirs = r["vreward"], r["vreward_kernel_preallocated"], r["numpy"]
        rows.append([r["n"], fmt_s(ours["min_s"]), fmt_rate(ours["pairs_per_s"], "pairs/s"),
                     fmt_rate(kernel["pairs_per_s"], "pairs/s"),
                     fmt_rate(r["memory_fill_ceiling"]["pairs_per_s"], "pairs/s"), fmt_s(theirs["min_s"]),
                     fmt_rate(theirs["pairs_per_s"], "pairs/s"),
                     f"{ours['pairs_per_s'] / theirs['pairs_per_s']:.1f}x",
                     f"{r['max_abs_diff_vs_numpy']:.1e}"])
    print_table(rows, ["N", "box_iou", "box_iou rate", "kernel, prealloc. out", "fill ceiling", "numpy",
                       "numpy rate", "speed-up", "max |diff|"])

    matching = bench_matching(args.n, args.repeats)
    print(f"\ngreedy matching of {args.n:,} completions ({matching['n_pred_boxes']:,} predicted, "
          f"{matching['n_gt_boxes']:,} ground-truth boxes; best of {args.repeats})")
    kernels = ("match_batch", "dedup_keep", "dedup_keep+match_batch", "reference_sort_and_calculate_iou")
    rows = [[k, fmt_s(matching[k]["min_s"]), fmt_rate(matching[k]["completions_per_s"], "completions/s")]
            for k in kernels]
    print_table(rows, ["kernel", "time", "rate"])
    print(f"completions whose matched IoUs differ from the reference's: "
          f"{matching['completions_disagreeing_with_reference']}")
    path = write_results("kernels", {"config": vars(args), "pairwise_iou": pairwise, "matching": matching})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
