"""Where a notification goes, decided once: it never hides results for long, and never on a
small screen.

Textual's toasts sit over the bottom right of the screen: on a topic screen that is the end
of the chart and the status line. So below ROOMY a screen that has a line of its own for news
(the topic screen's status line, the past runs' header) shows it there instead, and no toast
is drawn; at ROOMY and above a toast lasts at most TOAST_S for its severity. The topic screen
also writes every notification into its Log, where it stays.
"""

from __future__ import annotations

ROOMY = (100, 30)  # cells: below this in either direction, no toasts
# The longest a toast stays, by severity: long enough to read a line, short enough to hide
# nothing for long (the same words stay in the Log and the status line).
TOAST_S = {"information": 2.5, "warning": 3.5, "error": 5.0}
# A notice on a status line covers no result, but it pushes the run's figures out for a while:
# it stays this long by severity (or until the next notice).
NOTICE_S = {"information": 3.0, "warning": 5.0, "error": 8.0}


def notice_s(severity: str) -> float:
    """How long a status-line notice of `severity` stays."""
    return NOTICE_S.get(severity, NOTICE_S["information"])


MARKS = {"information": "ℹ", "warning": "⚠", "error": "✘"}


def roomy(size: tuple[int, int]) -> bool:
    """True when a toast may be drawn on a screen of `size` (width, height) cells."""
    return size[0] >= ROOMY[0] and size[1] >= ROOMY[1]


def toast_s(severity: str, asked: float | None) -> float:
    """How long a toast of `severity` stays: what was asked, never past TOAST_S[severity]."""
    cap = TOAST_S.get(severity, TOAST_S["information"])
    return cap if asked is None else min(asked, cap)


def words(message: str, title: str = "") -> str:
    """One line for a status line or the Log: "title: message" (the title may be empty)."""
    text = " ".join(str(message).split())
    return f"{title}: {text}" if title else text
