"""The supervised warm-up of tiny random models: teacher forcing on a short thought plus each row's answer.

GRPO learns from reward differences within a group of completions, and a random model never writes a rewarded
answer. :func:`supervised_warmup` trains on ``<think>…</think> <answer>…</answer>`` targets (the loss covers the
answer tokens only) so that GRPO has something to improve: a few steps teach the format, a few hundred with the
demo's model (``vreward_train.tiny``, size ``"demo"``) a rough localization. The targets are written as the
model's family answers (:func:`warmup_target`: Visual-RFT's lists for the Qwen2 lines, the family's own syntax
for Qwen3-VL, InternVL, GLM, ...). Serves ``warmup:`` of ``vreward-train train`` (:func:`vreward_train.train.
warm_start`) and the demo. Deterministic in its seed.

Requires the ``train`` extra (torch, transformers, datasets).
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from vreward.progress import progress_bar
from vreward_train.config import WarmupSection
from vreward_train.train import VISUAL_RFT_FRAME

if TYPE_CHECKING:
    import datasets

WARMUP_THOUGHT = {"detection": "I look for the category.", "grounding": "I look for the object.",
                  "classification": "I look at the object."}
MAX_GRAD_NORM = 1.0
ONE_CYCLE_RISE = 0.1  # share of the steps over which a one-cycle schedule rises to the peak learning rate


def answer_text(solution: str, task: str) -> str:
    """The target of the warm-up in Visual-RFT's syntax: a short thought, then the row's answer in tags."""
    body = solution.strip()
    if "<answer>" not in body:
        body = f"<answer>{body}</answer>"
    return f"<think>{WARMUP_THOUGHT[task]}</think> {body}"


def warmup_target(row: dict[str, Any], task: str, family: str | None = None, solution_coords: str = VISUAL_RFT_FRAME,
                  min_pixels: int | None = None, max_pixels: int | None = None) -> str:
    """The warm-up target of a row: :func:`answer_text` of its solution, or for a family answering in its own
    syntax (``vreward_train.prompts.native_answers``) the row's boxes written that way
    (``vreward_train.prompts.native_answer``, from the solution's frame ``solution_coords``), in the same tags."""
    from vreward_train.prompts import native_answer, native_answers

    if family is None or task == "classification" or not native_answers(family):
        return answer_text(row["solution"], task)
    bounds = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    body = native_answer(task, row, family, solution_coords, **bounds)
    return f"<think>{WARMUP_THOUGHT[task]}</think> <answer>{body}</answer>"


def learning_rate_factor(step: int, steps: int, schedule: str) -> float:
    """The multiplier of the peak learning rate at ``step`` (0-based) of ``steps``."""
    if schedule == "constant":
        return 1.0
    rise = max(1, round(steps * ONE_CYCLE_RISE))
    if step < rise:
        return (step + 1) / rise
    progress = (step - rise) / max(1, steps - rise)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def supervised_warmup(model, processor, ds: datasets.Dataset, task: str, settings: WarmupSection, seed: int = 0,
                      family: str | None = None, solution_coords: str = VISUAL_RFT_FRAME,
                      progress: bool = True) -> list[float]:
    """``settings.steps`` AdamW steps of teacher forcing on (prompt, :func:`warmup_target`) pairs of ``ds`` (rows
    with ``prompt``, ``image``, ``solution``, ``width`` and ``height``), in a seeded order, with
    ``settings.schedule``'s learning rate and gradients clipped to :data:`MAX_GRAD_NORM`; returns the losses.
    ``family`` / ``solution_coords``: the model's family and the data's frame, for families whose targets are
    written in their own syntax. ``progress``: a bar on a terminal, else a line per tenth of the steps."""
    import torch

    from vreward_train.models import pixel_bounds

    if settings.steps <= 0:
        return []
    tokenizer = processor.tokenizer
    end = tokenizer.eos_token or ""
    target = {"family": family, "solution_coords": solution_coords,
              **dict(zip(("min_pixels", "max_pixels"), pixel_bounds(processor)))}
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, settings.steps, settings.schedule))
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    losses: list[float] = []
    order: list[int] = []
    bar = progress_bar(progress, desc="warm-up", unit=" steps", total=settings.steps, lines=True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(settings.steps):
                while len(order) < settings.batch_size:
                    more = list(range(len(ds)))
                    rng.shuffle(more)
                    order += more
                rows = [ds[i] for i in order[:settings.batch_size]]
                del order[:settings.batch_size]
                answers = [warmup_target(r, task, **target) + end for r in rows]
                inputs, labels = _teacher_forcing_batch(processor, rows, answers)
                out = model(**{k: v.to(device) for k, v in inputs.items()}, labels=labels.to(device))
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(float(out.loss.detach()))
                bar.set_postfix_str(f"loss {losses[-1]:.3f}")
                bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    return losses


def _teacher_forcing_batch(processor, rows: list[dict], answers: list[str]):
    """The processor's inputs for each row's prompt + its answer (right-padded) and labels that cover the answer
    tokens only (prompt lengths come from the prompts alone)."""
    tokenizer = processor.tokenizer
    prompts = [processor.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows]
    images = [[r["image"].convert("RGB")] for r in rows]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        full = processor(text=[p + a for p, a in zip(prompts, answers)], images=images, return_tensors="pt",
                         padding=True)
        prompt_only = processor(text=prompts, images=images, return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = old_side
    labels = full["input_ids"].clone()
    labels[full["attention_mask"] == 0] = -100
    for i, n in enumerate(prompt_only["attention_mask"].sum(dim=1).tolist()):
        labels[i, :n] = -100
    return full, labels
