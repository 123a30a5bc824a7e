"""The profile's attribution of CPU per chat (bench.attribution) and its flame graph."""

from __future__ import annotations

from bench import attribution, flame

LOOP = "Runner.run (asyncio/runners.py:118)"
WORKER = "_call (conversations/db.py:61)"
STACKS = [
    ([LOOP, "ReplyRun._give_title (conversations/replies.py:357)", "post (openai/x.py:1)"], 10),
    ([LOOP, "ReplyRun._run (conversations/replies.py:174)", "post (openai/x.py:1)"], 30),
    ([WORKER, "check_send (conversations/services.py:196)", "execute (django/db/x.py:1)"], 40),
    ([LOOP], 20),
    (["Thread.run (threading.py:982)", "_worker (concurrent/futures/thread.py:81)"], 100),
    (["_write_periodically (sitecustomize.py:26)"], 7),
]


def test_each_sample_goes_to_the_first_matching_part_waits_left_out():
    parts, waits = attribution.shares(STACKS)
    assert parts["the title call and its write"] == 0.1  # before the SDK's rule
    assert parts["the SDK call and chunk parsing"] == 0.3
    assert parts["the turn's writes"] == 0.4  # before the request's (django/) rule
    assert parts["the event loop (uvloop's own C code)"] == 0.2
    assert waits == 107 / 207


def test_the_table_shares_the_measured_cpu_and_adds_the_collector():
    text = attribution.table(STACKS, cpu_ms_per_chat=11.0, gc_ms_per_chat=1.0)
    assert "| the turn's writes | 4.00 | 36% |" in text
    assert "| garbage collection (measured apart) | 1.00 | 9% |" in text
    assert "| **total, measured** | 11.00 | 100 % |" in text


def test_the_flame_graph_has_a_box_per_frame_with_its_share():
    svg = flame.render(STACKS, title="t")
    assert svg.startswith("<svg") and svg.endswith("</svg>\n")
    assert "check_send (conversations/services.py:196) — 40 samples, 19.3%" in svg
