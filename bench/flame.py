"""A flame graph (SVG) from collapsed stacks ("frame;frame;frame count" lines, as py-spy's
``--format raw`` writes them), so that one recording gives both the graph and the
attribution table. Hovering a box shows its frame, samples and share."""

from __future__ import annotations

import zlib
from html import escape
from pathlib import Path

WIDTH = 1800
ROW = 16
MIN_WIDTH = 0.5  # pixels: narrower boxes are left out (their share is in their parent)


class Node:
    __slots__ = ("children", "name", "samples")

    def __init__(self, name: str) -> None:
        self.name = name
        self.samples = 0
        self.children: dict[str, Node] = {}


def read_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def tree(stacks: list[tuple[list[str], int]]) -> Node:
    root = Node("all")
    for frames, samples in stacks:
        root.samples += samples
        node = root
        for frame in frames:
            node = node.children.setdefault(frame, Node(frame))
            node.samples += samples
    return root


def _color(name: str) -> str:
    """Warm for our code, cooler for the libraries', grey for the interpreter's."""
    shade = zlib.crc32(name.encode())
    if any(part in name for part in ("conversations/", "accounts/", "chatbot/", "openai_api/")):
        return f"rgb(240,{120 + shade % 80},60)"
    if "site-packages" in name or "/lib/python" in name:
        return f"rgb(90,{140 + shade % 80},200)"
    return f"rgb(170,170,{150 + shade % 60})"


def _depth(node: Node) -> int:
    return 1 + max((_depth(child) for child in node.children.values()), default=0)


def render(stacks: list[tuple[list[str], int]], *, title: str) -> str:
    """The SVG text: the root at the bottom, callers below callees."""
    root = tree(stacks)
    total = max(root.samples, 1)
    depth = _depth(root)
    height = (depth + 2) * ROW
    boxes: list[str] = []

    def draw(node: Node, x: float, level: int) -> None:
        width = node.samples / total * WIDTH
        if width < MIN_WIDTH:
            return
        y = height - (level + 1) * ROW
        label = node.name.split(" (")[0]
        chars = int(width / 7)
        text = label if len(label) <= chars else label[: max(chars - 2, 0)] + ".."
        tip = f"{node.name} — {node.samples} samples, {node.samples / total:.1%}"
        boxes.append(
            f'<g><title>{escape(tip)}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{ROW - 1}" fill="{_color(node.name)}"/>'
            + (
                f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{escape(text)}</text>'
                if chars > 2
                else ""
            )
            + "</g>"
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda n: n.name):
            draw(child, child_x, level + 1)
            child_x += child.samples / total * WIDTH

    draw(root, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="4" y="14" font-size="13">{escape(title)}</text>' + "".join(boxes) + "</svg>\n"
    )


def write(stacks_path: Path, svg_path: Path, *, title: str) -> None:
    svg_path.write_text(render(read_stacks(stacks_path), title=title))
