"""The human printer: a rich progress bar while a lab runs, then its tables and results.

A sink like any other; `pttui run TOPIC` without `--json` uses it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.syntax import Syntax
from rich.text import Text
from rich.tree import Tree

from pttui.engine import confusion_view, numbers
from pttui.engine import events as ev
from pttui.engine.layout import FitTable, body_blocks, result_tables, tree_label, tree_refs
from pttui.engine.sinks import Sink

fmt = numbers.text  # a value as a person reads it (engine.numbers: the one place numbers are written)


def rich_tree(node: dict[str, Any], tree: Tree | None = None, refs: set[str] | None = None) -> Tree:
    """A tree event's root as a rich Tree; ids are shown where a `ref` points at them."""
    refs = tree_refs(node) if refs is None else refs
    label = tree_label(node, refs)
    branch = Tree(label) if tree is None else tree.add(label)
    for child in node.get("children", []):
        rich_tree(child, branch, refs)
    return branch


def error_head(event: ev.Error, prog: str) -> str:
    """What heads a failed run's line on stderr, with or without --json: `prog` (`pttui run
    training`) for a refused parameter, as the checks made before the run say it; `error` else."""
    return prog if event.field and prog else "error"


class HumanSink(Sink):
    def __init__(self, console: Console | None = None, prog: str = ""):
        """`prog` (`pttui run training`) heads a refused parameter's line, as the checks made
        before the run head theirs; other errors read `error: ...`."""
        self.console = console or Console()
        self.prog = prog
        self.errors = Console(stderr=True)
        self.progress: Progress | None = None
        self.task = None
        self.last_loss = float("nan")
        self.heatmap: ev.Heatmap | None = None  # the latest map and points: drawn once, at the end
        self.points: list[list[float]] = []
        self.layers: dict[str, ev.Histogram] = {}
        self.ratios: dict[str, float] = {}
        self.system: ev.System | None = None
        self.deferred: dict[str, ev.Table] = {}  # tables that came while the progress bar ran
        self.speeds: dict[tuple[str, int | None], tuple[float, float]] = {}  # samples, seconds

    def _bar(self, total: int | None) -> None:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("step {task.completed:.0f}"),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[rate]} samples/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("training", total=total, loss="-", rate="-")
        elif total:
            self.progress.update(self.task, total=total)

    def _run_rate(self, event: ev.Epoch) -> str:
        """The run's speed so far (its epochs' samples over their seconds, per series and
        rank), as the result's samples_per_s will give it: not the last epoch's alone."""
        m = event.metrics
        rate, seconds = m.get("samples_per_s"), m.get("seconds")
        if not isinstance(rate, (int, float)) or not isinstance(seconds, (int, float)):
            return numbers.number(round(rate)) if isinstance(rate, (int, float)) else "-"
        samples, total = self.speeds.get((event.series, event.rank), (0.0, 0.0))
        samples, total = samples + rate * seconds, total + seconds
        self.speeds[(event.series, event.rank)] = (samples, total)
        return numbers.number(round(samples / total)) if total > 0 else "-"

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        deferred, self.deferred = self.deferred, {}
        for table in deferred.values():
            self._print_table(table)

    def _print_table(self, event: ev.Table) -> None:
        if confusion_view.is_confusion(event.title, event.columns):  # a grid of counts, not a table
            counts = confusion_view.counts_of(event.rows)
            self._table(confusion_view.render(counts, self.console.width, event.note))
        else:
            self._table(FitTable(event.columns, event.rows, title=event.title, note=event.note))
        self.console.print()

    def on_event(self, event: ev.Event) -> None:
        c = self.console
        if isinstance(event, ev.Start):
            c.print(f"[bold]{event.topic}[/] on [cyan]{event.device}[/], torch {event.torch}")
        elif isinstance(event, ev.Step):
            self._bar(None)
            self.progress.update(self.task, completed=event.step, loss=numbers.number(event.loss))
        elif isinstance(event, ev.Epoch):
            self._bar(event.steps_total)
            m = event.metrics
            self.progress.update(self.task, rate=self._run_rate(event))
            hidden = ("seconds", "samples_per_s")
            shown = "  ".join(f"{k} {numbers.field(k, v)}" for k, v in m.items() if k not in hidden)
            names = [event.series] if event.series != "train" else []
            if event.rank is not None:
                names.append(f"rank {event.rank}")
            tag = f"\\[{', '.join(names)}] " if names else ""  # escaped: not rich markup
            self.progress.console.print(f"{tag}epoch {event.epoch + 1}/{event.epochs}  {shown}")
        elif isinstance(event, ev.Table):
            if self.progress is not None:
                # Mid-training tables (the confusion matrix after each epoch, the profiler's)
                # wait for the bar to end: the latest of each title, printed once.
                self.deferred[event.title] = event
                return
            self._print_table(event)
        elif isinstance(event, ev.Tree):
            self._stop_bar()
            c.print(rich_tree(event.root, Tree(f"[bold]{event.title}")))
        elif isinstance(event, ev.Text):
            self._stop_bar()
            if event.pane == "code":
                c.print(Syntax(event.body, "python"))
            else:
                style = {"warning": "yellow", "error": "red"}.get(event.level, "")
                titled = event.title and event.title != event.level  # ctx.warn's title is its level
                head = Text(f"{event.title}: " if titled else "", style=f"bold {style}".strip())
                for pre, block in body_blocks(event.body):
                    # Prose wraps to the terminal with its title in the first line's width; a
                    # model summary keeps its lines whole, under its title.
                    if pre:
                        if head.plain:
                            c.print(head.plain.rstrip(": "), style=head.style)
                        c.print(block, markup=False, highlight=False, style=style, soft_wrap=True)
                    else:
                        self._table(Text.assemble(head, Text(block, style=style)))
                    head = Text("")
        elif isinstance(event, ev.Heatmap):
            self.heatmap = event
            self.points = event.points or self.points
        elif isinstance(event, ev.Histogram):
            self.layers[event.layer] = event
            if event.update_ratio is not None:  # the final set has none: the latest measured one stands
                self.ratios[event.layer] = event.update_ratio
        elif isinstance(event, ev.System):
            self.system = event
        elif isinstance(event, ev.Done):
            self._stop_bar()
            self._print_inside()
            c.print(Text("stopped early" if event.stopped else "result", style="bold"))
            for table in result_tables(event.result):
                self._table(table)
        elif isinstance(event, ev.Error):
            self._stop_bar()
            head = error_head(event, self.prog)
            style = "bold red" if head == "error" else ""
            self.errors.print(Text(f"{head}: ", style=style), end="")
            self.errors.print(event.message, markup=False, highlight=False, soft_wrap=True)  # one line

    def _print_inside(self) -> None:
        """The final decision boundary, the layers' health and the machine, once, at the end."""
        c = self.console
        if self.heatmap is not None:
            from pttui.engine import heatmap_view

            h = self.heatmap
            glyphs = c.no_color or c.color_system is None  # without colour the classes' hues are lost
            c.print(f"[bold]{h.title}[/] at step {h.step:,}")
            c.print(
                heatmap_view.render(h, self.points, min(h.width, 64), min(h.height // 2, 24), glyphs=glyphs)
            )
            c.print(heatmap_view.legend(h.n_classes, glyphs))
        if self.layers:
            rows = []
            for h in self.layers.values():
                edges = h.weights["edges"]
                rows.append(
                    [
                        h.layer,
                        h.numel,
                        f"{fmt(edges[0])}..{fmt(edges[-1])}",
                        h.grad_norm,
                        self.ratios.get(h.layer),
                    ]
                )
            columns = ["layer", "params", "weights min..max", "grad norm", "update/weight"]
            c.print(FitTable(columns, rows, title="layers at the last histogram"))
        if self.system is not None:
            s = self.system
            cuda = ""
            if s.cuda:
                cuda = "  cuda " + "  ".join(f"{k} {fmt(v)}" for k, v in s.cuda.items())
            c.print(
                f"[dim]system: cpu {s.cpu_percent:.0f}%  rss {numbers.field('rss_mb', s.rss_mb)}  {s.processes} process(es){cuda}[/]"
            )

    def _table(self, table: FitTable | Text) -> None:
        """A table or wrapped prose; piped, without the spaces rich leaves at the ends of lines
        (padding, wrap points), so diffs and greps stay clean."""
        c = self.console
        if c.is_terminal:
            c.print(table)
            return
        with c.capture() as captured:
            c.print(table)
        c.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))

    def close(self) -> None:
        self._stop_bar()
