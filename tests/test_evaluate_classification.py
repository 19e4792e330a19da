"""Classification metrics: accuracy, per-class accuracy, confused pairs and failure reasons."""

from __future__ import annotations

import json

import pytest

import vreward
from vreward.evaluate.base import Record, Sample
from vreward.evaluate.classification import TOP_CONFUSIONS, ClassificationMetrics


def ans(text: str) -> str:
    return f"<think>hmm</think><answer>{text}</answer>"


def run(metrics: ClassificationMetrics, completions: list[str], truths: list[str], rewards=None) -> dict:
    columns = {"solution": [f"<answer>{t}</answer>" for t in truths]}
    records = [Record(i + 1, {"solution": columns["solution"][i]}) for i in range(len(completions))]
    parsed = vreward.parse_completions(completions)
    rewards = (vreward.accuracy_reward, vreward.format_reward) if rewards is None else rewards
    results = {r.__name__: r.score(completions, **columns) for r in rewards}
    metrics.add(records, columns, parsed, results)
    return metrics.finalize()


CASES = [
    (ans("Tabby Cat"), "tabby_cat"),  # right (normalized equal)
    (ans("dog"), "tabby_cat"),  # wrong: tabbycat -> dog
    (ans("Dog."), "tabby_cat"),  # wrong again: the pair counts twice
    (ans("golden retriever"), "Golden Retriever"),  # right
    (ans("tabby cat"), "Golden Retriever"),  # wrong: goldenretriever -> tabbycat
    ("no tags at all", "Golden Retriever"),  # no answer: a failure, not a confusion
    (ans("dog or tabby cat"), "tabby_cat"),  # several classes: 0, counted as a confusion with its answer
    (ans(""), "bird"),  # empty answer: a failure, not a confusion
]


def test_accuracy_per_class_and_confusions():
    r = run(ClassificationMetrics(), [c for c, _ in CASES], [t for _, t in CASES])
    assert r["samples"] == 8
    assert r["accuracy"] == pytest.approx(2 / 8)
    assert r["per_class"] == [
        {"class": "tabby_cat", "n": 4, "accuracy": 0.25},
        {"class": "Golden Retriever", "n": 3, "accuracy": pytest.approx(1 / 3)},
        {"class": "bird", "n": 1, "accuracy": 0.0},
    ]
    assert r["confused_pairs"] == [
        {"truth": "tabby_cat", "answer": "dog", "count": 2},
        {"truth": "Golden Retriever", "answer": "tabbycat", "count": 1},
        {"truth": "tabby_cat", "answer": "dogortabbycat", "count": 1},
    ]
    assert r["failures"] == {"wrong_class": 3, "no_answer_tag": 1, "several_classes": 1, "empty_answer": 1}
    assert list(r) == ["samples", "accuracy", "per_class", "confused_pairs", "failures"]
    json.dumps(r)


def test_batches_accumulate_like_one_batch():
    whole = run(ClassificationMetrics(), [c for c, _ in CASES], [t for _, t in CASES])
    m = ClassificationMetrics()
    run(m, [c for c, _ in CASES[:3]], [t for _, t in CASES[:3]])
    assert run(m, [c for c, _ in CASES[3:]], [t for _, t in CASES[3:]]) == whole


def test_the_reward_result_decides_correctness_else_own_reward():
    from vreward.visual_rft import make_accuracy_reward

    completions, truths = [ans("Siamese")], ["Siamese cat"]
    exact = make_accuracy_reward(match="exact")
    # with the reward's result (the default rule: the answer must contain the true name): wrong
    assert run(ClassificationMetrics(reward=exact), completions, truths)["accuracy"] == 0.0
    # without it the metrics score with their own reward: the paper's "contains either way" -> right
    assert run(ClassificationMetrics(reward=make_accuracy_reward()), completions, truths, rewards=())["accuracy"] == 1.0
    assert run(ClassificationMetrics(reward=exact), completions, truths, rewards=())["accuracy"] == 0.0
    assert run(ClassificationMetrics(), completions, truths, rewards=())["accuracy"] == 0.0
    # a class list turns "A B" naming two classes into a failure
    r = run(ClassificationMetrics(reward=vreward.make_accuracy_reward(classes=("cat", "dog"))), [ans("cat dog")],
            ["cat"], rewards=())
    assert r["failures"] == {"several_classes": 1}


def test_confused_pairs_keep_the_top_20():
    n = TOP_CONFUSIONS + 5
    completions = [ans(f"wrong{i:02d}") for i in range(n) for _ in range(i + 1)]
    truths = ["truth"] * len(completions)
    r = run(ClassificationMetrics(), completions, truths)
    pairs = r["confused_pairs"]
    assert len(pairs) == TOP_CONFUSIONS
    assert pairs[0] == {"truth": "truth", "answer": f"wrong{n - 1:02d}", "count": n}
    assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)


def test_options_are_validated():
    with pytest.raises(ValueError, match="must be a vreward Reward"):
        ClassificationMetrics(reward=len)


def test_table_figures_and_samples(tmp_path):
    pytest.importorskip("matplotlib")
    m = ClassificationMetrics()
    run(m, [c for c, _ in CASES], [t for _, t in CASES])
    lines = m.table()
    assert lines[0] == "classification: 8 samples, accuracy 0.2500"
    assert any(line.startswith("tabby_cat") for line in lines)
    figs = m.figures(tmp_path)
    assert len(figs) == 1 and figs[0].path.read_bytes()[:4] == b"\x89PNG"
    s = m.samples_pixels(Sample(1, 0.0, "wrong_class", ans("dog")), {"solution": "<answer>tabby_cat</answer>"})
    assert s.label == "truth: tabby_cat" and s.predicted == [] and s.truth == []


def test_empty_run_finalizes():
    assert ClassificationMetrics().finalize() == {"samples": 0, "accuracy": None, "per_class": [],
                                                  "confused_pairs": [], "failures": {}}
