"""The reward server, run for real with uvicorn on loopback and called over HTTP the way OpenRLHF calls it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from serving import serving as _serving  # noqa: E402
from vreward.adapters.openrlhf import build_response, parse_request, split_response  # noqa: E402
from vreward.composite import make_task_reward, parse_weights  # noqa: E402
from vreward.server import create_app  # noqa: E402

PROMPT = "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>" \
         "<|vision_end|>Detect all cats. Output <think>...</think> <answer>...</answer>.<|im_end|>\n" \
         "<|im_start|>assistant\n"
RESPONSES = [
    "<think>One cat.</think><answer>[{'Position': [10, 10, 100, 100], 'Confidence': 0.9}]</answer>",
    "<think>Two cats.</think> <answer>[{'Position': [12, 8, 98, 104], 'Confidence': 0.8}, "
    "{'Position': [300, 300, 400, 420], 'Confidence': 0.4}]</answer>",
    "<answer>[10, 10]</answer>",
    "I think there is a cat somewhere.",
    "<think>x</think><answer>[{'Position': [10, 10, 100",
    "",
    "<think>\u0000\udcff</think><answer>" + "[" * 5000 + "</answer>",
    "<think>No cats.</think><answer>No Objects</answer>",
]
LABELS = ["<answer>[{'Position': [10, 10, 100, 100], 'Confidence': 1}]</answer>"] * len(RESPONSES)


@pytest.fixture(scope="module")
def server():
    with _serving(create_app(task="detection", max_body_bytes=256 * 1024, max_batch=64)) as client:
        yield client


@pytest.fixture(scope="module")
def strict_server():
    with _serving(create_app(task="detection", strict=True)) as client:
        yield client


def _openrlhf_body(responses=RESPONSES, labels=None, eos="<|im_end|>"):
    labels = LABELS[:len(responses)] if labels is None else labels
    # exactly what OpenRLHF's remote_rm_fn posts: query = prompt + response (decoded), prompts, labels
    return {"query": [PROMPT + r + eos for r in responses], "prompts": [PROMPT] * len(responses),
            "labels": list(labels)}


def _post_like_openrlhf(client, path, body, **kwargs):
    # OpenRLHF posts with requests' json=: json.dumps with ensure_ascii (lone surrogates escaped)
    return client.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
                       **kwargs)


def _expected(task="detection", responses=RESPONSES, labels=None, **kwargs):
    labels = LABELS[:len(responses)] if labels is None else labels
    return make_task_reward(task).score_all(responses, solution=list(labels), **kwargs)


def test_openrlhf_equals_in_process(server):
    r = _post_like_openrlhf(server, "/openrlhf", _openrlhf_body())
    assert r.status_code == 200, r.text
    data = r.json()
    expected = _expected()
    assert data["rewards"] == expected.total.tolist()
    # scores: the total on [0, 1] (OpenRLHF's dynamic filtering range), the raw total stays in rewards
    assert data["scores"] == pytest.approx(make_task_reward("detection").normalized(expected.total).tolist())
    for name, batch in expected.parts.items():
        assert data["extra_logs"][name] == batch.scores.tolist()
    assert data["extra_logs"]["prompt_not_prefix"] == [0.0] * len(RESPONSES)
    assert data["extra_logs"]["label_error"] == [0.0] * len(RESPONSES)
    assert data["rewards"][0] == pytest.approx(1.0 + 0.99 + 1.0)  # IoU, Brier confidence 1 - 0.1 ** 2, format


def test_get_reward_alias_and_task_parameter(server):
    r = _post_like_openrlhf(server, "/get_reward", _openrlhf_body())
    assert r.status_code == 200 and r.json()["rewards"] == _expected().total.tolist()
    responses = ["<think>a</think><answer>daisy</answer>", "<answer>sunflower</answer>"]
    body = _openrlhf_body(responses, ["<answer>daisy</answer>"] * 2)
    r = server.post("/openrlhf", params={"task": "classification"}, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["rewards"] == _expected("classification", responses, body["labels"]).total.tolist()


def test_prompt_not_prefix_scores_whole_query(server):
    body = {"query": ["Q: " + RESPONSES[0], PROMPT + RESPONSES[0]], "prompts": ["a different prompt", PROMPT],
            "labels": LABELS[:2]}
    r = server.post("/openrlhf", json=body)
    assert r.status_code == 200
    assert r.json()["extra_logs"]["prompt_not_prefix"] == [1.0, 0.0]
    assert r.json()["rewards"][0] == pytest.approx(r.json()["rewards"][1] - 1.0)  # the prefix breaks the format


def _vision_query(response, pads=1024):
    """The query OpenRLHF posts for a Qwen-VL prompt: the processor expanded <|image_pad|> to one token per patch,
    and the decode kept special tokens."""
    return PROMPT.replace("<|image_pad|>", "<|image_pad|>" * pads) + response + "<|im_end|>"


def test_vision_queries_score_the_response_whatever_the_pad_expansion(server):
    """Before: the prompt (one <|image_pad|>) was never a prefix of the query (1024 of them): format scored 0."""
    body = {"query": [_vision_query(r, pads) for r, pads in zip(RESPONSES[:2], (4, 1024))],
            "prompts": [PROMPT] * 2, "labels": LABELS[:2]}
    r = _post_like_openrlhf(server, "/openrlhf", body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["rewards"] == _expected(responses=RESPONSES[:2]).total.tolist()
    assert data["rewards"][0] == pytest.approx(2.99) and data["extra_logs"]["format_reward"] == [1.0, 1.0]
    assert data["extra_logs"]["prompt_not_prefix"] == [0.0, 0.0]
    # a prompt that does not survive the tokenizer round trip: the last assistant turn is the response
    body["prompts"] = [PROMPT.replace("Detect", "detect")] * 2
    assert _post_like_openrlhf(server, "/openrlhf", body).json()["rewards"] == data["rewards"]


def test_realistic_vision_bodies_are_accepted():
    """Before: bodies over 8 MiB (queries full of image pads) got a 413."""
    queries = [_vision_query(RESPONSES[0], pads=16384)] * 48  # Qwen2.5-VL's largest image, 48 rows: ~10 MiB
    content = json.dumps({"query": queries, "prompts": [PROMPT] * 48, "labels": LABELS[:1] * 48}).encode()
    assert len(content) > 8 * 1024 * 1024
    with _serving(create_app(task="detection")) as client:
        r = client.post("/openrlhf", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:200]
    assert r.json()["rewards"] == [pytest.approx(2.99)] * 48


BAD_LABELS = [
    ({"query": [PROMPT + RESPONSES[0]], "prompts": [PROMPT]}, "`labels` is missing: start OpenRLHF with"),
    ({"query": [PROMPT + RESPONSES[0]], "prompts": [PROMPT], "labels": [""]}, "`labels[0]` is empty"),
    ({"query": [PROMPT + RESPONSES[0]], "prompts": [PROMPT], "labels": [{"width": 3}]},
     "`labels[0]` is an object without a `solution` key"),
    ({"query": [PROMPT + RESPONSES[0]], "prompts": [PROMPT], "labels": ["not a box"]},
     "`labels[0]`: no box could be read"),
    ({"query": [PROMPT + RESPONSES[0]], "prompts": [PROMPT], "labels": [{"solution": "[1,1,5,5]", "width": -1}]},
     "`labels[0].width` must be a positive number"),
]


@pytest.mark.parametrize(("body", "message"), BAD_LABELS)
def test_unreadable_labels_score_zero_by_default(server, body, message):
    """Before: a 422 that OpenRLHF retries 5 times, then training crashed. Now the row scores 0, flagged."""
    before = server.get("/metrics", params={"format": "json"}).json()["label_errors"]
    r = _post_like_openrlhf(server, "/openrlhf", body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["rewards"] == [0.0] and data["scores"] == [0.0]
    assert data["extra_logs"]["label_error"] == [1.0] and data["extra_logs"]["iou_reward"] == [0.0]
    assert server.get("/metrics", params={"format": "json"}).json()["label_errors"] == before + 1
    assert "vreward_label_errors_total" in server.get("/metrics").text


def test_one_unreadable_label_leaves_the_other_rows_scored(server):
    body = _openrlhf_body(RESPONSES[:3], [LABELS[0], "not a box", LABELS[0]])
    data = _post_like_openrlhf(server, "/openrlhf", body).json()
    expected = _expected(responses=[RESPONSES[0], RESPONSES[2]]).total.tolist()
    assert data["rewards"] == [expected[0], 0.0, expected[1]]
    assert data["extra_logs"]["label_error"] == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(("body", "message"), BAD_LABELS)
def test_strict_mode_refuses_unreadable_labels_in_the_status_line(strict_server, body, message):
    """OpenRLHF logs the aiohttp error (status and reason phrase, never the body): the message is the phrase."""
    r = _post_like_openrlhf(strict_server, "/openrlhf", body)
    assert r.status_code == 422
    assert message in r.json()["error"]
    assert message in r.reason_phrase
    assert _post_like_openrlhf(strict_server, "/openrlhf", _openrlhf_body()).reason_phrase == "OK"


def test_label_objects_carry_image_sizes(server):
    labels = [{"solution": "[10, 10, 100, 100]", "width": 1000, "height": 1000}] * 2
    r = server.post("/openrlhf", json=_openrlhf_body(RESPONSES[:2], labels))
    assert r.status_code == 200, r.text
    expected = _expected(responses=RESPONSES[:2], labels=["[10, 10, 100, 100]"] * 2, width=[1000] * 2,
                         height=[1000] * 2)
    assert r.json()["rewards"] == expected.total.tolist()


def test_score_endpoint_parts_and_reasons(server):
    body = {"completions": RESPONSES[:6] + RESPONSES[7:], "solutions": LABELS[:7],
            "options": {"iou": {"threshold": 0.75}}, "weights": {"format": 0.5}}
    r = server.post("/score", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    expected = make_task_reward("detection", {"format": 0.5}, iou={"threshold": 0.75}).score_all(
        body["completions"], solution=LABELS[:7])
    assert data["total"] == expected.total.tolist()
    for name, batch in expected.parts.items():
        assert data["rewards"][name]["scores"] == batch.scores.tolist()
        assert data["rewards"][name]["reasons"] == batch.reasons
    assert data["rewards"]["iou_reward"]["reasons"][2] == "points_not_boxes"


@pytest.mark.parametrize(("content", "status"), [
    (b"{not json", 400),
    (b"", 400),
    (b"[1, 2]", 422),
    (b'{"query": "abc", "prompts": [], "labels": []}', 422),
    (b'{"query": [1], "prompts": ["p"], "labels": ["[0,0,1,1]"]}', 422),
    (b'{"query": ["a", "b"], "prompts": ["a"], "labels": ["[0,0,1,1]", "[0,0,1,1]"]}', 422),
    (b'{"query": ["a"], "prompts": ["a"], "labels": ["[0,0,1,1]", "[0,0,1,1]"]}', 422),
    (b'{"query": ["a"], "prompts": ["a"], "labels": "[0,0,1,1]"}', 422),
])
def test_openrlhf_bad_requests(server, content, status):
    r = server.post("/openrlhf", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str) and r.json()["status"] == status
    assert server.get("/health").status_code == 200


@pytest.mark.filterwarnings("ignore::vreward.rewards.base.GroundTruthWarning")
def test_openrlhf_unreadable_label_scores_zero_and_training_goes_on(server):
    r = server.post("/openrlhf", json={"query": ["a"], "prompts": ["a"], "labels": ["not a box"]})
    assert r.status_code == 200, r.text
    assert r.json()["rewards"] == [0.0]


@pytest.mark.parametrize(("body", "status"), [
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "task": "pose"}, 400),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "task": 3}, 422),
    ({"completions": ["a", "b"], "solutions": ["[0,0,1,1]"]}, 422),
    ({"completions": "a", "solutions": ["[0,0,1,1]"]}, 422),
    ({"completions": [3], "solutions": ["[0,0,1,1]"]}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "options": {"iou": {"threshold": 2}}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "options": {"iou": {"nope": 1}}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "options": {"accuracy": {}}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "weights": {"iou": "x"}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "columns": {"image": ["/etc/passwd"]}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "columns": {"width": [1, 2], "height": [1]}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "columns": {"width": [-1], "height": [1]}}, 422),
    ({"completions": ["a"], "solutions": ["[0,0,1,1]"], "extra": 1}, 422),
])
def test_score_bad_requests(server, body, status):
    r = server.post("/score", json=body)
    assert r.status_code == status, r.text
    assert r.json()["status"] == status
    assert server.get("/health").status_code == 200


def test_oversized_body_and_batch(server):
    big = {"query": ["x" * 300_000], "prompts": [""], "labels": ["[0,0,1,1]"]}
    r = server.post("/openrlhf", json=big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(40):
            yield b" " * 10_000

    r = server.post("/openrlhf", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    many = _openrlhf_body(["<answer>[1, 1, 2, 2]</answer>"] * 65, ["[1, 1, 2, 2]"] * 65)
    assert server.post("/openrlhf", json=many).status_code == 413
    assert _post_like_openrlhf(server, "/openrlhf", _openrlhf_body()).status_code == 200


def test_concurrent_requests(server):
    bodies = [_openrlhf_body(RESPONSES[i:] + RESPONSES[:i]) for i in range(8)]
    expected = [_expected(responses=RESPONSES[i:] + RESPONSES[:i]).total.tolist() for i in range(8)]

    def call(i):
        with httpx.Client(base_url=str(server.base_url), timeout=30) as client:
            return [_post_like_openrlhf(client, "/openrlhf", bodies[i]).json()["rewards"] for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    for i, got in enumerate(results):
        assert got == [expected[i]] * 5


def test_metrics(server):
    _post_like_openrlhf(server, "/openrlhf", _openrlhf_body())
    server.post("/openrlhf", content=b"{", headers={"Content-Type": "application/json"})
    text = server.get("/metrics").text
    assert 'vreward_requests_total{endpoint="/openrlhf",status="200"}' in text
    assert 'vreward_requests_total{endpoint="/openrlhf",status="400"}' in text
    assert "vreward_completions_scored_total" in text
    data = server.get("/metrics", params={"format": "json"}).json()
    assert data["completions_scored"] >= len(RESPONSES)
    assert data["errors_by_status"]["400"] >= 1
    assert data["latency_seconds"]["/openrlhf"]["count"] >= 2


def test_adapter_functions():
    assert split_response("P: <answer>x</answer> <|endoftext|>\n", "P: ") == ("<answer>x</answer>", True)
    assert split_response("P:<answer>x</answer>", "P: ") == ("<answer>x</answer>", True)
    (row,) = parse_request({"query": ["ab"], "prompts": ["a"], "labels": ["s"]})
    assert (row.completion, row.solution, row.prompt_found, row.label_error) == ("b", "s", True, None)
    (row,) = parse_request({"query": ["ab"], "labels": ['{"solution": "s", "width": 5, "height": 6}']})
    assert (row.solution, row.columns) == ("s", {"width": 5, "height": 6})
    answer = build_response([1.0], [0.5], {"iou_reward": [1.0]}, [row.with_label_error("x")])
    assert answer["extra_logs"]["label_error"] == [1.0] and answer["scores"] == [0.5]


def test_create_app_validates_configuration():
    with pytest.raises(ValueError, match="unknown task"):
        create_app(task="pose")
    with pytest.raises(ValueError, match="threshold"):
        create_app(options={"iou": {"threshold": 5}})
    assert parse_weights("iou=1,format=0.5") == {"iou": 1.0, "format": 0.5}
    with pytest.raises(ValueError):
        parse_weights("iou")
