import gzip
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_q.conf import Conf
from django_q.models import Task

from activities import uploads
from activities.models import UserActivity
from store.models import DataBatch, Order

PAGE = reverse("imports:page")
LOG_LINES = [
    '192.0.2.10 - - [10/Oct/2023:13:55:36 +0200] "GET /products/42 HTTP/1.1" 200 '
    '2326 "-" "Mozilla/5.0 (X11)"',
    "not a log line",
    '192.0.2.11 - - [10/Oct/2023:13:56:00 +0000] "POST /login HTTP/1.1" 200 512 '
    '"-" "curl/8.0"',
    "",
    '2001:db8::1 - - [10/Oct/2023:13:58:00 +0000] "GET /.env HTTP/1.1" 404 10 '
    '"-" "python-requests/2.31"',
]
LOG = ("\n".join(LOG_LINES) + "\n").encode()
UCI_CSV = (
    b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
    b"Country\n"
    b"536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
    b"536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom\n"
    b"536366,22633,HAND WARMER,abc,12/1/2010 8:28,1.85,17850.0,United Kingdom\n"
    b"C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527.0,United Kingdom\n"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def staff_browser(client, staff_user):
    client.force_login(staff_user)
    return client


def log_upload(content=LOG, name="access.log"):
    return SimpleUploadedFile(name, content, content_type="text/plain")


def post_log(browser, content=LOG, name="access.log", **fields):
    data = {"kind": "access_log", "files": log_upload(content, name), **fields}
    return browser.post(PAGE, data)


def job_of(response):
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    return uploads.read_job(job_id)


def test_import_page_requires_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_import_page_forbids_non_staff(client, reader_user):
    client.force_login(reader_user)
    assert client.get(PAGE).status_code == 403


def test_import_page_shows_form(staff_browser):
    html = staff_browser.get(PAGE).content.decode()
    assert 'name="files"' in html
    assert 'enctype="multipart/form-data"' in html


def test_small_log_imported_inline(staff_browser):
    response = post_log(staff_browser)
    job = job_of(response)
    assert response.status_code == 302
    assert job["status"] == "succeeded"
    assert UserActivity.objects.count() == 3


def test_log_summary_counts(staff_browser):
    result = job_of(post_log(staff_browser))["results"][0]
    assert result["lines_read"] == 5
    assert result["imported"] == 3
    assert result["skipped_by_reason"] == {
        "blank line": 1,
        "not in common or combined log format": 1,
    }


def test_log_summary_page_lists_skipped_lines(staff_browser):
    response = post_log(staff_browser)
    html = staff_browser.get(response["Location"]).content.decode()
    assert "line 2: not in common or combined log format" in html
    assert "Lines read" in html


def test_saved_file_removed_after_import(staff_browser, media_root):
    job = job_of(post_log(staff_browser))
    assert [path.name for path in (media_root / "imports" / job["id"]).iterdir()] == [
        "job.json"
    ]


def test_gzip_log_imported_with_plain_name(staff_browser):
    response = post_log(staff_browser, gzip.compress(LOG), name="access.log.gz")
    job = job_of(response)
    assert job["files"] == ["access.log"]
    assert UserActivity.objects.count() == 3


def test_gzip_expanding_past_limit_rejected(staff_browser, settings, media_root):
    settings.MAX_UPLOAD_BYTES = 64 * 1024
    bomb = gzip.compress(LOG * 1000)
    assert len(bomb) < settings.MAX_UPLOAD_BYTES
    response = post_log(staff_browser, bomb, name="big.log.gz")
    html = response.content.decode()
    assert response.status_code == 400
    assert "exceeds the upload limit of 0.0625 MiB" in html
    assert list((media_root / "imports").iterdir()) == []
    assert UserActivity.objects.count() == 0


def test_upload_past_limit_rejected(staff_browser, settings):
    settings.MAX_UPLOAD_BYTES = 4 * 1024
    response = post_log(staff_browser, LOG * 100)
    # The request-size middleware rejects the declared body before the view
    # reads it; the view's own streaming check covers undeclared lengths.
    assert response.status_code == 413
    assert "the limit is 4096 bytes" in response.content.decode()


def test_damaged_gzip_rejected(staff_browser):
    response = post_log(staff_browser, gzip.compress(LOG)[:30], name="cut.log.gz")
    assert response.status_code == 400
    assert "Cannot read the upload" in response.content.decode()


def test_file_without_log_lines_fails(staff_browser):
    job = job_of(post_log(staff_browser, b"hello\nworld\n"))
    assert job["status"] == "failed"
    assert "none of its 2 lines is an access-log line" in job["results"][0]["error"]


def test_reupload_reports_existing_batch(staff_browser):
    post_log(staff_browser)
    job = job_of(post_log(staff_browser))
    assert "already imported as batch" in job["results"][0]["error"]
    assert UserActivity.objects.count() == 3


def test_invalid_time_zone_rejected(staff_browser):
    response = post_log(staff_browser, time_zone="Mars/Olympus")
    assert response.status_code == 400
    assert "Invalid time zone &#x27;Mars/Olympus&#x27;" in response.content.decode()


def post_orders(browser, preset, content=UCI_CSV, name="retail.csv", **fields):
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    data = {"kind": "orders", "preset": preset, "files": upload, **fields}
    return browser.post(PAGE, data)


def test_uci_orders_imported(staff_browser):
    job = job_of(post_orders(staff_browser, "uci"))
    result = job["results"][0]
    assert job["status"] == "succeeded"
    assert result["imported"] == 2
    assert result["skipped"] == 1
    assert Order.objects.count() == 2


def test_order_skipped_row_has_line_number(staff_browser):
    result = job_of(post_orders(staff_browser, "uci"))["results"][0]
    assert result["samples"][0]["line"] == 4


def test_orders_without_preset_rejected(staff_browser):
    response = post_orders(staff_browser, "")
    assert response.status_code == 400
    assert "Choose the preset of the order export." in response.content.decode()


def test_generic_preset_needs_mapping(staff_browser):
    response = post_orders(staff_browser, "generic", mapping="/etc/hosts")
    assert response.status_code == 400
    assert "Invalid mapping &#x27;/etc/hosts&#x27;" in response.content.decode()


def test_generic_preset_with_mapping(staff_browser):
    mapping = (
        "order_id=InvoiceNo,created_at=InvoiceDate,product=StockCode,"
        "quantity=Quantity,unit_price=UnitPrice"
    )
    csv = UCI_CSV.replace(b"12/1/2010 8:26", b"2010-12-01T08:26:00")
    job = job_of(post_orders(staff_browser, "generic", csv, mapping=mapping))
    assert job["results"][0]["imported"] == 1


def test_missing_olist_files_fail_job(staff_browser):
    job = job_of(post_orders(staff_browser, "olist"))
    assert job["status"] == "failed"
    assert "missing file(s)" in job["results"][0]["error"]
    assert DataBatch.objects.count() == 0


def test_unknown_job_is_404(staff_browser):
    url = reverse("imports:job", args=[uuid.uuid4()])
    assert staff_browser.get(url).status_code == 404


def test_queued_job_page_reloads(staff_browser, media_root):
    job_id, _stored = uploads.create_job("access_log", [log_upload()], {}, None)
    response = staff_browser.get(reverse("imports:job", args=[job_id]))
    assert response.context["refresh_seconds"] == 2
    assert "Queued: waiting for a background worker." in response.content.decode()


@pytest.fixture
def sync_queue(transactional_db, monkeypatch, settings):
    """Send every upload to django-q2, which runs it in-process through async_task."""
    settings.IMPORT_INLINE_MAX_BYTES = 0
    monkeypatch.setattr(Conf, "SYNC", True)


def test_large_upload_goes_through_task_queue(staff_browser, sync_queue):
    job = job_of(post_log(staff_browser))
    task = Task.objects.get(name=uploads.task_name(job["id"]))
    assert task.success
    assert job["status"] == "succeeded"
    assert UserActivity.objects.count() == 3
