"""Cost per row of vreward's verl reward functions against the batched kernel, on 1,024 detection rows.

* ``batched``: ``CompositeReward.score_all`` on the rows as one batch (the kernel's cost, the reference);
* ``compute_score``: the synchronous per-sample function, one call per row (verl's ``remote`` manager, pre-0.7);
* ``compute_score_async``: the reward-loop function, one awaited call per row from concurrent tasks of one event
  loop as verl's reward loop makes them; the cost of creating and running those tasks with a function that does
  nothing is measured alone and reported beside it (it is verl's, not vreward's).

CPU time (``time.process_time``) per row, new completion texts every repetition; median of ``--repeats``. With
verl installed it also runs verl's own ``RewardLoopWorker`` (manager ``naive``) on the same rows with both
functions and a do-nothing one, wall time per row. Writes ``benchmarks/out/verl.json``.

    python benchmarks/bench_verl.py [--rows 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fmt_s, print_table, single_thread, write_results  # noqa: E402

single_thread()


async def _gather(function, rows):
    return await asyncio.gather(*(asyncio.ensure_future(function("coco", t, s, {"index": i}))
                                  for i, (t, s) in enumerate(rows)))


async def _nothing(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return {"score": 0.0}


def per_row(measure, batches) -> float:
    """Median CPU seconds per row of ``measure(batch)`` over the batches."""
    times = []
    for rows in batches:
        t = time.process_time()
        measure(rows)
        times.append((time.process_time() - t) / len(rows))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import vreward.adapters.verl as adapter
    from corpus import make_corpus
    from vreward.composite import make_task_reward

    def corpus(seed):
        completions, solutions = make_corpus(args.rows, seed=seed)
        return [(c[0]["content"], s) for c, s in zip(completions, solutions)]

    batches = [corpus(seed) for seed in range(4 * args.repeats + 1)]
    reward = make_task_reward("detection")
    loop = asyncio.new_event_loop()
    warm = batches.pop()
    reward.score_all([t for t, _ in warm], solution=[s for _, s in warm])
    loop.run_until_complete(_gather(adapter.compute_score_async, warm[:64]))
    take = iter(range(len(batches)))

    def fresh():
        return [batches[next(take)] for _ in range(args.repeats)]

    results = {
        "batched_s": per_row(lambda rows: reward.score_all([t for t, _ in rows], solution=[s for _, s in rows]),
                             fresh()),
        "compute_score_s": per_row(lambda rows: [adapter.compute_score("coco", t, s, {}) for t, s in rows],
                                   fresh()),
        "compute_score_async_s": per_row(lambda rows: loop.run_until_complete(
            _gather(adapter.compute_score_async, rows)), fresh()),
        "tasks_alone_s": per_row(lambda rows: loop.run_until_complete(_gather(_nothing, rows)), fresh()),
    }
    results["async_vreward_s"] = results["compute_score_async_s"] - results["tasks_alone_s"]
    results["async_vs_batched"] = results["async_vreward_s"] / results["batched_s"]
    results["sync_vs_batched"] = results["compute_score_s"] / results["batched_s"]
    results["verl"] = verl_worker(warm, args.rows)
    print_table([
        ["score_all, one batch", fmt_s(results["batched_s"]), "1.0x"],
        ["compute_score, per sample", fmt_s(results["compute_score_s"]), f"{results['sync_vs_batched']:.1f}x"],
        ["compute_score_async (vreward's part)", fmt_s(results["async_vreward_s"]),
         f"{results['async_vs_batched']:.1f}x"],
        ["  asyncio tasks alone (verl's part)", fmt_s(results["tasks_alone_s"]), "-"],
    ], ["path", "CPU per row", "vs batched"])
    if results["verl"]:
        print("verl RewardLoopWorker (naive), wall per row: " + ", ".join(
            f"{name} {fmt_s(v)}" for name, v in results["verl"].items() if name != "version"))
    path = write_results("verl", {"rows": args.rows, "repeats": args.repeats, **results})
    print(f"wrote {path}")
    return 0


def verl_worker(rows, n: int) -> dict | None:
    """Wall time per row of verl's RewardLoopWorker (naive manager) with each function, or None without verl."""
    try:
        import numpy as np
        import torch
        import verl
        from omegaconf import OmegaConf
        from verl import DataProto
        from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    except ImportError:
        return None
    import tempfile

    import vreward.adapters.verl as adapter
    from vreward_train.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    folder = tempfile.mkdtemp()
    tokenizer.save_pretrained(folder)
    ids = [tokenizer(t + "<|im_end|>", add_special_tokens=False)["input_ids"] for t, _ in rows[:n]]
    width = max(map(len, ids))
    responses = torch.full((len(ids), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(ids), 1 + width), dtype=torch.long)
    for i, r in enumerate(ids):
        responses[i, :len(r)] = torch.tensor(r)
        mask[i, :1 + len(r)] = 1
    prompts = torch.full((len(ids), 1), tokenizer.pad_token_id)
    data = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask,
                 "input_ids": torch.cat([prompts, responses], 1)},
        non_tensors={"data_source": np.array(["coco"] * len(ids), dtype=object),
                     "reward_model": np.array([{"ground_truth": s} for _, s in rows[:n]], dtype=object),
                     "extra_info": np.array([{"index": i} for i in range(len(ids))], dtype=object)})
    adapter.nothing_async = _nothing  # a do-nothing function verl can load by name
    adapter.__all__.append("nothing_async")
    out = {"version": verl.__version__}
    for name in ("nothing_async", "compute_score_async", "compute_score"):
        config = OmegaConf.create({
            "actor_rollout_ref": {"model": {"path": folder, "tokenizer_path": None}},
            "reward": {"num_workers": 1, "reward_model": {"enable": False}, "sandbox_fusion": {"url": None},
                       "reward_manager": {"source": "register", "name": "naive"},
                       "custom_reward_function": {"path": "pkg://vreward.adapters.verl", "name": name,
                                                  "reward_kwargs": {}}}})
        worker = RewardLoopWorker(config)
        worker.loop.run_until_complete(worker.compute_score_batch(data[:64]))
        times = []
        for _ in range(3):
            t = time.perf_counter()
            worker.loop.run_until_complete(worker.compute_score_batch(data))
            times.append((time.perf_counter() - t) / len(ids))
        out[name] = min(times)
    return out


if __name__ == "__main__":
    sys.exit(main())
