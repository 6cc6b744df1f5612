"""Walk through the pages in headless Chromium against the live test server.

The first-use walk starts from an empty database. It logs in, simulates a
shop and queues training then detection. A real django-q2 worker
(``manage.py qcluster`` on the same test database) carries the runs out.
Then the walk opens the dashboard and a finding, marks it a false positive
and checks that the findings list shows the change. Each main page is saved as a screenshot
under test-artifacts/screenshots/.

Chromium comes from Debian's ``chromium`` package at /usr/bin/chromium;
Playwright only drives it and never downloads a browser of its own. Without
that executable (or without Playwright) the tests skip with the reason.
"""
# ruff: noqa: F811  (pytest fixtures imported by name are redefined as arguments)

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from anomalies.models import Finding, Run
from anomalies.tests.pages_data import (  # noqa: F401
    ATTACKER_IP,
    fast_password_hasher,
    shop,
)
from anomalies.tests.qcluster import qcluster
from simulator.models import SimulationRun

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
# Seconds the walk waits for the worker to finish a simulation or all runs.
WORKER_WAIT_SECONDS = 240
# Milliseconds a page may take to show what a step waits for.
PAGE_WAIT_MS = 20_000

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
        # Put before each screenshot's name, so that walks on different data
        # do not overwrite each other's pictures.
        self.prefix = ""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def open(self, path):
        self.page.goto(f"{self.base_url}{path}")

    def screenshot(self, name, phone=False):
        """Save the full page, at phone width too when ``phone`` is set."""
        name = f"{self.prefix}{name}"
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


@pytest.fixture
def worker(live_server, tmp_path):
    """Run ``manage.py qcluster`` on the live server's test database; stop it after.

    Returns a function that reads the worker's log.
    """
    log_path = tmp_path / "qcluster.log"
    with qcluster(log_path, tmp_path / "var", timeout=WORKER_WAIT_SECONDS):
        yield lambda: log_path.read_text(errors="replace")[-4000:]


def wait_until(condition, what, worker_log):
    """Poll ``condition`` every half second; fail naming ``what`` after the limit."""
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(
        f"Timed out after {WORKER_WAIT_SECONDS} s waiting for {what}. "
        f"Worker log:\n{worker_log()}"
    )


def test_first_use_walk(walk, worker, staff_user, settings):
    # Send even a small simulation to the worker, as a large one would go.
    settings.SIMULATOR_INLINE_MAX_ROWS = 100
    page = walk.page
    walk.log_in("staff", STAFF_PASSWORD)
    walk.screenshot("dashboard-empty")

    # Simulate a shop.
    walk.open_page("Simulator", "Simulate a shop", "simulator")
    for name, value in {
        "customers": "40",
        "products": "15",
        "orders": "200",
        "activities": "1500",
        "activity_anomaly_rate": "0.05",
        "days": "3",
        "seed": "7",
    }.items():
        page.fill(f"input[name={name}]", value)
    page.click("button:has-text('Simulate')")
    page.wait_for_selector("h1:has-text('Simulation #')", timeout=PAGE_WAIT_MS)
    walk.screenshot("simulation-queued")
    wait_until(
        lambda: (
            not SimulationRun.objects.filter(
                status__in=[SimulationRun.Status.QUEUED, SimulationRun.Status.RUNNING]
            ).exists()
        ),
        "the simulation",
        worker,
    )
    # The page reloads itself until the simulation has ended.
    page.wait_for_selector(".simulation-status .status-succeeded", timeout=PAGE_WAIT_MS)
    walk.screenshot("simulation-done")

    # Train, then detect, from the link the simulation page offers.
    page.click("text=Next: train the detectors and run detection")
    page.wait_for_selector("h1:has-text('Train and detect')", timeout=PAGE_WAIT_MS)
    assert page.is_checked("input[name=kind][value=train_detect]")
    walk.screenshot("train-and-detect")
    page.click("button:has-text('Queue the runs')")
    page.wait_for_selector("text=Queued 12 runs.", timeout=PAGE_WAIT_MS)
    walk.screenshot("runs-working")
    wait_until(
        lambda: (
            not Run.objects.filter(
                status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
            ).exists()
        ),
        "the training and detection runs",
        worker,
    )
    failed = list(Run.objects.filter(status=Run.Status.FAILED).values("pk", "error"))
    assert failed == []
    page.wait_for_selector(
        "main:not(:has(.status-queued)):not(:has(.status-running)) table.runs",
        timeout=PAGE_WAIT_MS,
    )
    assert page.locator("table.runs .status-succeeded").count() == 12
    walk.screenshot("runs-done")

    # A detection run links to its findings.
    page.click("table.runs tr:has-text('Detection') a >> nth=0")
    page.wait_for_selector("h1:has-text('Detection of')", timeout=PAGE_WAIT_MS)
    walk.screenshot("run-detail")
    page.click("text=All findings of this run")
    page.wait_for_selector("h1:has-text('Findings')", timeout=PAGE_WAIT_MS)
    assert "run=" in page.url

    walk.open_dashboard()

    walk.open_findings()
    walk.screenshot("findings", phone=True)
    walk.open_first_finding()
    finding_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    walk.mark_false_positive()
    assert Finding.objects.get(pk=finding_id).review_status == "false_positive"

    # Filter the list with its form, as a user would.
    walk.open_findings()
    page.select_option("select[name=review_status]", "false_positive")
    page.click("form.filters button:has-text('Apply')")
    page.wait_for_selector("h1:has-text('Findings')", timeout=PAGE_WAIT_MS)
    rows = page.locator("table.findings tbody tr")
    assert rows.count() == 1
    assert rows.first.locator(".badge.review").inner_text() == "False positive"
    walk.screenshot("findings-false-positive")

    walk.open_page("Evaluation", "Evaluation", "evaluation")
    walk.open_page("Features", "Feature explorer", "features")


def test_links_walk(walk, shop):
    page = walk.page
    walk.log_in("staff", STAFF_PASSWORD)

    # An IP address opens the findings from that IP.
    walk.open(f"/findings/{shop['burst_finding'].pk}/")
    page.click(f"dl.fields a:has-text('{ATTACKER_IP}')")
    page.wait_for_selector("h1:has-text('Findings')", timeout=PAGE_WAIT_MS)
    assert page.url.endswith(f"/findings/?ip={ATTACKER_IP}")
    assert page.locator("table.findings tbody tr").count() == 2

    # A customer's name opens the customer's admin page.
    walk.open(f"/findings/{shop['order_finding'].pk}/")
    page.click("dl.fields a:has-text('Alice Liddell')")
    page.wait_for_selector("h1:has-text('Change customer')", timeout=PAGE_WAIT_MS)
    assert page.url.endswith(f"/admin/store/customer/{shop['alice'].pk}/change/")


def test_login_page_offline(walk):
    walk.open("/")
    assert walk.page.locator("input[name=username]").is_visible()


def test_review_walk(walk, shop):
    walk.prefix = "fixture-"
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
    walk.prefix = "fixture-"
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
