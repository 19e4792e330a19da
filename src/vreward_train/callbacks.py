"""Trainer callbacks of vreward-train: ``log.jsonl``, the one-line step printer, periodic held-out evaluation.

:func:`held_out_eval_callback` evaluates the current policy every ``eval.every_steps`` optimizer steps (and before
the first with ``eval.at_start``, and after the last) with :class:`vreward_train.heldout.HeldOutEvaluator`, and
logs ``eval/<reward>/mean``, ``eval/ap50``, ... through the trainer's own ``log``, so ``log.jsonl``, TensorBoard
and W&B receive them as separate entries at that step.

Requires the ``train`` extra.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from vreward.progress import progress_bar
from vreward_train.heldout import HeldOutEvaluator, HeldOutResult
from vreward_train.report import LOG_FILE


def plain(value: Any) -> Any:
    """A log value as JSON can hold it: tensors and numpy scalars as numbers, non-finite floats as None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonlLogger(TrainerCallback):
    """Appends every log entry (step, loss, rewards/<name>/mean, eval/..., ...) to ``output_dir/log.jsonl``."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, **{k: plain(v) for k, v in logs.items()}}
        with open(Path(args.output_dir) / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


class StepPrinter(TrainerCallback):
    """The progress of training: a bar over the steps (:func:`vreward.progress.progress_bar`; in a log, a line per
    tenth of the steps) showing the last logged loss and reward means, and one line per held-out evaluation."""

    def __init__(self, names: list[str]):
        self.names = names
        self.bar: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress_bar(True, desc="GRPO", unit=" steps", total=state.max_steps, lines=True)
            self.bar.update(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or self.bar is None:
            return
        if "loss" in logs:
            rewards = "  ".join(f"{n} {_number(logs.get(f'rewards/{n}/mean'))}" for n in self.names)
            self.bar.set_postfix_str(f"loss {logs['loss']:+.4f}  {rewards}")
            self.bar.update(state.global_step - self.bar.n)
        elif any(key.startswith("eval/") for key in logs):
            shown = [f"{n} {_number(logs.get(f'eval/{n}/mean'))}" for n in self.names]
            shown += [f"{k} {_number(logs.get(f'eval/{k}'))}" for k in ("ap", "ap50") if f"eval/{k}" in logs]
            self.bar.write(f"held-out at step {state.global_step:>4}/{state.max_steps}  " + "  ".join(shown))

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


class HeldOutEvalCallback(TrainerCallback):
    """Runs ``evaluator`` on the policy at step 0 (``at_start``), every ``every_steps`` steps and after the last
    step; hands each result's metrics to ``log`` and keeps the results (``results``)."""

    def __init__(self, evaluator: HeldOutEvaluator, every_steps: int, log: Callable[[dict[str, float]], None],
                 at_start: bool = True):
        if every_steps < 1:
            raise ValueError(f"every_steps must be at least 1, got {every_steps}")
        self.evaluator = evaluator
        self.every_steps = every_steps
        self.at_start = at_start
        self.log = log
        self.results: list[HeldOutResult] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.at_start and state.global_step == 0:
            self._evaluate(model, state, control)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.every_steps == 0 or state.global_step >= state.max_steps:
            self._evaluate(model, state, control)

    def _evaluate(self, model, state, control) -> None:
        if self.results and self.results[-1].step == state.global_step:
            return
        result = self.evaluator.evaluate(model, state.global_step)
        self.results.append(result)
        if state.is_world_process_zero:
            should_log = control.should_log  # logging resets it; the step's own training log is still due
            self.log(result.log_metrics())
            control.should_log = should_log


def held_out_eval_callback(trainer: Trainer, evaluator: HeldOutEvaluator, every_steps: int,
                           at_start: bool = True) -> HeldOutEvalCallback:
    """A :class:`HeldOutEvalCallback` logging through ``transformers.Trainer.log`` of ``trainer``: an entry of
    its own in the trainer's log history and in every reporting callback (log.jsonl, TensorBoard, W&B). The base
    class's ``log`` is called, not ``GRPOTrainer.log``, which would take the step's pending training metrics
    into the evaluation's entry."""
    return HeldOutEvalCallback(evaluator, every_steps, lambda metrics: Trainer.log(trainer, dict(metrics)),
                               at_start=at_start)
