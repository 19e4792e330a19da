"""The training configuration: one validated, frozen :class:`TrainConfig`, read from a YAML/JSON file plus
command-line overrides.

>>> cfg = TrainConfig.model_validate({"model": {"path": "Qwen/Qwen2-VL-2B-Instruct"},
...                                   "data": {"path": "."}, "output_dir": "runs/x"})
>>> cfg.task, cfg.reward_names(), cfg.grpo.num_generations
('detection', ['iou', 'confidence', 'format'], 8)
>>> apply_overrides({"grpo": {"beta": 0.04}}, ["grpo.beta=0", "lora.enabled=true"])
{'grpo': {'beta': 0}, 'lora': {'enabled': True}}

Overrides are ``dotted.key=value`` with the value read as YAML (``1e-5``, ``true``, ``null``, ``[q_proj, v_proj]``).
A bad value fails with a :class:`ConfigError` naming the field and the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vreward.registry import PRESET_NAMES, TASK_NAMES, build_reward, task_spec
from vreward.rewards.settings import Frame, FrameSettings
from vreward_train.families import trainable_family
from vreward_train.prompts import TEMPLATES

# The tasks of vreward.registry.TASKS that have a training prompt.
Task = Literal[tuple(name for name in TASK_NAMES if name in TEMPLATES)]  # type: ignore[valid-type]
# Reward options fixed by the training code: the frames follow the model family and the data, the pixel bounds
# the processor's, so that rewards are never computed across frames.
FRAME_OPTIONS = tuple(FrameSettings.model_fields.keys() - {"name", "require_answer_tag"})


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelSection(_Section):
    """The policy model and its image processor."""

    path: str = Field(description="local checkpoint directory or Hub model id")
    family: str = Field("auto", description="a model family vreward-train trains (qwen2vl, qwen25vl, qwen3vl, "
                        "qwen35, internvl, glm4v), by name, model_type or Hub id; auto reads the model's config")
    min_pixels: int | None = Field(None, gt=0, description="processor min_pixels, also the rewards' (None: the "
                                   "checkpoint's)")
    max_pixels: int | None = Field(None, gt=0, description="processor max_pixels, also the rewards' (None: the "
                                   "checkpoint's; Visual-RFT used 401408)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype; auto: bfloat16 when training in bf16, else float32")
    attn_implementation: str | None = Field(None, description="eager, sdpa, flash_attention_2 (None: default)")
    freeze_vision: bool = Field(False, description="full fine-tuning: keep the vision tower frozen in GRPO (the "
                                "supervised warm-up trains it)")

    @field_validator("family")
    @classmethod
    def _family(cls, value: str) -> str:
        return value if value == "auto" else trainable_family(value)

    @model_validator(mode="after")
    def _pixels(self) -> ModelSection:
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})")
        return self


class DataSection(_Section):
    """Where the training rows come from: a saved DatasetDict, a JSON/JSONL file, or COCO k-shot."""

    format: Literal["auto", "dataset", "json", "coco"] = Field(
        "auto", description="auto: coco when coco_instances is set, dataset for a directory, json for a file")
    path: Path | None = Field(None, description="DatasetDict directory (save_to_disk) or JSON/JSONL file")
    split: str = Field("train", description="split of a DatasetDict")
    image_root: Path | None = Field(None, description="JSON/JSONL: folder that relative image paths start from")
    coco_instances: Path | None = Field(None, description="COCO instances JSON (k-shot detection)")
    coco_images: Path | None = Field(None, description="COCO images folder")
    shots: int | None = Field(None, ge=1, description="COCO k-shot: images per category")
    categories: tuple[str, ...] | None = Field(None, description="COCO k-shot: category names (None: all)")
    solution_coords: Frame | None = Field(
        None, description="frame of the ground-truth boxes; None: the data's own (Visual-RFT and COCO k-shot "
        "data are in Qwen2-VL's 0-1000)")
    max_samples: int | None = Field(None, ge=1, description="keep the first N rows (quick runs)")
    prompt: Literal["template", "problem"] = Field(
        "template", description="template: the task's Visual-RFT prompt in the model's coordinate convention, "
        "built from the row; problem: the row's `problem` text as given")

    @model_validator(mode="after")
    def _source(self) -> DataSection:
        fmt = self.resolved_format()
        if fmt == "coco":
            for name in ("coco_instances", "coco_images"):
                if getattr(self, name) is None:
                    raise ValueError(f"format 'coco' needs {name}")
        elif self.path is None:
            raise ValueError("give path (a DatasetDict directory or a JSON/JSONL file) or coco_instances")
        for name in ("path", "image_root", "coco_instances", "coco_images"):
            value = getattr(self, name)
            if value is not None and not Path(value).exists():
                raise ValueError(f"{name}: {value} does not exist")
        return self

    def resolved_format(self) -> str:
        if self.format != "auto":
            return self.format
        if self.coco_instances is not None:
            return "coco"
        if self.path is not None and Path(self.path).is_dir():
            return "dataset"
        return "json"


class RewardsSection(_Section):
    """Which rewards, their definitions, weights and options (defaults: the task's reward set, weight 1)."""

    preset: Literal[PRESET_NAMES] = Field(  # type: ignore[valid-type]
        "default", description="default: vreward's hack-resistant definitions; visual_rft: the paper's, exactly")
    names: tuple[str, ...] | None = Field(None, description="subset of the task's rewards (None: all of them)")
    weights: dict[str, float] = Field(default_factory=dict, description="weight by reward name")
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="factory options by reward name, e.g. {iou: {threshold: 0.75}}")


class GRPOSection(_Section):
    """TRL GRPOConfig settings; ``extra`` passes any other GRPOConfig field through."""

    learning_rate: float = Field(1e-6, gt=0)
    per_device_train_batch_size: int = Field(8, ge=1, description="completions per device and step")
    gradient_accumulation_steps: int = Field(1, ge=1)
    num_generations: int = Field(8, ge=2, description="completions per prompt (the GRPO group)")
    max_completion_length: int = Field(1024, ge=1)
    max_steps: int = Field(-1, description="optimizer steps; -1: num_train_epochs decides")
    num_train_epochs: float = Field(1.0, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.04, ge=0, description="KL coefficient (0: no reference model)")
    logging_steps: int = Field(1, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int | None = Field(None, ge=1)
    save_only_model: bool = False
    seed: int = 42
    bf16: bool | None = Field(None, description="None: on when a CUDA device supports it; forced off without one")
    gradient_checkpointing: bool | None = Field(None, description="None: on with a CUDA device, off on CPU")
    use_vllm: bool = False
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    report_to: str | tuple[str, ...] = Field("none", description="none, tensorboard, wandb, ...")
    extra: dict[str, Any] = Field(default_factory=dict, description="other GRPOConfig fields, passed as given")

    @model_validator(mode="after")
    def _batch(self) -> GRPOSection:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be positive or -1 (use num_train_epochs), got {self.max_steps}")
        clash = sorted(set(self.extra) & set(type(self).model_fields))
        if clash:
            raise ValueError(f"extra sets {clash}, which are fields of this section: set them directly")
        return self


class LoraSection(_Section):
    """LoRA adapters (peft) instead of full fine-tuning."""

    enabled: bool = False
    r: int = Field(64, ge=1)
    alpha: int = Field(128, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    # The language model's attention projections: Qwen2-VL / Qwen2.5-VL vision blocks name theirs qkv / proj.
    target_modules: tuple[str, ...] | str = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj"), description="module names, or one regex / 'all-linear'")


class WarmupSection(_Section):
    """Supervised steps on the training answers before GRPO (off by default; Visual-RFT uses none).

    Only for tiny random models (tests, the CPU demo): GRPO learns from reward differences within a group, and a
    random model never writes a rewarded answer. Teacher forcing on ``<think>…</think>`` plus the row's solution
    makes its samples well-formed (a few steps) and, given enough steps and a model big enough, makes it localize
    roughly (the demo), so rewards vary within a group and the policy gradient is not zero.
    """

    steps: int = Field(0, ge=0)
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(4, ge=1)
    schedule: Literal["constant", "one_cycle"] = Field(
        "constant", description="learning rate: constant, or one cycle (10 % linear rise, cosine decay to ~0)")


class EvalSection(_Section):
    """Held-out evaluation during training: greedy generation with the current policy on a held-out split, scored
    by vreward (each reward's mean and the reasons of its zeros, COCO AP / AP50 for detection), logged with the
    training metrics as ``eval/<reward>/mean``, ``eval/ap``, ``eval/ap50``, ..."""

    every_steps: int = Field(0, ge=0, description="evaluate every N optimizer steps and after the last (0: off)")
    at_start: bool = Field(True, description="with every_steps, also evaluate before the first step (step 0)")
    path: Path | None = Field(None, description="held-out data (DatasetDict directory or JSON/JSONL file); "
                              "None: data.path")
    split: str = Field("test", description="split of a DatasetDict")
    max_samples: int | None = Field(None, ge=1, description="evaluate on the first N rows")
    batch_size: int = Field(32, ge=1, description="rows per generation batch")
    max_new_tokens: int | None = Field(None, ge=1, description="None: grpo.max_completion_length")
    coco_gt: Path | None = Field(None, description="detection: COCO instances JSON of the split, for AP; None: "
                                 "instances_<split>.json beside a DatasetDict when it exists")

    @model_validator(mode="after")
    def _paths(self) -> EvalSection:
        for name in ("path", "coco_gt"):
            value = getattr(self, name)
            if value is not None and not Path(value).exists():
                raise ValueError(f"{name}: {value} does not exist")
        return self


class TrainConfig(_Section):
    """Everything ``vreward-train train`` needs."""

    task: Task = "detection"
    model: ModelSection
    data: DataSection
    rewards: RewardsSection = RewardsSection()
    grpo: GRPOSection = GRPOSection()
    lora: LoraSection = LoraSection()
    warmup: WarmupSection = WarmupSection()
    eval: EvalSection = EvalSection()
    output_dir: Path = Field(description="checkpoints, logs and the final model")
    report: bool = Field(True, description="write output_dir/report/report.html (curves, held-out gallery) at the "
                         "end; needs matplotlib")
    resume_from_checkpoint: bool | str | None = Field(
        None, description="true: the latest checkpoint in output_dir; a path: that checkpoint")

    @field_validator("resume_from_checkpoint")
    @classmethod
    def _resume(cls, value: bool | str | None) -> bool | str | None:
        if isinstance(value, str) and not Path(value).is_dir():
            raise ValueError(f"checkpoint {value} is not a directory")
        return value or None

    @model_validator(mode="after")
    def _rewards(self) -> TrainConfig:
        task_names = list(task_spec(self.task).reward_names)
        names = self.reward_names()
        for label, given in (("rewards.names", names), ("rewards.weights", self.rewards.weights),
                             ("rewards.options", self.rewards.options)):
            unknown = sorted(set(given) - set(task_names))
            if unknown:
                raise ValueError(f"{label}: {unknown} do not apply to task {self.task!r}, whose rewards are "
                                 f"{task_names}")
        if not names:
            raise ValueError("rewards.names: give at least one reward")
        for name, options in self.rewards.options.items():
            fixed = sorted(set(options) & set(FRAME_OPTIONS))
            if fixed:
                raise ValueError(f"rewards.options.{name}: {fixed} follow model.family, model.min_pixels/"
                                 "max_pixels and data.solution_coords; set them there")
            try:
                build_reward(name, preset=self.rewards.preset, **options)
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise ValueError(f"rewards.options.{name}.{loc}: {err['msg']}") from None
        return self

    def reward_names(self) -> list[str]:
        """The rewards trained with, in the task's order."""
        if self.rewards.names is not None:
            return list(dict.fromkeys(self.rewards.names))
        return list(task_spec(self.task).reward_names)

    def reward_weights(self) -> list[float]:
        defaults = task_spec(self.task).weights
        return [float(self.rewards.weights.get(name, defaults[name])) for name in self.reward_names()]


# ---------------------------------------------------------------------------------------------------------------
# Reading files and overrides


def bundled_configs() -> dict[str, Path]:
    """The configuration files shipped with the package, by file name."""
    root = resources.files("vreward_train") / "configs"
    out: dict[str, Path] = {}
    for sub in ("", "accelerate"):
        folder = root / sub if sub else root
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.name.endswith((".yaml", ".yml", ".json")):
                out[f"{sub}/{item.name}" if sub else item.name] = Path(str(item))
    return out


def resolve_config_path(name: str | Path) -> Path:
    """``name`` as a file, else a bundled configuration of that name (with or without ``.yaml``)."""
    path = Path(name)
    if path.exists():
        return path
    bundled = bundled_configs()
    for key in (str(name), f"{name}.yaml"):
        if key in bundled:
            return bundled[key]
    raise ConfigError(f"{name}: no such file, and no bundled config of that name (bundled: "
                      f"{', '.join(k for k in bundled if '/' not in k)})")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    import yaml

    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def parse_value(text: str) -> Any:
    """A command-line value read as YAML: numbers, booleans, null, lists; anything else stays a string."""
    import yaml

    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            return value
    return value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``data`` with each ``dotted.key=value`` set (a new nested dict; ``data`` is left as it was)."""
    out = json.loads(json.dumps(data, default=str))
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. grpo.learning_rate=1e-5")
        _check_key(key)
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:i + 1])} is not a section")
            node = child
        node[parts[-1]] = parse_value(value)
    return out


def _check_key(key: str) -> None:
    """Reject a misspelled key early, with a suggestion for a field named without its section."""
    parts = key.split(".")
    model: type[BaseModel] | None = TrainConfig
    for i, part in enumerate(parts):
        if model is None:
            return  # inside a free-form mapping (weights, options, extra)
        fields = model.model_fields
        if part not in fields:
            hint = ""
            if i == 0:
                owners = [f"{name}.{part}" for name, f in fields.items()
                          if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
                          and part in f.annotation.model_fields]
                hint = f"; did you mean {' or '.join(owners)}?" if owners else ""
            raise ConfigError(f"--set {key}: unknown setting {'.'.join(parts[:i + 1])!r}{hint}")
        ann = fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        lines.append(f"  {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = (),
                base: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read ``path`` (YAML or JSON; a bundled config's name works too), apply ``overrides``, validate.

    ``base`` holds settings under the file's (defaults from code, e.g. the demo's).
    """
    data: dict[str, Any] = json.loads(json.dumps(dict(base or {}), default=str))
    source = "command line"
    if path is not None:
        resolved = resolve_config_path(path)
        source = str(resolved)
        _merge(data, read_config_file(resolved))
    overrides = list(overrides)
    data = apply_overrides(data, overrides)
    if overrides:
        source += " (with --set " + " ".join(overrides) + ")"
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def dump_config(config: TrainConfig) -> str:
    """The configuration as YAML (what a run saves beside its checkpoints)."""
    import yaml

    return yaml.safe_dump(json.loads(config.model_dump_json()), sort_keys=False)
