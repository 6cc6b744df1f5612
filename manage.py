#!/usr/bin/env python
"""Run Django's command-line utility for AnomaLens."""

import os
import sys

# Commands that work without a database. Every other command first checks
# that the default database accepts a connection, so that a wrong
# DATABASE_URL or a stopped database server ends in one line naming
# DATABASE_URL instead of a traceback from deep inside the command.
COMMANDS_WITHOUT_DATABASE = {
    "check",
    "collectstatic",
    "compilemessages",
    "diffsettings",
    "findstatic",
    "help",
    "makemessages",
    "makemigrations",
    "startapp",
    "startproject",
    "version",
}


def database_error():
    """Return a one-line message if the default database cannot be reached, else None."""
    from django.conf import settings
    from django.db import DatabaseError, connections

    from anomalens_site.startup import redact_password

    try:
        connections["default"].ensure_connection()
    except DatabaseError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        url = redact_password(getattr(settings, "DATABASE_URL", ""))
        return (
            f"Cannot connect to the database at DATABASE_URL={url}. Start the "
            "database server or set DATABASE_URL to a reachable database. "
            f"Error: {reason}"
        )
    return None


def broker_error():
    """Return a one-line message if REDIS_URL is set and Redis is unreachable, else None."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    import redis

    from anomalens_site.startup import redact_password

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return (
            f"Cannot connect to Redis at REDIS_URL={redact_password(url)}. Start "
            "the Redis server, or unset REDIS_URL to queue tasks in the database. "
            f"Error: {reason}"
        )
    return None


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in COMMANDS_WITHOUT_DATABASE and not command.startswith("-"):
        try:
            django.setup()
        except ImproperlyConfigured as exc:
            sys.stderr.write(f"Invalid configuration: {exc}\n")
            sys.exit(2)
        message = database_error()
        if not message and command == "qcluster":
            # The cluster would log the error and then wait forever.
            message = broker_error()
        if message:
            sys.stderr.write(message + "\n")
            sys.exit(1)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
