"""The regression check (``make bench-quick``, SQLite, one app process, about 2.5 minutes).

    .venv/bin/python -m bench.quick                   # compare with bench/baseline.json
    .venv/bin/python -m bench.quick --write-baseline  # make this run the baseline (3 runs
                                                      # of each kind)

Runs time to first token over the SSE API at 10 and 50 streams ramped over 2 s, then
back to back, each beside the same load sent straight to the upstream; and CPU per chat
for each transport and feature (``bench.cpu``). It compares with the baseline only what
holds across machines and load: CPU per chat divided by the median of the calibration
loops timed in the same run, and latency as ratios to the direct call. It fails (exit 1)
when a chat fails, when a figure that the baseline has is no longer available, or when
CPU per chat per calibration grows more than 25 % (a figure over the line is measured
twice more and the median of all its runs is compared, so that one noisy run does not
fail it). Latency is reported, never failed on: on a shared 2-core machine it moves with
the neighbours' load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.__main__ import RESULTS, machine, provenance, ttft_scenario
from bench.procs import ROOT, App, Upstream

BASELINE = ROOT / "bench" / "baseline.json"
THRESHOLD = 0.25  # CPU per chat may grow this much over the baseline
GATED = "cpu_per_chat_per_calibration"
FIRST_REPEATS = {"sse": 3}  # the first-class figure; the others once, more if over the line
RETRY_REPEATS = 2


@dataclass
class Check:
    """One figure against the baseline."""

    name: str
    baseline: float | None
    current: float | None
    gate: bool  # whether it may fail the run
    ok: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline and self.current is not None:
            return self.current / self.baseline
        return None


def over_line(current: float, baseline: float, threshold: float = THRESHOLD) -> bool:
    """Whether ``current`` grew more than ``threshold`` over ``baseline``."""
    return current > baseline * (1 + threshold)


def compare(current: dict, baseline: dict, *, threshold: float = THRESHOLD) -> list[Check]:
    """Every figure of the run beside the baseline's; gated ones may fail."""
    checks = []
    for kind, figures in current["cpu"].items():
        base = baseline.get("cpu", {}).get(kind, {})
        name = f"CPU per chat per calibration, {kind}"
        if not figures.get("available", True):
            was = base.get("available", False)
            note = "no longer available" if was else "not available: " + figures.get("why", "")
            checks.append(Check(name, base.get(GATED), None, gate=was, ok=not was, note=note))
            continue
        if figures.get("failed"):
            note = f"{figures['failed']} chat(s) failed: {figures.get('error_kinds')}"
            checks.append(Check(name, base.get(GATED), figures[GATED], True, False, note))
            continue
        if GATED not in base:
            checks.append(Check(name, None, figures[GATED], gate=False, ok=True, note="new"))
            continue
        grew = over_line(figures[GATED], base[GATED], threshold)
        note = f"{figures['cpu_ms_per_chat']:.1f} ms/chat (baseline {base['cpu_ms_per_chat']:.1f})"
        checks.append(Check(name, base[GATED], figures[GATED], gate=True, ok=not grew, note=note))
    for label, figures in current["ttft"].items():
        base = baseline.get("ttft", {}).get(label, {})
        faults = figures["app"]["errors"] + figures["app"]["incomplete"]
        for key, title in (
            ("ttft_p50_ratio", "TTFT p50 / direct"),
            ("ttft_p99_ratio", "TTFT p99 / direct"),
            ("throughput_ratio", "chats per second / direct"),
        ):
            checks.append(
                Check(
                    f"{title}, SSE {label}",
                    base.get(key),
                    figures[key],
                    gate=faults > 0,
                    ok=faults == 0,
                    note=f"{faults} chat(s) failed" if faults else "reported, not gated",
                )
            )
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.gate and not check.ok]


def table(checks: list[Check]) -> str:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| figure | baseline | this run | ratio | |", "|---|---|---|---|---|"]
    for check in checks:
        ratio = "-" if check.ratio is None else f"{check.ratio:.2f}×"
        verdict = ("ok" if check.ok else "**FAIL**") if check.gate else "info"
        lines.append(
            f"| {check.name} | {number(check.baseline)} | {number(check.current)} | {ratio} | "
            f"{verdict} {check.note} |"
        )
    return "\n".join(lines)


def with_ratios(ttft: dict) -> dict:
    """TTFT rows with their latency as ratios to the direct call of the same run."""
    for figures in ttft.values():
        figures["ttft_p50_ratio"] = figures["app"]["ttft_p50_ms"] / figures["direct"]["ttft_p50_ms"]
        figures["ttft_p99_ratio"] = figures["app"]["ttft_p99_ms"] / figures["direct"]["ttft_p99_ms"]
    return ttft


def per_calibration(figures: dict) -> dict:
    """Each kind's CPU per chat over the median of every calibration of the run: one
    calibration can catch a busy moment, which paired with its own run alone made a
    single-run ratio swing by a fifth."""
    calibrations = [r["calibration_ms"] for f in figures.values() for r in f.get("runs", [])]
    if not calibrations:
        return figures
    calibration = statistics.median(calibrations)
    for f in figures.values():
        if f.get("available"):
            f["run_calibration_ms"] = calibration
            f[GATED] = f["cpu_ms_per_chat"] / calibration
    return figures


async def measure(baseline: dict, *, repeats: int = 1) -> dict:
    """The run's figures; ``repeats``: runs per kind at least (a baseline takes three)."""
    upstream = Upstream()
    app = App(upstream=upstream, database_url=None)
    try:
        users = app.prepare(users=60, big=False)["users"]
        app.start()
        ttft = await ttft_scenario(
            app, upstream, users, websocket=False, quick=True, shapes=("ramped",),
            concurrencies=(10, 50),
        )  # fmt: skip
        figures: dict = {}
        for kind in (*cpu.TRANSPORTS, *cpu.FEATURES):
            runs = max(repeats, FIRST_REPEATS.get(kind, 1))
            figures[kind] = await cpu.cpu_per_chat(app, upstream, users, kind=kind, repeats=runs)
            base = baseline.get("cpu", {}).get(kind, {})
            measured = figures[kind].get("available") and GATED in base
            if measured and over_line(per_calibration(figures)[kind][GATED], base[GATED]):
                print(f"[quick] {kind}: over the line, measuring again", flush=True)
                more = await cpu.cpu_per_chat(
                    app, upstream, users, kind=kind, repeats=RETRY_REPEATS
                )
                figures[kind].update(cpu.summary(figures[kind]["runs"] + more["runs"]))
        return {"ttft": with_ratios(ttft), "cpu": per_calibration(figures)}
    finally:
        app.stop()
        upstream.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-baseline", action="store_true")
    parser.add_argument("--baseline", default=str(BASELINE))
    args = parser.parse_args(argv)
    baseline = {} if args.write_baseline else json.loads(Path(args.baseline).read_text())
    started = time.perf_counter()
    report = {"machine": machine(), **provenance(), "load": "ramped over 2 s, back to back"}
    report.update(asyncio.run(measure(baseline, repeats=3 if args.write_baseline else 1)))
    report["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quick.json").write_text(json.dumps(report, indent=2))
    if args.write_baseline:
        Path(args.baseline).write_text(json.dumps(report, indent=2) + "\n")
        print(f"baseline written to {args.baseline} ({report['seconds']} s)")
        return 0
    checks = compare(report, baseline)
    print(
        f"bench-quick at {report['commit']} ({report['date']}, load {report['loadavg']}) "
        f"against the baseline of {baseline.get('commit')} ({baseline.get('date')}), "
        f"{report['seconds']} s\n"
    )
    print(table(checks))
    bad = failed(checks)
    if bad:
        print(f"\nFAILED: {', '.join(check.name for check in bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
