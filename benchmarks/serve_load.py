"""`newsqa serve` under load, and a cold `newsqa ask` answered through it.

Starts a real `newsqa serve` on the index (a fresh process, on a free loopback port), then:
1. `clients` concurrent clients each send a different question to `/v1/chat/completions` at once; each
   wait runs from the burst to that client's whole answer;
2. cold starts, interleaved so that each sees the same load: `newsqa ask` through the server (as a shell
   user types it, and with --json), `newsqa ask --json` answered in-process (no server), and a bare
   `python -c pass`, the floor of any command.

    python -m benchmarks.serve_load --index-dir DIR      # prints the figures as JSON
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bot_load import distinct_questions
from benchmarks.measure import OMP_WAIT_POLICY, ROOT, clean_env, percentiles, process_peak_rss_mb, stop

QUESTION = "When did Shoigu visit Pyongyang?"


class Server:
    """`newsqa serve --port 0` on an index, for the length of a `with` block."""

    def __init__(self, index_dir: Path, log: Path) -> None:
        self.index_dir, self.log = index_dir, log
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", "0"],
                env=clean_env(NEWSQA_INDEX_DIR=str(self.index_dir), NEWSQA_LLM="none"), cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=sink,
            )
        deadline = time.monotonic() + 300
        while not (found := re.search(r"answering at (http://[^/\s]+)/v1", self.log.read_text("utf-8", "replace"))) \
                or "Application startup complete" not in self.log.read_text("utf-8", "replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"newsqa serve did not start:\n{self.log.read_text('utf-8', 'replace')[-3000:]}")
            time.sleep(0.2)
        self.url = found.group(1)
        return self

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (user + system)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        if self.process:
            stop(self.process)


async def burst(url: str, questions: list[str]) -> tuple[list[float], int]:
    """Every question sent at once, each by its own client; each one's wait, and how many were answered."""
    import httpx

    async def one(client: httpx.AsyncClient, question: str, sent: float) -> tuple[float, bool]:
        body = {"model": "newsqa", "messages": [{"role": "user", "content": question}]}
        response = await client.post(url + "/v1/chat/completions", json=body)
        answered = response.status_code == 200 and bool(response.json()["choices"][0]["message"]["content"])
        return time.perf_counter() - sent, answered

    limits = httpx.Limits(max_connections=len(questions), max_keepalive_connections=len(questions))
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        await client.get(url + "/healthz")
        sent = time.perf_counter()
        results = await asyncio.gather(*(one(client, q, sent) for q in questions))
    return [wait for wait, _ in results], sum(ok for _, ok in results)


def cold_starts(url: str, index_dir: Path, runs: int) -> dict[str, Any]:
    """Cold starts interleaved (each kind once per round): through the server, in-process, `python -c pass`."""
    ask = [sys.executable, "-m", "bot.cli", "ask"]
    kinds = {
        "ask_server": ({"NEWSQA_SERVER_URL": url}, [*ask, QUESTION]),
        "ask_server_json": ({"NEWSQA_SERVER_URL": url}, [*ask, "--json", QUESTION]),
        "ask_in_process": ({"NEWSQA_INDEX_DIR": str(index_dir), "NEWSQA_LLM": "none"}, [*ask, "--json", QUESTION]),
        "python_pass": ({}, [sys.executable, "-c", "pass"]),
    }
    wall: dict[str, list[float]] = {kind: [] for kind in kinds}
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind, (env, command) in kinds.items():
            before = os.times()
            started = time.perf_counter()
            done = subprocess.run(command, env=clean_env(**env), cwd=ROOT, capture_output=True, text=True,
                                  timeout=600)
            wall[kind].append(time.perf_counter() - started)
            after = os.times()
            cpu[kind].append(after.children_user - before.children_user + after.children_system
                             - before.children_system)
            if done.returncode != 0 or done.stderr.strip():
                raise RuntimeError(f"{kind} failed or warned: {done.stderr[-2000:]}")
    result: dict[str, Any] = {"runs": runs}
    for kind in kinds:
        result[kind] = {**percentiles(wall[kind]), "cpu_p50_ms": round(statistics.median(cpu[kind]) * 1000, 1)}
    floor = result["python_pass"]["p50_ms"]
    for kind in ("ask_server", "ask_server_json", "ask_in_process"):
        result[kind]["ratio_to_python"] = round(result[kind]["p50_ms"] / floor, 1)
    return result


def measure(index_dir: Path, clients: int, runs: int, work: Path) -> dict[str, Any]:
    """Start the server, the burst, then the cold starts; the figures."""
    began = time.perf_counter()
    with Server(index_dir, work / "serve.log") as server:
        ready = time.perf_counter() - began
        questions = distinct_questions(clients)
        cpu_before = server.cpu_s()
        load_before = os.getloadavg()[0]
        waits, answered = asyncio.run(burst(server.url, questions))
        burst_cpu = server.cpu_s() - cpu_before
        cold = cold_starts(server.url, index_dir, runs)
        peak = process_peak_rss_mb(server.process.pid) if server.process else None
    return {
        "clients": clients,
        "distinct_questions": len(set(questions)),
        "answered": answered,
        "start_to_ready_s": round(ready, 2),
        **percentiles(waits),
        "last_s": round(max(waits), 2),
        "server_burst_cpu_s": round(burst_cpu, 2),
        "load_average": round(load_before, 2),
        "server_peak_rss_mb": peak,
        "cold": cold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7, help="cold starts of each kind")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    print(json.dumps(measure(args.index_dir, args.clients, args.runs, args.workdir)))


if __name__ == "__main__":
    main()
