"""The regression check's verdicts (bench.quick) on fixed figures: CPU per chat more than
25 % above the baseline commit's, measured side by side in the same run, fails the run;
latency never does."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from bench import loads, quick


def runs(*ms: float, failed: int = 0) -> dict:
    """One app's figures for a kind, from its runs' CPU milliseconds per chat."""
    return {
        "available": True,
        "cpu_ms_per_chat": sorted(ms)[len(ms) // 2],
        "failed": failed,
        "error_kinds": ["HTTP 500"] if failed else [],
        "runs": [{"cpu_ms_per_chat": m} for m in ms],
    }


def side_by_side(current: dict, baseline: dict) -> dict:
    out = {"current": current, "baseline": baseline}
    if current.get("available") and baseline.get("available"):
        out["pair_ratios"] = quick.pair_ratios(current["runs"], baseline["runs"])
    return out


def verdict(**kinds) -> list[str]:
    return [check.name for check in quick.failed(quick.compare(kinds))]


GONE = {"available": False, "why": "POST /api/chat does not take attachments yet"}


def test_the_same_figures_pass():
    assert verdict(sse=side_by_side(runs(20, 21, 19), runs(20, 21, 19))) == []


def test_cpu_per_chat_more_than_a_quarter_above_the_baseline_commit_fails():
    assert verdict(sse=side_by_side(runs(26, 26, 26), runs(20, 20, 20))) == ["CPU per chat, sse"]
    assert verdict(websocket=side_by_side(runs(31), runs(24))) == ["CPU per chat, websocket"]


def test_within_a_quarter_or_lower_passes():
    assert verdict(sse=side_by_side(runs(24.8, 24.8, 24.8), runs(20, 20, 20))) == []
    assert verdict(sse=side_by_side(runs(10), runs(20))) == []


def test_a_slower_session_moves_both_sides_and_passes():
    # The session after was a quarter slower for both apps: the raw figure grew, the
    # pairs' ratios did not.
    assert verdict(sse=side_by_side(runs(25, 26, 24), runs(25.5, 25, 24.5))) == []


def test_the_median_of_the_pairs_decides_not_one_pair():
    # One pair caught a busy moment on the current side only.
    assert verdict(sse=side_by_side(runs(20, 30, 20), runs(20, 20, 20))) == []
    assert quick.median_ratio(side_by_side(runs(20, 30, 20), runs(20, 20, 20))) == 1.0


def test_failed_chats_fail_the_run_on_either_side():
    assert verdict(sse=side_by_side(runs(20, failed=2), runs(20))) == ["CPU per chat, sse"]
    assert verdict(sse=side_by_side(runs(20), runs(20, failed=1))) == ["CPU per chat, sse"]


def test_a_feature_the_baseline_serves_and_this_tree_does_not_fails():
    assert verdict(attachment=side_by_side(GONE, runs(30))) == ["CPU per chat, attachment"]


def test_a_feature_new_since_the_baseline_is_reported_not_gated():
    [check] = quick.compare({"attachment": side_by_side(runs(30), GONE)})
    assert (check.gate, check.ok, check.note) == (False, True, "new since the baseline")


class FakeLoad:
    """A load whose every run costs the milliseconds its app stands for."""

    def __init__(self, app: float, users: list, *, kind: str) -> None:
        self.ms, self.runs, self.available = app, [], True

    async def __aenter__(self) -> FakeLoad:
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def run(self) -> None:
        self.runs.append({"cpu_ms_per_chat": self.ms})

    def figures(self) -> dict:
        return {"available": True, "runs": self.runs}


def test_a_kind_over_the_line_is_measured_in_two_more_pairs(monkeypatch):
    monkeypatch.setattr(quick.cpu, "Load", FakeLoad)
    within = asyncio.run(quick.alternate({"baseline": (20.0, []), "current": (24.0, [])}, "sse", 3))
    assert within["pair_ratios"] == pytest.approx([1.2] * 3)
    over = asyncio.run(quick.alternate({"baseline": (20.0, []), "current": (26.0, [])}, "sse", 3))
    assert over["pair_ratios"] == pytest.approx([1.3] * 5)


def test_latency_is_reported_never_failed_on():
    ttft = {
        "ramped 50": {
            "app": {"errors": 0, "incomplete": 0},
            "ttft_p50_ratio": 7.5,
            "ttft_p99_ratio": 3.0,
            "throughput_ratio": 0.6,
        }
    }
    checks = quick.compare({"sse": side_by_side(runs(20), runs(20))})
    assert quick.failed(checks) == []
    assert "| ramped 50 | 7.50 | 3.00 | 0.60 |" in quick.table(checks, ttft)


def test_quick_exits_non_zero_on_a_quarter_more_cpu(tmp_path, monkeypatch):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=quick.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    baseline_file = tmp_path / "baseline.json"
    baseline_file.write_text(json.dumps({"commit": head}))
    monkeypatch.setattr(quick, "RESULTS", tmp_path / "results")
    exported = tmp_path / "tree"
    monkeypatch.setattr(quick, "export", lambda commit: exported)
    seen, current_ms = [], [20.0]

    async def measure(*, baseline_tree, current_tree, kinds, pairs, ttft):
        seen.append((baseline_tree, current_tree, kinds[0], pairs, ttft))
        sse = side_by_side(runs(*current_ms * 3), runs(20, 20, 20))
        return {"ttft": {}, "cpu": {"sse": sse}}

    monkeypatch.setattr(quick, "measure", measure)
    argv = ["--baseline", str(baseline_file), "--no-ttft"]
    assert quick.main(argv) == 0
    # The baseline's tree is the named commit's export; the current one, this working tree.
    assert seen[0] == (exported, quick.ROOT, "sse", 1, False)
    current_ms[0] = 25.5
    assert quick.main(argv) == 1
    written = json.loads((tmp_path / "results" / "quick.json").read_text())
    assert written["cpu"]["sse"]["pair_ratios"] == pytest.approx([1.275] * 3)
    assert written["baseline_commit"] == head[:12]


def test_a_baseline_commit_this_clone_lacks_stops_the_check(tmp_path):
    baseline_file = tmp_path / "baseline.json"
    baseline_file.write_text(json.dumps({"commit": "0" * 40}))
    with pytest.raises(SystemExit, match="not a commit of this clone"):
        quick.main(["--baseline", str(baseline_file)])


def test_the_committed_baseline_names_a_commit_of_this_clone():
    commit = json.loads(quick.BASELINE.read_text())["commit"]
    assert len(quick.full_commit(commit)) == 40


def test_poisson_arrivals_are_seeded_and_at_the_rate():
    times = loads.arrival_times(rate=30, seconds=20)
    assert times == loads.arrival_times(rate=30, seconds=20)
    assert times == sorted(times) and times[0] > 0 and times[-1] < 20
    assert 540 <= len(times) <= 660  # 600 expected; the seeded draw is fixed
