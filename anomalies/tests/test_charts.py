"""Tests of the SVG chart helpers: caching, empty data and offline output."""

from datetime import UTC, datetime, timedelta

import pytest

from anomalies import charts

# Each test starts on an empty cache through the isolated_cache fixture of the
# root conftest.py. cache.clear() would also empty Redis's task queue when
# REDIS_URL is set.


def hours(count):
    start = datetime(2025, 1, 6, tzinfo=UTC)
    return [start + timedelta(hours=index) for index in range(count)]


def test_cached_svg_draws_once():
    calls = []

    def build():
        calls.append(1)
        return charts.activity_figure(hours(3), [1, 5, 2], hours(1), [1])

    first = charts.cached_svg(("test", 1), build)
    second = charts.cached_svg(("test", 1), build)
    assert first == second
    assert len(calls) == 1


def test_cached_svg_is_bare_svg_element():
    svg = charts.cached_svg(
        ("test", 2), lambda: charts.pr_curve_figure([("z", [1.0, 0.5], [0.0, 1.0])])
    )
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert 'href="http' not in svg


def test_cached_svg_nothing_to_draw():
    assert (
        charts.cached_svg(("test", 3), lambda: charts.activity_figure([], [], [], []))
        is None
    )


@pytest.mark.parametrize(
    "histogram",
    [
        {},
        {"edges": [0, 50, 100], "normal": [1], "anomalous": [0, 1]},
    ],
)
def test_histogram_rejects_malformed_metrics(histogram):
    assert charts.score_histogram_figure(histogram, "title") is None


def test_scatter_marks_flagged_points():
    figure = charts.scatter_figure([1, 2, 3], [3, 2, 1], [False, True, False], "x", "y")
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["Not flagged (2)", "Flagged (1)"]
