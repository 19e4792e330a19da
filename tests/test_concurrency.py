"""Rewards share no hidden state: threads, explain(), pickling and spawned processes all give serial results."""

from __future__ import annotations

import multiprocessing
import pickle
import random
import threading

import pytest

import vreward
from vreward.cache import clear_caches
from vreward.composite import CompositeReward, make_task_reward
from vreward.registry import REWARDS, TASKS


def _det(boxes):
    items = ", ".join(f"{{'Position': {list(b)}, 'Confidence': {c}}}" for b, c in boxes)
    return f"<think>.</think><answer>[{items}]</answer>"


def _batch(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """Random detection completions and ground truth: near misses, duplicates, junk, empty answers."""
    completions, solutions = [], []
    for _ in range(n):
        x, y = rng.randint(0, 50), rng.randint(0, 50)
        truth = [x, y, x + rng.randint(10, 40), y + rng.randint(10, 40)]
        kind = rng.random()
        if kind < 0.6:
            d = rng.randint(-8, 8)
            boxes = [([truth[0] + d, truth[1], truth[2] + d, truth[3]], round(rng.random(), 2))]
            if rng.random() < 0.3:
                boxes.append(boxes[0])
            completions.append(_det(boxes))
        elif kind < 0.75:
            completions.append("<think>none</think><answer>No Objects</answer>")
        elif kind < 0.9:
            completions.append(f"<answer>[{x}, {y}]</answer>")
        else:
            completions.append("no answer at all")
        solutions.append(str(truth))
    return completions, solutions


def _rewards():
    loose = vreward.make_iou_reward(threshold=0.3, name="iou_loose")
    strict = vreward.make_iou_reward(threshold=0.9, name="iou_strict")
    return [loose, strict, vreward.confidence_reward, vreward.format_reward, vreward.giou_reward,
            CompositeReward([loose, strict]), make_task_reward("detection"), make_task_reward("grounding")]


def _score(reward, completions, solutions):
    return reward(completions, solution=solutions)


def test_explain_describes_the_reward_called():
    loose = vreward.make_iou_reward(threshold=0.3, name="loose")
    strict = vreward.make_iou_reward(threshold=0.9, name="strict")
    completions = [_det([([0, 0, 10, 10], 0.9)])]
    solutions = ["[0, 0, 10, 13]"]  # IoU 10/13 = 0.77: a match for the loose reward only
    CompositeReward([loose, strict])(completions, solution=solutions)
    (loose_detail,) = loose.explain(completions, solution=solutions)
    (strict_detail,) = strict.explain(completions, solution=solutions)
    assert loose_detail.score == pytest.approx(10 / 13)
    assert loose_detail.details["matched_iou"] == [pytest.approx(10 / 13)]
    assert strict_detail.score == 0.0 and strict_detail.details["matched_iou"] == []
    # and the other way round, strict first
    assert loose.explain(completions, solution=solutions)[0].details["matched_iou"] == [pytest.approx(10 / 13)]


def test_sixteen_threads_score_and_explain_like_one():
    rng = random.Random(0)
    batches = [_batch(rng, rng.randint(1, 12)) for _ in range(40)]
    rewards = _rewards()
    clear_caches()
    expected = {(r_i, b_i): _score(r, *b) for r_i, r in enumerate(rewards) for b_i, b in enumerate(batches)}
    explained = {(r_i, b_i): [(d.score, d.reason, d.details) for d in r.explain(*b[:1], solution=b[1])]
                 for r_i, r in enumerate(rewards[:5]) for b_i, b in enumerate(batches)}
    errors: list[BaseException] = []
    mismatches: list[tuple] = []
    start = threading.Barrier(16)

    def work(seed: int) -> None:
        local = random.Random(seed)
        start.wait()
        try:
            for _ in range(150):
                r_i, b_i = local.randrange(len(rewards)), local.randrange(len(batches))
                completions, solutions = batches[b_i]
                if _score(rewards[r_i], completions, solutions) != expected[r_i, b_i]:
                    mismatches.append(("score", r_i, b_i))
                if r_i < 5:
                    got = [(d.score, d.reason, d.details) for d in rewards[r_i].explain(completions,
                                                                                      solution=solutions)]
                    if got != explained[r_i, b_i]:
                        mismatches.append(("explain", r_i, b_i))
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert not mismatches, mismatches[:10]


def _every_public_reward():
    rewards = [getattr(vreward, spec.default_name) for spec in REWARDS.values()]
    rewards += [spec.build(name=f"custom_{name}") for name, spec in REWARDS.items()]
    rewards += [make_task_reward(task) for task in TASKS]
    return rewards


def _inputs(reward):
    completions, solutions = _batch(random.Random(1), 16)
    if "accuracy" in reward.__name__ or reward.__name__.startswith("classification"):
        return ["<think>.</think><answer>rose</answer>", "<answer>tulip</answer>"], ["rose", "rose"]
    return completions, solutions


def test_every_public_reward_pickles_to_an_equal_reward():
    for reward in _every_public_reward():
        copy = pickle.loads(pickle.dumps(reward))
        completions, solutions = _inputs(reward)
        assert copy.__name__ == reward.__name__
        assert copy(completions, solution=solutions) == reward(completions, solution=solutions), reward


def _score_in_child(args):
    reward, completions, solutions = args
    return reward(completions, solution=solutions)


def test_a_spawned_pool_scores_like_this_process():
    jobs = [(r, *_inputs(r)) for r in _every_public_reward()[:6]]
    expected = [_score_in_child(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(_score_in_child, jobs) == expected
