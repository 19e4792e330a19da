"""OpenRLHF's remote reward protocol, as pure functions (no HTTP): request -> vreward rows -> response.

OpenRLHF (``--reward.remote_url http://host:port/openrlhf``; ``--remote_rm_url`` before 0.10) POSTs
``{"query": [...], "prompts": [...], "labels": [...]}``: ``query`` holds each prompt followed by the model's
response, decoded from token ids with special tokens kept; ``prompts`` the prompt as the chat template wrote it;
``labels`` the dataset's ``--data.label_key`` column (here: the ground truth, Visual-RFT's ``solution``), or
``""`` for every row when no label key is given. Since 0.10 the client posts one sample per request. It reads
``rewards`` (trained on), ``scores`` (dynamic filtering, which expects [0, 1]) and ``extra_logs`` (logged per
key, numbers only) from the answer.

The response is split off each query by this rule (:func:`split_response`):

1. when the query starts with its prompt (or the prompt without trailing whitespace), the prompt is removed;
2. otherwise, with each vision placeholder of the prompt matching a run of that placeholder in the query
   (OpenRLHF's processor expands ``<|image_pad|>`` into one token per image patch, so a vision prompt is never
   a prefix of its query), the prompt is removed when it is then a prefix;
3. otherwise the text after the last assistant turn (``<|im_start|>assistant\\n``) is the response;
4. otherwise the whole query is scored and the row is flagged (``extra_logs["prompt_not_prefix"]`` is 1);

then end-of-sequence markers (``<|im_end|>``, ``<|endoftext|>``, ...) and whitespace are removed from the end,
because the format reward matches the whole text.

>>> prompt = "<|im_start|>user\\n<|image_pad|>Find the cat<|im_end|>\\n<|im_start|>assistant\\n"
>>> query = prompt.replace("<|image_pad|>", "<|image_pad|>" * 3) + "<answer>[1, 2, 3, 4]</answer><|im_end|>"
>>> split_response(query, prompt)
('<answer>[1, 2, 3, 4]</answer>', True)
>>> split_response("other text", "prompt")
('other text', False)

A label that cannot be read (no ``solution``, an empty label, a malformed ground truth) is the row's
``label_error``: the server answers such rows with reward 0 and ``extra_logs["label_error"] = 1`` by default,
or refuses the request in strict mode (``vreward serve --strict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vreward.adapters.chat import DEFAULT_STRIP_SUFFIXES, after_last_assistant_turn, prompt_end, strip_end
from vreward.errors import ClientError

__all__ = ["DEFAULT_STRIP_SUFFIXES", "LABEL_COLUMNS", "OpenRLHFRow", "build_response", "parse_request",
           "split_response"]

# Keys of a label object (a dict, or a JSON object string starting with "{" that has a "solution" key) that
# become reward keywords beside the solution: image sizes for frame conversion. A `family` key names the model
# family of the row (vreward.families), which sets how its answer is read and the model's frame.
LABEL_COLUMNS: tuple[str, ...] = ("width", "height", "image_size")
MISSING_LABEL_HINT = ("start OpenRLHF with --data.label_key (--label_key before 0.10) naming the dataset's "
                      "ground-truth column")


@dataclass(frozen=True)
class OpenRLHFRow:
    """One query of a request: the response to score, its ground truth and size columns, whether its prompt was
    found in the query, and why its label cannot be read (None when it can)."""

    completion: str
    solution: Any
    columns: dict[str, Any]
    prompt_found: bool
    label_error: str | None = None
    family: str | None = None

    def with_label_error(self, message: str) -> OpenRLHFRow:
        return OpenRLHFRow(self.completion, self.solution, self.columns, self.prompt_found, message, self.family)


def split_response(query: str, prompt: str | None,
                   strip_suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> tuple[str, bool]:
    """(response, whether the prompt was found in the query); see the module's rule."""
    if prompt is None:
        return strip_end(query, strip_suffixes), True
    text = _after_prefix(query, prompt)
    if text is None:
        text = after_last_assistant_turn(query)
    return strip_end(query if text is None else text, strip_suffixes), text is not None


def _after_prefix(query: str, prompt: str) -> str | None:
    """The query after the prompt (or the prompt without trailing whitespace), vision placeholder runs
    matching the prompt's single placeholders."""
    for candidate in (prompt, prompt.rstrip()):
        if query.startswith(candidate):  # the empty prompt is a prefix of every query
            return query[len(candidate):]
    for candidate in (prompt, prompt.rstrip()):
        end = prompt_end(query, candidate) if candidate else None
        if end is not None:
            return query[end:]
    return None


def parse_request(body: Any, *, max_batch: int | None = None,
                  strip_suffixes: Sequence[str] = DEFAULT_STRIP_SUFFIXES) -> list[OpenRLHFRow]:
    """Validate a decoded OpenRLHF request body and map it to one row per query.

    Raises :class:`ClientError` (status 422) for a body that is not OpenRLHF's protocol (wrong types, missing
    ``query``, lengths that differ) and (status 413) for more than ``max_batch`` queries. Labels that cannot be
    read are not errors of the request: they are the rows' ``label_error``.
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
    if labels is not None and not isinstance(labels, list):
        raise ClientError(f"`labels` must be a list, got {_kind(labels)}")
    if labels is not None and len(labels) != n:
        raise ClientError(f"`labels` has {len(labels)} entries but `query` has {n}")
    rows = []
    for i, query in enumerate(queries):
        text, found = split_response(query, prompts[i] if prompts is not None else None, strip_suffixes)
        solution, columns, error, family = _read_label(labels, i)
        rows.append(OpenRLHFRow(text, solution, columns, found, error, family))
    return rows


def _read_label(labels: list[Any] | None, i: int) -> tuple[Any, dict[str, Any], str | None, str | None]:
    """(solution, size columns, why the label cannot be read, model family) of row ``i``."""
    if labels is None:
        return None, {}, f"`labels` is missing: {MISSING_LABEL_HINT}", None
    label = labels[i]
    obj = label if isinstance(label, Mapping) else _json_object(label)
    if obj is None:
        if label is None or (isinstance(label, str) and not label.strip()):
            return None, {}, f"`labels[{i}]` is empty: {MISSING_LABEL_HINT}", None
        return label, {}, None, None
    if obj.get("solution") is None:
        return None, {}, f"`labels[{i}]` is an object without a `solution` key", None
    family = obj.get("family")
    if family is not None and not isinstance(family, str):
        return None, {}, f"`labels[{i}].family` must be a string, got {family!r:.40}", None
    columns = {key: obj[key] for key in LABEL_COLUMNS if obj.get(key) is not None}
    bad = next((key for key, value in columns.items() if not _valid_size(key, value)), None)
    if bad is not None:
        kind = " pair [width, height]" if bad == "image_size" else ""
        return None, {}, f"`labels[{i}].{bad}` must be a positive number{kind}, got {columns[bad]!r:.40}", None
    return obj["solution"], columns, None, family


def _json_object(label: Any) -> Mapping[str, Any] | None:
    """A label string holding a JSON object with a ``solution`` key, decoded (else None)."""
    import orjson

    if not (isinstance(label, str) and label.lstrip().startswith("{")):
        return None
    try:
        decoded = orjson.loads(label)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, Mapping) and "solution" in decoded else None


def _valid_size(key: str, value: Any) -> bool:
    def positive(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")

    if key == "image_size":
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(positive(v) for v in value)
    return positive(value)


def build_response(rewards: Sequence[float], scores: Sequence[float], parts: Mapping[str, Sequence[float]],
                   rows: Sequence[OpenRLHFRow]) -> dict[str, Any]:
    """OpenRLHF's answer: ``rewards`` (the weighted totals), ``scores`` (the totals on [0, 1], for dynamic
    filtering) and ``extra_logs`` (each reward's scores by name, ``prompt_not_prefix`` and ``label_error`` as
    0/1 per row: OpenRLHF logs numbers only, the same keys on every row)."""
    extra = {name: [float(x) for x in values] for name, values in parts.items()}
    extra["prompt_not_prefix"] = [0.0 if row.prompt_found else 1.0 for row in rows]
    extra["label_error"] = [0.0 if row.label_error is None else 1.0 for row in rows]
    return {"rewards": [float(x) for x in rewards], "scores": [float(x) for x in scores], "extra_logs": extra}


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


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)
