"""Pure helpers of the branches and prompt-cache scenarios (``bench.branches``): the shape of
a branched conversation, and how often a prompt starts with the whole previous one."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import NamedTuple


class Node(NamedTuple):
    """One message of a generated tree, in creation order."""

    parent: int | None  # index of the parent in the list; None for the first message
    depth: int  # 0 for the first message: even depths are the user's


def branched_tree(*, total: int, branches: int, side_length: int) -> list[Node]:
    """``total`` messages: a main line, then ``branches`` side branches of ``side_length``
    messages, each starting beside a main-line message spread evenly along it (as an edit
    or a regeneration does). The main line comes first, so its last message (index
    ``total - branches * side_length - 1``) is the deepest leaf: the current one."""
    main = total - branches * side_length
    if main < branches + 2 or side_length < 1:
        raise ValueError("the main line needs room for a branch point per branch")
    nodes = [Node(parent=i - 1 if i else None, depth=i) for i in range(main)]
    for k in range(branches):
        point = (k + 1) * main // (branches + 1)  # the main-line message it sits beside
        parent, depth = point - 1, point
        for _ in range(side_length):
            nodes.append(Node(parent=parent, depth=depth))
            parent, depth = len(nodes) - 1, depth + 1
    return nodes


def branch_points(nodes: list[Node]) -> int:
    """How many messages have two or more children."""
    children = Counter(node.parent for node in nodes if node.parent is not None)
    return sum(1 for count in children.values() if count >= 2)


def prefix_share(prompts: list[list]) -> float:
    """The share of turns after the first whose prompt (a list of messages) starts with the
    previous turn's entire prompt: the turns an upstream's prompt cache can serve."""
    if len(prompts) < 2:
        raise ValueError("a share needs at least two turns")
    kept = sum(1 for previous, current in pairwise(prompts) if current[: len(previous)] == previous)
    return kept / (len(prompts) - 1)
