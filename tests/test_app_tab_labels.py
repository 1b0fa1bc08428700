"""Every result tab stays named on screen (second new user's finding #14): at 80x24 beside the
form, with the Histograms tab shown, the labels shorten rather than scroll Code and Log off."""

from __future__ import annotations

from textual.widgets import Tabs

from pttui.engine import events as ev
from pttui.tui.app import PlaygroundApp
from pttui.tui.widgets.results import TABS
from tests.test_app import built, sync


@sync
async def test_every_tab_is_named_in_the_bar_at_80x24_with_histograms_and_full_names_when_wide():
    app = PlaygroundApp("training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await built(pilot)
        results = screen.results
        hist = {"edges": [0.0, 0.5, 1.0], "counts": [1, 3]}
        results.apply([ev.Histogram(0.6, "net.0", 3, 4, hist, None, None, None)])  # a run's first
        results.tabs.get_tab("chart").label = "Chart ⏸"  # the widest the Chart tab gets
        await pilot.pause(0.2)
        bar = screen.results.query_one(Tabs)
        tabs = [tab for tab in bar.query("Tab") if tab.display]
        assert len(tabs) == len(TABS), [str(t.label) for t in tabs]
        right = max(tab.region.right for tab in tabs)
        assert right <= bar.region.right, (right, bar.region, [str(t.label) for t in tabs])
        assert [str(t.label) for t in tabs][-2:] == ["Code", "Log"]
        # Wide enough for every full name: they come back.
        await pilot.resize_terminal(160, 40)
        await pilot.pause(0.3)
        labels = [str(tab.label) for tab in bar.query("Tab") if tab.display]
        assert "Histograms" in labels and "Summary" in labels, labels
