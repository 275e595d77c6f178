"""A bounded load test of `digitlab serve` on loopback: single-image JSON requests at fixed concurrency.

Starts the server on 127.0.0.1, then drives POST /v1/predict with wrk (Debian's `wrk`, a C load
generator, so the client costs little CPU) at the given concurrency until at least --requests requests
have been answered, three times; reports the median throughput, p50/p90/p99 latency and the error
count (socket errors plus non-2xx answers). Traffic never leaves this machine.

    python -m benchmarks.loadtest RUN [--requests 20000] [--concurrency 32] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "loadtest.json"

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%BODY%]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, '
    .. '"errors": %d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(run: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", run, "--port", str(port),
                                "--workers", str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"server exited: {process.stderr.read().decode()}") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start")


def _wrk(url: str, script: Path, concurrency: int, seconds: float) -> dict:
    output = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout", "5s",
                             "-s", str(script), f"{url}/v1/predict"], capture_output=True, text=True)
    lines = output.stdout.strip().splitlines()
    if output.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise SystemExit(f"wrk failed: {output.stderr.strip() or output.stdout.strip()}")
    return json.loads(lines[-1])


def measure(run: str, requests: int, concurrency: int, workers: int, repeats: int = 3) -> dict:
    from digitlab import load_mnist

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    _, (x_test, _) = load_mnist(verbose=False)
    with tempfile.TemporaryDirectory() as temp:
        script = Path(temp) / "predict.lua"
        script.write_text(LUA.replace("%BODY%", json.dumps({"pixels": x_test[0].astype(int).tolist()})))
        process, url = _start_server(run, workers)
        try:
            rate = _wrk(url, script, concurrency, 3)["requests"] / 3  # warm-up and a first estimate
            rounds = []
            for _ in range(repeats):
                seconds = max(5.0, 1.25 * requests / max(rate, 1))
                result = _wrk(url, script, concurrency, seconds)
                while result["requests"] < requests:  # slower than estimated: run longer
                    seconds *= 1.5 * requests / max(result["requests"], 1)
                    result = _wrk(url, script, concurrency, seconds)
                rate = result["requests"] / result["seconds"]
                rounds.append(result | {"requests_per_second": round(rate, 1)})
        finally:
            process.terminate()
            process.wait(timeout=20)
    median = {key: round(statistics.median(r[key] for r in rounds), 3)
              for key in ("requests_per_second", "p50_ms", "p90_ms", "p99_ms")}
    return {"workers": workers, "concurrency": concurrency, "min_requests": requests,
            "requests_per_round": [r["requests"] for r in rounds], "errors": sum(r["errors"] for r in rounds),
            **median, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory (exported to ONNX for the fast path)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    arguments = parser.parse_args()
    from digitlab.runs import open_run

    model = open_run(arguments.run).config["model"]
    results = [measure(arguments.run, arguments.requests, arguments.concurrency, workers)
               for workers in arguments.workers]
    from benchmarks.report import machine_info, regenerate_readme, write_results

    command = (f"python -m benchmarks.loadtest {arguments.run} --requests {arguments.requests} "
               f"--concurrency {arguments.concurrency} --workers {' '.join(map(str, arguments.workers))}")
    write_results(RESULTS, {"command": command, "model": model, "machine": machine_info(), "results": results})
    regenerate_readme()
    print(json.dumps([{k: v for k, v in r.items() if k != "rounds"} for r in results], indent=2))


if __name__ == "__main__":
    main()
