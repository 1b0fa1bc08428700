"""The autograd graph behind a tensor: an iterative walk, a text tree, and Graphviz DOT.

The walk follows torchviz's `make_dot` rule for rule, so the node set is the one torchviz
draws for the same output: the output tensor, each `grad_fn` reached through
`next_functions`, the leaf tensor behind every `AccumulateGrad` (its `.variable`), the base
of an output that is a view, the tensors a custom `autograd.Function` saved, and with
`show_saved` the tensors each backward node saved (its `_saved_*` attributes). Nodes are
keyed by the identity of the Python object, as torchviz keys them by `id()`.

torchviz recurses once per node, so a long graph raises RecursionError; this walk keeps its
own stack, and the tree view is bounded (depth and node count) while the DOT has every node.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pttui.engine import numbers

SAVED_PREFIX = "_saved_"  # torchviz's marker for what a backward node saved


@dataclass
class Node:
    id: str  # "n0", "n1", ...: stable names for the tree and the DOT
    kind: str  # fn | leaf | output | base | saved
    label: str
    detail: str = ""
    children: list[str] = field(default_factory=list)  # for the tree: what this node depends on


@dataclass
class Graph:
    nodes: dict[int, Node]  # by id() of the object, the way torchviz names nodes
    edges: list[tuple[str, str, str]]  # (from, to, style) in torchviz's direction
    roots: list[str]  # the output tensors' nodes
    keep: list[Any]  # the walked objects, kept alive so that no id() is reused meanwhile

    def by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes.values()}

    def counts(self) -> dict[str, int]:
        """How many nodes of each backward class (AccumulateGrad included), most first."""
        return dict(Counter(n.label for n in self.nodes.values() if n.kind == "fn").most_common())

    @property
    def fn_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.kind == "fn")


def shape_text(size) -> str:
    """A node's tensor sizes, written as every shape in pttui is (engine.numbers.shape)."""
    return numbers.shape(size)


def walk(output, names: dict[str, Any] | None = None, show_saved: bool = False, output_name: str = "output"):
    """Walk the graph of `output` (a tensor or a tuple of tensors) without recursion.

    `names` maps a name to a tensor (leaves, parameters) and labels those nodes, as torchviz's
    `params` argument does.
    """
    import torch

    param_map = {id(t): name for name, t in (names or {}).items()}
    graph = Graph({}, [], [], [])

    def add(obj, kind: str, label: str, detail: str = "") -> Node:
        key = id(obj)
        node = graph.nodes.get(key)
        if node is None:
            node = Node(f"n{len(graph.nodes)}", kind, label, detail)
            graph.nodes[key] = node
            graph.keep.append(obj)
        elif kind == "leaf" and node.kind == "saved":  # torchviz draws it once: keep the leaf's name
            node.kind, node.label, node.detail = kind, label, detail
        return node

    def tensor_node(t, kind: str, name: str = "") -> Node:
        name = name or param_map.get(id(t), "")
        what = {"leaf": "leaf", "output": "output", "base": "base of the view", "saved": "saved"}[kind]
        extra = f", {str(t.dtype).replace('torch.', '')}" if t.dtype != torch.float32 else ""
        if kind == "leaf" and t.requires_grad:
            extra += ", requires_grad"
        return add(t, kind, name or what, f"{shape_text(t.shape)}{extra}")

    seen: set[int] = set()  # fns already expanded (torchviz's `seen`)

    def expand(root_fn) -> None:
        stack = [root_fn]
        while stack:
            fn = stack.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            node = add(fn, "fn", type(fn).__name__, _fn_detail(fn))
            deps: list[Node] = []
            saved_deps: list[Node] = []
            if show_saved:
                for attr in sorted(a for a in dir(fn) if a.startswith(SAVED_PREFIX)):
                    try:
                        val = getattr(fn, attr)
                    except RuntimeError:  # freed by an earlier backward(): nothing to show
                        continue
                    name = attr[len(SAVED_PREFIX) :]
                    items = [(name, val)] if torch.is_tensor(val) else []
                    if isinstance(val, tuple):
                        items = [(f"{name}[{i}]", t) for i, t in enumerate(val) if torch.is_tensor(t)]
                    for label, t in items:
                        saved = tensor_node(t, "saved", param_map.get(id(t)) or f"saved {label}")
                        graph.edges.append((node.id, saved.id, "none"))
                        saved_deps.append(saved)
            variable = getattr(fn, "variable", None)
            if variable is not None and torch.is_tensor(variable):
                leaf = tensor_node(variable, "leaf")
                graph.edges.append((leaf.id, node.id, ""))
                deps.append(leaf)
            nexts = [u for u, _ in getattr(fn, "next_functions", ()) if u is not None]
            for u in nexts:
                child = add(u, "fn", type(u).__name__, _fn_detail(u))
                graph.edges.append((child.id, node.id, ""))
                deps.append(child)
            for t in _custom_saved(fn):
                saved = tensor_node(t, "saved")
                graph.edges.append((saved.id, node.id, "none"))
                saved_deps.append(saved)
            deps += saved_deps  # inputs first in the tree, what was saved for backward after
            node.children = [d.id for d in deps]
            # Reversed, so the first input is expanded first, in torchviz's order.
            stack.extend(reversed(nexts))

    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    pending = [(t, "output", None) for t in reversed(outputs)]
    while pending:  # torchviz's add_base_tensor: the output, its grad_fn, the base of a view
        t, kind, child_id = pending.pop()
        if id(t) in graph.nodes:
            node = graph.nodes[id(t)]
        else:
            node = tensor_node(t, kind, (param_map.get(id(t)) or output_name) if kind == "output" else "")
            if t.grad_fn is not None:
                root = add(t.grad_fn, "fn", type(t.grad_fn).__name__, _fn_detail(t.grad_fn))
                graph.edges.append((root.id, node.id, ""))
                node.children.append(root.id)
                expand(t.grad_fn)
            if t._is_view():
                pending.append((t._base, "base", node.id))
        if child_id is None:
            graph.roots.append(node.id)
        else:
            graph.edges.append((node.id, child_id, "dotted"))
            graph.by_id()[child_id].children.append(node.id)
    return graph


def _fn_detail(fn) -> str:
    """The shape of what the forward op produced (its backward node's input), when PyTorch says."""
    try:
        meta = fn._input_metadata  # private, present since torch 2.0; optional here
        return "→ " + ", ".join(shape_text(m.shape) for m in meta) if meta else ""
    except Exception:
        return ""


def _custom_saved(fn) -> tuple:
    # Only custom autograd Functions (BackwardCFunction) have `saved_tensors`; reading it
    # raises after backward freed the buffers, which means there is nothing left to draw.
    try:
        return tuple(t for t in fn.saved_tensors if t is not None)
    except (AttributeError, RuntimeError):
        return ()


def to_tree(graph: Graph, max_nodes: int = 400, max_depth: int = 40) -> dict[str, Any]:
    """The graph as nested {"label", "detail", "id", "kind", "children"} dicts.

    The root is the output's `grad_fn` (the output tensor is named in its detail); a node
    reached again becomes {"ref": its id} with no children. A run of same-class nodes that
    each have one input collapses into one node. Past `max_nodes` dicts or `max_depth`
    levels a branch ends in a "…" node, and the root's "note" says so: the DOT has all.
    """
    by_id = graph.by_id()
    drawn: dict[str, str] = {}  # node id -> id of the dict that shows it (collapsed runs)
    count = cut = 0
    results = []
    for root_id in graph.roots:
        root = by_id[root_id]
        # Show the grad_fn at the top, as the classic printouts do; the tensor is in its detail.
        fn_kids = [c for c in root.children if by_id[c].kind == "fn"]
        start = by_id[fn_kids[0]] if len(fn_kids) == 1 and len(root.children) == 1 else root
        holder: list[dict[str, Any]] = []
        stack = [(start.id, holder, 0)]
        more_added: set[int] = set()
        while stack:
            cid, siblings, depth = stack.pop()
            node = by_id[cid]
            if cid in drawn:
                ref = {"label": node.label, "detail": "drawn above", "id": node.id, "kind": node.kind}
                siblings.append({**ref, "ref": drawn[cid], "children": []})
                count += 1
                continue
            if count >= max_nodes or depth > max_depth:
                cut += 1
                if id(siblings) not in more_added:
                    more_added.add(id(siblings))
                    siblings.append(
                        {"label": "…", "detail": "more not shown here", "kind": "more", "children": []}
                    )
                continue
            d = {"label": node.label, "detail": node.detail, "id": node.id, "kind": node.kind, "children": []}
            drawn[cid] = cid
            count += 1
            # Collapse a chain of same-class nodes with a single input (y = y * 2 in a loop).
            run, length = node, 1
            while len(run.children) == 1:
                nxt = by_id[run.children[0]]
                if nxt.label != node.label or nxt.kind != node.kind or nxt.id in drawn:
                    break
                run, length = nxt, length + 1
                drawn[run.id] = cid
            if length > 1:
                d["detail"] = f"× {length:,} in a chain (collapsed) {node.detail}".strip()
                d["collapsed"] = length
            siblings.append(d)
            stack.extend((c, d["children"], depth + 1) for c in reversed(run.children))
        top = holder[0]
        if start is not root:
            drawn.setdefault(root.id, start.id)
            chain = f"× {top['collapsed']:,} in a chain (collapsed), " if "collapsed" in top else ""
            if "ref" not in top:
                top["detail"] = f"{chain}→ {root.label} {root.detail}"
        results.append(top)
    tree = results[0] if len(results) == 1 else {"label": "outputs", "kind": "root", "children": results}
    total = len(graph.nodes)
    tree["nodes"] = total
    if cut:
        tree["note"] = (
            f"the graph has {total:,} nodes; this tree shows {count:,} and cuts {cut:,} branches "
            f"(at most {max_nodes:,} entries, {max_depth} levels): the DOT export has every node"
        )
    return tree


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_COLOURS = {
    "leaf": "lightblue",
    "saved": "orange",
    "output": "darkolivegreen1",
    "base": "darkolivegreen3",
}


def to_dot(graph: Graph, title: str = "") -> str:
    """Graphviz DOT text with every node and edge, torchviz's colours; no Graphviz needed."""
    lines = ["digraph {"]
    if title:
        lines.append(f"\tlabel={_quote(title)}")
    lines.append('\tgraph [size="12,12"]')
    lines.append(
        "\tnode [align=left fontname=monospace fontsize=10 height=0.2 ranksep=0.1 shape=box style=filled]"
    )
    for node in graph.nodes.values():
        label = node.label if node.kind == "fn" else f"{node.label}\n {node.detail}"
        colour = _COLOURS.get(node.kind)
        fill = f" fillcolor={colour}" if colour else " fillcolor=lightgrey"
        lines.append(f"\t{node.id} [label={_quote(label)}{fill}]")
    for src, dst, style in graph.edges:
        attrs = {"none": " [dir=none]", "dotted": " [style=dotted]"}.get(style, "")
        lines.append(f"\t{src} -> {dst}{attrs}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(graph: Graph, path: str, title: str = "") -> str:
    """Write the DOT file; returns the path. Raises OSError as open() does."""
    from pathlib import Path

    target = Path(path).expanduser()
    target.write_text(to_dot(graph, title), encoding="utf-8")
    return str(target)


def save_dot(graph: Graph, path: str, title: str = "", field: str = "dot") -> str:
    """`write_dot` for a lab's `--dot`: a path that cannot be written is a ParamError naming `field`."""
    from pttui.engine.safe_eval import param_error

    try:
        return write_dot(graph, path, title)
    except OSError as exc:
        message = f"cannot write there ({exc.strerror or exc}); give a writable file path"
        raise param_error(field, path, message) from None
