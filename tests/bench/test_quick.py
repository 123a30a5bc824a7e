"""The regression check's verdicts (bench.quick) on fixed figures: CPU per chat per
calibration that grows more than 25 % fails the run, latency never does."""

from __future__ import annotations

import copy
import json

import pytest

from bench import loads, quick


def cpu_figure(per_calibration: float, *, ms: float = 20.0, failed: int = 0) -> dict:
    return {
        "available": True,
        "cpu_ms_per_chat": ms,
        "calibration_ms": ms / per_calibration,
        "cpu_per_chat_per_calibration": per_calibration,
        "chats": 60,
        "failed": failed,
        "error_kinds": ["HTTP 500"] if failed else [],
    }


def ttft_figure(p50_ratio: float, *, errors: int = 0) -> dict:
    return {
        "app": {"errors": errors, "incomplete": 0, "ttft_p50_ms": 200 * p50_ratio},
        "direct": {"ttft_p50_ms": 200.0},
        "ttft_p50_ratio": p50_ratio,
        "ttft_p99_ratio": p50_ratio,
        "throughput_ratio": 0.95,
    }


BASELINE: dict = {
    "commit": "base",
    "date": "2026-11-30",
    "cpu": {
        "sse": cpu_figure(0.80),
        "websocket": cpu_figure(1.00),
        "attachment": {"available": False, "why": "not yet"},
    },
    "ttft": {"ramped 10": ttft_figure(1.05), "ramped 50": ttft_figure(1.20)},
}


def run_with(**changes) -> dict:
    current = copy.deepcopy(BASELINE)
    for kind, figure in changes.items():
        current["cpu"][kind] = figure
    return current


def verdict(current: dict) -> list[str]:
    return [check.name for check in quick.failed(quick.compare(current, BASELINE))]


def test_the_baseline_against_itself_passes():
    assert verdict(copy.deepcopy(BASELINE)) == []


def test_cpu_per_chat_growing_more_than_a_quarter_fails():
    assert verdict(run_with(sse=cpu_figure(0.80 * 1.26))) == ["CPU per chat per calibration, sse"]
    assert verdict(run_with(websocket=cpu_figure(1.3))) == [
        "CPU per chat per calibration, websocket"
    ]


def test_cpu_per_chat_within_a_quarter_or_lower_passes():
    assert verdict(run_with(sse=cpu_figure(0.80 * 1.24))) == []
    assert verdict(run_with(sse=cpu_figure(0.40))) == []


def test_a_slower_machine_is_not_a_regression():
    # Twice the milliseconds per chat, with a calibration loop twice as slow: same ratio.
    slower = cpu_figure(0.80, ms=40.0)
    assert slower["calibration_ms"] == 2 * BASELINE["cpu"]["sse"]["calibration_ms"]
    assert verdict(run_with(sse=slower)) == []


def test_latency_is_reported_never_failed_on():
    current = copy.deepcopy(BASELINE)
    current["ttft"]["ramped 50"] = ttft_figure(9.0)
    checks = quick.compare(current, BASELINE)
    assert quick.failed(checks) == []
    row = next(c for c in checks if c.name == "TTFT p50 / direct, SSE ramped 50")
    assert row.ratio == pytest.approx(7.5)
    assert "ramped 50" in quick.table(checks)


def test_failed_chats_fail_the_run():
    assert verdict(run_with(sse=cpu_figure(0.80, failed=2))) == [
        "CPU per chat per calibration, sse"
    ]
    current = copy.deepcopy(BASELINE)
    current["ttft"]["ramped 10"] = ttft_figure(1.05, errors=1)
    assert len(verdict(current)) == 3  # each of the row's figures


def test_a_feature_that_was_measured_and_is_no_longer_available_fails():
    gone = {"available": False, "why": "POST /api/chat does not take attachments yet"}
    assert verdict(run_with(websocket=gone)) == ["CPU per chat per calibration, websocket"]


def test_a_feature_new_since_the_baseline_is_reported_not_gated():
    checks = quick.compare(run_with(attachment=cpu_figure(5.0)), BASELINE)
    row = next(c for c in checks if c.name.endswith("attachment"))
    assert (row.gate, row.ok, row.note) == (False, True, "new")


def test_quick_exits_non_zero_on_a_quarter_more_cpu(tmp_path, monkeypatch):
    baseline_file = tmp_path / "baseline.json"
    baseline_file.write_text(json.dumps(BASELINE))
    monkeypatch.setattr(quick, "RESULTS", tmp_path / "results")
    measured = {"cpu": copy.deepcopy(BASELINE["cpu"]), "ttft": copy.deepcopy(BASELINE["ttft"])}

    async def measure(baseline, *, repeats):
        assert (baseline, repeats) == (BASELINE, 1)
        return copy.deepcopy(measured)

    monkeypatch.setattr(quick, "measure", measure)
    assert quick.main(["--baseline", str(baseline_file)]) == 0
    measured["cpu"]["sse"] = cpu_figure(0.80 * 1.3)
    assert quick.main(["--baseline", str(baseline_file)]) == 1
    written = json.loads((tmp_path / "results" / "quick.json").read_text())
    assert written["cpu"]["sse"]["cpu_per_chat_per_calibration"] == pytest.approx(1.04)


def test_poisson_arrivals_are_seeded_and_at_the_rate():
    times = loads.arrival_times(rate=30, seconds=20)
    assert times == loads.arrival_times(rate=30, seconds=20)
    assert times == sorted(times) and times[0] > 0 and times[-1] < 20
    assert 540 <= len(times) <= 660  # 600 expected; the seeded draw is fixed


def test_cpu_per_chat_is_divided_by_the_median_calibration_of_the_whole_run():
    def kind(ms: float, calibrations: list[float]) -> dict:
        runs = [
            {"cpu_ms_per_chat": ms, "calibration_ms": c, "cpu_per_chat_per_calibration": ms / c}
            for c in calibrations
        ]
        return {"available": True, "cpu_ms_per_chat": ms, "runs": runs}

    # One calibration caught a busy moment (40 ms): alone, it would make 30 ms look 0.75.
    figures = {"sse": kind(20.0, [28.0, 29.0, 30.0]), "websocket": kind(30.0, [40.0])}
    figures["attachment"] = {"available": False, "why": "not yet"}
    quick.per_calibration(figures)
    assert figures["websocket"]["cpu_per_chat_per_calibration"] == pytest.approx(30 / 29.5)
    assert figures["sse"]["cpu_per_chat_per_calibration"] == pytest.approx(20 / 29.5)
    assert "cpu_per_chat_per_calibration" not in figures["attachment"]
