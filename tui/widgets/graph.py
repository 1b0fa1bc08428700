"""The Graph tab: tree events (an autograd graph, a model's modules) as one Textual Tree.

Each tree event becomes a top-level node, replaced when the same title comes again. Nodes
are {"label", "detail", "children", "id", "ref"}: `detail` is shown dimmed after the label;
a node with `ref` points at a node shown elsewhere (autograd graphs share nodes), so it is
drawn as a link instead of a second copy. Big trees open only their first levels.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.text import Text
from textual.binding import BindingType
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from pttui.engine import events as ev
from pttui.engine.layout import tree_label, tree_refs

OPEN_ALL_BELOW = 60  # nodes; a bigger tree opens two levels and the rest stays collapsed
MAX_NODES = 5000  # beyond this a tree is cut, with a note: a Tree of 100k nodes is no help


class GraphPane(Tree):
    DEFAULT_CSS = """
    GraphPane { height: 1fr; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [("j", "cursor_down", "Down"), ("k", "cursor_up", "Up")]

    def __init__(self, **kw):
        super().__init__("graphs", **kw)
        self.show_root = False
        self.guide_depth = 3
        self._by_title: dict[str, TreeNode] = {}
        self._refs: set[str] = set()  # ids some node points back to: those show their id
        self.clear_graphs()

    def render_line(self, y: int) -> Strip:
        """A line that runs on past the pane's right edge ends in `…`: tree labels do not wrap,
        and a cut `[5, 10` alone does not say more exists (← → or `f`, which hides the form,
        show the rest)."""
        strip = super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        lines = self._tree_lines
        width = self.size.width
        if width < 2 or not 0 <= y + scroll_y < len(lines):
            return strip
        line = lines[y + scroll_y]
        full = self.get_label_width(line.node) + self.guide_depth * max(len(line.path) - 1, 0)
        if full <= scroll_x + width:
            return strip
        last = list(strip.crop(width - 1, width))
        style = last[0].style if last else None
        return Strip.join([strip.crop(0, width - 1), Strip([Segment("…", style)], 1)])

    def clear_graphs(self) -> None:
        self.clear()
        self._by_title.clear()
        self.root.add_leaf(Text("Graphs appear here.", style="dim"))

    def no_graph(self, where: str) -> None:
        """The run ended without a graph: say so, and which tabs hold its results ("Summary and
        Tables"; "" for none). Short lines
        (a tree's labels do not wrap): each fits the pane beside the form at 80 columns."""
        self.clear()
        self._by_title.clear()
        self.root.add_leaf(Text("This run drew no graph.", style="dim"))
        if where:
            self.root.add_leaf(Text("Its results are in the tabs", style="dim"))
            self.root.add_leaf(Text(where + ".", style="dim"))

    @property
    def has_content(self) -> bool:
        return bool(self._by_title)

    def add_tree(self, event: ev.Tree) -> None:
        if not self._by_title:
            self.root.remove_children()
        old = self._by_title.pop(event.title, None)
        if old is not None:
            old.remove()
        total = count_nodes(event.root)
        top = self.root.add(Text(event.title, style="bold"), expand=True)
        self._by_title[event.title] = top
        budget = [MAX_NODES]
        self._refs = tree_refs(event.root)
        self._add(top, event.root, depth=0, open_all=total <= OPEN_ALL_BELOW, budget=budget)
        if budget[0] <= 0:
            top.add_leaf(Text(f"… cut at {MAX_NODES:,} of {total:,} nodes", style="italic dim"))

    def _add(self, parent: TreeNode, node: dict[str, Any], depth: int, open_all: bool, budget: list) -> None:
        budget[0] -= 1
        label = tree_label(node, self._refs)
        children = node.get("children") or []
        if not children or budget[0] <= 0:
            parent.add_leaf(label, data=node.get("id"))
            return
        branch = parent.add(label, data=node.get("id"), expand=open_all or depth < 2)
        for child in children:
            if budget[0] <= 0:
                break
            self._add(branch, child, depth + 1, open_all, budget)


def count_nodes(node: dict[str, Any]) -> int:
    stack, n = [node], 0
    while stack:
        item = stack.pop()
        n += 1
        stack.extend(item.get("children") or [])
    return n
