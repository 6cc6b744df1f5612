"""Tests of production settings and of manage.py's start-up checks, in subprocesses."""

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from anomalens_site.startup import install_secret_key

BASE_DIR = Path(__file__).resolve().parents[2]

# The environment docs/security.md lists for a production deployment.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "anomalens.example.com",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_SSL_REDIRECT": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
}


def manage(*arguments, **environment):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(environment)
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port():
    """Return a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_check_deploy_clean_with_production_env(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        ANOMALENS_VAR_DIR=str(tmp_path),
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_check_deploy_flags_development_defaults(tmp_path):
    result = manage("check", "--deploy", ANOMALENS_VAR_DIR=str(tmp_path))
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr + result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("command", ["migrate", "runserver", "qcluster"])
def test_unreachable_database_gives_one_line(command, tmp_path):
    url = f"postgres://anomalens:secret@127.0.0.1:{closed_port()}/anomalens"
    result = manage(command, DATABASE_URL=url, ANOMALENS_VAR_DIR=str(tmp_path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL=postgres://anomalens:***@127.0.0.1" in lines[0]
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


@pytest.mark.slow
def test_invalid_database_url_gives_one_line(tmp_path):
    result = manage("migrate", DATABASE_URL="nope://x", ANOMALENS_VAR_DIR=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Invalid configuration: Invalid DATABASE_URL")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_invalid_database_url_hides_password(tmp_path):
    url = "postgres://postgres:s3cret@127.0.0.1:notaport/x"
    result = manage("migrate", DATABASE_URL=url, ANOMALENS_VAR_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "postgres:***@127.0.0.1:notaport" in result.stderr
    assert "s3cret" not in result.stderr


@pytest.mark.slow
def test_unreachable_redis_stops_qcluster(tmp_path):
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/7"
    result = manage(
        "qcluster",
        REDIS_URL=url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        ANOMALENS_VAR_DIR=str(tmp_path),
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1, result.stderr
    assert "REDIS_URL=redis://:***@127.0.0.1" in lines[0]
    assert "s3cret" not in result.stderr


def test_secret_key_created_once_per_install(tmp_path):
    path = tmp_path / "var" / "secret_key"

    first = install_secret_key(path)
    second = install_secret_key(path)

    assert len(first) >= 50
    assert second == first
    assert path.stat().st_mode & 0o777 == 0o600
    assert [item.name for item in path.parent.iterdir()] == ["secret_key"]


def test_secret_key_kept_when_another_process_wins(tmp_path, monkeypatch):
    path = tmp_path / "secret_key"
    real_link = os.link

    def link_after_other_process(source, target):
        Path(target).write_text("written-by-the-other-process\n")
        real_link(source, target)

    monkeypatch.setattr(os, "link", link_after_other_process)

    assert install_secret_key(path) == "written-by-the-other-process"
    assert [item.name for item in tmp_path.iterdir()] == ["secret_key"]


def test_default_secret_keys_differ_between_installs(tmp_path):
    assert install_secret_key(tmp_path / "a") != install_secret_key(tmp_path / "b")
