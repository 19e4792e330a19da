"""Load test of the reward server on loopback: OpenRLHF-style requests of 128 completions from concurrent clients.

Starts ``vreward.server`` with uvicorn in a background thread on 127.0.0.1 (a free port), then for
``--seconds`` (default 15) runs ``--clients`` threads that each post batches of 128 realistic detection
completions (``corpus.make_corpus``, wrapped in a chat-template prompt as OpenRLHF sends them) to
``/openrlhf``. Reports requests/s, completions/s, p50/p99 latency, and the in-process composite reward on the
same batches for comparison. Writes ``benchmarks/out/server.json``.

    python benchmarks/bench_server.py [--seconds 15] [--clients 8] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fmt_rate, fmt_s, print_table, single_thread, write_results  # noqa: E402

single_thread()

PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
          "<|image_pad|><|vision_end|>Detect all objects of the categories in the image. Output the thinking "
          "process in <think> </think> and the final answer in <answer> </answer> tags.<|im_end|>\n"
          "<|im_start|>assistant\n")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="load duration (the benchmark stops itself)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=32, help="distinct batches cycled through")
    args = parser.parse_args(argv)

    import httpx
    import uvicorn

    from corpus import make_corpus
    from vreward.composite import make_task_reward
    from vreward.server import create_app

    completions, solutions = make_corpus(args.batch * args.batches, seed=0)
    texts = [c[0]["content"] for c in completions]
    bodies = []
    for b in range(args.batches):
        sl = slice(b * args.batch, (b + 1) * args.batch)
        body = {"query": [PROMPT + t + "<|im_end|>" for t in texts[sl]], "prompts": [PROMPT] * args.batch,
                "labels": solutions[sl]}
        bodies.append(json.dumps(body).encode())

    # in-process: the composite reward on the same batches (the server's work without HTTP)
    reward = make_task_reward("detection")
    reward.score_all(texts[: args.batch], solution=solutions[: args.batch])  # compile / warm up
    inproc: list[float] = []
    deadline = time.perf_counter() + min(3.0, args.seconds)
    while time.perf_counter() < deadline or len(inproc) < args.batches:
        b = len(inproc) % args.batches
        sl = slice(b * args.batch, (b + 1) * args.batch)
        t = time.perf_counter()
        reward.score_all(texts[sl], solution=solutions[sl])
        inproc.append(time.perf_counter() - t)
        if len(inproc) >= 100_000:
            break

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(task="detection"), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    ready_by = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > ready_by:
            server.should_exit = True
            print("server did not start", file=sys.stderr)
            return 1
        time.sleep(0.05)

    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=base, timeout=60) as warm:  # warm up the server's reward
        assert warm.post("/openrlhf", content=bodies[0], headers=headers).status_code == 200

    latencies: list[list[float]] = [[] for _ in range(args.clients)]
    failures = [0] * args.clients
    stop_at = time.perf_counter() + args.seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            i = k
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                r = c.post("/openrlhf", content=bodies[i % len(bodies)], headers=headers)
                latencies[k].append(time.perf_counter() - t)
                if r.status_code != 200 or len(r.json()["rewards"]) != args.batch:
                    failures[k] += 1
                i += args.clients

    start = time.perf_counter()
    workers = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=args.seconds + 120)
    elapsed = time.perf_counter() - start
    server.should_exit = True
    thread.join(timeout=10)

    lat = [x for per in latencies for x in per]
    n_req = len(lat)
    server_res = {
        "clients": args.clients, "batch": args.batch, "duration_s": elapsed, "requests": n_req,
        "failures": sum(failures), "requests_per_s": n_req / elapsed,
        "completions_per_s": n_req * args.batch / elapsed,
        "latency_p50_s": statistics.median(lat), "latency_p99_s": _percentile(lat, 0.99),
        "latency_mean_s": statistics.fmean(lat),
    }
    inproc_res = {
        "batches": len(inproc), "batch": args.batch, "latency_p50_s": statistics.median(inproc),
        "latency_p99_s": _percentile(inproc, 0.99), "completions_per_s": args.batch / statistics.fmean(inproc),
    }
    print_table([
        ["server /openrlhf", f"{server_res['requests_per_s']:.1f}", fmt_rate(server_res["completions_per_s"]),
         fmt_s(server_res["latency_p50_s"]), fmt_s(server_res["latency_p99_s"])],
        ["in-process score_all", f"{1 / statistics.fmean(inproc):.1f}", fmt_rate(inproc_res["completions_per_s"]),
         fmt_s(inproc_res["latency_p50_s"]), fmt_s(inproc_res["latency_p99_s"])],
    ], ["path", "batches/s", "completions/s", "p50", "p99"])
    print(f"{args.clients} clients, batches of {args.batch}, {n_req} requests in {elapsed:.1f} s, "
          f"{server_res['failures']} failures")
    path = write_results("server", {"server": server_res, "in_process": inproc_res,
                                    "config": {"task": "detection", "seconds": args.seconds}})
    print(f"wrote {path}")
    return 1 if server_res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
