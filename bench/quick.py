"""The regression check (``make bench-quick``, SQLite, one app process per tree, ~3 minutes).

    .venv/bin/python -m bench.quick                   # this tree against the baseline commit
    .venv/bin/python -m bench.quick --write-baseline  # make HEAD the baseline commit
    .venv/bin/python -m bench.quick --against HEAD~1 --current HEAD --kinds sse --pairs 5

The baseline is a commit, named in ``bench/baseline.json``, not a figure: between sessions
on a shared 2-core machine CPU per chat moved by a quarter for the same code, while two
apps measured at the same time agree within a few per cent. So the check exports the
baseline commit (``git archive``, run with this virtualenv) and starts its app beside this
tree's, both against one loopback upstream, and for each transport and feature runs the
same load on both at once, one pair of runs or more. The gated figure is the median over
the pairs of current / baseline CPU per chat. It fails (exit 1) when that is more than
1.25 (a kind over the line is measured in two more pairs, and the median of all decides),
when a chat fails, or when a feature that the baseline's app serves is no longer
available. Time to first token over the SSE API at 10 and 50 streams ramped over 2 s,
through this tree's app and straight to the upstream, is reported as ratios to direct,
never failed on: it moves with the neighbours' load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.__main__ import RESULTS, machine, provenance, ttft_scenario
from bench.procs import ROOT, App, Upstream

BASELINE = ROOT / "bench" / "baseline.json"
THRESHOLD = 0.25  # CPU per chat may grow this much over the baseline commit's
FIRST_PAIRS = {"sse": 3}  # the first-class figure; the others once, more if over the line
RETRY_PAIRS = 2
STARTED = time.perf_counter()


def log(what: str) -> None:
    print(f"[quick] {time.perf_counter() - STARTED:5.0f} s  {what}", flush=True)


@dataclass
class Check:
    """One kind's CPU per chat, this tree's over the baseline commit's."""

    name: str
    ratio: float | None
    gate: bool  # whether it may fail the run
    ok: bool
    note: str = ""


def over_line(ratio: float, threshold: float = THRESHOLD) -> bool:
    """Whether a current / baseline ratio is more than ``threshold`` above 1."""
    return ratio > 1 + threshold


def pair_ratios(current: list[dict], baseline: list[dict]) -> list[float]:
    """Each pair's CPU per chat, current over baseline (runs of a pair are side by side)."""
    return [
        c["cpu_ms_per_chat"] / b["cpu_ms_per_chat"] for c, b in zip(current, baseline, strict=True)
    ]


def median_ratio(figures: dict) -> float | None:
    ratios = figures.get("pair_ratios")
    return statistics.median(ratios) if ratios else None


def compare(cpu_figures: dict, *, threshold: float = THRESHOLD) -> list[Check]:
    """Each kind's verdict from its pairs, its chats and its availability in both apps."""
    checks = []
    for kind, pair in cpu_figures.items():
        name = f"CPU per chat, {kind}"
        current, baseline = pair["current"], pair["baseline"]
        if not current["available"]:
            was = baseline["available"]
            note = "no longer available" if was else "not available: " + current.get("why", "")
            checks.append(Check(name, None, gate=was, ok=not was, note=note))
            continue
        if not baseline["available"]:
            checks.append(Check(name, None, gate=False, ok=True, note="new since the baseline"))
            continue
        failed = current["failed"] + baseline["failed"]
        ratio = median_ratio(pair)
        note = (
            f"{current['cpu_ms_per_chat']:.1f} ms/chat against {baseline['cpu_ms_per_chat']:.1f}"
            f"; pairs {', '.join(f'{r:.2f}' for r in pair['pair_ratios'])}"
        )
        if failed:
            note = f"{failed} chat(s) failed: {current['error_kinds'] + baseline['error_kinds']}"
        ok = not failed and not over_line(ratio, threshold)
        checks.append(Check(name, ratio, gate=True, ok=ok, note=note))
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.gate and not check.ok]


def table(checks: list[Check], ttft: dict) -> str:
    lines = ["| figure | current / baseline | |", "|---|---|---|"]
    for check in checks:
        ratio = "-" if check.ratio is None else f"{check.ratio:.2f}×"
        verdict = ("ok" if check.ok else "**FAIL**") if check.gate else "info"
        lines.append(f"| {check.name} | {ratio} | {verdict}: {check.note} |")
    lines += ["", "| SSE, ramped | TTFT p50 / direct | p99 / direct | chats/s / direct |"]
    lines.append("|---|---|---|---|")
    for label, f in ttft.items():
        faults = f["app"]["errors"] + f["app"]["incomplete"]
        lines.append(
            f"| {label} | {f['ttft_p50_ratio']:.2f} | {f['ttft_p99_ratio']:.2f} | "
            f"{f['throughput_ratio']:.2f} | " + (f"{faults} chat(s) failed |" if faults else "")
        )
    return "\n".join(lines)


def with_ratios(ttft: dict) -> dict:
    """TTFT rows with their latency as ratios to the direct call of the same run."""
    for figures in ttft.values():
        figures["ttft_p50_ratio"] = figures["app"]["ttft_p50_ms"] / figures["direct"]["ttft_p50_ms"]
        figures["ttft_p99_ratio"] = figures["app"]["ttft_p99_ms"] / figures["direct"]["ttft_p99_ms"]
    return ttft


def export(commit: str) -> Path:
    """The tree of ``commit``, written into a temporary directory."""
    where = Path(tempfile.mkdtemp(prefix="bench-tree-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"bench-quick: cannot export {commit}: {archive.stderr.decode()}")
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def full_commit(name: str) -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", name + "^{commit}"], cwd=ROOT, capture_output=True
    )
    if result.returncode != 0:
        raise SystemExit(f"bench-quick: {name} is not a commit of this clone")
    return result.stdout.decode().strip()


async def alternate(apps: dict[str, tuple[App, list]], kind: str, pairs: int) -> dict:
    """CPU per chat of one kind on both apps, ``pairs`` times: the two loads of a pair run
    at the same time, so the machine's load, whatever it is, weighs on both alike."""
    loads = {
        side: cpu.Load(app, users, kind=kind) for side, (app, users) in apps.items()
    }  # fmt: skip
    async with loads["baseline"], loads["current"]:
        usable = all(load.available for load in loads.values())
        done = 0

        async def run_pairs(count: int) -> None:
            nonlocal done
            for _ in range(count):
                await asyncio.gather(*(load.run() for load in loads.values()))
                done += 1
                log(f"{kind} pair {done}")

        if usable:
            await run_pairs(pairs)
            current, baseline = loads["current"].runs, loads["baseline"].runs
            if over_line(statistics.median(pair_ratios(current, baseline))):
                print(f"[quick] {kind}: over the line, two more pairs", flush=True)
                await run_pairs(RETRY_PAIRS)
    out = {side: load.figures() for side, load in loads.items()}
    if usable:
        out["pair_ratios"] = pair_ratios(loads["current"].runs, loads["baseline"].runs)
    return out


async def measure(
    *, baseline_tree: Path, current_tree: Path, kinds: tuple[str, ...], pairs: int, ttft: bool
) -> dict:
    upstream = Upstream()
    apps = {
        "baseline": App(upstream=upstream, database_url=None, root=baseline_tree),
        "current": App(upstream=upstream, database_url=None, root=current_tree),
    }
    try:
        # The baseline's app serves no page in the check: its static files are not collected.
        prepared = await asyncio.gather(
            *(
                asyncio.to_thread(app.prepare, users=50, big=False, static=side == "current")
                for side, app in apps.items()
            )
        )
        log("prepared")
        for app in apps.values():
            app.start()
        log("started")
        users = {side: data["users"] for side, data in zip(apps, prepared, strict=True)}
        out: dict = {"ttft": {}, "cpu": {}}
        if ttft:
            out["ttft"] = with_ratios(
                await ttft_scenario(
                    apps["current"], upstream, users["current"], websocket=False, quick=True,
                    shapes=("ramped",), concurrencies=(10, 50),
                )
            )  # fmt: skip
        upstream.configure(first_token_delay=0.2, tokens=cpu.TOKENS, token_gap=0.01)
        both = {side: (apps[side], users[side]) for side in apps}
        for kind in kinds:
            out["cpu"][kind] = await alternate(both, kind, max(pairs, FIRST_PAIRS.get(kind, 1)))
        return out
    finally:
        for app in apps.values():
            app.stop()
        upstream.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-baseline", action="store_true", help="name HEAD the baseline")
    parser.add_argument("--baseline", default=str(BASELINE), help="the file naming the commit")
    parser.add_argument("--against", help="a commit to compare with instead of the baseline's")
    parser.add_argument("--current", help="a commit to measure instead of this working tree")
    parser.add_argument("--kinds", nargs="*", default=[*cpu.TRANSPORTS, *cpu.FEATURES])
    parser.add_argument("--pairs", type=int, default=1, help="pairs per kind at least")
    parser.add_argument("--no-ttft", action="store_true", help="skip the latency rows")
    args = parser.parse_args(argv)
    if args.write_baseline:
        commit = full_commit("HEAD")
        record = {"commit": commit, "date": provenance()["date"], "machine": machine()}
        Path(args.baseline).write_text(json.dumps(record, indent=2) + "\n")
        print(f"baseline commit {commit[:12]} written to {args.baseline}")
        return 0
    against = full_commit(args.against or json.loads(Path(args.baseline).read_text())["commit"])
    current = full_commit(args.current) if args.current else None
    started = time.perf_counter()
    trees = [export(against), export(current) if current else ROOT]
    report = {
        "machine": machine(),
        **provenance(),
        "baseline_commit": against[:12],
        "current": current[:12] if current else "the working tree",
        "load": "20 clients per app ramped over 2 s, 3 chats each back to back, both apps at once",
    }
    try:
        report.update(
            asyncio.run(
                measure(
                    baseline_tree=trees[0], current_tree=trees[1], kinds=tuple(args.kinds),
                    pairs=args.pairs, ttft=not args.no_ttft,
                )
            )
        )  # fmt: skip
    finally:
        for tree in trees:
            if tree != ROOT:
                shutil.rmtree(tree, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["loadavg_end"] = provenance()["loadavg"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quick.json").write_text(json.dumps(report, indent=2))
    checks = compare(report["cpu"])
    print(
        f"bench-quick: {report['current']} (HEAD {report['commit']}) against "
        f"{report['baseline_commit']}, {report['date']}, load {report['loadavg']} -> "
        f"{report['loadavg_end']}, {report['seconds']} s\n"
    )
    print(table(checks, report["ttft"]))
    bad = failed(checks)
    if bad:
        print(f"\nFAILED: {', '.join(check.name for check in bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
