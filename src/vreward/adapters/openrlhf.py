"""OpenRLHF's remote reward protocol, as pure functions (no HTTP): request -> vreward inputs -> response.

OpenRLHF (``--remote_rm_url http://host:port/openrlhf``) POSTs ``{"query": [...], "prompts": [...],
"labels": [...]}``: ``query`` holds each prompt followed by the model's response (decoded with the chat
template), ``prompts`` the prompt alone, ``labels`` the dataset's ``--label_key`` column (here: the ground
truth, Visual-RFT's ``solution``). It reads ``rewards`` from the answer (older clients only that key; newer
ones also ``scores``, used by dynamic filtering, and ``extra_logs``, logged per key).

The response is split off each query by this rule (:func:`split_response`):

1. when the query starts with its prompt, the prompt is removed; otherwise, when it starts with the prompt
   without its trailing whitespace, that is removed; otherwise the whole query is scored and the row is
   flagged (``extra_logs["prompt_not_prefix"]`` is 1, the server counts it);
2. end-of-sequence markers left by decoding (``<|im_end|>``, ``<|endoftext|>``, ``<|eot_id|>``, ``</s>``,
   ``<|end|>`` by default) and surrounding whitespace are removed from the end, repeatedly, because the format
   reward matches the whole text.

>>> split_response("<|im_start|>user\\nFind the cat<|im_end|>\\n<|im_start|>assistant\\n<answer>[1, 2, 3, 4]</answer>"
...                "<|im_end|>", "<|im_start|>user\\nFind the cat<|im_end|>\\n<|im_start|>assistant\\n")
('<answer>[1, 2, 3, 4]</answer>', True)
>>> split_response("other text", "prompt")
('other text', False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vreward.errors import ClientError

DEFAULT_STRIP_SUFFIXES: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|end|>")
# Keys of a label object (a dict, or a JSON object string starting with "{" that has a "solution" key) that
# become reward keywords beside the solution: image sizes for frame conversion. A `family` key names the model
# family of the request's rows (the same in every label), which sets how the rewards read them.
LABEL_COLUMNS: tuple[str, ...] = ("width", "height", "image_size")


@dataclass(frozen=True)
class OpenRLHFBatch:
    """vreward's inputs from one OpenRLHF request."""

    completions: list[str]
    solutions: list[Any]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    prompt_found: list[bool] = field(default_factory=list)
    family: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keywords of ``CompositeReward.score_all``: ``solution`` and any size columns."""
        return {"solution": self.solutions, **self.columns}


def split_response(query: str, prompt: str | None,
                   strip_suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> tuple[str, bool]:
    """(response, whether the prompt was found as the query's prefix); see the module's rule."""
    found = False
    text = query
    if prompt:
        if query.startswith(prompt):
            text, found = query[len(prompt):], True
        else:
            bare = prompt.rstrip()
            if bare and query.startswith(bare):
                text, found = query[len(bare):], True
    elif prompt is not None:
        found = True  # an empty prompt is a prefix of every query
    return strip_end(text, strip_suffixes), found


def strip_end(text: str, suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> str:
    """``text`` without trailing whitespace and end-of-sequence markers (repeatedly)."""
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for s in suffixes:
            if s and text.endswith(s):
                text = text[: -len(s)].rstrip()
                changed = True
    return text


def parse_request(body: Any, *, max_batch: int | None = None,
                  strip_suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> OpenRLHFBatch:
    """Validate a decoded OpenRLHF request body and map it to vreward's inputs.

    Raises :class:`ClientError` (status 422) for wrong types, missing keys or lengths that differ,
    and (status 413) for more than ``max_batch`` queries.
    """
    if not isinstance(body, Mapping):
        raise ClientError(f"the body must be a JSON object, got {_kind(body)}")
    queries = _str_list(body, "query", required=True)
    n = len(queries)
    if max_batch is not None and n > max_batch:
        raise ClientError(f"{n} queries in one request; the limit is {max_batch}", 413)
    prompts = _str_list(body, "prompts", required=False)
    if prompts is not None and len(prompts) != n:
        raise ClientError(f"`prompts` has {len(prompts)} entries but `query` has {n}")
    labels = body.get("labels")
    if labels is None:
        raise ClientError("`labels` is missing: pass the ground truth with OpenRLHF's --label_key")
    if not isinstance(labels, list):
        raise ClientError(f"`labels` must be a list, got {_kind(labels)}")
    if len(labels) != n:
        raise ClientError(f"`labels` has {len(labels)} entries but `query` has {n}")
    solutions, columns, family = _split_labels(labels)
    completions: list[str] = []
    found: list[bool] = []
    for i, q in enumerate(queries):
        text, ok = split_response(q, prompts[i] if prompts is not None else None, strip_suffixes)
        completions.append(text)
        found.append(ok if prompts is not None else True)
    return OpenRLHFBatch(completions=completions, solutions=solutions, columns=columns, prompt_found=found,
                         family=family)


def build_response(total: Sequence[float], parts: Mapping[str, Sequence[float]],
                   prompt_found: Sequence[bool] | None = None) -> dict[str, Any]:
    """OpenRLHF's answer: ``rewards`` (the weighted total), ``scores`` (the same, for dynamic filtering) and
    ``extra_logs`` (each reward's scores by name, and ``prompt_not_prefix`` as 0/1 per row)."""
    rewards = [float(x) for x in total]
    extra = {name: [float(x) for x in values] for name, values in parts.items()}
    if prompt_found is not None:
        extra["prompt_not_prefix"] = [0.0 if ok else 1.0 for ok in prompt_found]
    return {"rewards": rewards, "scores": list(rewards), "extra_logs": extra}


def _str_list(body: Mapping[str, Any], key: str, *, required: bool) -> list[str] | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ClientError(f"`{key}` is missing")
        return None
    if not isinstance(value, list):
        raise ClientError(f"`{key}` must be a list of strings, got {_kind(value)}")
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise ClientError(f"`{key}[{i}]` must be a string, got {_kind(v)}")
    return value


def _split_labels(labels: list[Any]) -> tuple[list[Any], dict[str, list[Any]], str | None]:
    """Solutions, and size columns and the family when labels are objects with a ``solution`` key."""
    import orjson

    objects: list[Mapping[str, Any] | None] = []
    for i, label in enumerate(labels):
        obj = label if isinstance(label, Mapping) else None
        if obj is None and isinstance(label, str) and label.lstrip().startswith("{"):
            try:
                decoded = orjson.loads(label)
            except orjson.JSONDecodeError:
                decoded = None
            if isinstance(decoded, Mapping) and "solution" in decoded:
                obj = decoded
        if isinstance(label, Mapping) and "solution" not in label:
            raise ClientError(f"`labels[{i}]` is an object without a `solution` key")
        objects.append(obj)
    if not any(o is not None for o in objects):
        return list(labels), {}, None
    if not all(o is not None for o in objects):
        raise ClientError("`labels` mixes objects with a `solution` key and plain solutions")
    solutions = [o["solution"] for o in objects]  # type: ignore[index]
    columns: dict[str, list[Any]] = {}
    for key in LABEL_COLUMNS:
        present = [key in o for o in objects]  # type: ignore[operator]
        if all(present):
            columns[key] = [o[key] for o in objects]  # type: ignore[index]
        elif any(present):
            raise ClientError(f"`{key}` is given in some labels but not all")
    families = {o.get("family") for o in objects}  # type: ignore[union-attr]
    if len(families) > 1:
        raise ClientError(f"labels name different families {sorted(map(str, families))}: one request, one family")
    family = families.pop()
    if family is not None and not isinstance(family, str):
        raise ClientError("`family` in labels must be a string")
    return solutions, columns, family


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
