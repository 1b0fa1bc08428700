"""The result tabs, and the one place that routes events to panes, by kind only.

step/epoch -> Chart, heatmap -> the boundary beside it, histogram -> Histograms, text ->
Summary/Code/Log by its `pane`, tree -> Graph, table -> Tables, and every event -> Log
(system figures go to the status line, through the run state). No lab is named here: a new lab needs no UI code.

The first frame shows the tab bar and the Chart tab: the other tabs' panes (and their
modules: the Code tab's highlighter, the Log's pretty printer) are mounted by `build`,
after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from pttui.engine import events as ev
from pttui.tui.widgets.boundary import BoundaryView
from pttui.tui.widgets.chart import LossChart

if TYPE_CHECKING:  # the panes after the first frame (`build`)
    from pttui.tui.widgets.log_view import LogView

TABS = ("chart", "histograms", "summary", "graph", "tables", "code", "log")
# Where the tab bar is narrower than every label (80x24 beside the form, with Histograms shown),
# these shorter ones keep every tab in sight rather than scrolling the last ones off.
SHORT = {"histograms": "Hist", "summary": "Sum"}
_TAB_PAD = 2  # a tab's padding, one column each side
_MARK = 2  # the Chart tab's pause mark, " ⏸"


class ResultTabs(Vertical):
    DEFAULT_CSS = """
    ResultTabs {
        height: 1fr;
        & > TabbedContent { height: 1fr; }
        & ContentSwitcher { height: 1fr; }
        & TabPane { padding: 0; height: 1fr; }
        & #chart-row { height: 1fr; }
        & #chart-row > LossChart { width: 1fr; }
    }
    """

    def __init__(self, intro: str = "", **kw):
        super().__init__(**kw)
        self._histograms_shown = False
        self.intro = intro
        self.built = False  # every pane mounted (`build`)

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs"):
            with TabPane("Chart", id="chart"), Horizontal(id="chart-row"):
                yield LossChart()
                yield BoundaryView()
            for name in TABS[1:]:  # the tab bar names them all; their panes come with `build`
                yield TabPane(name.capitalize(), id=name)

    async def build(self) -> None:
        """Mount the panes of every tab but Chart (the first frame showed only that one)."""
        if self.built:
            return
        from pttui.tui.widgets.code_view import CodeView
        from pttui.tui.widgets.graph import GraphPane
        from pttui.tui.widgets.histograms import HistogramsView
        from pttui.tui.widgets.log_view import LogView
        from pttui.tui.widgets.summary import SummaryPane
        from pttui.tui.widgets.tables import TablesPane

        panes: dict[str, Widget] = {
            "histograms": VerticalScroll(HistogramsView()),
            "summary": SummaryPane(self.intro),
            "graph": GraphPane(),
            "tables": TablesPane(),
            "code": CodeView(),
            "log": LogView(),
        }
        for name, pane in panes.items():
            await self.query_one(f"#{name}", TabPane).mount(pane)
        self.built = pane.is_attached  # False when the app exits meanwhile (it mounts nothing then)

    def on_mount(self) -> None:
        # The Histograms tab appears with a run's first histogram (--histograms N), not before.
        self.tabs.hide_tab("histograms")
        self._histograms_shown = False

    def on_resize(self) -> None:
        self.fit_labels()

    def fit_labels(self) -> None:
        """Full tab labels where they all fit the bar (the Chart's pause mark included), else
        the SHORT ones: every tab stays named on screen."""
        shown = [name for name in TABS if name != "histograms" or self._histograms_shown]
        full = sum(len(name) + _TAB_PAD for name in shown) + _MARK
        short = full > self.size.width > 0
        for name in SHORT:
            tab = self.tabs.get_tab(name)
            label = SHORT[name] if short else name.capitalize()
            if str(tab.label) != label:
                tab.label = label  # type: ignore[assignment]

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    def show_tab(self, name: str) -> None:
        self.tabs.active = name

    @property
    def chart(self) -> LossChart:
        return self.query_one(LossChart)

    @property
    def log_view(self) -> LogView:
        return self.query_one("LogView")

    def tab_with_results(self) -> str | None:
        """Where this run's results are, when the chart is empty: Graph, Tables or Summary."""
        if not self.chart.data.snapshot().empty:
            return None
        if self.query_one("GraphPane").has_content:  # a graph is the point of the topics that draw one
            return "graph"
        if self.query_one("TablesPane").has_content:
            return "tables"
        if self.query_one("SummaryPane").has_content:
            return "summary"
        return None

    def tabs_with_results(self) -> list[str]:
        """The labels of the result tabs this run filled, in tab order."""
        filled = {
            "Chart": not self.chart.data.snapshot().empty,
            "Histograms": self._histograms_shown,
            "Summary": self.query_one("SummaryPane").has_content,
            "Graph": self.query_one("GraphPane").has_content,
            "Tables": self.query_one("TablesPane").has_content,
        }
        return [label for label, full in filled.items() if full]

    def run_ended(self) -> None:
        """The run said all it will: an empty Chart or Graph now says so, and where to look."""
        where = self.tabs_with_results()
        self.chart.ended(_and([label for label in where if label != "Chart"]))
        graph = self.query_one("GraphPane")
        if not graph.has_content:
            graph.no_graph(_and([label for label in where if label != "Graph"]))

    def new_run(self, keep_previous: bool = True) -> None:
        """Clear the panes for a new run; the chart keeps this run dimmed, the log keeps history."""
        self.chart.new_run(keep_previous)
        self.query_one(BoundaryView).clear()
        self.query_one("HistogramsView").clear()
        if self.tabs.active == "histograms":
            self.tabs.active = "chart"
        self.tabs.hide_tab("histograms")
        self._histograms_shown = False
        self.fit_labels()
        self.query_one("SummaryPane").clear()
        self.query_one("GraphPane").clear_graphs()
        self.query_one("TablesPane").clear()
        self.query_one("CodeView").clear_extras()

    def apply(self, events: Iterable[ev.Event]) -> int:
        """Route a batch of events; the chart redraws once per batch, not once per step."""
        chart, log = self.chart, self.log_view
        charted = 0
        heatmap: ev.Heatmap | None = None
        histograms = 0
        for event in events:
            kind = event.kind
            if kind in ("step", "epoch"):
                charted += chart.add(event)
            elif kind == "heatmap":
                if heatmap is not None and heatmap.points and not event.points:  # type: ignore[attr-defined]
                    self.query_one(BoundaryView).add(heatmap)  # keep the points a skipped map carried
                heatmap = event  # type: ignore[assignment]  # only the batch's last map is drawn
            elif kind == "histogram":
                self.query_one("HistogramsView").add(event)  # type: ignore[arg-type]
                histograms += 1
            elif kind == "table":
                self.query_one("TablesPane").add_table(event)  # type: ignore[arg-type]
            elif kind == "tree":
                self.query_one("GraphPane").add_tree(event)  # type: ignore[arg-type]
            elif kind == "text":
                pane = getattr(event, "pane", "log")
                if pane == "summary":
                    self.query_one("SummaryPane").add_text(event)  # type: ignore[arg-type]
                elif pane == "code":
                    self.query_one("CodeView").add_text(event)  # type: ignore[arg-type]
            elif kind == "done":
                self.query_one("SummaryPane").add_result(event)  # type: ignore[arg-type]
                chart.data.end()
                charted += 1
            elif kind == "error" and getattr(event, "fatal", False):
                self.query_one("SummaryPane").add_error(event)  # type: ignore[arg-type]
                chart.data.end()
                charted += 1
            log.add_event(event)
        if charted:
            chart.redraw()
        if heatmap is not None:
            self.query_one(BoundaryView).add(heatmap)
        if histograms:
            if not self._histograms_shown:  # once per run: showing a tab lays the tab bar out again
                self._histograms_shown = True
                self.tabs.show_tab("histograms")
                self.fit_labels()
            self.query_one("HistogramsView").changed()
        return charted


def _and(labels: list[str]) -> str:
    """["Chart", "Summary", "Tables"] -> "Chart, Summary and Tables"; [] -> ""."""
    return ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else "".join(labels)
