"""Turning load-generator outcomes into the printed table and the JSON file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.loadgen import Outcome
from bench.scenarios import Scenario, Target


@dataclass(frozen=True)
class Row:
    name: str
    requests: int  # answered in the measured window, errors included
    errors: int
    rps: float  # successful requests per second
    p50_ms: float | None  # latencies of successful requests; None when there were none
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    loadgen_cpu_percent: float  # the load generator's CPU, in % of one core
    loadgen_cpu_us_per_request: float | None
    error_samples: tuple[str, ...]
    # What one count is: "request", or a sequence (the kiosk pair); rps then counts those.
    unit: str = "request"

    @classmethod
    def of(
        cls, scenario: Scenario, outcome: Outcome, duration: float, rps: float | None = None
    ) -> Row:
        """`rps` overrides successes ÷ duration (an outside tool's own figure)."""
        latencies = sorted(outcome.latencies)
        ok = len(latencies)

        def ms(p: float) -> float | None:
            return percentile(latencies, p) * 1000 if latencies else None

        return cls(
            name=scenario.name,
            requests=outcome.requests,
            errors=outcome.errors,
            rps=ok / duration if rps is None else rps,
            p50_ms=ms(50),
            p90_ms=ms(90),
            p99_ms=ms(99),
            max_ms=latencies[-1] * 1000 if latencies else None,
            loadgen_cpu_percent=100 * outcome.cpu_seconds / duration,
            loadgen_cpu_us_per_request=(
                1e6 * outcome.cpu_seconds / outcome.requests if outcome.requests else None
            ),
            error_samples=tuple(outcome.error_samples),
            unit=scenario.unit,
        )


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of sorted values: a latency some request really had."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Ratio:
    name: str
    metric: str  # "req/s" or "p50"
    value: float | None  # None when the baseline row had nothing to divide by
    target: Target | None = None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.value is None:
            return f"  (target {self.target}: not measured)"
        return f"  (target {self.target}: {'met' if self.target.met(self.value) else 'NOT met'})"


def ratios(scenarios: Sequence[Scenario], rows: Sequence[Row]) -> list[Ratio]:
    by_name = {row.name: row for row in rows}
    found = []
    for scenario in scenarios:
        baseline = by_name.get(scenario.compare_to or "")
        row = by_name.get(scenario.name)
        if baseline is None or row is None:
            continue
        mine, theirs = (
            (row.rps, baseline.rps)
            if scenario.compare_by == "req/s"
            else (row.p50_ms, baseline.p50_ms)
        )
        value = mine / theirs if mine is not None and theirs else None
        found.append(
            Ratio(f"{row.name}/{baseline.name}", scenario.compare_by, value, scenario.target)
        )
    return found


_COLUMNS = ("row", "requests", "errors", "req/s", "p50 ms", "p99 ms", "gen CPU")


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(rows: Sequence[Row], found_ratios: Sequence[Ratio]) -> str:
    cells = [
        (
            row.name,
            f"{row.requests:,}",
            f"{row.errors:,}",
            _number(row.rps, 1),
            _number(row.p50_ms, 2),
            _number(row.p99_ms, 2),
            f"{row.loadgen_cpu_percent:.0f}%",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [_COLUMNS, *cells]) for i in range(len(_COLUMNS))]

    def line(values: Sequence[str]) -> str:
        # The row name reads left to right; numbers line up on their last digit.
        first = values[0].ljust(widths[0])
        rest = (value.rjust(width) for value, width in zip(values[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    out = [line(_COLUMNS), "  ".join("-" * width for width in widths)]
    out.extend(line(values) for values in cells)
    for row in rows:
        if row.unit != "request":
            out.append(
                f"{row.name}: one count is a {row.unit} (req/s: per second; latency: from the "
                "first send to the last answer; a failure at any step: one error)"
            )
    for ratio in found_ratios:
        out.append(f"ratio {ratio.name} {ratio.metric}: {_number(ratio.value, 3)}{ratio.verdict}")
    for row in rows:
        for sample in row.error_samples:
            out.append(f"{row.name} error: {sample}")
    return "\n".join(out)


def redact(url: str) -> str:
    """The URL without its password, fit to print or store."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def as_json(meta: dict[str, Any], rows: Sequence[Row], found: Sequence[Ratio]) -> dict[str, Any]:
    return {
        "meta": meta,
        "rows": [asdict(row) | {"error_samples": list(row.error_samples)} for row in rows],
        "ratios": {
            ratio.name: {
                "metric": ratio.metric,
                "value": ratio.value,
                "target": None if ratio.target is None else str(ratio.target),
                "met": None
                if ratio.target is None or ratio.value is None
                else ratio.target.met(ratio.value),
            }
            for ratio in found
        },
    }
