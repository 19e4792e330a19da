"""The catalogue's rewards vs plain-Python ports of their published code (``reference_catalogue.py``), on the same
inputs in the same run, one thread. Each reward scores a batch of seeded synthetic completions (a new list every
repetition, so the parse cache does not help across repetitions); the ratio is the reference's median time over
vreward's, with the spread (min / max) of both. Also: the cost of the point scan, and the box-only parse time with
and without it. Writes ``benchmarks/out/catalogue.json`` and its section of ``docs/benchmarks.md``.

Run: ``python benchmarks/bench_catalogue.py [--n 1024] [--repeats 7]``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import reference_catalogue as ref
from common import fmt_s, print_table, summary, write_results

THINK = "<think>I look at the screen and find it.</think>"


def wrap(body: str) -> str:
    return f"{THINK}<answer>{body}</answer>"


def cases(n: int, seed: int) -> dict[str, tuple[list[str], dict[str, Any], Callable[[list[str]], Any]]]:
    """Per reward: completions, vreward's columns, and the reference called on the same completions."""
    rng = np.random.default_rng(seed)
    r = lambda *a: np.round(rng.uniform(*a), 1).tolist()  # noqa: E731
    targets = [[x, y, x + w, y + h] for x, y, w, h in zip(r(0, 1100, n), r(0, 650, n), r(20, 180, n), r(10, 60, n))]
    jitter = rng.normal(0, 15, (n, 2)).tolist()
    clicks = [wrap(f"[{round((t[0] + t[2]) / 2 + j[0], 1)}, {round((t[1] + t[3]) / 2 + j[1], 1)}]")
              for t, j in zip(targets, jitter)]
    box_answers = [wrap(str([round(v + j[k % 2], 1) for k, v in enumerate(t)])) for t, j in zip(targets, jitter)]
    gt_text = [str(t) for t in targets]
    out: dict[str, Any] = {
        "click": (clicks, {"solution": gt_text}, lambda c: ref.click(c, targets)),
        "gaussian_point": (box_answers, {"solution": gt_text}, lambda c: ref.gaussian_point(c, targets)),
    }
    objects = []
    for _ in range(n):
        k = int(rng.integers(1, 8))
        xy = rng.uniform(0, 800, (k, 2))
        objects.append(np.round(np.concatenate([xy, xy + rng.uniform(20, 150, (k, 2))], 1), 1))
    preds = []
    for g in objects:
        p = g + rng.normal(0, 6, g.shape)
        if rng.random() < 0.3:
            p = p[:-1]
        if rng.random() < 0.3:
            p = np.concatenate([p, rng.uniform(0, 900, (1, 4))])
        p[:, 2:] = np.maximum(p[:, 2:], p[:, :2] + 1)
        preds.append(wrap(json.dumps(np.round(p, 1).tolist())))
    gts = [g.tolist() for g in objects]
    det_cols = {"solution": [json.dumps(g) for g in gts]}
    out["detection_f1"] = (preds, det_cols, lambda c: ref.detection_f1(c, gts))
    out["odlength"] = (preds[: max(1, n // 4)], {"solution": det_cols["solution"][: max(1, n // 4)]},
                       lambda c: ref.odlength(c, gts[: len(c)]))
    counts = rng.integers(0, 15, n)
    out["count"] = ([wrap(f"There are {c + int(rng.integers(-1, 2))} objects.") for c in counts],
                    {"solution": [str(c) for c in counts]}, lambda c: ref.count(c, counts.tolist()))
    words = ["STOP", "Main", "Street", "Open", "daily", "from", "9", "am", "to", "5", "pm", "EXIT", "Parking"]
    texts = [" ".join(rng.choice(words, int(rng.integers(2, 9)))) for _ in range(n)]
    noisy = ["".join(ch if rng.random() > 0.05 else "x" for ch in t) for t in texts]
    out["ocr"] = ([wrap(t) for t in noisy], {"solution": texts}, lambda c: ref.ocr(c, texts))
    starts = r(0, 100, n)
    spans = [(s, round(s + d, 1)) for s, d in zip(starts, r(2, 30, n))]
    out["temporal_iou"] = ([wrap(f"{round(s + j, 1)} to {round(e + j, 1)}") for (s, e), j in
                            zip(spans, rng.normal(0, 2, n).tolist())], {"solution": [f"{s} to {e}" for s, e in spans]},
                           lambda c: ref.temporal(c, spans))
    squares = [[x, y, x + s, y, x + s, y + s, x, y + s] for x, y, s in zip(r(0, 300, n), r(0, 200, n), r(20, 150, n))]
    shifted = [wrap(str([round(v + 5, 1) for v in q])) for q in squares]
    out["mask_iou"] = (shifted, {"solution": [json.dumps([q]) for q in squares], "width": [640] * n,
                                 "height": [480] * n}, lambda c: ref.mask_iou(c, squares, 480, 640))
    rot = [[float(a), float(b), float(w), float(h), float(t)] for a, b, w, h, t in
           zip(r(100, 500, n), r(100, 400, n), r(20, 120, n), r(10, 60, n), r(-90, 90, n))]
    out["rotated_iou"] = ([wrap(str([v + 2 if k < 2 else v for k, v in enumerate(b)])) for b in rot],
                          {"solution": [str(b) for b in rot]}, lambda c: ref.rotated_iou(c, rot))
    return out


def bench(n: int, repeats: int) -> dict[str, Any]:
    from vreward.registry import REWARDS
    from vreward.rewards.multi_object import make_detection_reward

    rewards = {name: REWARDS[name].attribute(REWARDS[name].default_name) for name in
               ("click", "gaussian_point", "detection_f1", "count", "ocr", "temporal_iou", "mask_iou", "rotated_iou")}
    rewards["odlength"] = make_detection_reward("odlength")
    results: dict[str, Any] = {}
    for name, (completions, columns, reference) in cases(n, 0).items():
        reward = rewards[name]
        reward(list(completions), **columns)  # compile / warm
        ours, theirs = [], []
        for _ in range(repeats):
            batch = [c + " " for c in completions]  # new texts: no parse cache across repetitions
            t = time.perf_counter()
            reward(batch, **columns)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            reference(batch)
            theirs.append(time.perf_counter() - t)
        results[name] = {"n": len(completions), "vreward": summary(ours), "reference": summary(theirs),
                         "ratio": summary([b / a for a, b in zip(ours, theirs)])}
    return results


def point_scan_cost(n: int, repeats: int) -> dict[str, Any]:
    """Box-only batches: the parse with no point read (what box rewards pay), and the point scan on its own."""
    from corpus import make_detection_corpus
    from vreward.cache import clear_caches
    from vreward.parsing import completion_texts, parse_texts

    comps = completion_texts(make_detection_corpus(n, 1, group=8)[0])
    assert parse_texts(comps).points is not None  # warm
    parse, points = [], []
    for k in range(repeats):
        batch = [c + " " * (k + 1) for c in comps]
        clear_caches()
        t = time.perf_counter()
        parsed = parse_texts(batch)
        parse.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert parsed.points is not None
        points.append(time.perf_counter() - t)
    return {"n": n, "box_parse": summary(parse), "point_scan": summary(points)}


def section(results: dict[str, Any]) -> list[str]:
    """The ``## Reward catalogue`` section of docs/benchmarks.md."""
    rows = []
    for name, r in results["rewards"].items():
        rows.append(f"| `{name}` | {r['n']} | {fmt_s(r['vreward']['median_s'])} | "
                    f"{fmt_s(r['reference']['median_s'])} | "
                    f"{r['ratio']['median_s']:.1f}x ({r['ratio']['min_s']:.1f}-{r['ratio']['max_s']:.1f}) |")
    p = results["points"]
    share = p["point_scan"]["median_s"] / p["box_parse"]["median_s"]
    return [
        "## Reward catalogue", "",
        "Generated by `benchmarks/bench_catalogue.py`: each catalogue reward against a plain-Python port of its "
        "published code (`benchmarks/reference_catalogue.py`) on the same seeded completions, in the same run, one "
        f"thread, {results['repeats']} repetitions on new texts each (median time; the ratio is per repetition, "
        "median with min-max). odLength's reference runs pycocotools' `COCOeval` per completion, on a quarter of the "
        "batch.", "",
        "| reward | completions | vreward | reference | reference / vreward |", "|---|---|---|---|---|", *rows, "",
        f"Points are read by a second scan of the answer spans, run only when a point reward asks "
        f"(`ParsedBatch.points`): box rewards do not pay for it. On {p['n']} box-only detection completions the box "
        f"parse takes {fmt_s(p['box_parse']['median_s'])} and the point scan, when asked, "
        f"{fmt_s(p['point_scan']['median_s'])} more ({share:.0%} of the parse).", "",
    ]


def splice(lines: list[str]) -> None:
    """Replace (or append) the ``## Reward catalogue`` section of docs/benchmarks.md, keeping the others."""
    from common import ROOT

    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text().rstrip("\n").split("\n")
    start = next((k for k, line in enumerate(text) if line == lines[0]), None)
    if start is None:
        text += [""] + lines
    else:
        end = next((k for k in range(start + 1, len(text)) if text[k].startswith("## ")), len(text))
        text[start:end] = lines
    doc.write_text("\n".join(text).rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    results = {"repeats": args.repeats, "rewards": bench(args.n, args.repeats),
               "points": point_scan_cost(4 * args.n, args.repeats)}
    write_results("catalogue", results)
    print_table([[k, r["n"], fmt_s(r["vreward"]["median_s"]), fmt_s(r["reference"]["median_s"]),
                  f"{r['ratio']['median_s']:.1f}x"] for k, r in results["rewards"].items()],
                ["reward", "n", "vreward", "reference", "ratio"])
    if not args.no_doc:
        splice(section(results))


if __name__ == "__main__":
    main()
