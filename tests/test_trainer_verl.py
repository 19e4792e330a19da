"""vreward inside verl's own reward code (verl 0.9.1 from PyPI, installed by scripts/test.sh).

Drives verl's reward-loop worker (``verl.experimental.reward_loop.reward_loop.RewardLoopWorker``: it loads the
reward function from the config with ``verl.trainer.ppo.reward.load_reward_manager`` and runs the reward
managers ``naive``, ``dapo``, ``gdpo`` and ``rate_limited``) with the config block documented in
docs/trainers/verl.md, and the pre-0.7 managers that verl 0.9.1 still ships (``verl.workers.reward_manager``:
``naive``, ``dapo``, ``batch``, ``prime``), on DataProto batches decoded by a real tokenizer. Nothing of verl is
stubbed; the Ray actor wrapping of the reward-loop worker is left out (the worker class is used directly).
"""

from __future__ import annotations

import asyncio
import importlib.util
import pickle
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("verl.experimental.reward_loop.reward_loop", reason="verl is not installed (scripts/test.sh "
                    "installs verl==0.9.1 from constraints.txt)")

import torch  # noqa: E402
import yaml  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker  # noqa: E402
from verl.trainer.ppo.reward import _call_with_kwargs  # noqa: E402

import vreward.adapters.verl as adapter  # noqa: E402
from tiny_lm import build_tiny_tokenizer  # noqa: E402
from vreward.composite import make_task_reward  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "trainers" / "verl.md"
DET_GT = "<answer>[{'Position': [10, 10, 50, 50], 'Confidence': 1}]</answer>"
RESPONSES = [
    "<think>a cat</think><answer>[{'Position': [10, 10, 50, 50], 'Confidence': 0.8}]</answer>",
    "<think>a cat</think><answer>[{'Position': [10, 10, 50, 30], 'Confidence': 0.6}]</answer>",
    "no tags [10, 10, 50, 50]",
    "<think>none</think><answer>No Objects</answer>",
]


@pytest.fixture(scope="module")
def tokenizer_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("verl_tokenizer")
    build_tiny_tokenizer().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tokenizer(tokenizer_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path)


def _batch(tokenizer, responses, ground_truth=DET_GT, data_source="coco_base65"):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses ending in <|im_end|>."""
    prompt = tokenizer("<|im_start|>user\nDetect the cat.<|im_end|>\n<|im_start|>assistant\n",
                       add_special_tokens=False)["input_ids"]
    ids = [tokenizer(r + "<|im_end|>", add_special_tokens=False)["input_ids"] for r in responses]
    n, width, p = len(responses), max(map(len, ids)), len(prompt)
    response_ids = torch.full((n, width), tokenizer.pad_token_id)
    mask = torch.zeros((n, p + width), dtype=torch.long)
    for i, r in enumerate(ids):
        response_ids[i, :len(r)] = torch.tensor(r)
        mask[i, :p + len(r)] = 1
    prompts = torch.tensor([prompt] * n)
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": response_ids, "attention_mask": mask,
                 "input_ids": torch.cat([prompts, response_ids], dim=1)},
        non_tensors={"data_source": np.array([data_source] * n, dtype=object),
                     "reward_model": np.array([{"style": "rule", "ground_truth": ground_truth}] * n, dtype=object),
                     "extra_info": np.array([{"index": i, "split": "train"} for i in range(n)], dtype=object)})


def _documented_reward_config() -> dict:
    """The reward-loop config block of docs/trainers/verl.md (the YAML after its ``verl-reward-loop`` marker)."""
    match = re.search(r"<!-- verl-reward-loop -->\s*```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"{DOC} lost its reward-loop config block"
    return yaml.safe_load(match.group(1))


def _worker(tokenizer_path, reward: dict) -> RewardLoopWorker:
    """verl's reward-loop worker with the given ``reward`` config (verl's defaults for the rest it reads)."""
    reward = {"num_workers": 1, "reward_model": {"enable": False}, "sandbox_fusion": {"url": None}, **reward}
    config = OmegaConf.create({"actor_rollout_ref": {"model": {"path": str(tokenizer_path), "tokenizer_path": None}},
                               "trainer": {"experiment_name": "vreward"}, "reward": reward})
    return RewardLoopWorker(config)


def _expected(responses, task="detection"):
    batch = make_task_reward(task).score_all(responses, solution=[DET_GT] * len(responses))
    return batch.total.tolist(), {name: part.scores.tolist() for name, part in batch.parts.items()}


@pytest.mark.parametrize("manager", ["naive", "dapo", "gdpo", "rate_limited"])
@pytest.mark.parametrize("function", ["compute_score_async", "compute_score"])
def test_reward_loop_with_the_documented_config(tokenizer, tokenizer_path, manager, function):
    """verl 0.9 reads reward.custom_reward_function (pkg:// path) and reward.reward_manager.name."""
    reward = _documented_reward_config()["reward"]
    reward["reward_manager"]["name"] = manager
    reward["custom_reward_function"]["name"] = function
    worker = _worker(tokenizer_path, reward)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(_batch(tokenizer, RESPONSES)))
    total, parts = _expected(RESPONSES)
    assert [o["reward_score"] for o in outputs] == pytest.approx(total)
    for name, scores in parts.items():
        assert [o["reward_extra_info"][name] for o in outputs] == pytest.approx(scores)
    assert total[0] == pytest.approx(2.96)


def test_reward_loop_batches_a_thousand_rows_together(tokenizer, tokenizer_path, monkeypatch):
    """Before: one score_all per row (90-300 us each). compute_score_async scores the rows verl awaits together."""
    from vreward.composite import CompositeReward

    responses = [RESPONSES[i % len(RESPONSES)] for i in range(1024)]
    expected = _expected(responses)[0]
    calls = []
    original = CompositeReward.score_all
    monkeypatch.setattr(CompositeReward, "score_all",
                        lambda self, c, **kw: calls.append(len(c)) or original(self, c, **kw))
    reward = _documented_reward_config()["reward"]
    worker = _worker(tokenizer_path, reward)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(_batch(tokenizer, responses)))
    assert [o["reward_score"] for o in outputs] == pytest.approx(expected)
    assert sum(calls) == 1024 and len(calls) <= 16, calls


def test_legacy_top_level_keys_are_ignored_by_verl_09(tokenizer, tokenizer_path):
    """The pitfall the docs warn about: verl 0.9's main_ppo no longer maps custom_reward_function.* onto
    reward.custom_reward_function.*, so verl falls back to its default scorer, which knows no vision data."""
    worker = _worker(tokenizer_path, {"custom_reward_function": {"path": None, "name": "compute_score"},
                                      "reward_manager": {"source": "register", "name": "naive"}})
    with pytest.raises(NotImplementedError):
        worker.loop.run_until_complete(worker.compute_score_batch(_batch(tokenizer, RESPONSES[:1])))


def test_pre_07_managers(tokenizer):
    """verl.workers.reward_manager (the managers of verl < 0.7, still shipped): naive and dapo call compute_score
    per sample, batch calls compute_score_batch, prime reads a number (as_float) from a process pool."""
    from verl.workers.reward_manager import (
        BatchRewardManager,
        DAPORewardManager,
        NaiveRewardManager,
        PrimeRewardManager,
    )

    data = _batch(tokenizer, RESPONSES)
    total, _ = _expected(RESPONSES)
    module = _load_by_path()  # verl < 0.7 loads the file by path
    for manager in (NaiveRewardManager(tokenizer, 0, partial(_call_with_kwargs, module.compute_score, {})),
                    DAPORewardManager(tokenizer, 0, partial(_call_with_kwargs, module.compute_score, {})),
                    BatchRewardManager(tokenizer, 0, partial(_call_with_kwargs, module.compute_score_batch, {}))):
        result = manager(data, return_dict=True)
        assert result["reward_tensor"].sum(dim=1).tolist() == pytest.approx(total), type(manager).__name__
        assert result["reward_extra_info"]["iou_reward"][0] == pytest.approx(1.0)
    prime = PrimeRewardManager(tokenizer, 0, partial(_call_with_kwargs, module.compute_score, {"as_float": True}))
    # before: 0.0 for every row (a dict where prime reads float(result) or result[0], and an unpicklable function)
    assert prime(data).sum(dim=1).tolist() == pytest.approx(total)


def _load_by_path():
    """The adapter loaded the way verl's load_module loads a file path: under custom_module_<hash>."""
    path = adapter.__file__
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(path)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loaded_by_path_the_functions_pickle_for_the_remote_manager():
    """Before: PicklingError (an lru_cache'd helper of a module Ray cannot import). verl's remote manager sends
    the wrapped function to Ray workers with Ray's cloudpickle; process pools use pickle."""
    ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
    module = _load_by_path()
    wrapped = partial(_call_with_kwargs, module.compute_score, {"task": "detection"})
    payloads = pickle.dumps([pickle.dumps(wrapped), ray_cloudpickle.dumps(wrapped)])
    # a fresh interpreter that never loaded the file, as a Ray worker or a pool process
    code = ("import pickle, sys\nfor p in pickle.loads(sys.stdin.buffer.read()):\n    f = pickle.loads(p)\n"
            f"    print(f(data_source='x', solution_str={RESPONSES[0]!r}, ground_truth={DET_GT!r})['score'])")
    out = subprocess.run([sys.executable, "-c", code], input=payloads, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert [float(x) for x in out.stdout.decode().split()] == pytest.approx([2.96, 2.96])


def test_async_rows_with_errors_fail_alone():
    """A row whose ground truth cannot be read fails its own await only, not the rows batched with it."""
    async def run():
        good = adapter.compute_score_async("coco", RESPONSES[0], DET_GT, {})
        bad = adapter.compute_score_async("coco", RESPONSES[0], "not a box", {})
        return await asyncio.gather(good, bad, return_exceptions=True)

    good, bad = asyncio.run(run())
    assert good["score"] == pytest.approx(2.96)
    assert isinstance(bad, ValueError) or bad["bad_ground_truth"] == 1.0  # raising, or scored 0 with the reason
