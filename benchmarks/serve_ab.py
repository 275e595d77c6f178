"""The API's latency from two source trees, side by side: is a refactor of serving/ free?

Starts `digitlab serve RUN` from each tree (its ``src`` first on PYTHONPATH, one worker each), then in
rounds sends POST /v1/predict with a 28x28 JSON body (MNIST test digits, rotating) over one kept-alive
connection, one tree after the other, the order swapped every round (ABBA: whichever runs second in a
round was measured slower here, by 10-15%, whatever the code). Prints each tree's median latency per
round, the median over rounds, and the ratio. Nothing is written: it answers one question, now.

    python -m benchmarks.serve_ab RUN --trees before=/tmp/old/src,after=src [--rounds 6] [--requests 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx

from digitlab import load_mnist


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(run: str, source: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", run, "--port", str(port), "--workers", "1"],
                               env={**os.environ, "PYTHONPATH": source}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"the server from {source} did not start")


def median_latency_ms(url: str, bodies: list[bytes], requests: int) -> float:
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url) as client:
        for body in bodies[:50]:  # warm-up
            client.post("/v1/predict", content=body, headers=headers)
        times = []
        for index in range(requests):
            started = time.perf_counter()
            response = client.post("/v1/predict", content=bodies[index % len(bodies)], headers=headers)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="an exported run directory")
    parser.add_argument("--trees", required=True, metavar="A=SRC,B=SRC", help="two names and their src folders")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=1500, help="requests per tree per round")
    arguments = parser.parse_args()
    trees = dict(pair.split("=", 1) for pair in arguments.trees.split(","))
    if len(trees) != 2:
        parser.error("--trees names exactly two trees")
    _, (x_test, _) = load_mnist(verbose=False)
    bodies = [json.dumps({"pixels": x_test[index].tolist()}).encode() for index in range(200)]
    servers = {name: start(arguments.run, source) for name, source in trees.items()}
    rounds: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for number in range(arguments.rounds):
            order = list(trees) if number % 2 == 0 else list(trees)[::-1]
            for name in order:
                rounds[name].append(round(median_latency_ms(servers[name][1], bodies, arguments.requests), 3))
    finally:
        for process, _ in servers.values():
            process.terminate()
    first, second = trees
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    print(json.dumps({"rounds_ms": rounds, "median_ms": medians,
                      f"{second}_over_{first}": round(medians[second] / medians[first], 3)}, indent=2))


if __name__ == "__main__":
    main()
