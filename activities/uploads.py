"""Import files uploaded from the staff pages, inline or as a django-q2 task.

Each upload is a job: a folder under ``MEDIA_ROOT/imports/<uuid>/`` with the
saved files and ``job.json``, which records the status (queued, running,
succeeded, failed) and the import summary. The folder is the only shared
state, so the web server and a worker on another process agree on it. Saved
data files are deleted once the import has read them; ``job.json`` stays.
"""

import gzip
import json
import logging
import os
import shutil
import time
import uuid
import zlib
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.text import get_valid_filename
from django_q.tasks import async_task

from activities.importers.parser import GZIP_MAGIC
from activities.importers.rules import RulesError
from activities.importers.service import (
    AlreadyImported,
    NothingToImport,
    import_access_log,
    resolve_rules,
)
from store.importers.presets import (
    OrdersFileError,
    RejectedRows,
    parse_mapping,
    read_generic,
    read_olist,
    read_uci,
)
from store.importers.writer import AlreadyImported as OrdersAlreadyImported
from store.importers.writer import OrdersImportResult, store_lines

logger = logging.getLogger(__name__)

ACCESS_LOG = "access_log"
ORDERS = "orders"
# Olist times are Brazilian local time and the UCI retailer is in the UK.
ORDER_TIME_ZONES = {
    "olist": "America/Sao_Paulo",
    "uci": "Europe/London",
    "generic": "UTC",
}
# Uploads whose stored size is at most this run inside the request; larger ones
# go to the task queue. Override with the IMPORT_INLINE_MAX_BYTES setting.
DEFAULT_INLINE_MAX_BYTES = 5 * 1024 * 1024
COPY_BLOCK_BYTES = 1024 * 1024
JOB_FILE = "job.json"
# Skipped lines or rows listed per file in a summary.
SUMMARY_SAMPLES = 5


class UploadTooLarge(Exception):
    """An upload, or its decompressed content, exceeds MAX_UPLOAD_BYTES."""


class JobNotFound(Exception):
    """No upload job with this id exists."""


def inline_limit():
    return getattr(settings, "IMPORT_INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES)


def jobs_root():
    return Path(settings.MEDIA_ROOT) / "imports"


def job_folder(job_id):
    return jobs_root() / str(uuid.UUID(str(job_id)))


def format_limit(limit):
    return f"{limit / (1024 * 1024):g} MiB"


def save_upload(upload, folder, limit):
    """Write an uploaded file into ``folder``, decompressing gzip, and return its path.

    Reads and writes blocks of COPY_BLOCK_BYTES, so memory stays bounded
    whatever the file's size. Raises UploadTooLarge as soon as the written
    bytes pass ``limit``, which also stops a small gzip file that expands to
    a huge one.
    """
    name = get_valid_filename(Path(upload.name).name) or "upload"
    upload.seek(0)
    compressed = upload.read(2) == GZIP_MAGIC
    upload.seek(0)
    if compressed:
        name = name.removesuffix(".gz") or "upload"
        source = gzip.GzipFile(fileobj=upload, mode="rb")
    else:
        source = upload
    target = folder / name
    written = 0
    with target.open("wb") as output:
        while block := source.read(COPY_BLOCK_BYTES):
            written += len(block)
            if written > limit:
                kind = "decompressed content" if compressed else "file"
                raise UploadTooLarge(
                    f"The {kind} of {upload.name} exceeds the upload limit of "
                    f"{format_limit(limit)}: split the file or ask an administrator "
                    "to raise ANOMALENS_MAX_UPLOAD_MB."
                )
            output.write(block)
    return target


def create_job(kind, uploads, options, user):
    """Save the uploads into a new job folder and return the job's id and stored bytes.

    Raises UploadTooLarge, OSError or EOFError (damaged gzip) after deleting
    the folder, so a rejected upload leaves nothing behind.
    """
    job_id = uuid.uuid4()
    folder = job_folder(job_id)
    folder.mkdir(parents=True)
    limit = settings.MAX_UPLOAD_BYTES
    try:
        paths = []
        for upload in uploads:
            paths.append(save_upload(upload, folder, limit))
            limit -= paths[-1].stat().st_size
    except (UploadTooLarge, OSError, EOFError, zlib.error):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    stored = sum(path.stat().st_size for path in paths)
    write_job(
        job_id,
        {
            "id": str(job_id),
            "kind": kind,
            "files": [path.name for path in paths],
            "options": options,
            "bytes": stored,
            "status": "queued",
            "requested_by": getattr(user, "pk", None),
            "created_at": timezone.now().isoformat(),
        },
    )
    return job_id, stored


def write_job(job_id, data):
    """Replace the job's record atomically, so readers never see half a file."""
    folder = job_folder(job_id)
    temporary = folder / f".{JOB_FILE}.tmp"
    temporary.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    os.replace(temporary, folder / JOB_FILE)


def read_job(job_id):
    """Return the job's record; raise JobNotFound for an unknown id."""
    try:
        path = job_folder(job_id) / JOB_FILE
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, FileNotFoundError) as exc:
        raise JobNotFound(f"No import job {job_id}.") from exc


def recent_jobs(limit=10):
    """Return the newest job records, newest first."""
    root = jobs_root()
    if not root.is_dir():
        return []
    records = []
    for path in root.glob(f"*/{JOB_FILE}"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            logger.warning("Unreadable import job record %s", path)
    records.sort(key=lambda record: record.get("created_at", ""), reverse=True)
    return records[:limit]


def task_name(job_id):
    """Return the django-q2 task name of a job, by which its task can be fetched."""
    return f"import-{job_id}"


def start_job(job_id, stored_bytes):
    """Run the job inline when small, else queue it; return True when queued."""
    if stored_bytes <= inline_limit():
        run_job(str(job_id))
        return False
    try:
        task_id = async_task(
            "activities.uploads.run_job", str(job_id), task_name=task_name(job_id)
        )
    except Exception as exc:
        logger.exception("Queueing import job %s failed", job_id)
        job = read_job(job_id)
        job.update(status="failed", error=f"Queueing the import failed: {exc}")
        write_job(job_id, job)
        return True
    logger.info("Queued import job %s as task %s", job_id, task_id)
    return True


def run_job(job_id):
    """Import the job's saved files, record the summary and delete the files.

    Expected failures (a file already imported, nothing parseable, an
    unreadable export) end the job as failed with the message. Anything
    else is logged, recorded and raised, so the task shows it too.
    """
    job = read_job(job_id)
    if job["status"] not in ("queued", "running"):
        return job
    folder = job_folder(job_id)
    job.update(status="running", started_at=timezone.now().isoformat())
    write_job(job_id, job)
    started = time.perf_counter()
    paths = [folder / name for name in job["files"]]
    try:
        if job["kind"] == ACCESS_LOG:
            job["results"] = import_logs(paths, job["options"])
        else:
            job["results"] = [import_orders(paths, job["options"])]
        failed = [result for result in job["results"] if result.get("error")]
        job["status"] = "failed" if len(failed) == len(job["results"]) else "succeeded"
    except Exception as exc:
        logger.exception("Import job %s failed", job_id)
        job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        job["seconds"] = round(time.perf_counter() - started, 3)
        job["finished_at"] = timezone.now().isoformat()
        write_job(job_id, job)
        for path in paths:
            path.unlink(missing_ok=True)
    logger.info(
        "Import job %s finished as %s in %.1f s", job_id, job["status"], job["seconds"]
    )
    return job


def import_logs(paths, options):
    """Import each access log as its own batch and return one summary per file."""
    try:
        rules, rules_origin = resolve_rules()
    except RulesError as exc:
        return [{"file": path.name, "error": str(exc)} for path in paths]
    results = []
    for path in paths:
        try:
            result = import_access_log(
                path,
                rules=rules,
                rules_origin=rules_origin,
                naive_time_zone=options.get("time_zone") or "UTC",
                max_samples=SUMMARY_SAMPLES,
            )
        except AlreadyImported as exc:
            results.append(
                {"file": path.name, "error": str(exc), "batch_id": exc.batch.pk}
            )
            continue
        except (NothingToImport, OSError, EOFError) as exc:
            logger.warning("Import of uploaded log %s failed: %s", path.name, exc)
            results.append({"file": path.name, "error": str(exc)})
            continue
        stats = result.stats()
        results.append(
            {
                "file": path.name,
                "batch_id": result.batch.pk,
                "lines_read": stats["lines_read"],
                "imported": stats["imported"],
                "skipped": stats["skipped"],
                "skipped_by_reason": stats["skipped_by_reason"],
                "samples": stats["skipped_samples"],
                "details": {
                    "distinct clients": stats["distinct_clients"],
                    "sessions": stats["sessions"],
                    "first request (UTC)": stats["first_timestamp"],
                    "last request (UTC)": stats["last_timestamp"],
                    "lines without a zone offset": stats["zone_less_lines"],
                },
            }
        )
    return results


def import_orders(paths, options):
    """Import order CSV files with a preset as one batch and return its summary."""
    preset = options["preset"]
    time_zone = options.get("time_zone") or ORDER_TIME_ZONES[preset]
    label = ", ".join(path.name for path in paths)
    result = OrdersImportResult(rejected=RejectedRows(SUMMARY_SAMPLES))
    try:
        if preset == "olist":
            lines = read_olist(paths, time_zone, result.rejected)
        elif preset == "uci":
            lines = read_uci(paths, time_zone, result.rejected)
        else:
            mapping = parse_mapping(options["mapping"])
            lines = read_generic(paths, time_zone, result.rejected, mapping)
        store_lines(
            lines,
            files=paths,
            preset=preset,
            prefix=f"{preset}:",
            parameters={
                "preset": preset,
                "time_zone": time_zone,
                "id_prefix": f"{preset}:",
            },
            result=result,
        )
    except OrdersAlreadyImported as exc:
        return {"file": label, "error": str(exc), "batch_id": exc.batch.pk}
    except OrdersFileError as exc:
        logger.warning("Import of uploaded orders %s failed: %s", label, exc)
        return {"file": label, "error": str(exc)}
    stats = result.stats()
    return {
        "file": label,
        "batch_id": result.batch.pk,
        # The readers report rows skipped but not rows read, and an Olist
        # order spans several files, so only orders are counted here.
        "lines_read": None,
        "imported": stats["orders"],
        "skipped": stats["rows_skipped"],
        "skipped_by_reason": stats["skipped_by_reason"],
        "samples": stats["skipped_samples"],
        "details": {
            "items": stats["items"],
            "customers created": stats["customers_created"],
            "products created": stats["products_created"],
            "orders already stored": stats["orders_already_stored"],
            "first order (UTC)": stats["first_order"],
            "last order (UTC)": stats["last_order"],
        },
    }
