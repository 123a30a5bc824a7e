"""The pure parts of the branches and prompt-cache scenarios (bench.trees, bench --only)."""

from __future__ import annotations

import pytest

from bench.__main__ import selected
from bench.report import markdown
from bench.trees import Node, branch_points, branched_tree, prefix_share


def test_the_tree_has_the_branches_asked_and_a_deep_current_leaf():
    nodes = branched_tree(total=10_000, branches=100, side_length=10)

    assert len(nodes) == 10_000
    assert branch_points(nodes) == 100
    assert nodes[8_999] == Node(parent=8_998, depth=8_999)
    assert max(node.depth for node in nodes) == 8_999
    # Every message comes after its parent, so a bulk insert in this order is valid.
    assert all(node.parent is None or node.parent < i for i, node in enumerate(nodes))
    assert all(nodes[n.parent].depth == n.depth - 1 for n in nodes if n.parent is not None)


def test_a_side_branch_starts_beside_a_main_line_message():
    nodes = branched_tree(total=9, branches=1, side_length=2)

    # Main line 0..6; the branch sits beside message 3 (both children of 2), then goes on.
    assert nodes[7:] == [Node(parent=2, depth=3), Node(parent=7, depth=4)]
    assert branch_points(nodes) == 1


def test_a_tree_without_room_for_its_branches_is_refused():
    with pytest.raises(ValueError):
        branched_tree(total=10, branches=5, side_length=2)


def test_prefix_share_counts_prompts_that_start_with_the_whole_previous_one():
    system = ("system", "s")
    prompts = [
        [system, ("user", "a")],
        [system, ("user", "a"), ("assistant", "b"), ("user", "c")],  # grows: cached
        [system, ("user", "c"), ("assistant", "d"), ("user", "e")],  # a cut: not
        [system, ("user", "c"), ("assistant", "d"), ("user", "e"), ("user", "f")],  # cached
        [system, ("user", "c"), ("assistant", "d")],  # shorter than the previous: not
    ]

    assert prefix_share(prompts) == 0.5
    with pytest.raises(ValueError):
        prefix_share(prompts[:1])


def test_only_picks_scenarios_by_number_not_by_prefix():
    assert selected("1_ttft_sse", ["1"])
    assert not selected("10_branches", ["1"])
    assert selected("10_branches", ["10"])
    assert selected("7_long_conversation", ["7_long"])
    assert selected("11_prompt_cache", None)


def test_rows_of_the_branches_and_prompt_cache_scenarios():
    context = {"p50_ms": 2.0, "prompt_tokens": 700, "messages": 20}
    report = {
        "machine": {"cpu": "Xeon", "cores": 2, "python": "3.11", "kernel": "6"},
        "date": "2026-11-30 18:00 UTC",
        "commit": "abc123",
        "uncommitted_files": 0,
        "loadavg": [3.0, 2.0, 1.0],
        "loadavg_end": [3.0, 2.0, 1.0],
        "workers": 1,
        "quick": False,
        "seconds": 60.0,
        "results": {
            "sqlite": {
                "10_branches": {
                    "messages": 10_000,
                    "branch_points": 100,
                    "leaf_depth": 8_999,
                    "page_p50_ms": 8.0,
                    "page_p99_ms": 20.0,
                    "short_page_p50_ms": 5.0,
                    "short_page_p99_ms": 9.0,
                    "queries_branched": 4,
                    "queries_short": 4,
                    "turn10": context,
                    "turn200": context,
                    "turn1000": {**context, "p50_ms": 4.0},
                    "turn4500": context,
                    "ratio": 2.0,
                    "ratio_full_budget": 1.0,
                    "leaf_turn": 4500,
                },
                "11_prompt_cache": {
                    "turns": 300,
                    "budget": 11_904,
                    "history_tokens": 73_104,
                    "prefix_share_blocks": 0.946,
                    "prefix_share_sliding": 0.217,
                    "max_prompt_tokens_blocks": 11_894,
                    "max_prompt_tokens_sliding": 11_904,
                },
            }
        },
    }

    text = markdown(report)

    assert "p50 8.0 ms, p99 20.0 ms (short: 5.0, 9.0); queries 4 (short 4) | met |" in text
    assert "2.00×; 1.00× turn 200 (also full); 2.0 ms at 4,500 | **not met** |" in text
    assert "94.6% with block cuts (one-turn sliding window: 21.7%); max prompt 11,894 | met |" in (
        text
    )
