"""Helpers that settings.py and manage.py use before Django is set up."""

import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def redact_password(url):
    """Return ``url`` with the password replaced by ***, for messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def install_secret_key(path):
    """Return the secret key stored at ``path``, creating it on first use.

    The key is 50 random URL-safe bytes, written with mode 0600. It is
    written to a temporary file and linked into place, so that two processes
    starting at once (gunicorn's workers) both end up with the same key: the
    one whose link fails reads the other's file.
    """
    path = Path(path)
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)
    return path.read_text().strip()
