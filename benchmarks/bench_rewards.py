"""Reward throughput: vreward vs the pure-Python Visual-RFT reference, one thread, called as TRL calls them.

(a) The three detection rewards (IoU, confidence, format) on one 128-completion GRPO batch (16 prompts x 8
generations): every repetition scores a *different* batch (realistic: a new step has new texts, so no
cache across steps), and the three rewards of one repetition get the same ``completions`` list, exactly
as GRPOTrainer passes it. (b) The same on 100,000 completions. (c) Classification accuracy and grounding
GIoU on the same two sizes. (d) Agreement with the reference on the 100k corpus, with every difference
attributed to the corpus variant that produced it and vreward's parse / zero reason.

Run: ``python benchmarks/bench_rewards.py [--repeats 200] [--big 100000] [--quick]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import gc
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import reference_visual_rft as ref
from common import fmt_rate, fmt_s, print_table, summary, write_results
from corpus import (
    fresh_copy,
    kind_counts,
    make_classification_corpus,
    make_detection_corpus,
    make_grounding_corpus,
)

BATCH = 128
GROUP = 8  # GRPO num_generations: completions per prompt
RewardFn = Callable[..., list[float]]


class TrlCall:
    """The keyword arguments GRPOTrainer passes to every reward function of one step."""

    def __init__(self, completions: list[Any], solutions: list[str]):
        self.metrics: list[tuple[str, float]] = []
        self.extra: list[tuple[str, list]] = []
        self.kwargs: dict[str, Any] = {
            "prompts": [[{"role": "user", "content": "Detect all objects. Output boxes with confidences."}]]
            * len(completions),
            "completions": completions,
            "completion_ids": [list(range(len(c[0]["content"]) // 4)) for c in completions],
            "solution": solutions,
            "trainer_state": None,
            "log_metric": lambda name, value: self.metrics.append((name, value)),
            "log_extra": lambda name, values: self.extra.append((name, values)),
        }

    def run(self, fns: Sequence[RewardFn]) -> list[float]:
        """Call each reward once, as one step does; returns the seconds each call took."""
        times = []
        for f in fns:
            t = time.perf_counter()
            f(**self.kwargs)
            times.append(time.perf_counter() - t)
        return times

    def scores(self, fns: Sequence[RewardFn]) -> list[list[float]]:
        return [f(**self.kwargs) for f in fns]


def detection(n: int, seed: int) -> tuple[list, list[str], list[str]]:
    """Detection corpus laid out as GRPO batches (``GROUP`` generations per prompt)."""
    return make_detection_corpus(n, seed, group=GROUP)


def batches(make: Callable[[int, int], tuple], n_batches: int, seed: int) -> list[tuple[list, list[str]]]:
    """``n_batches`` distinct GRPO batches of ``BATCH`` completions (their texts differ between batches)."""
    comps, sols = make(BATCH * n_batches, seed)[:2]
    return [(comps[i:i + BATCH], sols[i:i + BATCH]) for i in range(0, len(comps), BATCH)]


def bench_batch(fns: Sequence[RewardFn], data: list[tuple[list, list[str]]]) -> dict[str, Any]:
    """Time one step (all ``fns`` on one batch) per distinct batch; fresh list objects every time."""
    calls = [TrlCall(fresh_copy(c), list(s)) for c, s in data]
    gc.collect()
    per_fn: list[list[float]] = [[] for _ in fns]
    totals = []
    for call in calls:
        times = call.run(fns)
        totals.append(sum(times))
        for k, t in enumerate(times):
            per_fn[k].append(t)
    return {
        "total": summary(totals),
        "per_function": {f.__name__: summary(t) for f, t in zip(fns, per_fn, strict=True)},
    }


def bench_big(fns: Sequence[RewardFn], corpora: list[tuple[list, list[str]]]) -> dict[str, Any]:
    """Time all ``fns`` once on each (distinct) big corpus."""
    totals, per_fn = [], []
    for comps, sols in corpora:
        call = TrlCall(fresh_copy(comps), list(sols))
        gc.collect()
        times = call.run(fns)
        totals.append(sum(times))
        per_fn.append(times)
    n = len(corpora[0][0])
    out = {"n_completions": n, "total": summary(totals),
           "per_function": {f.__name__: summary([t[k] for t in per_fn]) for k, f in enumerate(fns)}}
    out["completions_per_s"] = n / out["total"]["min_s"]
    return out


def answer_order_scores(completions: list[Any], solutions: list[str]) -> tuple[list[float], list[float]]:
    """The reference's IoU and confidence rewards with the per-box terms summed in the answer's order.

    The reference sums in descending-confidence order; summing the same terms in the order the boxes were
    written is what a vectorised implementation naturally does. Used to explain last-bit differences.
    """
    ious, confs = [], []
    for c, sol in zip(completions, solutions, strict=True):
        try:
            gt = ref.extract_bbox(sol.strip())
            pred = ref.extract_bbox(ref._student_answer(c[0]["content"]))
            if pred is None or type(pred[0]) is not dict:
                raise ValueError
            pred = ref.remove_duplicates(pred)
            order = sorted(range(len(pred)), key=lambda j: pred[j]["Confidence"], reverse=True)
            terms = [(0.0, 0.0)] * len(pred)
            for j, (iou, conf) in zip(order, ref.sort_and_calculate_iou(gt, pred), strict=True):
                terms[j] = (iou, conf if iou != 0 else (1 - iou) * (1 - conf))
            iou_sum = conf_sum = 0.0
            for iou, term in terms:
                iou_sum += iou
                conf_sum += term
            ious.append(min(max(iou_sum / max(len(gt), len(pred)), 0.0), 1.0))
            confs.append(min(max(conf_sum / len(pred), 0.0), 1.0))
        except Exception:
            ious.append(0.0)
            confs.append(0.0)
    return ious, confs


def agreement(names: Sequence[str], ours: list[list[float]], theirs: list[list[float]], kinds: list[str],
              reasons: list[list[str | None]], reordered: Sequence[list[float] | None] | None = None,
              ) -> dict[str, Any]:
    """Per reward: exact-equality and 1e-9 agreement, and differences by (corpus kind, vreward reason)."""
    out = {}
    reordered = reordered or [None] * len(names)
    for name, a, b, why, b2 in zip(names, ours, theirs, reasons, reordered, strict=True):
        a_, b_ = np.asarray(a), np.asarray(b)
        exact = a_ == b_
        close = np.abs(a_ - b_) <= 1e-9
        rounding_rows = close & ~exact
        unexplained: dict[str, int] = {}
        if b2 is not None:
            rest = rounding_rows & (a_ != np.asarray(b2))
            unexplained = dict(Counter(kinds[i] for i in np.flatnonzero(rest).tolist()).most_common())
        explained = None if b2 is None else int(rounding_rows.sum()) - sum(unexplained.values())
        diff = Counter(f"{kinds[i]} / {why[i] or 'scored'}" for i in np.flatnonzero(~close).tolist())
        rounding = Counter(kinds[i] for i in np.flatnonzero(close & ~exact).tolist())
        higher = int((a_ > b_ + 1e-9).sum())
        out[name] = {
            "n": len(a_),
            "exact_frac": float(exact.mean()),
            "close_frac": float(close.mean()),
            "n_differ": int((~close).sum()),
            "n_vreward_higher": higher,
            "n_vreward_lower": int((~close).sum()) - higher,
            "n_rounding_only": int((close & ~exact).sum()),
            "max_rounding_diff": float(np.abs(a_ - b_)[close].max()) if close.any() else 0.0,
            "rounding_explained_by_sum_order": explained,
            "rounding_unexplained_by_kind": unexplained,
            "rounding_only_by_kind": dict(rounding.most_common()),
            "differences": dict(diff.most_common()),
            "mean_vreward": float(a_.mean()),
            "mean_reference": float(b_.mean()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="distinct 128-batches timed")
    parser.add_argument("--big", type=int, default=100_000, help="completions in the big run")
    parser.add_argument("--big-repeats", type=int, default=3, help="distinct big corpora timed (vreward)")
    parser.add_argument("--ref-big-repeats", type=int, default=1, help="reference timings of the big corpus")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.big, args.big_repeats = 20, 5000, 2

    t_import = time.perf_counter()
    import vreward

    t_import = time.perf_counter() - t_import
    det = [vreward.iou_reward, vreward.confidence_reward, vreward.format_reward]
    ref_det = list(ref.DETECTION_REWARDS)
    results: dict[str, Any] = {"config": {**vars(args), "batch": BATCH, "group": GROUP}, "import_s": t_import}

    # Warm-up: the first call loads the numba cache or compiles; reported separately.
    warm = batches(detection, 3, 999)
    t = time.perf_counter()
    TrlCall(*warm[0]).run(det)
    first = time.perf_counter() - t
    for c, s in warm[1:]:
        TrlCall(c, s).run(det)
    wc, ws, _ = make_grounding_corpus(BATCH, seed=998)
    t = time.perf_counter()
    TrlCall(wc, ws).run([vreward.giou_reward])
    first_giou = time.perf_counter() - t
    wc, ws, _ = make_classification_corpus(BATCH, seed=998)
    TrlCall(wc, ws).run([vreward.accuracy_reward])
    results["warmup"] = {"first_detection_step_s": first, "first_giou_call_s": first_giou}
    print(f"import vreward: {fmt_s(t_import)}; first detection step (JIT load/compile): {fmt_s(first)}; "
          f"first giou call: {fmt_s(first_giou)}")

    # (a) one GRPO batch
    data = batches(detection, args.repeats, 1)
    results["batch_detection"] = {"vreward": bench_batch(det, data), "reference": bench_batch(ref_det, data)}
    # (c) classification / grounding batches
    cls_data = batches(make_classification_corpus, args.repeats, 2)
    gr_data = batches(make_grounding_corpus, args.repeats, 3)
    results["batch_classification"] = {
        "vreward": bench_batch([vreward.accuracy_reward], cls_data),
        "reference": bench_batch([ref.accuracy_reward_classification], cls_data),
    }
    results["batch_grounding"] = {"vreward": bench_batch([vreward.giou_reward], gr_data)}

    rows = []
    for label, key in (("detection (iou+conf+format)", "batch_detection"),
                       ("classification accuracy", "batch_classification"),
                       ("grounding giou", "batch_grounding")):
        r = results[key]
        ours = r["vreward"]["total"]
        theirs = r.get("reference", {}).get("total")
        rows.append([label, fmt_s(ours["min_s"]), fmt_s(ours["median_s"]),
                     fmt_s(theirs["min_s"]) if theirs else "-", fmt_s(theirs["median_s"]) if theirs else "-",
                     f"{theirs['median_s'] / ours['median_s']:.1f}x" if theirs else "-"])
    print(f"\n(a) one {BATCH}-completion GRPO batch, {args.repeats} distinct batches")
    print_table(rows, ["rewards", "vreward min", "vreward median", "reference min", "reference median",
                       "speed-up (median)"])
    per_fn = results["batch_detection"]["vreward"]["per_function"]
    print("    vreward per function (median): "
          + ", ".join(f"{k} {fmt_s(v['median_s'])}" for k, v in per_fn.items()))

    # (b) big corpora: distinct texts per repetition so no parse cache is reused across repetitions
    big = [detection(args.big, 100 + r) for r in range(args.big_repeats)]
    kinds = big[0][2]
    results["corpus_kinds"] = kind_counts(kinds)
    corpora = [(c, s) for c, s, _ in big]
    results["big_detection"] = {"vreward": bench_big(det, corpora),
                                "reference": bench_big(ref_det, corpora[:1] * args.ref_big_repeats)}
    cls_big = make_classification_corpus(args.big, seed=200)
    gr_big = make_grounding_corpus(args.big, seed=300)
    results["big_classification"] = {
        "vreward": bench_big([vreward.accuracy_reward], [cls_big[:2]]),
        "reference": bench_big([ref.accuracy_reward_classification], [cls_big[:2]]),
    }
    results["big_grounding"] = {"vreward": bench_big([vreward.giou_reward], [gr_big[:2]])}
    rows = []
    for label, key in (("detection (iou+conf+format)", "big_detection"),
                       ("classification accuracy", "big_classification"),
                       ("grounding giou", "big_grounding")):
        r = results[key]
        ours, theirs = r["vreward"], r.get("reference")
        rows.append([label, fmt_s(ours["total"]["min_s"]), fmt_rate(ours["completions_per_s"]),
                     fmt_s(theirs["total"]["min_s"]) if theirs else "-",
                     fmt_rate(theirs["completions_per_s"]) if theirs else "-",
                     f"{ours['completions_per_s'] / theirs['completions_per_s']:.1f}x" if theirs else "-"])
    print(f"\n(b) {args.big:,} completions (vreward: best of {args.big_repeats} distinct corpora)")
    print_table(rows, ["rewards", "vreward", "vreward rate", "reference", "reference rate", "speed-up"])

    # (d) agreement on the first big corpus
    comps, sols, _ = big[0]
    call = TrlCall(comps, sols)
    ours = call.scores(det)
    theirs = TrlCall(comps, sols).scores(ref_det)
    why = [f.score(comps, solution=sols).reasons for f in det]
    names = ["iou", "confidence", "format"]
    results["agreement_detection"] = agreement(names, ours, theirs, kinds, why,
                                               [*answer_order_scores(comps, sols), None])
    cc, cs, ck = cls_big
    results["agreement_classification"] = agreement(
        ["accuracy"], [vreward.accuracy_reward(cc, solution=cs)],
        [ref.accuracy_reward_classification(cc, cs)], ck,
        [vreward.accuracy_reward.score(cc, solution=cs).reasons])
    print(f"\n(d) agreement with the reference on {len(comps):,} detection completions "
          f"({len(cc):,} classification)")
    rows = []
    for key in ("agreement_detection", "agreement_classification"):
        for name, a in results[key].items():
            rows.append([name, f"{a['exact_frac']:.4f}", f"{a['close_frac']:.4f}", a["n_rounding_only"],
                         a["n_differ"], a["n_vreward_higher"], a["n_vreward_lower"]])
    print_table(rows, ["reward", "exact", "|d|<=1e-9", "rounding only", "differ", "vreward higher",
                       "vreward lower"])
    for key in ("agreement_detection", "agreement_classification"):
        for name, a in results[key].items():
            if a["differences"]:
                print(f"  {name} differences by (corpus kind / vreward reason):")
                for k, v in a["differences"].items():
                    print(f"    {v:7d}  {k}")

    path = write_results("rewards", results)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
