"""The benchmark's Markdown (bench.report) with the load shapes and CPU per chat."""

from __future__ import annotations

from bench.report import markdown


def ttft(shape: str, concurrency: int, *, p50: float, p99: float, ratio: float) -> dict:
    return {
        "app": {"errors": 0, "incomplete": 0, "ttft_p50_ms": 200 + p50},
        "direct": {"ttft_p50_ms": 200.0},
        "ttft_p50_added_ms": p50,
        "ttft_p99_added_ms": p99,
        "shape": shape,
        "concurrency": concurrency,
        "cpu_ms_per_chat": 22.0,
        "app_chats_per_s": 30.0,
        "throughput_ratio": ratio,
        "rate_per_s": 28.0,
    }


def test_rows_state_the_shape_the_target_and_the_provenance():
    report = {
        "machine": {"cpu": "Xeon", "cores": 2, "python": "3.11", "kernel": "6"},
        "date": "2026-11-30 17:00 UTC",
        "commit": "abc123",
        "uncommitted_files": 0,
        "loadavg": [3.0, 2.0, 1.0],
        "loadavg_end": [4.0, 2.0, 1.0],
        "workers": 1,
        "quick": False,
        "seconds": 10.0,
        "results": {
            "sqlite": {
                "1_ttft_sse": {
                    "ramped 50": ttft("ramped", 50, p50=9, p99=39, ratio=0.96),
                    "ramped 1": ttft("ramped", 1, p50=6, p99=7, ratio=1.0),
                    "even 50": ttft("even", 50, p50=60, p99=90, ratio=0.8),
                    "poisson 80%": ttft("poisson", 0, p50=30, p99=90, ratio=0.9),
                    "seconds": 3.0,
                },
                "9_cpu_per_chat": {
                    "sse": {
                        "available": True,
                        "cpu_ms_per_chat": 22.0,
                        "calibration_ms": 27.0,
                        "cpu_per_chat_per_calibration": 0.815,
                        "chats": 180,
                        "failed": 0,
                    },
                    "attachment": {"available": False, "why": "not yet"},
                },
            }
        },
    }
    text = markdown(report)
    assert "commit abc123; load average [3.0, 2.0, 1.0]" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert rows["| 1. TTFT, SSE API, ramped 50"].endswith("| met |")
    assert rows["| 1. TTFT, SSE API, ramped 1"].endswith("| **not met** |")
    assert rows["| 1. TTFT, SSE API, even 50"].endswith("| measured |")
    assert "| 1. TTFT, SSE API, Poisson arrivals, 28.0/s (80 % of capacity)" in rows
    assert "22.0 ms/chat" in rows["| 9. CPU per chat, sse"]
    assert rows["| 9. CPU per chat, sse"].endswith("| **not met** |")
    assert rows["| 9. CPU per chat, attachment"].endswith("| not measured |")
