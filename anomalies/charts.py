"""Charts for the HTML pages, drawn server-side by matplotlib as inline SVG.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, so no global
state shared between request threads) and saved as SVG with text drawn as
paths, so a page needs no font, script or style sheet from anywhere else.
Each SVG is stored in Django's cache under a key that names the data it was
drawn from (a run's id and finish time, the newest row ids), so a chart is
drawn once per change of its data.
"""

import hashlib
import io
import logging
from datetime import timedelta

import matplotlib
import numpy as np
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext as _
from matplotlib import dates as mdates
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

# Seconds a drawn chart stays in the cache; its key changes when its data does.
CACHE_SECONDS = 24 * 3600
# Above this many points a scatter plot draws its normal points as one
# embedded bitmap, which keeps the SVG small.
RASTERIZE_ABOVE = 3000

NORMAL_COLOUR = "#5b6b82"
FLAGGED_COLOUR = "#c8243a"
ACCENT_COLOUR = "#1f6feb"
LINE_COLOURS = ["#1f6feb", "#c8243a", "#2e8540", "#8a5cf6", "#d97706", "#0e7490"]

STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e7ee",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "svg.fonttype": "path",
}


def figure_to_svg(figure, salt):
    """Serialise a figure to an SVG element, without the XML prologue.

    ``salt`` seeds matplotlib's element ids, so that two charts inlined on one
    page never share an id.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": salt}):
        figure.savefig(
            buffer, format="svg", bbox_inches="tight", metadata={"Date": None}
        )
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def cached_svg(key, build):
    """Return the SVG cached under ``key``, drawing it with ``build()`` on a miss.

    ``build`` returns a Figure, or None when there is nothing to draw, in
    which case None is returned and nothing is cached.
    """
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    cache_key = f"anomalens:chart:{digest}"
    svg = cache.get(cache_key)
    if svg is not None:
        return svg
    with matplotlib.rc_context(STYLE):
        figure = build()
    if figure is None:
        return None
    svg = figure_to_svg(figure, digest)
    cache.set(cache_key, svg, CACHE_SECONDS)
    logger.debug("Drew chart %s (%d bytes)", key, len(svg))
    return svg


def new_axes(width=8.0, height=3.0):
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def activity_figure(hours, events, finding_hours, finding_counts):
    """Draw events per hour above the findings per hour, on one time axis.

    ``hours`` and ``finding_hours`` are aware datetimes (hour starts); the
    axis shows them in the active time zone.
    """
    if not hours:
        return None
    zone = timezone.get_current_timezone()
    figure = Figure(figsize=(10.0, 3.4), layout="constrained")
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.fill_between(hours, events, step="post", color=ACCENT_COLOUR, alpha=0.25)
    top.step(hours, events, where="post", color=ACCENT_COLOUR, linewidth=1)
    top.set_ylabel(_("Events per hour"))
    top.set_ylim(bottom=0)
    bar_width = 1 / 24
    bottom.bar(
        finding_hours,
        finding_counts,
        width=bar_width,
        align="edge",
        color=FLAGGED_COLOUR,
    )
    for when in finding_hours:
        top.axvline(when, color=FLAGGED_COLOUR, alpha=0.15, linewidth=0.8)
    bottom.set_ylabel(_("Findings"), color=FLAGGED_COLOUR)
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel(_("Time (%(zone)s)") % {"zone": str(zone)})
    bottom.set_xlim(hours[0], hours[-1] + timedelta(hours=1))
    locator = mdates.AutoDateLocator(tz=zone)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))
    return figure


def pr_curve_figure(curves):
    """Draw precision against recall, one line per ``(label, precision, recall)``."""
    curves = [curve for curve in curves if curve[1] and curve[2]]
    if not curves:
        return None
    figure, axes = new_axes(5.0, 3.6)
    for index, (label, precision, recall) in enumerate(curves):
        axes.step(
            recall,
            precision,
            where="post",
            color=LINE_COLOURS[index % len(LINE_COLOURS)],
            linewidth=1.4,
            label=label,
        )
    axes.set_xlabel(_("Recall (share of labelled anomalies found)"))
    axes.set_ylabel(_("Precision (share of flags that are anomalies)"))
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower left")
    return figure


def score_histogram_figure(histogram, title):
    """Draw the score distribution of normal and of labelled anomalous rows."""
    edges = histogram.get("edges") or []
    normal = histogram.get("normal") or []
    anomalous = histogram.get("anomalous") or []
    if (
        len(edges) < 2
        or len(normal) != len(edges) - 1
        or len(anomalous) != len(edges) - 1
    ):
        return None
    figure, axes = new_axes(5.0, 3.0)
    axes.stairs(
        normal, edges, fill=True, color=NORMAL_COLOUR, alpha=0.55, label=_("Normal")
    )
    axes.stairs(
        anomalous,
        edges,
        fill=True,
        color=FLAGGED_COLOUR,
        alpha=0.6,
        label=_("Anomalous (labelled)"),
    )
    positive = [count for count in [*normal, *anomalous] if count > 0]
    # Normal rows usually outnumber anomalies a hundredfold; a log scale keeps
    # both visible.
    if positive and max(positive) > 50 * min(positive):
        axes.set_yscale("symlog", linthresh=1)
    axes.set_xlabel(_("Score (0–100)"))
    axes.set_ylabel(_("Rows"))
    axes.set_xlim(edges[0], edges[-1])
    axes.set_title(title)
    # Below the axis label, because inside the axes the legend hides bars.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    return figure


def scatter_figure(x, y, flagged, x_label, y_label):
    """Draw two features against each other, flagged rows in red on top."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    flagged = np.asarray(flagged, dtype=bool)
    if x.size == 0:
        return None
    figure, axes = new_axes(7.0, 4.5)
    normal = ~flagged
    axes.scatter(
        x[normal],
        y[normal],
        s=6,
        color=NORMAL_COLOUR,
        alpha=0.45,
        linewidths=0,
        rasterized=bool(normal.sum() > RASTERIZE_ABOVE),
        label=_("Not flagged (%(n)s)") % {"n": f"{int(normal.sum()):,}"},
    )
    axes.scatter(
        x[flagged],
        y[flagged],
        s=16,
        color=FLAGGED_COLOUR,
        alpha=0.85,
        linewidths=0,
        label=_("Flagged (%(n)s)") % {"n": f"{int(flagged.sum()):,}"},
    )
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(loc="best")
    return figure
