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
    r"(?:(?P<vhost>[^\s\[\"]+)[ \t]+)?"
    rf"(?P<client>{_IPV4}|{_IPV6}|{_HOSTNAME})[ \t]+"
    r"(?P<ident>[^\s\[]+)[ \t]+"
    r"(?P<user>[^\s\[]+)[ \t]+"
    r"(?:-[ \t]+)?"
    r"\[(?P<time>[^\]\s]+)(?:[ \t]+(?P<tz>[+-]\d{4}))?[ \t]*\][ \t]+"
    r"(?:(?P<vhost_after>[^\s\"]+)[ \t]+)?"
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
    rf"^(?:{ACCESS_LINE_PATTERN}|(?P<unparsed>[^\n]*))\n", re.MULTILINE
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
    digest = hashlib.sha256()
    with open_log(path) as stream:
        while block := stream.read(block_bytes):
            digest.update(block)
    return digest.hexdigest()


def iter_text_chunks(stream, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Yield (byte count, decoded text) for chunks that each end with a newline.

    Bytes that are not UTF-8 become ``\\xNN`` escapes, the same notation nginx
    writes for binary request bytes, and NUL characters are escaped the same
    way because PostgreSQL text and jsonb reject them. Cutting at a newline
    never splits a UTF-8 sequence, because 0x0A never occurs inside one.
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
        yield cut + 1, _decode(block[: cut + 1])
    if pending:
        yield len(pending), _decode(pending + b"\n")


def _decode(raw):
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
    """
    frame = pd.DataFrame.from_records(CHUNK_REGEX.findall(text), columns=FIELDS)
    frame["line"] = np.arange(first_line_number, first_line_number + len(frame))

    # A client address is present on every access-log line and on no other.
    matched = frame["client"] != ""
    _reject_unmatched(frame.loc[~matched], rejected)
    frame = frame.loc[matched].drop(columns="unparsed")
    if frame.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)

    frame = _add_timestamps(frame, naive_time_zone, rejected)
    frame = _split_requests(frame)
    frame["ip_address"] = _normalise_addresses(frame["client"])
    frame["vhost"] = frame["vhost"].where(frame["vhost"] != "", frame["vhost_after"])
    frame["vhost"] = frame["vhost"].replace("", None)
    frame["remote_user"] = frame["user"].replace("-", None)
    frame["status"] = frame["status"].astype("int32")
    frame["bytes"] = pd.to_numeric(frame["bytes"], errors="coerce").astype("Int64")
    frame["referrer"] = _unescape(frame["referrer"]).replace({"": None, "-": None})
    frame["user_agent"] = _unescape(frame["user_agent"]).replace("-", "")
    return frame[OUTPUT_COLUMNS]


def _reject_unmatched(unmatched, rejected):
    text = unmatched["unparsed"]
    stripped = text.str.strip()
    reasons = np.where(
        stripped == "",
        REASON_BLANK,
        np.where(stripped.str.startswith("#"), REASON_COMMENT, REASON_FORMAT),
    )
    rejected.add(unmatched["line"].to_numpy(), reasons, text.tolist())


def _add_timestamps(frame, naive_time_zone, rejected):
    """Add a UTC ``timestamp`` column, rejecting lines whose time cannot be read."""
    local = pd.to_datetime(frame["time"], format=CLF_TIME_FORMAT, errors="coerce")
    has_offset = frame["tz"] != ""

    offset = frame["tz"].where(has_offset, "+0000")
    sign = np.where(offset.str[0] == "-", -1, 1)
    minutes = offset.str[1:3].astype(int) * 60 + offset.str[3:5].astype(int)
    with_offset = (local - pd.to_timedelta(sign * minutes, unit="m")).dt.tz_localize(
        "UTC"
    )
    # A wall time repeated when clocks go back is read as standard time, and
    # one skipped when they go forward is moved to the first valid instant.
    without_offset = local.dt.tz_localize(
        naive_time_zone,
        ambiguous=np.zeros(len(local), dtype=bool),
        nonexistent="shift_forward",
    ).dt.tz_convert("UTC")
    frame["timestamp"] = with_offset.where(has_offset, without_offset)
    frame["naive_time"] = ~has_offset

    invalid = frame["timestamp"].isna()
    if invalid.any():
        bad = frame.loc[invalid]
        rejected.add(
            bad["line"].to_numpy(),
            [REASON_TIME] * len(bad),
            ("[" + bad["time"] + " " + bad["tz"] + "]").tolist(),
        )
    return frame.loc[~invalid]


def _split_requests(frame):
    """Add path and query columns, and keep the raw request only when malformed."""
    is_split = frame["method"] != ""
    target = _unescape(frame["target"]).where(is_split, None)
    frame["method"] = frame["method"].str.upper().where(is_split, None)
    frame["target"] = target
    frame["protocol"] = frame["protocol"].replace("", None)

    split = target.fillna("").str.partition("?")
    frame["path"] = split[0].where(is_split, None)
    frame["query"] = split[2].where(split[1] == "?", None)
    # Keep the raw request only when it is not "METHOD target [protocol]":
    # empty requests, TLS handshakes sent to a plain-HTTP port, "HELP".
    frame["request"] = _unescape(frame["request"]).where(~is_split, None)
    return frame


def _unescape(values):
    r"""Undo the \" and \\ escapes Apache and nginx write inside quoted fields."""
    has_escape = values.str.contains("\\", regex=False)
    if not has_escape.any():
        return values
    unescaped = values[has_escape].str.replace(r'\\(["\\])', r"\1", regex=True)
    return values.where(~has_escape, unescaped)


def _normalise_addresses(clients):
    """Return each client as a canonical IP address, or None for host names.

    The check runs once per distinct client, not once per line.
    """
    distinct = pd.unique(clients)
    canonical = {}
    for client in distinct:
        try:
            canonical[client] = str(ipaddress.ip_address(client.strip("[]")))
        except ValueError:
            canonical[client] = None
    return clients.map(canonical)
