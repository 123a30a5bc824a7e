"""CPU per chat by part, from a profile's collapsed stacks.

Each sampled stack goes to the first part whose rule matches one of its frames (rules in
order, the most specific first), the rest to "other". Samples whose innermost frame is a
wait (a worker thread waiting for work, a thread waiting on a lock) are not CPU: py-spy
counts a thread that has just been woken as active, and on a loaded machine it may wait
for a core a while. The collector runs in no Python frame of its own, so its CPU is
measured apart (``bench/gc_hook``) and the parts share the rest of the measured CPU.
"""

from __future__ import annotations

GC = "garbage collection (measured apart)"
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("uvicorn's access log line", ("logging/__init__.py",)),
    ("the title call and its write", ("_give_title", "titles.py")),
    ("the saver", ("_save_all_periodically", "save_reply_progress")),
    ("channel-layer publishes", ("events.py", "channels/layers.py", "chatbot/layers.py")),
    ("authentication", ("api_auth.py", "forks/knox.py", "authenticate")),
    ("context building", ("context.py", "prepare_context", "_first_context")),
    ("the turn's writes", ("check_send", "_store_send", "finish_reply", "_save_final")),
    ("the SDK call and chunk parsing", ("openai/", "aiohttp/", "llm.py")),
    ("the relay and SSE writes", ("replies.py", "streaming.py", "RequestResponseCycle.send")),
    (
        "thread hops, and the thread Django's ASGI handler starts and joins per request",
        (
            "Thread.start (",
            "ThreadPoolExecutor.submit (",
            "ThreadPoolExecutor._adjust_thread_count (",
            "Thread._bootstrap (threading.py:988)",
        ),
    ),
    ("the request and DRF", ("django/", "rest_framework/", "adrf/", "chatbot/forks/", "asgiref/")),
]
# The innermost frame is the loop's entry: uvloop's own C code ran (or the loop was just
# woken from its wait, see above).
LOOP = ("the event loop (uvloop's own C code)", "Runner.run (asyncio/runners.py")
OTHER = "other (uvicorn's parsing, sockets)"
WAITS = (
    "_worker (concurrent/futures/thread.py:81)",
    "Condition.wait (",
    "Event.wait (",
    "Thread._wait_for_tstate_lock (",
)
HOOK = "sitecustomize.py"  # bench/gc_hook's own thread


def waiting(frames: list[str]) -> bool:
    """A wait, or the profiler's own hook: not the app's CPU."""
    return frames[-1].startswith(WAITS) or any(HOOK in frame for frame in frames)


def part_of(frames: list[str]) -> str:
    for part, needles in PARTS:
        if any(needle in frame for frame in frames for needle in needles):
            return part
    return LOOP[0] if frames[-1].startswith(LOOP[1]) else OTHER


def shares(stacks: list[tuple[list[str], int]]) -> tuple[dict[str, float], float]:
    """Each part's share of the samples that were CPU, and the share that were waits."""
    counts = {part: 0 for part, _ in PARTS} | {LOOP[0]: 0, OTHER: 0}
    waits = 0
    for frames, samples in stacks:
        if waiting(frames):
            waits += samples
        else:
            counts[part_of(frames)] += samples
    busy = sum(counts.values()) or 1
    return {part: count / busy for part, count in counts.items()}, waits / (busy + waits)


def table(
    stacks: list[tuple[list[str], int]], *, cpu_ms_per_chat: float, gc_ms_per_chat: float
) -> str:
    """Markdown: each part's milliseconds of the measured CPU per chat."""
    parts, waits = shares(stacks)
    rest = max(cpu_ms_per_chat - gc_ms_per_chat, 0.0)
    rows = sorted(((share * rest, part) for part, share in parts.items()), reverse=True)
    lines = ["| part | ms per chat | share |", "|---|---|---|"]
    for ms, part in [*rows, (gc_ms_per_chat, GC)]:
        lines.append(f"| {part} | {ms:.2f} | {ms / cpu_ms_per_chat:.0%} |")
    lines.append(f"| **total, measured** | {cpu_ms_per_chat:.2f} | 100 % |")
    total = sum(samples for _, samples in stacks)
    lines.append(f"\n{total} samples, of which {waits:.0%} at a wait (left out).")
    return "\n".join(lines)
