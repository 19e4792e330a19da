"""Throughput of the reward server on loopback: single-sample and batched OpenRLHF requests, 1..N workers.

For each worker count (1, 2 and the machine's cores, deduplicated) it starts ``vreward serve --workers N`` as a
separate process on a free 127.0.0.1 port, then, from this process, runs for ``--seconds`` each:

* ``single``: ``--concurrency`` (default 64) concurrent requests of one sample each, as OpenRLHF 0.10+ posts
  (aiohttp, one query per request, a Qwen-VL query with its image pads expanded);
* ``batch``: ``--batch-clients`` (default 4) concurrent requests of ``--batch`` (default 128) samples each;
* ``sequential`` (one worker only): one single-sample request at a time, whose latency minus the in-process
  ``score_all`` of one row is the per-request overhead.

Reports requests/s, completions/s and p50/p99 latency, and the in-process composite reward on the same rows.
The load loops are bounded in time and stop by themselves. Writes ``benchmarks/out/server.json``.

    python benchmarks/bench_server.py [--seconds 5] [--concurrency 64] [--batch 128] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SINGLE_THREAD_ENV, fmt_rate, fmt_s, print_table, single_thread, write_results  # noqa: E402

single_thread()

HOST = "127.0.0.1"
PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
          "<|image_pad|><|vision_end|>Detect all objects of the categories in the image. Output the thinking "
          "process in <think> </think> and the final answer in <answer> </answer> tags.<|im_end|>\n"
          "<|im_start|>assistant\n")
IMAGE_PADS = 256  # a 448 x 448 image in Qwen2-VL (14-pixel patches merged 2 x 2)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _bodies(texts: list[str], solutions: list[str], size: int) -> list[bytes]:
    """OpenRLHF request bodies of ``size`` queries (query: prompt with expanded pads + response + <|im_end|>)."""
    expanded = PROMPT.replace("<|image_pad|>", "<|image_pad|>" * IMAGE_PADS)
    return [json.dumps({"query": [expanded + t + "<|im_end|>" for t in texts[i:i + size]],
                        "prompts": [PROMPT] * len(texts[i:i + size]), "labels": solutions[i:i + size]}).encode()
            for i in range(0, len(texts) - size + 1, size)]


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, **SINGLE_THREAD_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "vreward.cli", "serve", "--host", HOST, "--port", str(port),
                             "--workers", str(workers), "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, f"http://{HOST}:{port}"


async def wait_ready(session, base: str, proc: subprocess.Popen, workers: int) -> None:
    """Until every worker answers (each warms its rewards on its first request)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            async with session.get(base + "/health") as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start in 120 s")


async def load(session, url: str, bodies: list[bytes], concurrency: int, seconds: float, rows: int) -> dict:
    """``concurrency`` request loops for ``seconds``; latency of every request."""
    latencies: list[float] = []
    failures = 0
    stop_at = time.perf_counter() + seconds
    headers = {"Content-Type": "application/json"}

    async def loop(k: int) -> None:
        nonlocal failures
        i = k
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as r:
                data = await r.json()
            latencies.append(time.perf_counter() - t)
            if r.status != 200 or len(data["rewards"]) != rows:
                failures += 1
            i += concurrency

    start = time.perf_counter()
    await asyncio.gather(*(loop(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {"concurrency": concurrency, "rows_per_request": rows, "duration_s": elapsed,
            "requests": len(latencies), "failures": failures, "requests_per_s": len(latencies) / elapsed,
            "completions_per_s": len(latencies) * rows / elapsed,
            "latency_p50_s": statistics.median(latencies), "latency_p99_s": _percentile(latencies, 0.99)}


async def measure(workers: int, singles: list[bytes], batches: list[bytes], args, sequential: bool) -> dict:
    import aiohttp

    proc, base = start_server(workers)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            await wait_ready(session, base, proc, workers)
            url = base + "/openrlhf"
            await load(session, url, singles, max(8, workers * 4), 1.0, 1)  # warm every worker's reward
            out = {"workers": workers,
                   "single": await load(session, url, singles, args.concurrency, args.seconds, 1),
                   "batch": await load(session, url, batches, args.batch_clients, args.seconds, args.batch)}
            if sequential:
                out["sequential"] = await load(session, url, singles, 1, args.seconds, 1)
            return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def in_process(texts: list[str], solutions: list[str], batch: int) -> dict:
    """The server's scoring without HTTP: one row at a time and batches of ``batch``."""
    from vreward.composite import make_task_reward

    reward = make_task_reward("detection")
    reward.score_all(texts[:batch], solution=solutions[:batch])
    one = []
    for i in range(min(2000, len(texts))):
        t = time.perf_counter()
        reward.score_all([texts[i]], solution=[solutions[i]])
        one.append(time.perf_counter() - t)
    many = []
    for i in range(0, len(texts) - batch + 1, batch):
        t = time.perf_counter()
        reward.score_all(texts[i:i + batch], solution=solutions[i:i + batch])
        many.append(time.perf_counter() - t)
    return {"row_p50_s": statistics.median(one), "batch": batch, "batch_p50_s": statistics.median(many),
            "batch_completions_per_s": batch / statistics.fmean(many)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load (bounded)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent single-sample requests")
    parser.add_argument("--batch", type=int, default=128, help="samples per batched request")
    parser.add_argument("--batch-clients", type=int, default=4, help="concurrent batched requests")
    parser.add_argument("--workers", type=int, nargs="*", help="worker counts (default: 1, 2 and the cores)")
    args = parser.parse_args(argv)

    from corpus import make_corpus

    completions, solutions = make_corpus(args.batch * 32, seed=0)
    texts = [c[0]["content"] for c in completions]
    singles, batches = _bodies(texts, solutions, 1), _bodies(texts, solutions, args.batch)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = args.workers or sorted({1, 2, cores})
    local = in_process(texts, solutions, args.batch)
    runs = [asyncio.run(measure(n, singles, batches, args, sequential=(n == counts[0]))) for n in counts]

    rows = []
    for run in runs:
        for mode in ("sequential", "single", "batch"):
            if mode in run:
                r = run[mode]
                rows.append([run["workers"], mode, r["concurrency"], r["rows_per_request"],
                             f"{r['requests_per_s']:.0f}", fmt_rate(r["completions_per_s"]),
                             fmt_s(r["latency_p50_s"]), fmt_s(r["latency_p99_s"]), r["failures"]])
    print_table(rows, ["workers", "mode", "concurrency", "rows/request", "requests/s", "completions/s", "p50",
                       "p99", "failures"])
    overhead = runs[0]["sequential"]["latency_p50_s"] - local["row_p50_s"]
    print(f"in-process score_all: one row {fmt_s(local['row_p50_s'])}, {args.batch} rows "
          f"{fmt_s(local['batch_p50_s'])} ({fmt_rate(local['batch_completions_per_s'])}); per-request overhead "
          f"(sequential p50 - one row in-process) {fmt_s(overhead)}")
    path = write_results("server", {"runs": runs, "in_process": local, "overhead_per_request_s": overhead,
                                    "cores": cores, "image_pads": IMAGE_PADS,
                                    "config": {"task": "detection", "seconds": args.seconds,
                                               "client": "aiohttp, this process; server: a separate process"}})
    print(f"wrote {path}")
    return 1 if any(run[m]["failures"] for run in runs for m in ("single", "batch")) else 0


if __name__ == "__main__":
    sys.exit(main())
