"""Parse Apache and nginx access logs in chunks into pandas DataFrames.

One compiled regular expression reads a whole decoded chunk with ``findall``.
Every line yields exactly one match: the fields of an access-log line, or the
raw text of a line that is not one. So the match index is the line number.
Everything after that (timestamps, request splitting, address checks) runs as
vectorised pandas operations on the chunk.

Accepted layouts, with or without the trailing referrer and user agent of the
"combined" format:

- ``client ident user [time] "request" status bytes`` ("common");
- a virtual host, optionally with ``:port``, before the client (Apache
  ``vhost_combined``);
- an extra ``-`` field before the time and a virtual host after it (an Apache
  2.2 custom layout seen in the wild);
- extra fields after the user agent (nginx ``"$http_x_forwarded_for"``,
  timing fields), which are ignored.
"""

import gzip
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
# Bytes read from the file per chunk; a chunk is cut at its last newline.
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024

# A double-quoted field with backslash escapes, written as an unrolled loop
# because an alternation per character is several times slower in ``re``.
_QUOTED = r'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6 = r"\[?[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z]+)?\]?"
_HOSTNAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"

ACCESS_LINE_PATTERN = (
    r"(?:(?P<vhost>[^\s\[\"]++)[ \t]+)?"
    rf"(?P<client>{_IPV4}|{_IPV6}|{_HOSTNAME})[ \t]+"
    r"[^\s\[]++[ \t]+"  # ident (RFC 1413), unused
    r"(?P<user>[^\s\[]++)[ \t]+"
    r"(?:-[ \t]+)?"
    r"\[(?P<time>[^\]\s]++)(?:[ \t]+(?P<tz>[+-]\d{4}))?[ \t]*\][ \t]+"
    r"(?:(?P<vhost_after>[^\s\"]++)[ \t]+)?"
    # The request line, split into method, target and protocol when it has
    # that shape, else kept whole (empty, "HELP", binary junk).
    + r'"(?:(?P<method>[A-Za-z]+) (?P<target>[^\s"\\]*(?:\\.[^\s"\\]*)*)'
    + r"(?: (?P<protocol>HTTP/[0-9.]+))?"
    + r'|(?P<request>[^"\\\n]*(?:\\.[^"\\\n]*)*))"'
    + r"[ \t]+(?P<status>\d{3})[ \t]+(?P<bytes>\d+|-)"
    + r"(?:[ \t]+"
    + _QUOTED.replace("(", "(?P<referrer>", 1)
    + r"[ \t]+"
    + _QUOTED.replace("(", "(?P<user_agent>", 1)
    + r")?"
    + r"(?:[ \t][^\n]*)?"
)
# Either an access-log line or, failing that, the whole line as ``unparsed``.
CHUNK_REGEX = re.compile(
    rf"^(?:{ACCESS_LINE_PATTERN}|(?P<unparsed>[^\n]*+))\n", re.MULTILINE
)
FIELDS = list(CHUNK_REGEX.groupindex)

CLF_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S"

OUTPUT_COLUMNS = [
    "line",
    "client",
    "ip_address",
    "timestamp",
    "naive_time",
    "vhost",
    "remote_user",
    "request",
    "method",
    "target",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "referrer",
    "user_agent",
]
REASON_BLANK = "blank line"
REASON_COMMENT = "comment line"
REASON_FORMAT = "not in common or combined log format"
REASON_TIME = "invalid timestamp"


@dataclass
class RejectedLines:
    """Lines that were skipped, counted by reason, with the first few kept as samples."""

    max_samples: int = 10
    counts: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)

    def add(self, line_numbers, reasons, texts):
        """Count rejected lines and keep samples until ``max_samples`` are held."""
        if len(line_numbers) == 0:
            return
        for reason, count in pd.Series(reasons).value_counts().items():
            self.counts[reason] = self.counts.get(reason, 0) + int(count)
        room = self.max_samples - len(self.samples)
        if room > 0:
            for number, reason, text in zip(
                line_numbers[:room], reasons[:room], texts[:room], strict=True
            ):
                self.samples.append(
                    {"line": int(number), "reason": str(reason), "text": text[:200]}
                )

    def merge(self, other):
        """Add the counts of a later chunk's lines and its samples while there is room."""
        for reason, count in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + count
        room = max(self.max_samples - len(self.samples), 0)
        self.samples.extend(other.samples[:room])

    @property
    def total(self):
        return sum(self.counts.values())


def open_log(path):
    """Open a plain or gzip-compressed file for binary reading, by its magic bytes."""
    path = Path(path)
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")
    return path.open("rb")


def hash_content(path, block_bytes=DEFAULT_CHUNK_BYTES):
    """Return the SHA-256 hex digest of the file's decompressed content."""
    return scan_content(path, block_bytes)[0]


def scan_content(path, block_bytes=DEFAULT_CHUNK_BYTES):
    """Return the SHA-256 hex digest and the line count of the decompressed content."""
    digest = hashlib.sha256()
    lines = 0
    last = b"\n"
    with open_log(path) as stream:
        while block := stream.read(block_bytes):
            digest.update(block)
            lines += block.count(b"\n")
            last = block[-1:]
    return digest.hexdigest(), lines + (last != b"\n")


def iter_byte_chunks(stream, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield (bytes read, raw bytes) for chunks that each end with a newline.

    A last line without a newline gets one, so every chunk holds whole lines
    and ``raw.count(b"\\n")`` is its number of lines.
    """
    pending = b""
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        block = pending + block
        cut = block.rfind(b"\n")
        if cut < 0:
            pending = block
            continue
        pending = block[cut + 1 :]
        yield cut + 1, block[: cut + 1]
    if pending:
        yield len(pending), pending + b"\n"


def iter_text_chunks(stream, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield (bytes read, decoded text) for chunks that each end with a newline.

    Bytes that are not UTF-8 become ``\\xNN`` escapes, the same notation nginx
    writes for binary request bytes, and NUL characters are escaped the same
    way because PostgreSQL text and jsonb reject them. Cutting at a newline
    never splits a UTF-8 sequence, because 0x0A never occurs inside one.
    """
    for size, raw in iter_byte_chunks(stream, chunk_bytes):
        yield size, decode_chunk(raw)


def decode_chunk(raw):
    """Decode raw log bytes as described in ``iter_text_chunks``."""
    text = raw.replace(b"\r\n", b"\n").decode("utf-8", errors="backslashreplace")
    return text.replace("\x00", "\\x00")


def parse_chunk(text, first_line_number, rejected, naive_time_zone="UTC"):
    """Parse one decoded chunk into a DataFrame of requests, recording rejected lines.

    The frame has one row per access-log line with the columns ``line``,
    ``client``, ``ip_address`` (None when the client is a host name),
    ``timestamp`` (UTC), ``vhost``, ``remote_user``, ``request``, ``method``,
    ``target``, ``path``, ``query``, ``protocol``, ``status``, ``bytes``,
    ``referrer``, ``user_agent`` and ``naive_time`` (the line had no zone offset
    and was read in ``naive_time_zone``).

    Most fields repeat heavily in a log (agents, times, paths, statuses), so
    each string column is factorised and the string work (unescaping, request
    splitting, time parsing, address checks) runs once per distinct value.
    """
    matches = CHUNK_REGEX.findall(text)
    if not matches:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    # zip(*) transposes the match tuples into one tuple per field, in C.
    columns = {
        name: np.array(values, dtype=object)
        for name, values in zip(FIELDS, zip(*matches, strict=True), strict=True)
    }
    line = np.arange(first_line_number, first_line_number + len(matches))

    # A client address is present on every access-log line and on no other.
    matched = columns["client"] != ""
    if not matched.all():
        _reject_unmatched(line[~matched], columns["unparsed"][~matched], rejected)
        columns = {name: values[matched] for name, values in columns.items()}
        line = line[matched]
        if len(line) == 0:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)

    timestamp, naive = _timestamps(columns["time"], columns["tz"], naive_time_zone)
    invalid = np.isnat(timestamp)
    if invalid.any():
        bad_time, bad_zone = columns["time"][invalid], columns["tz"][invalid]
        rejected.add(
            line[invalid],
            [REASON_TIME] * int(invalid.sum()),
            ("[" + bad_time + " " + bad_zone + "]").tolist(),
        )
        keep = ~invalid
        columns = {name: values[keep] for name, values in columns.items()}
        line, timestamp, naive = line[keep], timestamp[keep], naive[keep]
        if len(line) == 0:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)

    frame = {"line": line, "client": columns["client"]}
    frame["ip_address"] = _per_distinct(columns["client"], _canonical_addresses)
    frame["timestamp"] = pd.DatetimeIndex(timestamp).tz_localize("UTC")
    frame["naive_time"] = naive
    vhost = np.where(columns["vhost"] != "", columns["vhost"], columns["vhost_after"])
    frame["vhost"] = _per_distinct(vhost, _none_if({""}))
    frame["remote_user"] = _per_distinct(columns["user"], _none_if({"-"}))
    frame.update(_split_requests(columns))
    frame["status"] = _per_distinct(columns["status"], _to_int).astype("int32")
    frame["bytes"] = pd.array(
        pd.to_numeric(columns["bytes"], errors="coerce"), dtype="Int64"
    )
    frame["referrer"] = _per_distinct(
        columns["referrer"],
        lambda values: _none_if({"", "-"})(_unescape(values)),
    )
    frame["user_agent"] = _per_distinct(
        columns["user_agent"], lambda values: _unescape(values).replace("-", "")
    )
    return pd.DataFrame(frame, columns=OUTPUT_COLUMNS)


def _per_distinct(values, transform):
    """Apply ``transform`` (Series to Series) once per distinct value, then expand."""
    codes, uniques = pd.factorize(values)
    transformed = transform(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    return transformed[codes]


def _none_if(empty_values):
    def transform(values):
        return values.where(~values.isin(empty_values), None)

    return transform


def _to_int(values):
    return values.astype("int64")


def _reject_unmatched(line_numbers, text, rejected):
    text = pd.Series(text, dtype=object)
    stripped = text.str.strip()
    reasons = np.where(
        stripped == "",
        REASON_BLANK,
        np.where(stripped.str.startswith("#"), REASON_COMMENT, REASON_FORMAT),
    )
    rejected.add(line_numbers, reasons, text.tolist())


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
_MONTHS += ["Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTH_KEYS = np.array(
    [(ord(a) << 42) | (ord(b) << 21) | ord(c) for a, b, c in _MONTHS], dtype=np.int64
)
_MONTH_ORDER = np.argsort(_MONTH_KEYS)
_MONTH_KEYS_SORTED = _MONTH_KEYS[_MONTH_ORDER]
_MONTH_OF_SORTED_KEY = _MONTH_ORDER + 1
_DIGIT_POSITIONS = [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19]
_SEPARATORS = {2: "/", 6: "/", 11: ":", 14: ":", 17: ":"}
_NS_PER_SECOND = 1_000_000_000


def _timestamps(times, zones, naive_time_zone):
    """Return (UTC datetime64[ns] with NaT for unreadable times, had-no-offset mask)."""
    time_codes, time_uniques = pd.factorize(times)
    local = _parse_clf_times(time_uniques)[time_codes]

    zone_codes, zone_uniques = pd.factorize(zones)
    zone_minutes = np.array(
        [_offset_minutes(zone) for zone in zone_uniques], dtype=np.int64
    )
    naive = (zone_uniques == "")[zone_codes]
    utc = local - (zone_minutes[zone_codes] * 60 * _NS_PER_SECOND).astype(
        "timedelta64[ns]"
    )
    if naive.any():
        # A wall time repeated when clocks go back is read as standard time, and
        # one skipped when they go forward is moved to the first valid instant.
        wall = pd.DatetimeIndex(local[naive])
        utc[naive] = (
            wall.tz_localize(
                naive_time_zone,
                ambiguous=np.zeros(len(wall), dtype=bool),
                nonexistent="shift_forward",
            )
            .tz_convert("UTC")
            .tz_localize(None)
            .to_numpy()
        )
    return utc, naive


def _offset_minutes(zone):
    if zone == "":
        return 0
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    return -minutes if zone[0] == "-" else minutes


def _parse_clf_times(values):
    """Parse ``dd/Mon/yyyy:HH:MM:SS`` strings into naive datetime64[ns], NaT if invalid.

    Canonical 20-character times are decoded with numpy arithmetic on their
    code points. Anything else (odd widths, lower-case months, impossible
    dates) goes through ``pd.to_datetime`` with the same format, so both paths
    accept exactly what ``pd.to_datetime(format=CLF_TIME_FORMAT)`` accepts.
    """
    result = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(values) == 0:
        return result
    points = np.asarray(values, dtype="U21").view(np.uint32).reshape(len(values), 21)
    points = points.astype(np.int64)
    fast = (points[:, 19] != 0) & (points[:, 20] == 0)
    digits = points[:, _DIGIT_POSITIONS] - ord("0")
    fast &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    for position, separator in _SEPARATORS.items():
        fast &= points[:, position] == ord(separator)
    month_key = (points[:, 3] << 42) | (points[:, 4] << 21) | points[:, 5]
    month = np.searchsorted(_MONTH_KEYS_SORTED, month_key)
    month = np.minimum(month, 11)
    fast &= _MONTH_KEYS_SORTED[month] == month_key
    month = _MONTH_OF_SORTED_KEY[month]

    day = digits[:, 0] * 10 + digits[:, 1]
    year = digits[:, 2] * 1000 + digits[:, 3] * 100 + digits[:, 4] * 10 + digits[:, 5]
    hour = digits[:, 6] * 10 + digits[:, 7]
    minute = digits[:, 8] * 10 + digits[:, 9]
    second = digits[:, 10] * 10 + digits[:, 11]
    fast &= (year >= 1700) & (year <= 2200)
    fast &= (hour <= 23) & (minute <= 59) & (second <= 59) & (day >= 1)
    month_start = _days_from_civil(year, month, 1)
    next_month = _days_from_civil(year + (month == 12), month % 12 + 1, 1)
    fast &= day <= next_month - month_start

    seconds = (month_start + day - 1) * 86400 + hour * 3600 + minute * 60 + second
    result[fast] = (seconds[fast] * _NS_PER_SECOND).astype("datetime64[ns]")
    slow = ~fast
    if slow.any():
        result[slow] = pd.to_datetime(
            pd.Series(values[slow], dtype=object),
            format=CLF_TIME_FORMAT,
            errors="coerce",
        ).to_numpy(dtype="datetime64[ns]")
    return result


def _days_from_civil(year, month, day):
    """Return days since 1970-01-01 for proleptic Gregorian dates (vectorised)."""
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _split_requests(columns):
    """Return method, target, path, query, protocol and the raw malformed request."""
    is_split = columns["method"] != ""

    def split_target(values):
        target = _unescape(values)
        parts = target.str.partition("?")
        return pd.DataFrame(
            {
                "target": target,
                "path": parts[0],
                "query": parts[2].where(parts[1] == "?", None),
            }
        )

    codes, uniques = pd.factorize(columns["target"])
    parts = split_target(pd.Series(uniques, dtype=object))
    result = {}
    for name in ("target", "path", "query"):
        values = parts[name].to_numpy(dtype=object)[codes]
        values[~is_split] = None
        result[name] = values
    method = _per_distinct(columns["method"], lambda values: values.str.upper())
    method[~is_split] = None
    result["method"] = method
    result["protocol"] = _per_distinct(columns["protocol"], _none_if({""}))
    # Keep the raw request only when it is not "METHOD target [protocol]":
    # empty requests, TLS handshakes sent to a plain-HTTP port, "HELP".
    request = np.full(len(is_split), None, dtype=object)
    if not is_split.all():
        request[~is_split] = _unescape(
            pd.Series(columns["request"][~is_split], dtype=object)
        ).to_numpy(dtype=object)
    result["request"] = request
    return result


def _unescape(values):
    r"""Undo the \" and \\ escapes Apache and nginx write inside quoted fields."""
    has_escape = values.str.contains("\\", regex=False)
    if not has_escape.any():
        return values
    unescaped = values[has_escape].str.replace(r'\\(["\\])', r"\1", regex=True)
    return values.where(~has_escape, unescaped)


def _canonical_addresses(clients):
    """Return each client as a canonical IP address, or None for host names."""
    canonical = []
    for client in clients:
        try:
            canonical.append(str(ipaddress.ip_address(client.strip("[]"))))
        except ValueError:
            canonical.append(None)
    return pd.Series(canonical, index=clients.index, dtype=object)
