"""GRPO step on a GPU at Qwen2-VL-2B scale: step time, generated tokens/s, peak memory, reward share of the step.

The model has Qwen2-VL-2B-Instruct's architecture and sizes (text: hidden 1536, 28 layers, 12 heads, 2 KV heads,
intermediate 8960, vocabulary 151,936, M-RoPE sections [16, 24, 24]; vision: depth 32, width 1280, 16 heads,
patch 14, merge 2) with random weights: nothing is downloaded. The tokenizer is ``vreward_train.tiny``'s small
byte-level BPE with Qwen's special tokens and chat template; the embedding keeps the real 151,936 rows, so the
cost of the vocabulary projection and of sampling is the real model's (ids beyond the tokenizer decode to
nothing). The data are drawn shapes (``vreward_train.synthetic``) at 640 x 480 pixels, resized within
Visual-RFT's bounds (3136..401408 pixels: about 390 vision tokens per image).

Training goes through ``vreward_train.train.build_trainer`` (TRL's ``GRPOTrainer`` as ``vreward-train train``
configures it) with ``detection_qwen2vl_2b.yaml``'s GRPO settings: one prompt group of 8 generations per step,
bf16, gradient checkpointing, beta 0.04 (a reference model), full fine-tuning, except ``max_completion_length``
(``--max-completion-length``, default 512 instead of 1024, to keep the run short; a random model rarely writes
its end-of-turn token, so completions run to that length).

Rewards: a random model writes no parseable answer, on which vreward's rewards return almost at once, which
would flatter their share of the step. So by default each batch's completions and solutions are replaced, just
before the timed reward calls, by a fresh batch of the same size from ``benchmarks/corpus.py`` (Visual-RFT style
detection answers: mostly well formed, up to 15 boxes, some malformed), one new batch per step shared by the
three rewards as TRL shares one; ``--score-model-text`` scores the model's own text instead. The replacement is
not timed. Step time runs from one optimizer step's end to the next (a ``torch.cuda.synchronize`` at each end),
so it includes data loading, generation, rewards, reference and policy passes, backward, optimizer and logging.

Run on a machine with a CUDA GPU: ``python benchmarks/bench_train_gpu.py [--steps 5] [--warmup-steps 2]``;
writes ``benchmarks/out/train_gpu.json`` (with the device name). ``--dry-run`` runs the same code path on a CPU
with a tiny model of the same structure (vocabulary still 151,936), writes nothing under ``benchmarks/out``.
"""

from __future__ import annotations

import os

os.environ.update(NUMBA_NUM_THREADS="1")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_train import REWARD_SHARE_TARGET, StepClock, quiet, run_training
from common import fmt_s, machine_info, write_results

# Qwen2-VL-2B-Instruct's config.json (Qwen/Qwen2-VL-2B-Instruct), the sizes that matter for speed and memory.
QWEN2VL_2B_TEXT = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                       rms_norm_eps=1e-6, hidden_act="silu", sliding_window=32768, max_window_layers=28,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                        "mrope_section": [16, 24, 24]})
QWEN2VL_2B_VISION = dict(depth=32, embed_dim=1280, hidden_size=1536, mlp_ratio=4, num_heads=16, in_channels=3,
                         patch_size=14, spatial_merge_size=2, temporal_patch_size=2, hidden_act="quick_gelu")
# --dry-run: the same structure, tiny (head_dim 16, M-RoPE sections summing to 8), the real vocabulary.
DRY_TEXT = dict(QWEN2VL_2B_TEXT, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]})
DRY_VISION = dict(QWEN2VL_2B_VISION, depth=1, embed_dim=32, hidden_size=64, mlp_ratio=2, num_heads=2)
# Visual-RFT's pixel bounds (detection_qwen2vl_2b.yaml).
MIN_PIXELS, MAX_PIXELS = 3136, 401408


def build_model(out: Path, dry_run: bool, device: str) -> Path:
    """Write a random-weight Qwen2-VL-2B-sized checkpoint (bf16 on a GPU) and the image-only processor."""
    import torch
    from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from vreward_train.tiny import IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START, build_tiny_processor

    processor = build_tiny_processor()
    tok = processor.tokenizer
    ids = {name: tok.convert_tokens_to_ids(t) for name, t in (
        ("image_token_id", IMAGE_PAD), ("video_token_id", VIDEO_PAD), ("vision_start_token_id", VISION_START),
        ("vision_end_token_id", VISION_END))}
    text = dict(DRY_TEXT if dry_run else QWEN2VL_2B_TEXT, bos_token_id=None, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    if len(tok) > text["vocab_size"]:
        raise ValueError(f"tokenizer has {len(tok)} tokens, more than the model's {text['vocab_size']}")
    config = Qwen2VLConfig(text_config=text, vision_config=DRY_VISION if dry_run else QWEN2VL_2B_VISION,
                           tie_word_embeddings=True, **ids)
    dtype = torch.float32 if dry_run else torch.bfloat16
    torch.manual_seed(0)
    with torch.device(device):  # random init on the GPU: seconds instead of minutes on a CPU
        model = Qwen2VLForConditionalGeneration(config).to(dtype)
    model.generation_config = GenerationConfig(
        eos_token_id=[tok.eos_token_id, tok.pad_token_id], pad_token_id=tok.pad_token_id, bos_token_id=None,
        do_sample=True, temperature=1.0)
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    processor.save_pretrained(out)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    (out / "bench_params.json").write_text(json.dumps({"parameters": n_params}))
    return out


class CorpusSubstitute:
    """Replaces ``completions`` and ``solution`` by a fresh Visual-RFT-style corpus batch of the same size (a new
    batch on each call of the first reward, the same objects for the others, as TRL passes one batch)."""

    def __init__(self, group: int) -> None:
        from corpus import make_detection_corpus

        self.make = make_detection_corpus
        self.group = group
        self.batches = 0
        self.current: tuple[list, list[str]] | None = None
        self.kinds: dict[str, int] = {}

    def __call__(self, kwargs: dict[str, Any], first: bool) -> dict[str, Any]:
        n = len(kwargs["completions"])
        if first or self.current is None or len(self.current[0]) != n:
            comps, sols, kinds = self.make(n, seed=10_000 + self.batches, group=self.group)
            self.batches += 1
            self.current = (comps, sols)
            for k in kinds:
                self.kinds[k] = self.kinds.get(k, 0) + 1
        comps, sols = self.current
        return {**kwargs, "completions": comps, "solution": sols}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="measured GRPO steps")
    parser.add_argument("--warmup-steps", type=int, default=2, help="GRPO steps run first and not measured")
    parser.add_argument("--generations", type=int, default=8, help="num_generations (= completions per step)")
    parser.add_argument("--max-completion-length", type=int, default=512)
    parser.add_argument("--image-size", default="640x480", help="WIDTHxHEIGHT of the drawn images")
    parser.add_argument("--attn", default="sdpa", help="model.attn_implementation (sdpa, flash_attention_2, ...)")
    parser.add_argument("--score-model-text", action="store_true",
                        help="score the model's own (random) text instead of corpus completions")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training setting (as vreward-train train --set)")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny model of the same structure on CPU (or the GPU if any); 1 + 1 steps, "
                             "short completions; writes nothing under benchmarks/out")
    parser.add_argument("--output", type=Path, help="also write the results here (JSON)")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.dry_run:
        raise SystemExit("no CUDA device: run this on a GPU machine, or pass --dry-run to exercise it on CPU")
    if args.dry_run:
        args.steps, args.warmup_steps = 1, 1
        args.max_completion_length = min(args.max_completion_length, 16)
        args.image_size = "112x112"
        if not cuda:
            torch.set_num_threads(min(2, os.cpu_count() or 1))
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    quiet()
    from vreward_train.config import load_config
    from vreward_train.synthetic import make_shapes_dataset

    device = "cuda" if cuda else "cpu"
    info: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if cuda else "cpu (dry run)",
                            "cuda": torch.version.cuda if cuda else None, "torch": torch.__version__}
    for name in ("transformers", "trl", "accelerate"):
        info[name] = __import__(name).__version__
    if cuda:
        props = torch.cuda.get_device_properties(0)
        info["device_memory_bytes"] = props.total_memory

    with tempfile.TemporaryDirectory(prefix="bench_train_gpu_") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        model_dir = build_model(work / "model", args.dry_run, device)
        n_params = json.loads((model_dir / "bench_params.json").read_text())["parameters"]
        data_dir = make_shapes_dataset(work / "shapes", n_train=max(16, args.steps + args.warmup_steps), n_test=0,
                                       size=(width, height), seed=0, frame="qwen2vl")
        setup_s = time.perf_counter() - t
        g = args.generations
        overrides = [
            f"model.path={model_dir}", "model.family=qwen2vl", f"model.min_pixels={MIN_PIXELS}",
            f"model.max_pixels={MAX_PIXELS}", f"model.attn_implementation={args.attn}", f"data.path={data_dir}",
            "data.split=train", "data.solution_coords=qwen2vl", f"output_dir={work / 'run'}",
            f"grpo.max_steps={args.warmup_steps + args.steps}", "grpo.save_steps=1000000",
            f"grpo.per_device_train_batch_size={g}", f"grpo.num_generations={g}",
            "grpo.gradient_accumulation_steps=1", f"grpo.max_completion_length={args.max_completion_length}",
            "grpo.report_to=none", "grpo.logging_steps=1", f"grpo.bf16={'true' if cuda else 'false'}",
            f"grpo.gradient_checkpointing={'true' if cuda else 'false'}", "grpo.extra.disable_tqdm=true",
            *args.overrides]
        if args.dry_run and not cuda:
            overrides.append("model.attn_implementation=sdpa")
        config = load_config("detection_qwen2vl_2b.yaml", overrides)

        clock = StepClock()
        peak = None
        if cuda:
            clock.sync = torch.cuda.synchronize
            torch.cuda.reset_peak_memory_stats()
            peak = torch.cuda.max_memory_allocated
        substitute = None if args.score_model_text else CorpusSubstitute(g)
        t = time.perf_counter()
        run_training(config, clock, substitute=substitute, peak=peak)
        train_s = time.perf_counter() - t
        res = clock.results(args.warmup_steps)

    res.update(
        config={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        base_config="detection_qwen2vl_2b.yaml", parameters=n_params, setup_s=setup_s, train_wall_s=train_s,
        num_generations=config.grpo.num_generations, max_completion_length=config.grpo.max_completion_length,
        bf16=cuda, gradient_checkpointing=cuda, beta=config.grpo.beta, attn_implementation=args.attn,
        rewards_scored_on="model text" if substitute is None else "benchmarks/corpus.py detection completions",
        corpus_kinds=None if substitute is None else substitute.kinds, **info)
    if cuda:
        res["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
        res["peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
    share = res["reward_share"]
    print(f"{info['device']}: {res['parameters'] / 1e9:.2f} B parameters; step {fmt_s(res['step']['median_s'])} "
          f"(median of {res['measured_steps']}), {res['tokens_per_s']:.0f} generated tokens/s "
          f"({res['mean_completion_tokens']:.0f} tokens per completion), reward "
          f"{fmt_s(res['reward_per_step']['median_s'])} per step = {share:.4%} of the step "
          f"(target < {REWARD_SHARE_TARGET:.1%}: "
          f"{'MET' if share < REWARD_SHARE_TARGET else 'MISSED'})"
          + (f", peak memory {res['peak_memory_bytes'] / 2**30:.1f} GiB" if cuda else ""))
    payload = {"config": res.pop("config"), **res}
    if args.output:
        args.output.write_text(json.dumps({"benchmark": "train_gpu", "machine": machine_info(), **payload},
                                          indent=2, default=float) + "\n")
        print(f"wrote {args.output}")
    if not args.dry_run:
        print(f"wrote {write_results('train_gpu', payload)}")


if __name__ == "__main__":
    sys.exit(main())
