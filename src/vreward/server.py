"""HTTP reward server: vreward's rewards for trainers that call a reward URL (OpenRLHF) or any JSON client.

``create_app(task, weights, options, family)`` builds a FastAPI app; ``vreward serve`` runs it with uvicorn. Endpoints
(see docs/server.md): ``POST /openrlhf`` (also ``POST /get_reward``), ``POST /score``, ``GET /health``,
``GET /metrics`` (Prometheus text; ``?format=json`` for JSON).

Bodies are read with a size limit before any parsing (413), decoded with orjson, validated by hand, and every
client error is a 4xx with ``{"error": message, "status": code}`` whose message is also the status line's reason
phrase (:mod:`vreward.http_reasons`: OpenRLHF logs only that). Requests of up to :data:`INLINE_ROWS` rows are
scored on the event loop, the rows of concurrent requests together (:class:`vreward.batching.RowBatcher`: no
thread hop, one ``score_all`` per reward for all of them); larger ones run in the worker thread pool.

OpenRLHF rows whose label cannot be read score 0 with ``extra_logs["label_error"] = 1`` and are counted
(``vreward_label_errors_total``), so one bad row never stops training; ``strict=True`` refuses the request
(422, naming the row and the field) instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from vreward import http_reasons
from vreward.adapters.openrlhf import DEFAULT_STRIP_SUFFIXES, OpenRLHFRow, build_response, parse_request
from vreward.batching import Row, RowBatcher, RowScore, score_rows_isolated
from vreward.cache import BoundedCache
from vreward.composite import CompositeReward, make_task_reward
from vreward.errors import ClientError
from vreward.registry import TASKS

# A Qwen2.5-VL query carries up to 16,384 <|image_pad|> tokens per image (about 200 kB of text), and older
# OpenRLHF clients post hundreds of queries per request.
DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_BATCH = 4096
# Requests of at most this many rows are scored on the event loop, micro-batched with concurrent ones.
INLINE_ROWS = 16
# Columns /score passes to the rewards beside `solution` (image sizes only: no paths the server would open).
SCORE_COLUMNS = ("width", "height", "image_size")
_REWARD_CACHE_SIZE = 32


class Metrics:
    """Thread-safe counters of the server, exported as Prometheus text or JSON."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.latency_sum: Counter[str] = Counter()
        self.latency_count: Counter[str] = Counter()
        self.completions = 0
        self.scoring_errors = 0
        self.prompt_not_prefix = 0
        self.label_errors = 0

    def observe(self, endpoint: str, status: int, seconds: float, completions: int = 0) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.latency_sum[endpoint] += seconds
            self.latency_count[endpoint] += 1
            self.completions += completions

    def add(self, name: str, value: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            errors: Counter[str] = Counter()
            for (_, status), count in self.requests.items():
                if status >= 400:
                    errors[str(status)] += count
            return {
                "uptime_s": time.time() - self.started,
                "requests": [{"endpoint": e, "status": s, "count": c} for (e, s), c in sorted(self.requests.items())],
                "errors_by_status": dict(sorted(errors.items())),
                "completions_scored": self.completions,
                "scoring_errors": self.scoring_errors,
                "prompt_not_prefix": self.prompt_not_prefix,
                "label_errors": self.label_errors,
                "latency_seconds": {e: {"sum": self.latency_sum[e], "count": self.latency_count[e]}
                                    for e in sorted(self.latency_count)},
            }

    def prometheus(self) -> str:
        snap = self.snapshot()
        lines = [
            "# HELP vreward_requests_total HTTP requests by endpoint and status.",
            "# TYPE vreward_requests_total counter",
            *(f'vreward_requests_total{{endpoint="{r["endpoint"]}",status="{r["status"]}"}} {r["count"]}'
              for r in snap["requests"]),
            "# HELP vreward_completions_scored_total Completions scored.",
            "# TYPE vreward_completions_scored_total counter",
            f"vreward_completions_scored_total {snap['completions_scored']}",
            "# HELP vreward_scoring_errors_total Rows whose scoring raised (scored 0 with reason scoring_error).",
            "# TYPE vreward_scoring_errors_total counter",
            f"vreward_scoring_errors_total {snap['scoring_errors']}",
            "# HELP vreward_prompt_not_prefix_total OpenRLHF rows whose prompt was not a prefix of the query.",
            "# TYPE vreward_prompt_not_prefix_total counter",
            f"vreward_prompt_not_prefix_total {snap['prompt_not_prefix']}",
            "# HELP vreward_label_errors_total OpenRLHF rows whose label cannot be read (scored 0 unless strict).",
            "# TYPE vreward_label_errors_total counter",
            f"vreward_label_errors_total {snap['label_errors']}",
            "# HELP vreward_request_duration_seconds Request latency by endpoint.",
            "# TYPE vreward_request_duration_seconds summary",
        ]
        for endpoint, v in snap["latency_seconds"].items():
            lines.append(f'vreward_request_duration_seconds_sum{{endpoint="{endpoint}"}} {v["sum"]:.6f}')
            lines.append(f'vreward_request_duration_seconds_count{{endpoint="{endpoint}"}} {v["count"]}')
        lines += ["# HELP vreward_uptime_seconds Seconds since the app was created.",
                  "# TYPE vreward_uptime_seconds gauge", f"vreward_uptime_seconds {snap['uptime_s']:.3f}"]
        return "\n".join(lines) + "\n"


def build_reward(task: str, weights: Mapping[str, float] | None = None,
                 options: Mapping[str, Any] | None = None, preset: str = "default",
                 family: str | None = None) -> CompositeReward:
    """``make_task_reward`` with its errors as :class:`ClientError` (unknown task 400, bad options or family 422)."""
    from pydantic import ValidationError

    if not isinstance(task, str) or task not in TASKS:
        raise ClientError(f"unknown task {task!r}; choose one of {sorted(TASKS)}", 400)
    if weights is not None and not (isinstance(weights, Mapping) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in weights.values())):
        raise ClientError("`weights` must be an object of numbers by reward name", 422)
    if options is not None and not (isinstance(options, Mapping) and all(
            isinstance(v, Mapping) for v in options.values())):
        raise ClientError("`options` must be an object of option objects by reward name", 422)
    if family is not None and not isinstance(family, str):
        raise ClientError("`family` must be a string", 422)
    try:
        # strict: a row whose ground truth cannot be read raises, and the server answers that row alone (score 0
        # and its label error, or 422 in strict mode) with the problem named
        strict = {name: {"strict": True, **dict((options or {}).get(name, {}))} for name in TASKS[task].reward_names}
        unknown = {k: dict(v) for k, v in (options or {}).items() if k not in strict}
        return make_task_reward(task, dict(weights) if weights else None, preset=preset, family=family,
                                **strict, **unknown)
    except ValidationError as exc:
        raise ClientError(f"invalid options: {_short_validation(exc)}", 422) from None
    except (TypeError, ValueError) as exc:
        raise ClientError(f"invalid options: {exc}", 422) from None


def row_problem(exc: BaseException) -> str:
    """A scoring error's message without the row number the rewards give it (rows are renumbered per group)."""
    return re.sub(r"^solution row \d+: ", "", str(exc))


def create_app(task: str = "detection", weights: Mapping[str, float] | None = None,
               options: Mapping[str, Mapping[str, Any]] | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_batch: int = DEFAULT_MAX_BATCH, strip_suffixes: tuple[str, ...] = DEFAULT_STRIP_SUFFIXES,
               strict: bool = False, batch_window_ms: float = 0.0, preset: str = "default",
               family: str | None = None) -> FastAPI:
    """The reward server's app. ``task``, ``weights``, ``options`` and ``family`` (as in ``make_task_reward``)
    configure the default reward, ``preset`` the definitions of every reward it serves; they are validated here
    (``ValueError`` for bad ones). A request's ``family`` (``/score``'s body, an OpenRLHF label object's) replaces
    the server's. ``strict`` refuses OpenRLHF requests with unreadable labels (422) instead of scoring those rows
    0; ``batch_window_ms`` is how long the first inline row waits for rows of other requests (0: the event loop's
    next iteration)."""
    try:
        default_reward = build_reward(task, weights, options, preset, family)
    except ClientError as exc:
        raise ValueError(exc.message) from None  # a configuration error of the server itself
    if max_body_bytes <= 0 or max_batch <= 0:
        raise ValueError("max_body_bytes and max_batch must be positive")
    http_reasons.install()
    rewards: BoundedCache[CompositeReward] = BoundedCache("server rewards", _REWARD_CACHE_SIZE)
    metrics = Metrics()
    batcher = RowBatcher(window_s=batch_window_ms / 1000.0)
    app = FastAPI(title="vreward", version=_version(), docs_url=None, redoc_url=None, openapi_url=None)
    app.state.metrics = metrics
    app.state.config = {"task": task, "weights": dict(weights or {}), "options": dict(options or {}),
                        "max_body_bytes": max_body_bytes, "max_batch": max_batch, "strict": strict,
                        "batch_window_ms": batch_window_ms, "preset": preset, "family": family}

    def cached(req_task: Any, req_weights: Any, req_options: Any, req_family: Any) -> CompositeReward:
        try:
            key = orjson.dumps([req_task, req_weights or {}, req_options or {}, req_family],
                               option=orjson.OPT_SORT_KEYS)
        except TypeError:
            raise ClientError("`task`, `weights`, `options` and `family` must be JSON values", 422) from None
        return rewards.get_or_compute(key, lambda: build_reward(req_task, req_weights, req_options, preset,
                                                                req_family))

    def reward_for(req_task: str | None, req_weights: Any = None, req_options: Any = None,
                   req_family: Any = None) -> CompositeReward:
        row_family = req_family if req_family is not None else family
        if req_task in (None, task) and req_weights is None and req_options is None and row_family == family:
            return default_reward
        if req_task in (None, task):
            # the request's weights/options replace the server's, for the server's task
            return cached(task, req_weights if req_weights is not None else weights,
                          req_options if req_options is not None else options, row_family)
        return cached(req_task, req_weights, req_options, row_family)

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise ClientError("invalid Content-Length header", 400) from None
            if declared > max_body_bytes:
                raise ClientError(f"body of {declared} bytes exceeds the limit of {max_body_bytes}", 413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise ClientError(f"body exceeds the limit of {max_body_bytes} bytes", 413)
            chunks.append(chunk)
        data = b"".join(chunks)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # orjson refuses escaped lone surrogates ("\\udcff"), which Python clients (json.dumps) send for
            # undecodable model text; the standard library reads them
            try:
                return await run_in_threadpool(json.loads, data)
            except (ValueError, RecursionError):
                raise ClientError(f"malformed JSON: {exc}", 400) from None

    async def score_each(rows: list[Row]) -> list[RowScore | BaseException]:
        """Every row's score or the exception its scoring raised."""
        if len(rows) <= INLINE_ROWS:
            return await asyncio.gather(*(batcher.score(row) for row in rows), return_exceptions=True)
        return await run_in_threadpool(score_rows_isolated, rows)

    def unexpected(results: list[RowScore | BaseException]) -> int:
        """Count the rows whose scoring raised anything but a ``ValueError`` (never caused by model text)."""
        count = sum(isinstance(r, BaseException) and not isinstance(r, ValueError) for r in results)
        if count:
            metrics.add("scoring_errors", count)
        return count

    async def handle(endpoint: str, request: Request, work) -> Response:
        start = time.perf_counter()
        n = 0
        http_reasons.set_reason(None)
        try:
            body = await read_json(request)
            payload, n = await work(body, request)
            status = 200
            response: Response = Response(orjson.dumps(payload), media_type="application/json")
        except ClientError as exc:
            status = exc.status
            http_reasons.set_reason(exc.message)
            response = JSONResponse({"error": exc.message, "status": status}, status_code=status)
        except ValueError as exc:  # ground truth or columns (SolutionError is a ValueError)
            status = 422
            http_reasons.set_reason(str(exc))
            response = JSONResponse({"error": str(exc), "status": status}, status_code=status)
        except Exception as exc:  # noqa: BLE001 - a bug of the server, never of the input
            status = 500
            response = JSONResponse({"error": f"internal error: {type(exc).__name__}", "status": status},
                                    status_code=status)
        metrics.observe(endpoint, status, time.perf_counter() - start, n if status == 200 else 0)
        return response

    async def openrlhf_work(body: Any, request: Request) -> tuple[dict[str, Any], int]:
        rows = parse_request(body, max_batch=max_batch, strip_suffixes=strip_suffixes)
        if strict:
            refuse_label_errors(rows)
        task_name = request.query_params.get("task")
        reward = reward_for(task_name)
        readable = [i for i, row in enumerate(rows) if row.label_error is None]
        results = await score_each([Row(reward_for(task_name, req_family=rows[i].family), rows[i].completion,
                                        {"solution": rows[i].solution, **rows[i].columns}) for i in readable])
        unexpected(results)
        scored: list[RowScore | None] = [None] * len(rows)
        for i, result in zip(readable, results):
            if isinstance(result, ValueError):
                rows[i] = rows[i].with_label_error(f"`labels[{i}]`: {row_problem(result)}")
            elif isinstance(result, RowScore):
                scored[i] = result
                if result.bad_ground_truth:
                    rows[i] = rows[i].with_label_error(f"`labels[{i}]`: the ground truth cannot be read")
        if strict:
            refuse_label_errors(rows)
        names = [r.__name__ for r in reward.rewards]
        parts = {name: [s.scores[name] if s else 0.0 for s in scored] for name in names}
        metrics.add("label_errors", sum(row.label_error is not None for row in rows))
        metrics.add("prompt_not_prefix", sum(not row.prompt_found for row in rows))
        response = build_response([s.total if s else 0.0 for s in scored],
                                  [s.normalized if s else 0.0 for s in scored], parts, rows)
        return response, len(rows)

    async def score_work(body: Any, request: Request) -> tuple[dict[str, Any], int]:
        if not isinstance(body, dict):
            raise ClientError("the body must be a JSON object", 422)
        unknown = sorted(set(body) - {"completions", "solutions", "task", "weights", "options", "columns", "family"})
        if unknown:
            raise ClientError(f"unknown keys {unknown}", 422)
        completions = body.get("completions")
        if not isinstance(completions, list):
            raise ClientError("`completions` must be a list", 422)
        n = len(completions)
        if n > max_batch:
            raise ClientError(f"{n} completions in one request; the limit is {max_batch}", 413)
        for i, c in enumerate(completions):
            if not isinstance(c, (str, list)):
                raise ClientError(f"`completions[{i}]` must be a string or a list of messages", 422)
        solutions = body.get("solutions")
        if not isinstance(solutions, list) or len(solutions) != n:
            raise ClientError(f"`solutions` must be a list with one entry per completion ({n})", 422)
        columns = body.get("columns") or {}
        if not isinstance(columns, dict):
            raise ClientError("`columns` must be an object of lists", 422)
        for key, values in columns.items():
            if key not in SCORE_COLUMNS:
                raise ClientError(f"unknown column {key!r}; accepted: {list(SCORE_COLUMNS)}", 422)
            if not isinstance(values, list) or len(values) != n:
                raise ClientError(f"column `{key}` must be a list with one entry per completion ({n})", 422)
        _check_sizes(columns)
        req_task = body.get("task")
        if req_task is not None and not isinstance(req_task, str):
            raise ClientError("`task` must be a string", 422)
        reward = reward_for(req_task, body.get("weights"), body.get("options"), body.get("family"))
        results = await score_each([Row(reward, c, {"solution": s, **{k: v[i] for k, v in columns.items()}})
                               for i, (c, s) in enumerate(zip(completions, solutions))])
        for i, result in enumerate(results):
            if isinstance(result, ValueError):  # ground truth or columns: the request's fault
                raise ClientError(f"row {i}: {row_problem(result)}", 422)
        unexpected(results)
        names = [r.__name__ for r in reward.rewards]
        scored = [r if isinstance(r, RowScore) else None for r in results]
        return {"task": req_task or task, "total": [s.total if s else 0.0 for s in scored],
                "rewards": {name: {"scores": [s.scores[name] if s else 0.0 for s in scored],
                                   "reasons": [s.reasons[name] if s else "scoring_error" for s in scored]}
                            for name in names}}, n

    @app.post("/openrlhf")
    async def openrlhf(request: Request) -> Response:
        return await handle("/openrlhf", request, openrlhf_work)

    @app.post("/get_reward")
    async def get_reward(request: Request) -> Response:
        return await handle("/get_reward", request, openrlhf_work)

    @app.post("/score")
    async def score(request: Request) -> Response:
        return await handle("/score", request, score_work)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "task": task, "rewards": {r.__name__: w for r, w in
                                                         zip(default_reward.rewards, default_reward.weights)},
                "version": _version()}

    @app.get("/metrics")
    async def get_metrics(format: str = "prometheus") -> Response:
        if format == "json":
            return JSONResponse(metrics.snapshot())
        return PlainTextResponse(metrics.prometheus(), media_type="text/plain; version=0.0.4")

    return app


def refuse_label_errors(rows: list[OpenRLHFRow]) -> None:
    """Strict mode: a 422 naming the first row whose label cannot be read, and how many there are."""
    errors = [row.label_error for row in rows if row.label_error is not None]
    if errors:
        more = f" ({len(errors)} of {len(rows)} labels cannot be read)" if len(errors) > 1 else ""
        raise ClientError(f"{errors[0]}{more}", 422)


def _check_sizes(columns: Mapping[str, list[Any]]) -> None:
    """Image sizes must be positive finite numbers (``image_size``: [width, height] pairs)."""
    def positive(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")

    for key, values in columns.items():
        for i, v in enumerate(values):
            ok = (all(positive(x) for x in v) and len(v) == 2) if key == "image_size" and isinstance(v, list) \
                else key != "image_size" and positive(v)
            if not ok:
                kind = " pair [width, height]" if key == "image_size" else ""
                raise ClientError(f"`{key}[{i}]` must be a positive number{kind}, got {v!r:.40}", 422)


def _short_validation(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors())


def _version() -> str:
    import vreward

    return vreward.__version__


def app_from_env() -> FastAPI:
    """The app configured by ``VREWARD_SERVE_CONFIG`` (JSON of create_app's arguments), for uvicorn workers."""
    import os

    config = orjson.loads(os.environ.get("VREWARD_SERVE_CONFIG", "{}"))
    return create_app(**config)
