"""Tests for the access-log parser, rules, sessions and import command."""

import gzip
import json
import re
import shutil
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from activities.importers import chunks, service, storage
from activities.importers.parser import (
    REASON_BLANK,
    REASON_COMMENT,
    REASON_FORMAT,
    REASON_TIME,
    RejectedLines,
    iter_text_chunks,
    open_log,
    parse_chunk,
)
from activities.importers.rules import (
    DEFAULT_RULES,
    RulesError,
    assign_actions,
    validate_rules,
)
from activities.importers.service import import_access_log, remove_import
from activities.importers.sessions import SessionTracker
from activities.models import UserActivity
from store.bulk import sqlite_indexes
from store.models import DataBatch

FIXTURE = Path(__file__).parent / "fixtures" / "access_cases.log"


def parse_file(path, chunk_bytes=1 << 20):
    rejected = RejectedLines(max_samples=50)
    frames, line = [], 1
    with open_log(path) as stream:
        for _, text in iter_text_chunks(stream, chunk_bytes):
            frames.append(parse_chunk(text, line, rejected))
            line += text.count("\n")
    return pd.concat(frames).set_index("line"), rejected


@pytest.fixture(scope="module")
def parsed():
    return parse_file(FIXTURE)


@pytest.fixture
def frame(parsed):
    return parsed[0]


@pytest.fixture
def rejected(parsed):
    return parsed[1]


def test_parser_combined_line(frame):
    row = frame.loc[1]
    assert row["client"] == "192.0.2.10"
    assert row["method"] == "GET"
    assert row["path"] == "/products/42"
    assert row["query"] == "ref=home"
    assert row["status"] == 200
    assert row["bytes"] == 2326
    assert row["referrer"] == "https://shop.example/"
    assert row["user_agent"] == "Mozilla/5.0 (X11)"


def test_parser_offset_converted_to_utc(frame):
    assert frame.loc[1, "timestamp"] == pd.Timestamp("2023-10-10 11:55:36", tz="UTC")
    assert frame.loc[2, "timestamp"] == pd.Timestamp("2023-10-10 20:56:00", tz="UTC")


def test_parser_common_line_without_agent(frame):
    row = frame.loc[2]
    assert row["remote_user"] == "frank"
    assert row["user_agent"] == ""
    assert row["referrer"] is None


def test_parser_vhost_with_port(frame):
    assert frame.loc[3, "vhost"] == "shop.example:443"
    assert frame.loc[3, "client"] == "198.51.100.7"


def test_parser_vhost_before_ipv6_client(frame):
    assert frame.loc[18, "vhost"] == "www.shop.example"
    assert frame.loc[18, "ip_address"] == "2001:db8::2"


def test_parser_ipv6_client(frame):
    assert frame.loc[4, "ip_address"] == "2001:db8::1"


def test_parser_escaped_quotes(frame):
    assert frame.loc[5, "path"] == '/a"b'
    assert frame.loc[5, "user_agent"] == 'Agent "quoted" v1'


def test_parser_dash_fields(frame):
    row = frame.loc[6]
    assert pd.isna(row["bytes"])
    assert row["user_agent"] == ""
    assert row["referrer"] is None


@pytest.mark.parametrize(
    ("line", "raw_request"), [(7, ""), (8, "\\x16\\x03\\x01\\x00")]
)
def test_parser_malformed_request_kept(frame, line, raw_request):
    assert frame.loc[line, "request"] == raw_request
    assert frame.loc[line, "method"] is None
    assert frame.loc[line, "status"] == 400


def test_parser_trailing_spaces(frame):
    assert frame.loc[9, "user_agent"] == "x"


def test_parser_non_utf8_bytes_escaped(frame):
    assert frame.loc[10, "user_agent"] == "Agent \\xff\\xfe caf\\xe9"


def test_parser_nul_byte_escaped(frame):
    assert frame.loc[19, "path"] == "/nul\\x00byte"


def test_parser_line_without_zone_read_as_utc(frame):
    assert frame.loc[11, "timestamp"] == pd.Timestamp("2023-10-10 14:05:00", tz="UTC")
    assert frame.loc[11, "naive_time"]


def test_parser_crlf_line(frame):
    assert frame.loc[17, "user_agent"] == "Mozilla/5.0"


def test_parser_naive_time_zone_option():
    text = '192.0.2.1 - - [10/Jul/2023:12:00:00] "GET / HTTP/1.1" 200 1\n'
    result = parse_chunk(text, 1, RejectedLines(), naive_time_zone="Europe/Berlin")
    assert result["timestamp"].iloc[0] == pd.Timestamp("2023-07-10 10:00", tz="UTC")


@pytest.mark.parametrize(
    ("line", "reason"),
    [(13, REASON_FORMAT), (14, REASON_TIME), (15, REASON_COMMENT), (16, REASON_BLANK)],
)
def test_parser_rejects_with_line_number(rejected, line, reason):
    assert {"line": line, "reason": reason} in [
        {"line": sample["line"], "reason": sample["reason"]}
        for sample in rejected.samples
    ]


def test_parser_counts_every_line(frame, rejected):
    assert len(frame) + rejected.total == 19


def test_parser_chunk_boundaries_keep_line_numbers():
    small, _ = parse_file(FIXTURE, chunk_bytes=150)
    assert small.index.tolist() == parse_file(FIXTURE)[0].index.tolist()


def test_open_log_detects_gzip(tmp_path):
    packed = tmp_path / "access.log.1"
    packed.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert len(parse_file(packed)[0]) == 15


@pytest.mark.parametrize(
    ("line", "action"),
    [
        (1, "view_product"),
        (2, "view_page"),
        (3, "login"),
        (4, "search"),
        (12, "failed_login"),
        (17, "add_to_cart"),
        (18, "purchase"),
        (7, "view_page"),
    ],
)
def test_default_rules_assign_action(frame, line, action):
    assert assign_actions(frame, DEFAULT_RULES).loc[line] == action


def test_search_without_query_is_page_view():
    frame = pd.DataFrame(
        {"method": ["GET"], "path": ["/search"], "query": [None], "status": [200]}
    )
    assert assign_actions(frame, DEFAULT_RULES).iloc[0] == "view_page"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([], "expected a JSON object"),
        ({"rules": [{"action": "dance"}]}, "invalid action 'dance'"),
        ({"rules": [{"action": "login", "path": "("}]}, "invalid path regular"),
        ({"rules": [{"action": "login", "statuses": [700]}]}, "invalid statuses"),
        ({"rules": [{"action": "login", "colour": 1}]}, "unknown key(s) ['colour']"),
        ({"rules": [], "default_action": "x"}, "invalid default_action 'x'"),
    ],
)
def test_validate_rules_rejects(rules, message):
    with pytest.raises(RulesError, match=re.escape(message)):
        validate_rules(rules)


def test_sessions_split_on_gap_and_agent():
    times = pd.to_datetime(
        [
            "2024-01-01 10:00",
            "2024-01-01 10:20",
            "2024-01-01 11:00",
            "2024-01-01 10:05",
        ],
        utc=True,
    )
    frame = pd.DataFrame(
        {
            "client": ["192.0.2.1"] * 4,
            "user_agent": ["a", "a", "a", "b"],
            "timestamp": times,
        }
    )
    ids = SessionTracker("0" * 64, gap_minutes=30).assign(frame)
    assert ids.iloc[0] == ids.iloc[1]
    assert ids.iloc[2] != ids.iloc[1]
    assert ids.iloc[3] not in set(ids.iloc[:3])


def test_sessions_continue_across_chunks():
    tracker = SessionTracker("0" * 64, gap_minutes=30)

    def chunk(time):
        return pd.DataFrame(
            {
                "client": ["192.0.2.1"],
                "user_agent": ["a"],
                "timestamp": pd.to_datetime([time], utc=True),
            }
        )

    first = tracker.assign(chunk("2024-01-01 10:00")).iloc[0]
    second = tracker.assign(chunk("2024-01-01 10:10")).iloc[0]
    third = tracker.assign(chunk("2024-01-01 11:00")).iloc[0]
    assert first == second
    assert third.endswith("-1")


def run_import(*args):
    out = StringIO()
    call_command("import_access_log", *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_command_imports_fixture(tmp_path):
    output = run_import(FIXTURE)
    batch = DataBatch.objects.get(kind="access_log")
    assert UserActivity.objects.filter(batch=batch, source="import").count() == 15
    assert batch.stats["skipped_by_reason"] == {
        REASON_FORMAT: 1,
        REASON_TIME: 1,
        REASON_COMMENT: 1,
        REASON_BLANK: 1,
    }
    assert "line 13: not in common or combined log format" in output


@pytest.mark.django_db
def test_command_stores_details_and_utc():
    run_import(FIXTURE)
    activity = UserActivity.objects.get(details__path="/products/42")
    assert activity.details["query"] == "ref=home"
    assert activity.details["status"] == 200
    assert activity.timestamp.isoformat() == "2023-10-10T11:55:36+00:00"
    assert activity.ip_address == "192.0.2.10"
    assert activity.action_type == "view_product"


@pytest.mark.django_db
def test_command_reimport_adds_nothing(tmp_path):
    run_import(FIXTURE)
    copy = tmp_path / "renamed.log.gz"
    copy.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    output = run_import(copy)
    assert "already imported as batch" in output
    assert UserActivity.objects.count() == 15


@pytest.mark.django_db
def test_command_remove_batch():
    run_import(FIXTURE)
    batch = DataBatch.objects.get(kind="access_log")
    run_import("--remove-batch", batch.pk)
    assert not UserActivity.objects.exists()
    assert not DataBatch.objects.exists()


@pytest.mark.django_db
def test_command_rules_file(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"action": "search", "path": "^/about$"}]}))
    run_import("--rules", rules, FIXTURE)
    assert UserActivity.objects.get(details__path="/about").action_type == "search"


@pytest.mark.django_db
def test_command_rules_setting(tmp_path, settings):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [], "default_action": "logout"}))
    settings.ANOMALENS_ACCESS_LOG_RULES = str(rules)
    run_import(FIXTURE)
    assert set(UserActivity.objects.values_list("action_type", flat=True)) == {"logout"}


@pytest.mark.django_db
def test_command_invalid_rules_file(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text("{not json")
    with pytest.raises(CommandError, match="Invalid JSON in rules file"):
        run_import("--rules", rules, FIXTURE)
    assert not DataBatch.objects.exists()


@pytest.mark.django_db
def test_command_file_without_log_lines(tmp_path):
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"\x00\x01 nothing here\n")
    with pytest.raises(CommandError, match="1 of 1 file"):
        run_import(junk)
    assert not DataBatch.objects.exists()


@pytest.mark.django_db
def test_command_rejects_bad_session_gap():
    with pytest.raises(CommandError, match="--session-gap 0"):
        run_import("--session-gap", 0, FIXTURE)


@pytest.mark.django_db
def test_command_missing_file(tmp_path):
    with pytest.raises(CommandError, match="File not found"):
        run_import(tmp_path / "absent.log")


@pytest.mark.django_db
def test_command_lists_imports(tmp_path):
    copy = tmp_path / "copy.log"
    shutil.copy(FIXTURE, copy)
    run_import(copy)
    assert "copy.log" in run_import("--list")


@pytest.mark.django_db(transaction=True)
def test_import_writer_failure_leaves_nothing(monkeypatch):
    calls = []

    def fail_on_second_chunk(rows, connection):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(rows, connection)

    original = storage.write_rows
    monkeypatch.setattr(storage, "write_rows", fail_on_second_chunk)
    with pytest.raises(RuntimeError, match="disk full"):
        import_access_log(FIXTURE, chunk_bytes=300)
    assert (UserActivity.objects.count(), DataBatch.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_import_small_chunks_store_every_row():
    result = import_access_log(FIXTURE, chunk_bytes=150)
    stored = UserActivity.objects.filter(batch=result.batch)
    urls = stored.values_list("details__url", flat=True)
    assert sorted(urls, key=str) == sorted(parse_file(FIXTURE)[0]["target"], key=str)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("tab\there", '"tab\\there"'),
        ("caf\u00e9", '"caf\u00e9"'),
    ],
)
def test_details_json_escapes_strings(value, expected):
    frame = pd.DataFrame({column: [None] for _, column in storage.DETAIL_FIELDS})
    frame["path"] = [value]
    assert json.loads(storage.details_json(frame)[0])["path"] == value
    assert f'"path":{expected}' in storage.details_json(frame)[0]


STORED_FIELDS = [
    "session_id",
    "timestamp",
    "action_type",
    "details",
    "ip_address",
    "user_agent",
]


def stored_rows(batch):
    return list(
        UserActivity.objects.filter(batch=batch)
        .order_by("id")
        .values_list(*STORED_FIELDS)
    )


@pytest.fixture
def in_process_import(db):
    """Import the fixture in small chunks in this process, then remove it."""
    result = import_access_log(FIXTURE, chunk_bytes=300, max_samples=3)
    rows, stats = stored_rows(result.batch), result.stats()
    remove_import(result.batch.pk)
    return rows, stats


@pytest.fixture
def parallel_import(in_process_import, monkeypatch):
    """Import the fixture in small chunks through one parser process."""
    monkeypatch.setattr(chunks, "PARALLEL_MIN_LINES", 0)
    result = import_access_log(
        FIXTURE, chunk_bytes=300, max_samples=3, parser_workers=1
    )
    return stored_rows(result.batch), result.stats()


@pytest.mark.django_db
def test_parser_process_used(parallel_import):
    assert parallel_import[1]["parser_workers"] == 1


@pytest.mark.django_db
def test_parser_process_stores_same_rows(in_process_import, parallel_import):
    assert parallel_import[0] == in_process_import[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key",
    ["lines_read", "skipped_by_reason", "skipped_samples", "sessions", "actions"],
)
def test_parser_process_same_summary(in_process_import, parallel_import, key):
    assert parallel_import[1][key] == in_process_import[1][key]


def test_worker_count_small_file_parses_in_process():
    assert chunks.worker_count(chunks.PARALLEL_MIN_LINES - 1, 2) == 0


@pytest.fixture
def merged_rejections():
    first, second = RejectedLines(max_samples=2), RejectedLines(max_samples=2)
    first.add([3], [REASON_BLANK], [""])
    second.add([7, 9], [REASON_FORMAT, REASON_BLANK], ["x", ""])
    first.merge(second)
    return first


def test_rejected_merge_adds_counts(merged_rejections):
    assert merged_rejections.counts == {REASON_BLANK: 2, REASON_FORMAT: 1}


def test_rejected_merge_keeps_first_samples(merged_rejections):
    assert [sample["line"] for sample in merged_rejections.samples] == [3, 7]


def index_names():
    return sorted(name for name, _ in sqlite_indexes(UserActivity))


@pytest.fixture
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("index deferral applies to SQLite only")


@pytest.mark.django_db
def test_large_import_defers_indexes(sqlite_only, monkeypatch):
    monkeypatch.setattr(service, "SQLITE_BULK_MIN_LINES", 1)
    assert import_access_log(FIXTURE).deferred_indexes


@pytest.mark.django_db
def test_deferred_import_writes_without_indexes(sqlite_only, monkeypatch):
    seen = []

    def count_indexes(rows, connection):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = %s AND sql IS NOT NULL",
                [UserActivity._meta.db_table],
            )
            seen.append(cursor.fetchone()[0])
        return original(rows, connection)

    original = storage.write_rows
    monkeypatch.setattr(storage, "write_rows", count_indexes)
    monkeypatch.setattr(service, "SQLITE_BULK_MIN_LINES", 1)
    import_access_log(FIXTURE)
    assert seen == [0]


@pytest.mark.django_db
def test_deferred_import_rebuilds_indexes(sqlite_only, monkeypatch):
    before = index_names()
    monkeypatch.setattr(service, "SQLITE_BULK_MIN_LINES", 1)
    import_access_log(FIXTURE)
    assert index_names() == before


@pytest.mark.django_db
def test_import_into_larger_table_keeps_indexes(sqlite_only, monkeypatch):
    import_access_log(FIXTURE)
    monkeypatch.setattr(service, "SQLITE_BULK_MIN_LINES", 1)
    assert not service._defer_indexes(UserActivity.objects.count() - 1)


@pytest.mark.django_db(transaction=True)
def test_failed_deferred_import_keeps_indexes(sqlite_only, monkeypatch):
    before = index_names()
    monkeypatch.setattr(service, "SQLITE_BULK_MIN_LINES", 1)

    def fail(rows, connection):
        raise RuntimeError("disk full")

    monkeypatch.setattr(storage, "write_rows", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        import_access_log(FIXTURE)
    assert index_names() == before


@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["-1", "3"])
def test_command_rejects_bad_parser_workers(workers):
    with pytest.raises(CommandError, match="--parser-workers"):
        run_import("--parser-workers", workers, FIXTURE)


@pytest.mark.django_db
def test_command_reports_damaged_gzip(tmp_path):
    damaged = bytearray(gzip.compress(b"x" * 100_000))
    # Flip bits inside the deflate stream, past the header and before the trailer.
    for index in range(20, len(damaged) - 20, 7):
        damaged[index] ^= 0x5A
    path = tmp_path / "damaged.log.gz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(CommandError, match="1 of 1 file"):
        run_import(path)
    assert UserActivity.objects.count() == 0
