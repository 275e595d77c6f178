"""A bounded load test of `digitlab serve` on loopback, with the uploads people really send.

Three workloads, each driven by wrk (Debian's `wrk`, a C load generator, so the client costs little
CPU) at fixed concurrency until at least --requests requests have been answered, three rounds each
(medians reported):

- json:   POST /v1/predict with a 28x28 JSON array (MNIST test digits, rotating), with the model calls
          of simultaneous requests batched, and again with --no-batching for comparison;
- canvas: POST /v1/predict with 280x280 canvas PNGs as the page sends them (multipart, rotating);
- mix:    the canvas workload while two more clients send 12-megapixel phone photos, each one at a
          time, together at 1% of the canvas rate (two, so that the share holds while a photo takes
          longer than the interval between two): the p99 of the canvas requests is what users feel.

Also recorded: errors (socket errors plus non-2xx answers), each worker's peak resident memory (VmHWM)
after the mixed workload, and the CPU time each request costs the server and wrk. From those, the
ceiling: the requests per second these cores could answer if they did nothing else (cores / CPU per
request). A last workload gives the floor of any Python server here: uvicorn, with the same workers,
loop and HTTP parser, answering every JSON request with a fixed reply (`fixed_answer` below), no
FastAPI, no model. The server runs as deployed: with a feedback store whose writes need a writer's
token (`--feedback STORE`, one token made with `digitlab tokens add`), behind the Host allow-list and
the cross-site check. Traffic never leaves this machine.

With --beside, the figures are kept beside the main ones (under `beside`, labelled with this CPU's maker
and bfloat16 hardware) instead of replacing them: how a second machine records its own.

    python -m benchmarks.loadtest RUN [--requests 20000] [--concurrency 32] [--workers 2] [--beside]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "loadtest.json"
BOUNDARY = "digitlabloadtest"
SERVED_WITH = "--feedback STORE: writes need a writer token; Host allow-list and cross-site check on"

LUA = """
local bodies, index = {}, 0
init = function(args)
  for i, path in ipairs(args) do
    local file = io.open(path, "rb"); bodies[i] = file:read("*all"); file:close()
  end
end
request = function()
  index = index % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "%CONTENT_TYPE%"}, bodies[index])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, '
    .. '"errors": %d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def multipart(data: bytes, name: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def fixed_answer(scope, receive, send) -> None:
    """The least a Python server on uvicorn can do per request: read the body, send a fixed JSON reply."""
    if scope["type"] == "lifespan":  # nothing to start or stop
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": b'{"digit": 7}\n'})


def _start_server(run: str | None, workers: int, *options: str) -> tuple[subprocess.Popen, str]:
    """``digitlab serve RUN``, or uvicorn with ``fixed_answer`` when ``run`` is None."""
    port = _free_port()
    if run is None:
        command = ["-m", "uvicorn", "benchmarks.loadtest:fixed_answer", "--app-dir", str(Path(__file__).parent.parent),
                   "--log-level", "warning", "--no-access-log"]
    else:
        command = ["-m", "digitlab", "serve", run]
    process = subprocess.Popen([sys.executable, *command, "--port", str(port), "--workers", str(workers), *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                time.sleep(1.0 if workers > 1 else 0)  # the other workers finish starting
                return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"server exited: {process.stderr.read().decode()}") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start")


def _guarded_store(store: Path) -> list[str]:
    """The options that serve as deployed: a feedback store whose writes need a writer's token (one is
    made), with the Host allow-list and the cross-site check that every request passes anyway."""
    subprocess.run([sys.executable, "-m", "digitlab", "tokens", "add", "loadtest", "--role", "writer",
                    "--store", str(store)], check=True, stdout=subprocess.DEVNULL)
    return ["--feedback", str(store)]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def _worker_pids(server: subprocess.Popen, workers: int) -> list[int]:
    """The processes that answer requests: the server itself, or its children when there are several."""
    if workers == 1:
        return [server.pid]
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == server.pid and b"spawn_main" in command:  # not multiprocessing's resource tracker
            children.append(int(stat.parent.name))
    return children


def _server_pids(server: subprocess.Popen, workers: int) -> list[int]:
    """Every process of the server: the supervisor and its workers (or the one process)."""
    return sorted({server.pid, *_worker_pids(server, workers)})


def _cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children: wrk's, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk(url: str, script: Path, bodies: list[Path], concurrency: int, seconds: float) -> dict:
    output = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:.0f}s", "--timeout", "10s",
                             "-s", str(script), f"{url}/v1/predict", "--", *map(str, bodies)],
                            capture_output=True, text=True)
    lines = output.stdout.strip().splitlines()
    if output.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise SystemExit(f"wrk failed: {output.stderr.strip() or output.stdout.strip()}")
    return json.loads(lines[-1])


def _rounds(url: str, script: Path, bodies: list[Path], requests: int, concurrency: int, repeats: int,
            server: list[int], during=None) -> list[dict]:
    """``repeats`` wrk runs of at least ``requests`` answers each; ``during(seconds)`` runs beside each.
    Each round records the CPU milliseconds per answered request of the ``server`` processes and of wrk."""
    _wrk(url, script, bodies, concurrency, 3)  # warm-up: worker threads started, caches filled
    rate = _wrk(url, script, bodies, concurrency, 3)["requests"] / 3  # a first estimate
    rounds = []
    for _ in range(3 * repeats):  # a round that falls short of ``requests`` does not count; try again
        seconds = max(5.0, 1.25 * requests / max(rate, 1))
        side = during(seconds) if during else None
        server_before, client_before = _cpu_seconds(server), _children_cpu_seconds()
        result = _wrk(url, script, bodies, concurrency, seconds)
        server_cpu, client_cpu = _cpu_seconds(server) - server_before, _children_cpu_seconds() - client_before
        if side:
            result |= side()
        result |= {"server_cpu_ms": round(1000 * server_cpu / result["requests"], 4),
                   "client_cpu_ms": round(1000 * client_cpu / result["requests"], 4)}
        rate = result["requests"] / result["seconds"]
        if result["requests"] >= requests:
            rounds.append(result | {"requests_per_second": round(rate, 1)})
        if len(rounds) == repeats:
            return rounds
    raise SystemExit(f"fewer than {repeats} rounds reached {requests} requests")


def _summary(name: str, rounds: list[dict], **extra) -> dict:
    median = {key: round(statistics.median(r[key] for r in rounds), 4)
              for key in ("requests_per_second", "p50_ms", "p90_ms", "p99_ms", "server_cpu_ms", "client_cpu_ms")}
    return {"workload": name, **extra, "requests_per_round": [r["requests"] for r in rounds],
            "errors": sum(r["errors"] for r in rounds), **median, "rounds": rounds}


def _photo_sender(url: str, photos: list[bytes], rate: float, clients: int = 2):
    """``clients`` clients sending phone photos, each one at a time, together at ``rate`` per second,
    beside wrk; returns a starter."""

    def start(seconds: float):
        latencies, errors = [], []  # list appends: safe from both client threads
        stop = time.monotonic() + seconds

        def loop(index: int):
            while time.monotonic() < stop:
                started = time.monotonic()
                body = multipart(photos[index % len(photos)], "photo.jpg")
                request = urllib.request.Request(f"{url}/v1/predict", data=body, method="POST",
                                                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        response.read()
                except OSError as error:
                    errors.append(error)
                latencies.append(time.monotonic() - started)
                index += 1
                time.sleep(max(0.0, clients / rate - (time.monotonic() - started)))

        threads = [threading.Thread(target=loop, args=(client,)) for client in range(clients)]
        for thread in threads:
            thread.start()

        def finish() -> dict:
            for thread in threads:
                thread.join()
            return {"photos": len(latencies), "photo_errors": len(errors),
                    "photo_p50_ms": round(1000 * statistics.median(latencies or [float("nan")]), 1)}

        return finish

    return start


def measure(run: str, requests: int, concurrency: int, workers: int, repeats: int = 3) -> list[dict]:
    from benchmarks.report import peak_rss_mb
    from benchmarks.uploads import canvas_png, phone_photo_jpeg
    from digitlab import load_mnist

    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    _, (x_test, _) = load_mnist(verbose=False)
    rng = np.random.default_rng(0)
    results = []
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        json_bodies, canvas_bodies = [], []
        for index in range(50):
            json_bodies.append(directory / f"digit{index}.json")
            json_bodies[-1].write_text(json.dumps({"pixels": x_test[index].astype(int).tolist()}))
            canvas_bodies.append(directory / f"canvas{index}.multipart")
            canvas_bodies[-1].write_bytes(multipart(canvas_png(x_test[index]), "drawing.png"))
        json_script, canvas_script = directory / "json.lua", directory / "canvas.lua"
        json_script.write_text(LUA.replace("%CONTENT_TYPE%", "application/json"))
        canvas_script.write_text(LUA.replace("%CONTENT_TYPE%", f"multipart/form-data; boundary={BOUNDARY}"))
        photos = [phone_photo_jpeg(x_test[index], rng) for index in range(4)]
        deployed = _guarded_store(directory / "feedback")

        def json_rounds(served: str | None, *options: str) -> list[dict]:
            process, url = _start_server(served, workers, *(deployed if served else []), *options)
            try:
                return _rounds(url, json_script, json_bodies, requests, concurrency, repeats,
                               _server_pids(process, workers))
            finally:
                _stop(process)

        for batching in (True, False):
            results.append(_summary("json 28x28", json_rounds(run, *([] if batching else ["--no-batching"])),
                                    batching=batching))

        process, url = _start_server(run, workers, *deployed)
        try:
            server = _server_pids(process, workers)
            canvas = _rounds(url, canvas_script, canvas_bodies, requests, concurrency, repeats, server)
            results.append(_summary("canvas PNG 280x280", canvas, batching=True))
            photo_rate = 0.01 * statistics.median(r["requests_per_second"] for r in canvas)
            mixed = _rounds(url, canvas_script, canvas_bodies, requests, concurrency, repeats, server,
                            during=_photo_sender(url, photos, photo_rate))
            peak = [peak_rss_mb(pid) for pid in _worker_pids(process, workers)]
        finally:
            _stop(process)
        photo_bytes = round(statistics.mean(len(photo) for photo in photos) / 1e6, 2)
        results.append(_summary("canvas PNG + 1% 12 MP photos", mixed, batching=True,
                                photo_share=round(sum(r["photos"] for r in mixed)
                                                  / sum(r["requests"] + r["photos"] for r in mixed), 4),
                                photo_mb=photo_bytes, worker_peak_rss_mb=peak))
        results.append(_summary("floor: uvicorn, fixed reply to the json requests", json_rounds(None), batching=None))
    cores = os.cpu_count() or 1
    for result in results:
        result |= {"workers": workers, "concurrency": concurrency, "min_requests": requests,
                   "ceiling_requests_per_second": round(1000 * cores / (result["server_cpu_ms"]
                                                                        + result["client_cpu_ms"]))}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run directory (exported to ONNX for the fast path)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    from benchmarks.report import BESIDE_HELP, record

    parser.add_argument("--beside", action="store_true", help=BESIDE_HELP)
    arguments = parser.parse_args()
    from digitlab.runs import open_run

    model = open_run(arguments.run).config["model"]
    results = measure(arguments.run, arguments.requests, arguments.concurrency, arguments.workers)
    command = (f"python -m benchmarks.loadtest {arguments.run} --requests {arguments.requests} "
               f"--concurrency {arguments.concurrency} --workers {arguments.workers}"
               + (" --beside" if arguments.beside else ""))
    record(RESULTS, {"command": command, "model": model, "served_with": SERVED_WITH, "results": results},
           beside=arguments.beside)
    print(json.dumps([{k: v for k, v in r.items() if k != "rounds"} for r in results], indent=2))


if __name__ == "__main__":
    main()
