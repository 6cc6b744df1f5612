"""Walk through the pages in headless Chromium against the live test server.

The walk logs in, opens the dashboard, the findings list and one finding,
marks it a false positive and checks that the list shows the change. Each
main page is saved as a screenshot under test-artifacts/screenshots/.

Chromium comes from Debian's ``chromium`` package at /usr/bin/chromium;
Playwright only drives it and never downloads a browser of its own. Without
that executable (or without Playwright) the tests skip with the reason.
"""
# ruff: noqa: F811  (pytest fixtures imported by name are redefined as arguments)

import os
from pathlib import Path

import pytest
from django.conf import settings

from anomalies.models import Finding
from anomalies.tests.pages_data import (  # noqa: F401
    ATTACKER_IP,
    fast_password_hasher,
    shop,
)

# Playwright's sync API runs an asyncio event loop in this thread, and Django
# raises SynchronousOnlyOperation on ORM calls from such a thread unless this
# variable is set. The test's own ORM calls happen between browser steps.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STAFF_PASSWORD = "staff-pass-123"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hasher"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Chromium is not installed at /usr/bin/chromium "
        "(apt-get install chromium).",
    ),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed (requirements-dev.txt).",
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


class Walk:
    """One user's session in the browser, with a step per thing a user does.

    Steps navigate by clicking links and buttons where a user would, and
    save a screenshot of each main page they reach.
    """

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, path):
        self.page.goto(f"{self.base_url}{path}")

    def screenshot(self, name, phone=False):
        """Save the full page, at phone width too when ``phone`` is set."""
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        if phone:
            self.page.set_viewport_size(PHONE)
            self.page.screenshot(
                path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True
            )
            self.page.set_viewport_size(LAPTOP)

    def log_in(self, username, password):
        self.open("/")
        self.screenshot("login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base_url}/")

    def open_dashboard(self):
        self.page.click("nav >> text=Dashboard")
        self.page.wait_for_selector("h1:has-text('Dashboard')")
        self.screenshot("dashboard", phone=True)

    def open_findings(self, query=""):
        if query:
            self.open(f"/findings/?{query}")
        else:
            self.page.click("nav >> text=Findings")
        self.page.wait_for_selector("h1:has-text('Findings')")

    def open_first_finding(self):
        self.page.click("table.findings tbody tr:first-child td.what a >> nth=0")
        self.page.wait_for_selector("text=Why it was flagged")
        self.screenshot("finding-detail", phone=True)

    def mark_false_positive(self):
        self.page.click("button[value=false_positive]")
        self.page.wait_for_selector("text=marked “False positive”")

    def open_page(self, nav_text, heading, name):
        self.page.click(f"nav >> text={nav_text}")
        self.page.wait_for_selector(f"h1:has-text('{heading}')")
        self.screenshot(name)


@pytest.fixture
def walk(browser, live_server):
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    # Nothing outside the live server may be fetched: pages must work offline.
    outside = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(live_server.url)
            and not request.url.startswith("data:")
            else None
        ),
    )
    yield Walk(page, live_server.url)
    context.close()
    assert outside == []


def test_login_page_offline(walk):
    walk.open("/")
    assert walk.page.locator("input[name=username]").is_visible()


def test_review_walk(walk, shop):
    finding = shop["burst_finding"]
    walk.log_in("staff", STAFF_PASSWORD)
    walk.open_dashboard()
    assert walk.page.locator(
        f"text=5 failed logins from {ATTACKER_IP}"
    ).first.is_visible()

    walk.open_findings()
    walk.screenshot("findings", phone=True)
    walk.open_first_finding()
    assert walk.page.url.endswith(f"/findings/{finding.pk}/")

    walk.mark_false_positive()
    finding.refresh_from_db()
    assert finding.review_status == Finding.ReviewStatus.FALSE_POSITIVE

    walk.open_findings("review_status=false_positive")
    rows = walk.page.locator("table.findings tbody tr")
    assert rows.count() == 1
    assert rows.first.locator(".badge.review").inner_text() == "False positive"


def test_other_pages_walk(walk, shop):
    walk.log_in("staff", STAFF_PASSWORD)
    walk.open_page("Runs", "Runs", "runs")
    walk.open(f"/runs/{shop['detect_run'].pk}/")
    walk.screenshot("run-detail")
    walk.open(f"/runs/{shop['failed_run'].pk}/")
    assert walk.page.locator("text=Too few rows to train").is_visible()
    walk.screenshot("run-failed")
    walk.open_page("Train and detect", "Train and detect", "train-and-detect")
    walk.open_page("Evaluation", "Evaluation", "evaluation")
    walk.open_page("Settings", "Settings", "settings")
    walk.open_page("Features", "Feature explorer", "features")
