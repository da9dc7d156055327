"""The PostgreSQL yardstick: pgbench TPC-B on the benchmarked server, as a row of the same table.

TARGETS.md states the write-path targets as "mutation tps ÷ pgbench TPC-B tps on the same
PostgreSQL, same client count". This row measures the divisor in the same run: it creates a
scratch database next to the benchmarked one (`pgbench -i -s 10`), runs a short unmeasured
warm-up, then `pgbench -c <concurrency> -j 2 -T <duration>`, and drops the database again.
req/s is pgbench's own "tps (without initial connection time)"; p50/p99 come from its
per-transaction log (-l); "gen CPU" is pgbench's CPU time.
"""

from __future__ import annotations

import re
import resource
import secrets
import shutil
import subprocess
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from bench.loadgen import Outcome
from bench.scenarios import ExternalResult, ExternalRun
from bench.serverctl import BenchSetupError

SCALE: Final = 10
MAX_THREADS: Final = 2
_TPS: Final = re.compile(r"^tps = ([0-9.]+) \((?:without initial connection time|excluding)", re.M)
_PROCESSED: Final = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED: Final = re.compile(r"^number of failed transactions: (\d+)", re.M)


def libpq_url(database_url: str, database: str | None = None) -> str:
    """The Tortoise database URL as a libpq URI (optionally naming another database), without
    Tortoise's own query options (pool sizes), which libpq would refuse."""
    parts = urlsplit(database_url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit(parts._replace(scheme="postgresql", path=path, query="", fragment=""))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BenchSetupError(f"`{name}` is not on PATH (it comes with the PostgreSQL client)")
    return found


def _run(command: Sequence[str], env: Mapping[str, str], timeout: float) -> str:
    try:
        completed = subprocess.run(
            list(command),
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchSetupError(f"`{Path(command[0]).name}` took over {timeout:g} s") from None
    if completed.returncode != 0:
        output = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
        # Never print the command line: its URI may carry a password.
        raise BenchSetupError(
            f"`{Path(command[0]).name}` failed ({completed.returncode}):\n{output}"
        )
    return completed.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_summary(stdout: str) -> tuple[float, int, int]:
    """tps, transactions processed, transactions failed, from pgbench's summary."""
    tps = _TPS.search(stdout)
    processed = _PROCESSED.search(stdout)
    if tps is None or processed is None:
        raise BenchSetupError(f"unexpected pgbench output:\n{stdout[-1500:]}")
    failed = _FAILED.search(stdout)  # PostgreSQL 15+ prints it
    return float(tps.group(1)), int(processed.group(1)), int(failed.group(1)) if failed else 0


def read_latencies(log_prefix: Path) -> array[float]:
    """Per-transaction latencies in seconds from pgbench's -l logs (one file per thread).

    Line format: client_id transaction_no time script_no time_epoch time_us [...], where `time`
    is the latency in µs (or "failed"/"skipped")."""
    latencies: array[float] = array("d")
    for path in sorted(log_prefix.parent.glob(f"{log_prefix.name}.*")):
        with path.open() as log:
            for line in log:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1e6)
    return latencies


def run_tpcb(run: ExternalRun) -> ExternalResult:
    pgbench, createdb, dropdb = _tool("pgbench"), _tool("createdb"), _tool("dropdb")
    maintenance = libpq_url(run.database_url)
    scratch = f"loyalty_pgbench_{secrets.token_hex(4)}"
    target = libpq_url(run.database_url, scratch)
    clients = str(run.concurrency)
    threads = str(min(MAX_THREADS, run.concurrency))
    seconds = max(1, round(run.duration))  # -T takes whole seconds
    _run([createdb, f"--maintenance-db={maintenance}", scratch], run.env, 60)
    try:
        _run([pgbench, "-i", "-q", "-s", str(SCALE), target], run.env, 600)
        if run.warmup >= 0.5:
            warmup = str(max(1, round(run.warmup)))
            _run([pgbench, "-c", clients, "-j", threads, "-T", warmup, target], run.env, 600)
        log_prefix = run.workdir / f"{scratch}-log"
        cpu_before = _children_cpu()
        stdout = _run(
            [
                pgbench,
                "-c",
                clients,
                "-j",
                threads,
                "-T",
                str(seconds),
                "-l",
                f"--log-prefix={log_prefix}",
                target,
            ],
            run.env,
            seconds + 600,
        )
        cpu_seconds = _children_cpu() - cpu_before
    finally:
        _run([dropdb, f"--maintenance-db={maintenance}", "--if-exists", scratch], run.env, 60)
    tps, processed, failed = parse_summary(stdout)
    outcome = Outcome(
        requests=processed + failed,
        errors=failed,
        latencies=read_latencies(log_prefix),
        cpu_seconds=cpu_seconds,
    )
    if failed:
        outcome.error_samples.append(f"{failed} pgbench transactions failed")
    return ExternalResult(outcome=outcome, seconds=float(seconds), rps=tps)
