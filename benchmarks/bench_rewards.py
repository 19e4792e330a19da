"""Reward throughput: vreward's two presets vs the pure-Python Visual-RFT reference, one thread, called as TRL calls
them, every ratio measured in the same run.

Four tasks, each scored by vreward's default rewards, by its ``visual_rft`` preset (the paper's definitions) and by
the reference (``reference_visual_rft.py``), interleaved batch by batch: detection (IoU + confidence + format),
classification accuracy, grounding GIoU and the format reward alone. (a) One 128-completion GRPO batch (16 prompts
x 8 generations): every repetition scores a *different* batch (a new step has new texts, so no cache across
steps), the rewards of one step get the same ``completions`` list, exactly as GRPOTrainer passes it, and the
caches are emptied before each side's step (the presets would otherwise share one parse). The ratio of each
batch (reference time / vreward time) is kept, so the spread of the ratio is reported beside its median.
(b) The same on 100,000 completions, 3 distinct corpora, each scored by all three sides. (c) Agreement of the
``visual_rft`` preset with the reference on the first 100k corpus, with every difference attributed to the corpus
variant that produced it and vreward's parse / zero reason.

Run: ``python benchmarks/bench_rewards.py [--repeats 200] [--big 100000] [--big-repeats 3] [--quick]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import gc
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import reference_visual_rft as ref
from common import fmt_s, print_table, summary, write_results
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
SIDES = ("default", "visual_rft", "reference")


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


def tasks() -> dict[str, dict[str, Any]]:
    """Each task's corpus and the rewards of each side."""
    import vreward  # noqa: F401 - timed: the import alone
    from vreward import visual_rft as paper

    return {
        "detection": {"corpus": make_detection_corpus, "sides": {
            "default": [vreward.iou_reward, vreward.confidence_reward, vreward.format_reward],
            "visual_rft": [paper.iou_reward, paper.confidence_reward, paper.format_reward],
            "reference": list(ref.DETECTION_REWARDS)}},
        "classification": {"corpus": make_classification_corpus, "sides": {
            "default": [vreward.accuracy_reward], "visual_rft": [paper.accuracy_reward],
            "reference": [ref.accuracy_reward_classification]}},
        "grounding": {"corpus": make_grounding_corpus, "sides": {
            "default": [vreward.giou_reward], "visual_rft": [paper.giou_reward],
            "reference": [ref.accuracy_reward_giou]}},
        "format": {"corpus": make_detection_corpus, "sides": {
            "default": [vreward.format_reward], "visual_rft": [paper.format_reward],
            "reference": [ref.format_reward]}},
    }


def corpus(make: Callable[..., tuple], n: int, seed: int) -> tuple[list, list[str], list[str]]:
    """A corpus laid out as GRPO batches (``GROUP`` generations per prompt)."""
    return make(n, seed, group=GROUP)


def batches(make: Callable[..., tuple], n_batches: int, seed: int) -> list[tuple[list, list[str]]]:
    """``n_batches`` distinct GRPO batches of ``BATCH`` completions (their texts differ between batches)."""
    comps, sols = corpus(make, BATCH * n_batches, seed)[:2]
    return [(comps[i:i + BATCH], sols[i:i + BATCH]) for i in range(0, len(comps), BATCH)]


def step(fns: Sequence[RewardFn], call: TrlCall, vreward_side: bool) -> list[float]:
    """One step of ``fns``; vreward's caches are emptied first, untimed (each side meets the batch fresh)."""
    if vreward_side:
        from vreward.cache import clear_caches

        clear_caches()
    return call.run(fns)


def ratios(reference: list[float], ours: list[float]) -> dict[str, float]:
    """The ratio of each repeat (reference time / vreward time): median, 10th and 90th percentile, min, max."""
    r = sorted(a / b for a, b in zip(reference, ours, strict=True))
    q = statistics.quantiles(r, n=10, method="inclusive") if len(r) > 1 else [r[0]] * 9
    return {"median": statistics.median(r), "p10": q[0], "p90": q[-1], "min": r[0], "max": r[-1], "n": len(r),
            "of_medians": statistics.median(reference) / statistics.median(ours)}


def bench(sides: dict[str, list[RewardFn]], data: list[tuple[list, list[str]]], big: bool) -> dict[str, Any]:
    """Every side on every batch (or corpus), interleaved: per side the step times and the time of each function,
    per vreward side its ratios to the reference. The garbage collector runs before the batches (before each of
    the big corpora), not between steps: a collection just before a step evicts the step's data from the CPU
    caches and costs a 128 batch up to twice its time."""
    per_fn: dict[str, list[list[float]]] = {side: [[] for _ in fns] for side, fns in sides.items()}
    totals: dict[str, list[float]] = {side: [] for side in sides}
    calls = None if big else [{side: TrlCall(fresh_copy(c), list(s)) for side in sides} for c, s in data]
    gc.collect()
    for k, (comps, sols) in enumerate(data):
        for side, fns in sides.items():
            if calls is None:
                call = TrlCall(fresh_copy(comps), list(sols))
                gc.collect()
            else:
                call = calls[k][side]
            times = step(fns, call, side != "reference")
            totals[side].append(sum(times))
            for k, t in enumerate(times):
                per_fn[side][k].append(t)
    n = len(data[0][0])
    out: dict[str, Any] = {"n_completions": n, "repeats": len(data)}
    for side, fns in sides.items():
        out[side] = {"total": summary(totals[side]), "completions_per_s": n / statistics.median(totals[side]),
                     "per_function": {f.__name__: summary(t) for f, t in zip(fns, per_fn[side], strict=True)}}
    out["ratio"] = {side: ratios(totals["reference"], totals[side]) for side in sides if side != "reference"}
    return out


def anatomy(n_batches: int) -> dict[str, dict[str, float]]:
    """What the rewards cannot do without, timed alone on the benchmark's batches (caches emptied first): the
    numba scan of a detection batch's completions and of its distinct solutions, and for classification reading
    the TRL messages and finding each answer (the per-row work every accuracy rule starts with)."""
    from vreward.cache import clear_caches
    from vreward.parsing import answer_texts, completion_texts, parse_completions
    from vreward.solution import parse_solutions

    def timed(fn: Callable[[list, list[str]], Any], data: list[tuple[list, list[str]]]) -> dict[str, float]:
        times = []
        for comps, sols in data:
            comps = fresh_copy(comps)
            clear_caches()
            t = time.perf_counter()
            fn(comps, sols)
            times.append(time.perf_counter() - t)
        return summary(times)

    det = batches(make_detection_corpus, n_batches, 1)
    cls = batches(make_classification_corpus, n_batches, 2)
    return {"detection_parse_completions": timed(lambda c, s: parse_completions(c), det),
            "detection_parse_solutions": timed(lambda c, s: parse_solutions(s, len(s)), det),
            "classification_texts_and_answers": timed(lambda c, s: answer_texts(completion_texts(c)), cls)}


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


def ratio_text(r: dict[str, float]) -> str:
    return f"{r['median']:.1f}x ({r['p10']:.1f}-{r['p90']:.1f})" if r["n"] > 5 else \
        f"{r['median']:.1f}x ({r['min']:.1f}-{r['max']:.1f})"


def print_results(results: dict[str, Any], key: str, title: str) -> None:
    rows = []
    for task, r in results["tasks"].items():
        entry = r[key]
        rows.append([task, *(fmt_s(entry[side]["total"]["median_s"]) for side in SIDES),
                     *(ratio_text(entry["ratio"][side]) for side in SIDES[:2])])
    print(f"\n{title}")
    print_table(rows, ["task", "default", "visual_rft", "reference", "ref / default", "ref / visual_rft"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="distinct 128-batches timed")
    parser.add_argument("--big", type=int, default=100_000, help="completions in the big run")
    parser.add_argument("--big-repeats", type=int, default=3, help="distinct big corpora timed (each side)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.big, args.big_repeats = 20, 5000, 2

    t_import = time.perf_counter()
    import vreward  # noqa: F401 - timed: the import alone

    t_import = time.perf_counter() - t_import
    all_tasks = tasks()
    results: dict[str, Any] = {"config": {**vars(args), "batch": BATCH, "group": GROUP}, "import_s": t_import,
                               "tasks": {}}

    # Warm-up: the first call loads the numba cache or compiles; reported separately, excluded.
    warm = batches(make_detection_corpus, 3, 999)
    t = time.perf_counter()
    TrlCall(*warm[0]).run(all_tasks["detection"]["sides"]["default"])
    results["warmup"] = {"first_detection_step_s": time.perf_counter() - t}
    for spec in all_tasks.values():
        for comps, sols in batches(spec["corpus"], 2, 998):
            for fns in spec["sides"].values():
                TrlCall(comps, sols).run(fns)
    print(f"import vreward: {fmt_s(t_import)}; first detection step (JIT load/compile): "
          f"{fmt_s(results['warmup']['first_detection_step_s'])}")

    big_seeds = {"detection": 100, "classification": 200, "grounding": 300, "format": 400}
    for seed, (task, spec) in enumerate(all_tasks.items(), start=1):
        entry = results["tasks"][task] = {"batch": bench(spec["sides"], batches(spec["corpus"], args.repeats, seed),
                                                         big=False)}
        big = [corpus(spec["corpus"], args.big, big_seeds[task] + r) for r in range(args.big_repeats)]
        if task == "detection":
            agreement_corpus = big[0]
            results["corpus_kinds"] = kind_counts(agreement_corpus[2])
        entry["big"] = bench(spec["sides"], [(c, s) for c, s, _ in big], big=True)
        print(f"{task}: done")
    results["anatomy"] = anatomy(args.repeats)
    print("\n" + "; ".join(f"{k.replace('_', ' ')} {fmt_s(v['median_s'])}" for k, v in results["anatomy"].items()))
    print_results(results, "batch", f"(a) one {BATCH}-completion GRPO batch, {args.repeats} distinct batches "
                  "(median step; ratio median and 10th-90th percentile of the per-batch ratios)")
    print_results(results, "big", f"(b) {args.big:,} completions, {args.big_repeats} distinct corpora "
                  "(median; ratio median and range)")
    for side in SIDES:
        per_fn = results["tasks"]["detection"]["batch"][side]["per_function"]
        print(f"    detection {side} per function (median): "
              + ", ".join(f"{k} {fmt_s(v['median_s'])}" for k, v in per_fn.items()))

    # (c) agreement of the paper's preset with the reference on the first big corpora
    from vreward import visual_rft as paper

    comps, sols, kinds = agreement_corpus
    det = all_tasks["detection"]["sides"]["visual_rft"]
    ours = TrlCall(comps, sols).scores(det)
    theirs = TrlCall(comps, sols).scores(ref.DETECTION_REWARDS)
    why = [f.score(comps, solution=sols).reasons for f in det]
    results["agreement_detection"] = agreement(["iou", "confidence", "format"], ours, theirs, kinds, why,
                                               [*answer_order_scores(comps, sols), None])
    cc, cs, ck = corpus(make_classification_corpus, args.big, big_seeds["classification"])
    results["agreement_classification"] = agreement(
        ["accuracy"], [paper.accuracy_reward(cc, solution=cs)], [ref.accuracy_reward_classification(cc, cs)], ck,
        [paper.accuracy_reward.score(cc, solution=cs).reasons])
    print(f"\n(c) agreement of the visual_rft preset with the reference on {len(comps):,} detection completions "
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
