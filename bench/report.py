"""The benchmark's Markdown table: each scenario, its target and the measured figure."""

from __future__ import annotations


def _fmt(value, unit: str = "") -> str:
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def _mark(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _branch_rows(results: dict) -> list[tuple]:
    """Issue 14's branched conversation and issue 15's prompt cache."""
    rows = []
    if "10_branches" in results:
        r = results["10_branches"]
        rows.append(
            (
                f"10. Messages page, {r['messages']:,} messages, {r['branch_points']} branches "
                f"(leaf at depth {r['leaf_depth']:,})",
                "p50 ≤ 10 ms; same queries as a short conversation",
                f"p50 {_fmt(r['page_p50_ms'])} ms, p99 {_fmt(r['page_p99_ms'])} ms (short: "
                f"{_fmt(r['short_page_p50_ms'])}, {_fmt(r['short_page_p99_ms'])}); queries "
                f"{r['queries_branched']} (short {r['queries_short']})",
                _mark(r["page_p50_ms"] <= 10 and r["queries_branched"] == r["queries_short"]),
            )
        )
        leaf = r[f"turn{r['leaf_turn']}"]
        rows.append(
            (
                "10. Context of the branched conversation",
                "turn 1,000 ≤ 1.5× turn 10",
                f"{_fmt(r['turn10']['p50_ms'])} ms at 10 ({r['turn10']['prompt_tokens']} tokens), "
                f"{_fmt(r['turn1000']['p50_ms'])} ms at 1,000 "
                f"({r['turn1000']['prompt_tokens']} tokens): {r['ratio']:.2f}×; "
                f"{r['ratio_full_budget']:.2f}× turn 200 (also full); "
                f"{_fmt(leaf['p50_ms'])} ms at {r['leaf_turn']:,}",
                _mark(r["ratio"] <= 1.5),
            )
        )
    if "11_prompt_cache" in results:
        r = results["11_prompt_cache"]
        worst = max(r["max_prompt_tokens_blocks"], r["max_prompt_tokens_sliding"])
        rows.append(
            (
                f"11. Prompt cache, {r['turns']} turns, {r['history_tokens']:,} tokens of "
                f"history, budget {r['budget']:,}",
                "≥ 90 % of prompts start with the previous whole; prompt ≤ budget",
                f"{r['prefix_share_blocks']:.1%} with block cuts (one-turn sliding window: "
                f"{r['prefix_share_sliding']:.1%}); max prompt {r['max_prompt_tokens_blocks']:,}",
                _mark(r["prefix_share_blocks"] >= 0.9 and worst <= r["budget"]),
            )
        )
    return rows


TTFT_TARGET = (
    "ramped: added p50 ≤ 10 ms, p99 ≤ 40 ms, ≥ 0.95× direct chats/s at 50; p50 ≤ 5 ms at 1"
)


def _ttft_ok(figures: dict) -> bool | None:
    """Issue 22's targets, which are set on the ramped shape; None: no target."""
    if figures.get("shape") != "ramped":
        return None
    if figures["concurrency"] == 1:
        return figures["ttft_p50_added_ms"] <= 5
    if figures["concurrency"] == 50:
        return (
            figures["ttft_p50_added_ms"] <= 10
            and figures["ttft_p99_added_ms"] <= 40
            and figures["throughput_ratio"] >= 0.95
        )
    return None


def _stream_rows(name: str, data: dict) -> list[tuple]:
    rows = []
    for label, figures in data.items():
        if label == "seconds":
            continue
        app = figures["app"]
        faults = app["errors"] + app["incomplete"]
        if figures.get("shape") == "poisson":
            label = f"Poisson arrivals, {figures['rate_per_s']:.1f}/s (80 % of capacity)"
        measured = (
            f"TTFT added p50 {_fmt(figures['ttft_p50_added_ms'])} ms, p99 "
            f"{_fmt(figures['ttft_p99_added_ms'])} ms (direct p50 "
            f"{_fmt(figures['direct']['ttft_p50_ms'])} ms)"
        )
        if "cpu_ms_per_chat" in figures:
            measured += (
                f"; {_fmt(figures['app_chats_per_s'])} chats/s = "
                f"{figures['throughput_ratio']:.2f}× direct; "
                f"CPU {_fmt(figures['cpu_ms_per_chat'])} ms/chat"
            )
        measured += f"; errors+incomplete {faults}"
        ok = _ttft_ok(figures)
        if faults:
            verdict = "**errors**"
        elif ok is None:
            verdict = "measured"
        else:
            verdict = _mark(ok)
        rows.append((f"{name}, {label}", TTFT_TARGET, measured, verdict))
    return rows


def _cpu_rows(data: dict) -> list[tuple]:
    rows = []
    for kind, r in data.items():
        if kind == "seconds":
            continue
        name = f"9. CPU per chat, {kind}"
        target = "≤ 10 ms, then ≤ 6 ms" if kind == "sse" else "measure"
        if not r.get("available", True):
            rows.append((name, target, f"not available: {r.get('why', '')}", "not measured"))
            continue
        measured = (
            f"{_fmt(r['cpu_ms_per_chat'])} ms/chat (calibration loop "
            f"{_fmt(r['calibration_ms'])} ms, ratio {r['cpu_per_chat_per_calibration']:.3f}); "
            f"{r['chats']} chats, {r['failed']} failed"
        )
        if r["failed"]:
            verdict = "**errors**"
        elif kind == "sse":
            verdict = _mark(r["cpu_ms_per_chat"] <= 10)
        else:
            verdict = "measured"
        rows.append((name, target, measured, verdict))
    return rows


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}, "
        f"kernel {machine['kernel']}; {report['workers']} app process(es); "
        f"{'quick run' if report['quick'] else 'full run'} in {report['seconds']} s.",
        "",
        f"Date {report.get('date', '?')}, commit {report.get('commit', '?')}"
        + (
            f" with {report['uncommitted_files']} uncommitted file(s)"
            if report.get("uncommitted_files")
            else ""
        )
        + f"; load average {report.get('loadavg', '?')} at the start, "
        f"{report.get('loadavg_end', '?')} at the end.",
        "",
    ]
    for database, results in report["results"].items():
        rows: list[tuple] = []
        if "1_ttft_sse" in results:
            rows += _stream_rows("1. TTFT, SSE API", results["1_ttft_sse"])
        if "2_ttft_websocket" in results:
            rows += _stream_rows("2. TTFT, WebSocket", results["2_ttft_websocket"])
        if "8_ttft_openai" in results:
            rows += _stream_rows("8. TTFT, OpenAI-compatible /v1", results["8_ttft_openai"])
        if "9_cpu_per_chat" in results:
            rows += _cpu_rows(results["9_cpu_per_chat"])
        if "3_relay_cost" in results:
            r = results["3_relay_cost"]
            faults = r["app"]["errors"] + r["app"]["incomplete"]
            rows.append(
                (
                    "3. Relay cost, 20 × 1,000 tokens",
                    "measure; remove top costs",
                    f"{_fmt(r['cpu_us_per_token'])} µs CPU/token; "
                    f"{_fmt(r['app_tokens_per_s'])} tok/s = {r['throughput_ratio']:.2f}× direct; "
                    f"errors+incomplete {faults}",
                    _mark(faults == 0),
                )
            )
        if "4_many_users" in results:
            r = results["4_many_users"]
            faults = r["app"]["errors"] + r["app"]["incomplete"]
            ok = faults == 0 and r["gap_p99_added_ms"] <= 100 and r["rss_peak_mb"] <= 300
            rows.append(
                (
                    f"4. {r['concurrency']} streams × 20 tok/s × {r['stream_seconds']} s "
                    f"(arriving over {r['ramp_seconds']:.0f} s)",
                    "0 errors; p99 added gap ≤ 100 ms; RSS ≤ 300 MB",
                    f"errors+incomplete {faults}; gap p99 added {_fmt(r['gap_p99_added_ms'])} ms; "
                    f"RSS peak {_fmt(r['rss_peak_mb'])} MB",
                    _mark(ok),
                )
            )
        if "5_plain_json" in results:
            r = results["5_plain_json"]
            rows.append(
                (
                    "5. Plain JSON POST /api/chat",
                    "measure",
                    f"{_fmt(r['app_rps'])} req/s ({_fmt(r['app_rps_per_core'])} per core "
                    f"of app CPU) vs direct {_fmt(r['direct_rps'])}; added p50 "
                    f"{_fmt(r['latency_p50_added_ms'])} ms, p99 "
                    f"{_fmt(r['latency_p99_added_ms'])} ms",
                    "measured",
                )
            )
        if "6_size" in results:
            r = results["6_size"]
            ok = r["sessions_page_10k_p50_ms"] <= 10 and r["messages_page_10k_p50_ms"] <= 10
            rows.append(
                (
                    "6. 10,000 sessions / 10,000 messages",
                    "p50 ≤ 10 ms each; same queries as empty (tested)",
                    f"sessions {_fmt(r['sessions_page_10k_p50_ms'])} ms (empty "
                    f"{_fmt(r['sessions_page_empty_p50_ms'])}); messages "
                    f"{_fmt(r['messages_page_10k_p50_ms'])} ms (empty "
                    f"{_fmt(r['messages_page_empty_p50_ms'])})",
                    _mark(ok),
                )
            )
        if "7_long_conversation" in results:
            r = results["7_long_conversation"]
            ok = r["max_prompt_tokens_over_1000_turns"] <= r["budget"] and r["ratio"] <= 1.5
            rows.append(
                (
                    "7. 1,000-turn conversation",
                    "prompt ≤ budget every turn; turn 1,000 ≤ 1.5× turn 10",
                    f"max prompt {r['max_prompt_tokens_over_1000_turns']} / {r['budget']} tokens; "
                    f"context {_fmt(r['turn10']['p50_ms'])} ms at 10, "
                    f"{_fmt(r['turn1000']['p50_ms'])} ms at 1,000 ({r['ratio']:.2f}×; "
                    f"{r['ratio_full_budget']:.2f}× turn 200, whose context is also full)",
                    _mark(ok),
                )
            )
        rows += _branch_rows(results)
        lines += [
            f"### {database}",
            "",
            "| scenario | target | measured (app vs direct, same run) | |",
            "|---|---|---|---|",
            *[f"| {' | '.join(row)} |" for row in rows],
            "",
        ]
    return "\n".join(lines)
