"""GRPO training throughput on CPU: the tiny Qwen2-VL on the drawn-shapes set, through ``vreward_train``'s train path.

Builds the tiny random Qwen2-VL (``vreward_train.tiny.build_tiny_model``) and the shapes detection set
(``vreward_train.synthetic.make_shapes_dataset``), then, per torch thread count, runs ``tiny_cpu.yaml`` through
``vreward_train.train.build_trainer`` (TRL's ``GRPOTrainer``, configured exactly as ``vreward-train train``
configures it) for ``--warmup-steps`` + ``--steps`` GRPO steps in a fresh process, and measures on the last
``--steps`` steps:

* steps/s and generated tokens/s (tokens = the ``completion_ids`` TRL passes to the rewards, i.e. generated
  tokens up to and including EOS), both over the whole step wall time (generation, reward, reference and policy
  forward/backward, optimizer, logging);
* the share of step time spent computing rewards: every reward function is wrapped in a timer that keeps its
  ``__name__`` (so TRL logs ``rewards/<name>/mean`` as usual); the sum of reward time over the sum of step time.
  TRL's own profiling timings (``ProfilingContext``: each reward function, ``_calculate_rewards`` (the rewards
  plus TRL's tensor bookkeeping), ``transformers.generate``, ``compute_loss``, ...) are captured too, by
  recording what ``ProfilingContext._log_metrics`` receives (TRL only forwards them to wandb / mlflow /
  trackio otherwise).

A random model writes no rewarded answer, so (like ``vreward-train demo``) a short supervised warm-up on the
answer format runs first, once (``warmup.steps`` of the config, in the first process; later processes start
from its saved copy): the rewards then see partly well-formed answers, as in real training.

Run: ``python benchmarks/bench_train.py [--steps 10] [--warmup-steps 2] [--threads 1,2] [--quick]``; writes
``benchmarks/out/train.json``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")

import argparse
import functools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH_DIR, fmt_s, print_table, python, summary, write_results

REWARD_SHARE_TARGET = 0.005  # reward computation under 0.5 % of a GRPO step
# The step measured (docs/benchmarks.md): tiny_cpu.yaml as it was before it became the learning demo's config, 4
# generations of at most 96 tokens, beta 0.04, the Visual-RFT prompt, no held-out evaluation.
MEASURED_STEP = ["grpo.per_device_train_batch_size=4", "grpo.num_generations=4", "grpo.max_completion_length=96",
                 "grpo.beta=0.04", "grpo.learning_rate=1e-3", "data.prompt=template", "model.freeze_vision=false",
                 "eval.every_steps=0", "warmup.learning_rate=3e-3", "warmup.batch_size=4",
                 "warmup.schedule=constant"]


# ---------------------------------------------------------------------------------------------------------------
# Instrumentation (shared with bench_train_gpu.py)


class StepClock:
    """Per-step accounting: wall time between optimizer steps, reward time, generated tokens, TRL's profiling.

    ``step`` is the index of the step in progress (0-based); everything recorded is charged to it.
    """

    def __init__(self) -> None:
        self.step = 0
        self.step_s: list[float] = []
        self.reward_s: dict[int, float] = defaultdict(float)
        self.reward_by_fn: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.tokens: dict[int, int] = defaultdict(int)
        self.completions: dict[int, int] = defaultdict(int)
        self.reward_means: dict[int, dict[str, float]] = defaultdict(dict)
        self.profiling: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.cuda_peak: dict[int, int] = {}
        self._t: float | None = None
        self.sync: Callable[[], None] = lambda: None  # torch.cuda.synchronize on a GPU
        self.prewarm_s: float | None = None

    # Trainer callback hooks (see callback()).
    def begin(self) -> None:
        self.sync()
        self._t = time.perf_counter()

    def end(self, peak_bytes: int | None = None) -> None:
        self.sync()
        now = time.perf_counter()
        assert self._t is not None
        self.step_s.append(now - self._t)
        if peak_bytes is not None:
            self.cuda_peak[self.step] = peak_bytes
        self._t = now
        self.step += 1

    def wrap(self, fn: Callable[..., list[float]], first: bool,
             substitute: Callable[[dict[str, Any], bool], dict[str, Any]] | None = None,
             ) -> Callable[..., list[float]]:
        """``fn`` timed (wall clock, after a device sync), keeping the name TRL reports it under.

        ``first``: the first reward function TRL calls on a batch; its calls count the batch's completions and
        tokens. ``substitute(kwargs, first)`` may replace the keyword arguments before the timed call
        (bench_train_gpu.py scores realistic corpus completions instead of a random model's text; a new batch
        on each call of the first reward, shared by the others as TRL shares one); its own time is not counted.
        """
        from trl.trainer.utils import get_callable_name

        name = get_callable_name(fn)
        clock = self

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> list[float]:
            if first:
                ids = kwargs.get("completion_ids")
                if ids is not None:
                    clock.tokens[clock.step] += sum(len(x) for x in ids)
                clock.completions[clock.step] += len(kwargs.get("completions") or ())
            if substitute is not None:
                kwargs = substitute(kwargs, first)
            clock.sync()
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            dt = time.perf_counter() - t
            clock.reward_s[clock.step] += dt
            clock.reward_by_fn[clock.step][name] += dt
            vals = [v for v in out if v is not None]
            clock.reward_means[clock.step][name] = sum(vals) / len(vals) if vals else float("nan")
            return out

        timed.__name__ = name
        timed.__qualname__ = name
        return timed

    def record_profiling(self) -> Callable[[], None]:
        """Capture TRL's ``ProfilingContext`` durations; returns a function undoing the patch."""
        from trl.extras.profiling import ProfilingContext

        original = ProfilingContext._log_metrics
        clock = self

        def log_metrics(ctx: Any, duration: float) -> None:
            clock.profiling[clock.step][ctx.name.split(".", 1)[-1]] += duration
            original(ctx, duration)

        ProfilingContext._log_metrics = log_metrics

        def undo() -> None:
            ProfilingContext._log_metrics = original

        return undo

    def callback(self, peak: Callable[[], int] | None = None):
        """A ``TrainerCallback`` driving :meth:`begin` / :meth:`end` (step wall time includes the data loading)."""
        from transformers import TrainerCallback

        clock = self

        class Clock(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                clock.begin()

            def on_step_end(self, args, state, control, **kwargs):
                clock.end(peak() if peak is not None else None)

        return Clock()

    def results(self, skip: int) -> dict[str, Any]:
        """Figures over the steps after the first ``skip``, plus the skipped steps' own figures."""
        measured = range(skip, len(self.step_s))
        if not measured:
            raise RuntimeError(f"only {len(self.step_s)} steps ran; nothing after the {skip} warm-up steps")
        step_total = sum(self.step_s[i] for i in measured)
        reward_total = sum(self.reward_s[i] for i in measured)
        tokens = sum(self.tokens[i] for i in measured)
        completions = sum(self.completions[i] for i in measured)
        names = sorted({k for i in measured for k in self.profiling[i]})
        prof = {k: sum(self.profiling[i].get(k, 0.0) for i in measured) for k in names}
        fns = sorted({k for i in measured for k in self.reward_by_fn[i]})
        gen_s = prof.get("transformers.generate")
        shares = [self.reward_s[i] / self.step_s[i] for i in measured]
        out: dict[str, Any] = {
            "measured_steps": len(measured),
            "warmup_steps": skip,
            "step": summary([self.step_s[i] for i in measured]),
            "step_total_s": step_total,
            "steps_per_s": len(measured) / step_total,
            "generated_tokens": tokens,
            "completions": completions,
            "mean_completion_tokens": tokens / completions if completions else None,
            "tokens_per_s": tokens / step_total,
            "generate_s": gen_s,
            "generate_tokens_per_s": tokens / gen_s if gen_s else None,
            "reward_total_s": reward_total,
            "reward_per_step": summary([self.reward_s[i] for i in measured]),
            "reward_share": reward_total / step_total,
            "reward_share_per_step": summary(shares),
            "reward_prewarm_s": self.prewarm_s,
            "reward_share_target": REWARD_SHARE_TARGET,
            "reward_share_met": reward_total / step_total < REWARD_SHARE_TARGET,
            "reward_per_function_s": {f: sum(self.reward_by_fn[i].get(f, 0.0) for i in measured) for f in fns},
            "reward_means": {f: statistics.fmean(self.reward_means[i][f] for i in measured
                                                 if f in self.reward_means[i]) for f in fns},
            "trl_profiling_s": prof,
            "warmup": [{"step_s": self.step_s[i], "reward_s": self.reward_s[i], "tokens": self.tokens[i]}
                       for i in range(min(skip, len(self.step_s)))],
            "per_step": [{"step_s": self.step_s[i], "reward_s": self.reward_s[i], "tokens": self.tokens[i],
                          "completions": self.completions[i]} for i in measured],
        }
        trl_reward = sum(prof.get(f, 0.0) for f in fns)
        out["trl_reward_share"] = trl_reward / step_total if fns else None
        if "_calculate_rewards" in prof:
            out["trl_calculate_rewards_share"] = prof["_calculate_rewards"] / step_total
        if self.cuda_peak:
            out["peak_memory_bytes_by_step"] = [self.cuda_peak.get(i) for i in range(len(self.step_s))]
        return out


def quiet() -> None:
    """Keep library chatter out of the output, as ``vreward-train demo`` does."""
    from vreward_train.cli import quiet_libraries

    quiet_libraries()


def prewarm_rewards(funcs: list[Callable[..., list[float]]]) -> float:
    """Call each reward once on a Visual-RFT-style corpus batch (every answer variant), untimed by the clock, so
    that the one-off loading of vreward's compiled code (numba cache, per code path) is not charged to the
    measured steps; it is paid once per process. Returns the seconds it took."""
    from corpus import make_detection_corpus

    comps, sols, _ = make_detection_corpus(64, seed=123, group=8)
    kwargs = {"prompts": [[{"role": "user", "content": "x"}]] * len(comps), "completions": comps,
              "completion_ids": [[0]] * len(comps), "solution": sols, "trainer_state": None,
              "log_metric": lambda *a: None, "log_extra": lambda *a: None}
    t = time.perf_counter()
    for f in funcs:
        f(**kwargs)
    return time.perf_counter() - t


def run_training(config, clock: StepClock, substitute=None, peak=None, prewarm: bool = True) -> Any:
    """Build the trainer through ``vreward_train.train.build_trainer`` with timed rewards, and train.

    ``prewarm``: :func:`prewarm_rewards` before training (its time goes to ``clock.prewarm_s``)."""
    import vreward_train.train as vtrain

    build_rewards = vtrain.build_rewards

    def timed_rewards(*args: Any, **kwargs: Any):
        funcs, weights = build_rewards(*args, **kwargs)
        if prewarm:
            clock.prewarm_s = prewarm_rewards(funcs)
        return [clock.wrap(f, k == 0, substitute) for k, f in enumerate(funcs)], weights

    vtrain.build_rewards = timed_rewards
    undo = clock.record_profiling()
    try:
        trainer = vtrain.build_trainer(config, callbacks=[clock.callback(peak)])
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.train()
    finally:
        vtrain.build_rewards = build_rewards
        undo()
    return trainer


# ---------------------------------------------------------------------------------------------------------------
# CPU worker (one process per thread count)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(spec["threads"])
    quiet()
    from vreward_train.config import load_config

    steps = spec["warmup_steps"] + spec["steps"]
    overrides = [f"model.path={spec['model']}", f"data.path={spec['data']}", f"output_dir={spec['output_dir']}",
                 f"grpo.max_steps={steps}", "grpo.save_steps=1000000", "grpo.logging_steps=1",
                 f"warmup.steps={spec['sft_steps']}", *MEASURED_STEP, *spec["overrides"]]
    config = load_config("tiny_cpu.yaml", overrides)
    clock = StepClock()
    t = time.perf_counter()
    run_training(config, clock)
    wall = time.perf_counter() - t
    res = clock.results(spec["warmup_steps"])
    res.update(threads=torch.get_num_threads(), sft_steps=spec["sft_steps"], process_wall_s=wall,
               num_generations=config.grpo.num_generations,
               per_device_train_batch_size=config.grpo.per_device_train_batch_size,
               max_completion_length=config.grpo.max_completion_length, beta=config.grpo.beta)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="measured GRPO steps")
    parser.add_argument("--warmup-steps", type=int, default=2, help="GRPO steps run first and not measured")
    parser.add_argument("--threads", default="1,2", help="torch thread counts, one fresh process each")
    parser.add_argument("--sft-steps", type=int, default=100,
                        help="supervised warm-up steps on the answer format before GRPO (once, not measured)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of tiny_cpu.yaml")
    parser.add_argument("--quick", action="store_true", help="3 + 1 steps, one thread, short warm-up")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(Path(args.worker).read_text())
        Path(spec["result"]).write_text(json.dumps(worker(spec), default=float))
        return
    if args.quick:
        args.steps, args.warmup_steps, args.threads, args.sft_steps = 3, 1, "1", 10
    threads = [int(x) for x in args.threads.split(",") if x.strip()]

    quiet()
    from vreward_train.synthetic import make_shapes_dataset
    from vreward_train.tiny import build_tiny_model

    results: dict[str, Any] = {"config": {**vars(args), "threads": threads, "base_config": "tiny_cpu.yaml",
                                          "device": "cpu"}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        model = build_tiny_model(work / "model", family="qwen2vl", seed=0)
        data = make_shapes_dataset(work / "shapes", n_train=16, n_test=0, seed=0)
        results["setup_s"] = time.perf_counter() - t
        for k, n in enumerate(threads):
            # The first process runs the supervised warm-up (train.py's warmed_up); the others start from its copy.
            first = work / "run_0"
            spec = {"threads": n, "steps": args.steps, "warmup_steps": args.warmup_steps,
                    "model": str(first / "warmup" if k and args.sft_steps else model), "data": str(data),
                    "output_dir": str(work / f"run_{k}"), "sft_steps": args.sft_steps if k == 0 else 0,
                    "overrides": args.overrides, "result": str(work / f"result_{k}.json")}
            (work / f"spec_{k}.json").write_text(json.dumps(spec))
            env = {**os.environ, "OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n),
                   "OPENBLAS_NUM_THREADS": str(n), "NUMBA_NUM_THREADS": "1"}
            t = time.perf_counter()
            subprocess.run([python(), str(BENCH_DIR / "bench_train.py"), "--worker", str(work / f"spec_{k}.json")],
                           env=env, check=True, cwd=BENCH_DIR.parent)
            run = json.loads((work / f"result_{k}.json").read_text())
            run["subprocess_s"] = time.perf_counter() - t
            results["runs"].append(run)
            print(f"threads {n}: {run['steps_per_s']:.3f} steps/s, {run['tokens_per_s']:.1f} tokens/s, "
                  f"reward share {run['reward_share']:.4%} ({run['subprocess_s']:.0f} s)", flush=True)

    rows = [[r["threads"], f"{r['steps_per_s']:.3f}", fmt_s(r["step"]["median_s"]), f"{r['tokens_per_s']:.1f}",
             f"{r['mean_completion_tokens']:.1f}", fmt_s(r["reward_per_step"]["median_s"]),
             f"{r['reward_share']:.4%}", "MET" if r["reward_share_met"] else "MISSED"] for r in results["runs"]]
    print_table(rows, ["threads", "steps/s", "step (median)", "gen tokens/s", "tokens/completion",
                       "reward/step (median)", "reward share", "< 0.5 %"])
    path = write_results("train", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
