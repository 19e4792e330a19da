"""``vreward-train``: GRPO training of Qwen2-VL / 2.5-VL / 3-VL, Qwen3.5, InternVL and GLM-4V with vreward's
rewards, generation, and a CPU demo.

    vreward-train train CONFIG [--set key=value ...] [--model PATH] [--data PATH] [--output-dir DIR] ...
    vreward-train generate MODEL DATA --split test --output out.jsonl
    vreward-train tiny-model DIR --family qwen2vl|qwen25vl|qwen3vl|qwen35|internvl|glm4v [--size tiny|demo]
    vreward-train demo [DIR] [--seed N] [--steps N] [--set key=value ...]
    vreward-train configs [NAME] [--path]

Multi-GPU: ``accelerate launch --config_file ACCELERATE.yaml -m vreward_train.cli train CONFIG``. A bad
configuration exits with status 2 and a message naming the field (and the file).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vreward.frames import FRAME_NAMES
from vreward_train.demo import DemoData
from vreward_train.families import TRAINABLE_FAMILIES
from vreward_train.prompts import TEMPLATES
from vreward_train.tiny import TINY_SIZES

TRAIN_MODULES = {"torch", "transformers", "trl", "accelerate", "datasets", "peft", "PIL", "yaml", "tokenizers"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vreward-train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train with GRPO from a YAML/JSON config",
                       description="Train with TRL's GRPOTrainer. CONFIG is a YAML/JSON file or the name of a "
                       "bundled config (vreward-train configs). --set key=value overrides any setting (dotted "
                       "keys, YAML values: grpo.learning_rate=1e-5, lora.enabled=true, rewards.weights.format=0.5).")
    t.add_argument("config", help="YAML/JSON file, or a bundled config's name")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting (repeatable)")
    t.add_argument("--task", choices=tuple(TEMPLATES))
    t.add_argument("--model", help="model.path: checkpoint directory or Hub id")
    t.add_argument("--family", help=f"model.family: {' or '.join(TRAINABLE_FAMILIES)} (default: read from the "
                   "checkpoint)")
    t.add_argument("--data", help="data.path: DatasetDict directory or JSON/JSONL file")
    t.add_argument("--split", help="data.split")
    t.add_argument("--output-dir", help="output_dir")
    t.add_argument("--max-steps", type=int, help="grpo.max_steps")
    t.add_argument("--learning-rate", type=float, help="grpo.learning_rate")
    t.add_argument("--seed", type=int, help="grpo.seed")
    t.add_argument("--lora", action="store_true", help="lora.enabled=true")
    t.add_argument("--use-vllm", action="store_true", help="grpo.use_vllm=true (see --vllm-mode)")
    t.add_argument("--vllm-mode", choices=("colocate", "server"), help="grpo.vllm_mode")
    t.add_argument("--resume", nargs="?", const="true", metavar="CHECKPOINT",
                   help="resume from CHECKPOINT, or without a value from the latest checkpoint in output_dir")
    t.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")

    g = sub.add_parser("generate", help="generate completions over a dataset split (JSONL for vreward score)")
    g.add_argument("model", help="checkpoint directory (a training output_dir, LoRA adapters included) or Hub id")
    g.add_argument("data", help="DatasetDict directory or JSON/JSONL file")
    g.add_argument("--split", default="test")
    g.add_argument("--output", required=True, type=Path, help="JSONL file to write")
    g.add_argument("--task", choices=tuple(TEMPLATES), default="detection")
    g.add_argument("--prompt", choices=("template", "problem"), default="template",
                   help="template: the task's prompt in the model's coordinate convention; problem: the row's text")
    g.add_argument("--max-new-tokens", type=int, default=512)
    g.add_argument("--batch-size", type=int, default=8)
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--max-samples", type=int)
    g.add_argument("--min-pixels", type=int)
    g.add_argument("--max-pixels", type=int)
    g.add_argument("--solution-coords", choices=FRAME_NAMES, default="qwen2vl", help="frame of the data's ground truth")
    g.add_argument("--image-root", type=Path, help="JSON/JSONL: folder of relative image paths")
    g.add_argument("--save-images", action="store_true", help="save images that are not files, for the report")
    g.add_argument("--seed", type=int, default=0)

    m = sub.add_parser("tiny-model", help="write a tiny random checkpoint of a trained family (tests, dry runs)")
    m.add_argument("dir", type=Path)
    m.add_argument("--family", choices=TRAINABLE_FAMILIES, default="qwen2vl")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--size", choices=tuple(TINY_SIZES), default="tiny", help="tiny: tests; demo: learns to localize")

    d = sub.add_parser("demo", help="the whole loop on CPU: supervised warm-up, GRPO, held-out before / after",
                       description="Draw shapes, build a small random model and teach it to localize small shapes "
                       "(supervised warm-up, cached), then train it with GRPO and vreward's rewards on larger "
                       "shapes, evaluating a held-out set before and during GRPO; prints the held-out metrics "
                       "before and after GRPO and writes learning.json and the report. Settings: tiny_cpu.yaml.")
    d.add_argument("dir", nargs="?", type=Path, default=Path("vreward_train_demo"),
                   help="working folder (default: ./vreward_train_demo)")
    d.add_argument("--family", choices=TRAINABLE_FAMILIES, default="qwen2vl")
    d.add_argument("--seed", type=int, default=0, help="seed of the model, the drawings, the warm-up and GRPO")
    d.add_argument("--steps", type=int, help="GRPO steps (default: grpo.max_steps of tiny_cpu.yaml)")
    d.add_argument("--size", choices=tuple(TINY_SIZES), help="model size (default: demo for qwen2vl and qwen25vl, "
                   "tiny for the other families; tiny: seconds, learns little)")
    d.add_argument("--warmup-images", type=int, default=DemoData.warmup_images)
    d.add_argument("--train-images", type=int, default=DemoData.train_images)
    d.add_argument("--test-images", type=int, default=DemoData.test_images)
    d.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of tiny_cpu.yaml (e.g. warmup.steps=300)")
    d.add_argument("--cache-dir", type=Path, help="where the data and warm-up are cached (default: "
                   "$VREWARD_CACHE_DIR, else ~/.cache/vreward)")
    d.add_argument("--no-cache", action="store_true", help="make the data and the warm-up afresh, in DIR")

    c = sub.add_parser("configs", help="list the bundled configs, or print one")
    c.add_argument("name", nargs="?", help="a bundled config (e.g. detection_qwen2vl_2b.yaml, accelerate/zero3.yaml)")
    c.add_argument("--path", action="store_true", help="print the file's path instead of its text")
    return parser


def _train_overrides(args: argparse.Namespace) -> list[str]:
    flags = [("task", args.task), ("model.path", args.model), ("model.family", args.family),
             ("data.path", args.data), ("data.split", args.split), ("output_dir", args.output_dir),
             ("grpo.max_steps", args.max_steps), ("grpo.learning_rate", args.learning_rate),
             ("grpo.seed", args.seed), ("grpo.vllm_mode", args.vllm_mode), ("resume_from_checkpoint", args.resume)]
    out = [f"{key}={value}" for key, value in flags if value is not None]
    if args.lora:
        out.append("lora.enabled=true")
    if args.use_vllm:
        out.append("grpo.use_vllm=true")
    return list(args.overrides) + out


def _cmd_train(args: argparse.Namespace) -> int:
    from vreward_train.config import dump_config, load_config

    config = load_config(args.config, _train_overrides(args))
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    from vreward_train.train import environment_summary, train

    print("vreward-train:", ", ".join(f"{k} {v}" for k, v in environment_summary().items()), file=sys.stderr)
    out = train(config)
    print(f"trained model, checkpoints and log.jsonl in {out}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from vreward_train.generate import generate

    info = generate(args.model, args.data, split=args.split, output_jsonl=args.output,
                    max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, task=args.task,
                    prompt=args.prompt, do_sample=args.sample, temperature=args.temperature,
                    max_samples=args.max_samples, min_pixels=args.min_pixels, max_pixels=args.max_pixels,
                    solution_coords=args.solution_coords, image_root=args.image_root,
                    save_images=args.save_images, seed=args.seed, progress=True)
    print(f"wrote {info['records']} completions to {info['output']} ({info['family']}: boxes in "
          f"{info['coords']!r}, ground truth in {info['solution_coords']!r})")
    print(f"score them with: {info['score_command']}")
    return 0


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    from vreward_train.tiny import build_tiny_model

    out = build_tiny_model(args.dir, family=args.family, seed=args.seed, size=args.size)
    print(f"wrote a random {args.family} checkpoint ({args.size} size) to {out}")
    return 0


def _cmd_configs(args: argparse.Namespace) -> int:
    from vreward_train.config import bundled_configs, resolve_config_path

    if args.name is None:
        for name, path in bundled_configs().items():
            print(str(path) if args.path else name)
        return 0
    path = resolve_config_path(args.name)
    print(path if args.path else path.read_text(encoding="utf-8"), end="\n" if args.path else "")
    return 0


def quiet_libraries() -> None:
    """Keep library chatter (progress bars, advisory warnings) out of the demo's and benchmarks' output."""
    import warnings

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|torch|accelerate)\b")
    # The random model writes random numbers: "boxes beyond 1000" says nothing about its frame here.
    import vreward

    warnings.filterwarnings("ignore", category=vreward.FrameMismatchWarning)


def _cmd_demo(args: argparse.Namespace) -> int:
    quiet_libraries()
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)  # small models: threads add little, and much overhead on a busy machine
    from vreward_train.demo import DemoSettings, default_cache_dir, run_demo

    data = DemoData(warmup_images=args.warmup_images, train_images=args.train_images,
                    test_images=args.test_images)
    settings = DemoSettings(family=args.family, model_size=args.size, seed=args.seed, data=data)
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    run_demo(args.dir, settings, steps=args.steps, overrides=args.overrides, cache_dir=cache)
    return 0


COMMANDS = {"train": _cmd_train, "generate": _cmd_generate, "tiny-model": _cmd_tiny_model, "demo": _cmd_demo,
            "configs": _cmd_configs}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("tiny-model", "demo"):
        from vreward_train.tiny import SIZED_FAMILIES, check_tiny_size

        if args.size is None:  # the demo's default: the size that learns, where the family has it
            args.size = "demo" if args.family in SIZED_FAMILIES else "tiny"
        try:
            check_tiny_size(args.family, args.size)
        except ValueError as exc:
            parser.error(str(exc))
    from vreward_train.config import ConfigError

    user_errors: tuple[type[BaseException], ...] = (ConfigError, FileExistsError, FileNotFoundError)
    try:
        from vreward_train.data import DataError

        user_errors += (DataError,)
    except ModuleNotFoundError:  # the train extra is missing: the command itself will say so
        pass
    try:
        return COMMANDS[args.command](args)
    except user_errors as exc:
        print(f"vreward-train {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in TRAIN_MODULES:
            raise
        print(f"vreward-train {args.command}: error: {exc} (install the train extra: pip install "
              "'vreward[train]')", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
