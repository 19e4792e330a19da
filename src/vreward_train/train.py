"""GRPO training of the families vreward-train trains (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5, InternVL, GLM-4V;
:mod:`vreward_train.families`) with vreward's rewards, on TRL's own ``GRPOTrainer``.

Use::

    from vreward_train.config import load_config
    from vreward_train.train import train
    out_dir = train(load_config("detection_qwen2vl_2b.yaml", ["data.path=data/ViRFT_COCO_base65"]))

:func:`train` builds the dataset (prompts in the model family's coordinate convention), the model (full
fine-tuning, or LoRA adapters through peft), the image-only processor, the rewards in the model's coordinate frame
(the ground truth converted from the data's frame when they differ, never compared across frames), TRL's
``GRPOConfig`` and ``GRPOTrainer``; it saves a checkpoint every ``grpo.save_steps`` steps, resumes from
``resume_from_checkpoint``, evaluates the policy on a held-out split every ``eval.every_steps`` steps
(:mod:`vreward_train.heldout`), writes the final model, the processor, the configuration, every log line
(``log.jsonl``; TRL logs ``rewards/<name>/mean`` per reward, the evaluations ``eval/...``) and the report
(``report/``, :mod:`vreward_train.report`) to ``output_dir``, and returns ``output_dir``.

Requires the ``train`` extra (torch, transformers, trl, accelerate, datasets, peft).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vreward_train.config import ConfigError, TrainConfig, dump_config

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

CONFIG_FILE = "vreward_train_config.yaml"
# Visual-RFT's data (the hub datasets, its JSON files) states boxes in Qwen2-VL's 0-1000.
VISUAL_RFT_FRAME = "qwen2vl"


# ---------------------------------------------------------------------------------------------------------------
# Pieces


def resolve_family(config: TrainConfig) -> str:
    """``model.family``, or the family named by the model's config (``auto``)."""
    from vreward_train.models import model_family

    if config.model.family != "auto":
        return config.model.family
    try:
        return model_family(config.model.path)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"model.path: cannot tell the model family of {config.model.path}: {exc}; set "
                          "model.family to a family vreward-train trains") from None


def solution_frame(config: TrainConfig, family: str) -> str:
    """The frame of the data's ground-truth boxes: ``data.solution_coords``, else the one the source uses
    (COCO k-shot sets are built in the model's frame; Visual-RFT data is in 0-1000)."""
    from vreward_train.models import coordinate_frame

    if config.data.solution_coords is not None:
        return config.data.solution_coords
    if config.data.resolved_format() == "coco":
        return coordinate_frame(family)
    return VISUAL_RFT_FRAME


def load_rows(config: TrainConfig, family: str, min_pixels: int, max_pixels: int) -> datasets.Dataset:
    """The training rows of ``config.data`` (``image``, ``problem``, ``solution``, ``width``, ``height``, ...)."""
    from vreward_train import data as vdata

    d = config.data
    fmt = d.resolved_format()
    if fmt == "coco":
        ds = vdata.build_coco_kshot(d.coco_instances, d.coco_images, k=d.shots or 8,
                                    categories=list(d.categories) if d.categories else None,
                                    frame=solution_frame(config, family), seed=config.grpo.seed,
                                    min_pixels=min_pixels, max_pixels=max_pixels)
    elif fmt == "json":
        ds = vdata.load_json(d.path, image_root=d.image_root)
    else:
        ds = vdata.load_visual_rft(d.path, split=d.split)
    if d.max_samples is not None and len(ds) > d.max_samples:
        ds = ds.select(range(d.max_samples))
    return vdata.add_image_sizes(ds)


def add_prompts(ds: datasets.Dataset, task: str, family: str, mode: str, min_pixels: int,
                max_pixels: int) -> datasets.Dataset:
    """``ds`` with TRL's conversational ``prompt`` column (the image placeholder, then the task's question)."""
    from vreward_train.prompts import make_prompt

    text_columns = [c for c in ("problem", "category", "category_name", "label", "expression", "width", "height")
                    if c in ds.column_names]

    prompts = []
    # Only the text columns are read (no image decoding), and the new column is added in memory: the dataset's
    # own files (possibly read-only, possibly large) are neither rewritten nor given cache files.
    for index, row in enumerate(ds.select_columns(text_columns)):
        try:
            prompts.append(make_prompt(task, row, family, mode, min_pixels, max_pixels))
        except ValueError as exc:
            raise ConfigError(f"data: row {index}: {exc}") from None
    if "prompt" in ds.column_names:
        ds = ds.remove_columns("prompt")
    return ds.add_column("prompt", prompts)


def build_rewards(config: TrainConfig, family: str, min_pixels: int, max_pixels: int) -> tuple[list, list[float]]:
    """The reward functions and weights, the box rewards reading the model's family (its syntax, and its frame as
    ``coords``) with the data's ground truth converted into it (``solution_coords`` = the data's frame)."""
    from vreward.registry import reward_spec

    frames = reward_frames(config, family, min_pixels, max_pixels)
    funcs = []
    for name in config.reward_names():
        spec = reward_spec(name, config.rewards.preset)
        options = dict(config.rewards.options.get(name, {}))
        if spec.frame_aware:
            options.update(frames)
        funcs.append(spec.build(**options))
    return funcs, config.reward_weights()


def reward_frames(config: TrainConfig, family: str, min_pixels: int, max_pixels: int) -> dict[str, Any]:
    """The frame options of the box rewards: ``family`` (how its answers are read: its syntax), ``coords`` (its
    frame), ``solution_coords`` (the data's) and the processor's pixel bounds."""
    from vreward_train.models import coordinate_frame

    return {"family": family, "coords": coordinate_frame(family), "solution_coords": solution_frame(config, family),
            "min_pixels": min_pixels, "max_pixels": max_pixels}


def precision(config: TrainConfig) -> tuple[bool, bool]:
    """(bf16, gradient checkpointing): ``None`` means on with a CUDA device and off on CPU; bf16 is forced off
    without a CUDA device that supports it."""
    import torch

    cuda = torch.cuda.is_available()
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    g = config.grpo
    bf16 = bf16_ok if g.bf16 is None else g.bf16
    if bf16 and not bf16_ok:
        warnings.warn("grpo.bf16 is set but no CUDA device supports bf16 here: training in float32",
                      stacklevel=2)
        bf16 = False
    checkpointing = cuda if g.gradient_checkpointing is None else g.gradient_checkpointing
    return bf16, checkpointing


def grpo_config(config: TrainConfig, reward_weights: list[float]):
    """TRL's ``GRPOConfig`` for ``config``."""
    import dataclasses

    import torch
    from trl import GRPOConfig

    g = config.grpo
    bf16, checkpointing = precision(config)
    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(g.extra) - known)
    if unknown:
        raise ConfigError(f"grpo.extra: {unknown} are not GRPOConfig fields (TRL's)")
    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = dict(
        output_dir=str(config.output_dir),
        learning_rate=g.learning_rate,
        per_device_train_batch_size=g.per_device_train_batch_size,
        gradient_accumulation_steps=g.gradient_accumulation_steps,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        max_steps=g.max_steps,
        num_train_epochs=g.num_train_epochs,
        temperature=g.temperature,
        top_p=g.top_p,
        beta=g.beta,
        logging_steps=g.logging_steps,
        save_strategy="steps",
        save_steps=g.save_steps,
        save_total_limit=g.save_total_limit,
        save_only_model=g.save_only_model,
        seed=g.seed,
        bf16=bf16,
        fp16=False,
        activation_checkpointing=checkpointing,
        gradient_checkpointing=checkpointing,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        vllm_server_host=g.vllm_server_host,
        vllm_server_port=g.vllm_server_port,
        report_to=list(g.report_to) if isinstance(g.report_to, tuple) else g.report_to,
        reward_weights=reward_weights,
        remove_unused_columns=False,  # the rewards read solution, width, height, ...
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
    )
    if checkpointing:
        kwargs["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    kwargs.update(g.extra)
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as exc:  # TRL's own checks, e.g. batch size vs num_generations
        raise ConfigError(f"grpo: TRL rejects these settings: {exc}") from None


def load_policy(config: TrainConfig, bf16: bool, path: str | None = None, for_warmup: bool = False):
    """The model to train (``path``, default ``model.path``), in float32 (or bfloat16 when training in bf16
    unless ``model.dtype`` says otherwise); the vision tower frozen when ``model.freeze_vision``, except
    ``for_warmup`` (the supervised warm-up trains the whole model)."""
    from vreward_train.models import load_model

    dtype = config.model.dtype
    if dtype == "auto":
        dtype = "bfloat16" if bf16 else "float32"
    path = path or config.model.path
    if Path(path).is_dir():  # absolute, so that LoRA adapters and the reference model find it from anywhere
        path = str(Path(path).resolve())
    model = load_model(path, dtype=dtype, attn_implementation=config.model.attn_implementation)
    if config.model.freeze_vision and not for_warmup:
        from vreward_train.families import train_family

        name = train_family(resolve_family(config)).vision_attribute
        visual = getattr(model, name, None) or getattr(getattr(model, "model", None), name, None)
        if visual is None:
            raise ConfigError(f"model.freeze_vision: the model has no vision tower named `{name}`")
        for p in visual.parameters():
            p.requires_grad_(False)
    return model


def lora_config(config: TrainConfig):
    """peft's ``LoraConfig`` from ``config.lora`` (None when LoRA is off)."""
    if not config.lora.enabled:
        return None
    from peft import LoraConfig

    lo = config.lora
    targets = lo.target_modules if isinstance(lo.target_modules, str) else list(lo.target_modules)
    return LoraConfig(r=lo.r, lora_alpha=lo.alpha, lora_dropout=lo.dropout, target_modules=targets,
                      task_type="CAUSAL_LM", bias="none")


def resume_target(config: TrainConfig) -> str | None:
    """The checkpoint to resume from: the path given, or the latest ``checkpoint-N`` in ``output_dir``."""
    from transformers.trainer_utils import get_last_checkpoint

    value = config.resume_from_checkpoint
    if not value:
        return None
    if value is True:
        last = get_last_checkpoint(str(config.output_dir)) if Path(config.output_dir).is_dir() else None
        if last is None:
            raise ConfigError(f"resume_from_checkpoint: no checkpoint-N folder in output_dir {config.output_dir}")
        return last
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Training


WARMUP_DIR = "warmup"
EVAL_DIR = "eval"


@dataclass(frozen=True)
class RunInputs:
    """What a run reads before its trainer exists: the model family, the processor (and its pixel bounds) and
    the training rows with their prompts."""

    family: str
    processor: Any
    rows: datasets.Dataset
    min_pixels: int
    max_pixels: int


def run_inputs(config: TrainConfig) -> RunInputs:
    """The family, processor and prompted training rows of ``config``."""
    from vreward_train.models import load_processor, pixel_bounds

    family = resolve_family(config)
    processor = load_processor(config.model.path, min_pixels=config.model.min_pixels,
                               max_pixels=config.model.max_pixels, family=family)
    warn_if_template_opens_thinking(processor, **config.grpo.extra.get("chat_template_kwargs", {}))
    min_pixels, max_pixels = pixel_bounds(processor)
    ds = load_rows(config, family, min_pixels, max_pixels)
    ds = add_prompts(ds, config.task, family, config.data.prompt, min_pixels, max_pixels)
    return RunInputs(family, processor, ds, min_pixels, max_pixels)


def warn_if_template_opens_thinking(processor, **template_kwargs: Any) -> bool:
    """Warn (and return True) when the chat template's generation prompt, rendered with ``template_kwargs`` (TRL's
    ``chat_template_kwargs``), ends inside an open ``<think>`` block (Qwen3-VL *-Thinking* checkpoints, Qwen3.5
    with thinking on): the completions then lack the opening tag that Visual-RFT's format reward, and the prompts,
    ask the model to write."""
    from jinja2 import TemplateError

    from vreward_train.prompts import conversation

    try:
        text = processor.apply_chat_template(conversation("?", with_image=False), add_generation_prompt=True,
                                             tokenize=False, **template_kwargs)
    except (TemplateError, ValueError, TypeError, KeyError):  # a template that renders no text-only turn
        return False
    if text.rstrip().endswith("<think>"):
        warnings.warn("the chat template opens a <think> block in the generation prompt, so completions start "
                      "inside it and lack the <think> that the format reward requires; use an Instruct "
                      "checkpoint, or a template argument that closes it (grpo.extra.chat_template_kwargs)",
                      stacklevel=2)
        return True
    return False


def build_trainer(config: TrainConfig, callbacks: Sequence[Any] = (), compact_logs: bool = False,
                  inputs: RunInputs | None = None):
    """The ``GRPOTrainer`` for ``config`` (with everything it needs), without training.

    ``compact_logs`` replaces transformers' progress bar / raw log printing by
    :class:`~vreward_train.callbacks.StepPrinter` (a bar with the loss and each reward's mean, a line per held-out
    evaluation). With ``eval.every_steps``, a
    :class:`~vreward_train.callbacks.HeldOutEvalCallback` evaluates the policy on the held-out split (results
    in ``output_dir/eval``). ``inputs``: :func:`run_inputs` of ``config``, when already read.
    """
    from trl import GRPOTrainer

    from vreward_train.callbacks import JsonlLogger, StepPrinter, held_out_eval_callback
    from vreward_train.heldout import HeldOutEvaluator

    inputs = inputs or run_inputs(config)
    funcs, weights = build_rewards(config, inputs.family, inputs.min_pixels, inputs.max_pixels)
    args = grpo_config(config, weights)
    model = load_policy(config, args.bf16, warmed_up(config, inputs, args))
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=inputs.rows,
                          processing_class=inputs.processor, peft_config=lora_config(config),
                          callbacks=[JsonlLogger(), *callbacks])
    if compact_logs:
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(StepPrinter([f.__name__ for f in funcs]))
    if config.eval.every_steps:  # after the printer, which shows the evaluations as they are logged
        evaluator = HeldOutEvaluator.from_config(config, inputs.processor, inputs.family,
                                                 Path(config.output_dir) / EVAL_DIR)
        trainer.add_callback(held_out_eval_callback(trainer, evaluator, config.eval.every_steps,
                                                    config.eval.at_start))
    return trainer


def warmed_up(config: TrainConfig, inputs: RunInputs, args) -> str:
    """The model path GRPO starts from: ``model.path``, or with ``warmup.steps`` the warmed-up copy saved in
    ``output_dir/warmup`` (made once; a resumed run reuses it). Starting from the saved copy makes it TRL's
    reference model too."""
    if not config.warmup.steps:
        return config.model.path
    import torch.distributed as dist

    target = Path(config.output_dir) / WARMUP_DIR
    if not (target / "config.json").is_file():
        if args.process_index == 0:
            warm_start(config, inputs, target, args.bf16)
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
    return str(target)


def warm_start(config: TrainConfig, inputs: RunInputs, target: Path, bf16: bool = False) -> list[float]:
    """Run the supervised warm-up of ``config.warmup`` on ``model.path`` and save the model and processor to
    ``target``; returns the losses."""
    from vreward_train.warmup import supervised_warmup

    model = load_policy(config, bf16, for_warmup=True)
    losses = supervised_warmup(model, inputs.processor, inputs.rows, config.task, config.warmup,
                               seed=config.grpo.seed, family=inputs.family,
                               solution_coords=solution_frame(config, inputs.family))
    logger.info("supervised warm-up: %d steps, loss %.3f -> %.3f", len(losses), losses[0], losses[-1])
    model.save_pretrained(target)
    inputs.processor.save_pretrained(target)
    return losses


def train(config: TrainConfig, callbacks: Sequence[Any] = (), compact_logs: bool = False) -> Path:
    """Train with GRPO as ``config`` says; returns ``config.output_dir`` (final model, processor, config, logs).

    ``callbacks`` are extra ``TrainerCallback`` objects; ``compact_logs``: see :func:`build_trainer`.
    """
    resume = resume_target(config)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = run_inputs(config)
    trainer = build_trainer(config, callbacks, compact_logs, inputs)
    if trainer.is_world_process_zero():
        (out / CONFIG_FILE).write_text(dump_config(config), encoding="utf-8")
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(str(out / "trainer_state.json"))
        if config.report:
            write_report(config, inputs)
    return out


REPORT_DIR = "report"


def write_report(config: TrainConfig, inputs: RunInputs) -> Path | None:
    """The run's report (:mod:`vreward_train.report`) in ``output_dir/report``; None, with a warning, when
    matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError:
        warnings.warn("no report: it needs matplotlib (pip install 'vreward[eval]')", stacklevel=2)
        return None
    from vreward_train.report import write_training_report

    frames = reward_frames(config, inputs.family, inputs.min_pixels, inputs.max_pixels)
    return write_training_report(config.output_dir, frames if config.task != "classification" else None,
                                 Path(config.output_dir) / REPORT_DIR)


def environment_summary() -> dict[str, Any]:
    """Versions and devices (printed by the CLI before training)."""
    import torch

    import vreward

    info: dict[str, Any] = {"vreward": vreward.__version__, "torch": torch.__version__,
                            "cuda": torch.cuda.is_available(), "threads": torch.get_num_threads(),
                            "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    for name in ("transformers", "trl", "accelerate", "peft", "datasets"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    return info
