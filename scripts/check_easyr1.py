"""Run vreward's EasyR1 adapter through EasyR1's own reward code, from an EasyR1 checkout given by path.

EasyR1 is not on PyPI, so CI cannot install it; this script is the same check as tests/test_trainer_*.py for
the other trainers, run by hand against a checkout (see docs/trainers/easyr1.md for the revisions it passed on):

    python scripts/check_easyr1.py /path/to/EasyR1 [--revision LABEL]

It merges the ``worker.reward`` block of docs/trainers/easyr1.md into EasyR1's structured ``RewardConfig``
(strictly, as ``verl.trainer.main`` merges the whole ``PPOConfig``, whose import needs vLLM), builds EasyR1's
``AutoRewardManager`` (``BatchFunctionRewardManager`` before November 2025) from it (which loads this adapter by
path, as EasyR1 does), and scores a batch of decoded responses with ``compute_reward``, with
``skip_special_tokens`` true and false; the scores must equal vreward's. The checkout's own package (named
``verl``) is imported, in this process, ahead of any installed verl. Needs torch, transformers, tensordict, ray,
codetiming and pyyaml (scripts/test.sh installs them) and vreward[train].
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "trainers" / "easyr1.md"
RESPONSES = [
    "<think>a cat</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>",
    "<think>a cat</think><answer>[{'Position': [10, 10, 50, 30], 'Confidence': 0.6}]</answer>",
    "no tags [10, 10, 50, 50]",
]
GROUND_TRUTH = "<answer>[{'Position': [10, 10, 50, 50], 'Confidence': 1}]</answer>"


def documented_config() -> str:
    """The YAML block after the ``easyr1-config`` marker of docs/trainers/easyr1.md, with the adapter's path."""
    import vreward.adapters.easyr1 as adapter

    match = re.search(r"<!-- easyr1-config -->\s*```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    if not match:
        raise SystemExit(f"{DOC} has no easyr1-config block")
    return match.group(1).replace("/path/to/site-packages/vreward/adapters/easyr1.py", adapter.__file__)


def check(checkout: Path) -> list[str]:
    """Problems found (empty: the check passed)."""
    sys.path.insert(0, str(checkout))
    import numpy as np
    import torch
    import verl
    from omegaconf import OmegaConf
    from verl.protocol import DataProto
    from verl.workers import reward
    from verl.workers.reward import RewardConfig

    from vreward.adapters import easyr1
    from vreward_train.tiny import build_tiny_tokenizer

    if not Path(verl.__file__).resolve().is_relative_to(checkout.resolve()):
        return [f"imported verl from {verl.__file__}, not from the checkout {checkout}"]
    # AutoRewardManager since November 2025; before, the config's reward_type picked this class for "batch"
    manager_class = getattr(reward, "AutoRewardManager", None) or reward.BatchFunctionRewardManager
    block = OmegaConf.create(documented_config())["worker"]["reward"]
    reward_config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RewardConfig()), block))
    tokenizer = build_tiny_tokenizer()
    ids = [tokenizer(r + "<|im_end|>", add_special_tokens=False)["input_ids"] for r in RESPONSES]
    width = max(map(len, ids))
    responses = torch.full((len(ids), width), tokenizer.pad_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        responses[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    data = DataProto.from_dict(tensors={"responses": responses, "response_mask": mask},
                               non_tensors={"ground_truth": np.array([GROUND_TRUTH] * len(ids), dtype=object)})
    inputs = [{"response": r, "response_length": len(i), "ground_truth": GROUND_TRUTH} for r, i in zip(RESPONSES, ids)]
    expected = easyr1.compute_score(inputs, **reward_config.reward_function_kwargs)
    problems = []
    for skip in (True, False):
        config = copy.deepcopy(reward_config)
        config.skip_special_tokens = skip
        config.post_init()
        manager = manager_class(config, tokenizer)
        tensor, metrics = manager.compute_reward(data)
        got = tensor.sum(dim=1).tolist()
        want = [e["overall"] for e in expected]
        if any(abs(g - w) > 1e-6 for g, w in zip(got, want)):
            problems.append(f"skip_special_tokens={skip}: overall {got}, expected {want}")
        if list(metrics["format"]) != [e["format"] for e in expected]:
            problems.append(f"skip_special_tokens={skip}: format {list(metrics['format'])}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="an EasyR1 checkout (a git worktree or an unpacked archive)")
    parser.add_argument("--revision", help="the checkout's revision, for the report")
    args = parser.parse_args(argv)
    problems = check(args.checkout)
    label = args.revision or str(args.checkout)
    for problem in problems:
        print(f"EasyR1 {label}: {problem}")
    print(f"EasyR1 {label}: {'FAILED' if problems else 'passed'} (reward manager compute_reward, "
          "skip_special_tokens true and false)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
