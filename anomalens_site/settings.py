"""Django settings for AnomaLens.

Every deployment-specific value is read from an environment variable. The
comment above each one gives its meaning and its default, so that a fresh
clone runs with no configuration at all (SQLite under ``var/``, the django-q2
ORM broker on the same database).
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from anomalens_site.startup import install_secret_key, redact_password

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    """Read a yes/no environment variable; accept 1/0, true/false, yes/no, on/off."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"Invalid value {raw!r} for {name}: use one of 1, 0, true, false, yes, no."
    )


def env_list(name, default):
    """Read a comma-separated environment variable into a list of stripped items."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# DJANGO_DEBUG: show tracebacks and serve static files from the apps. Default: off.
DEBUG = env_bool("DJANGO_DEBUG", default=False)


# DJANGO_ALLOWED_HOSTS: comma-separated host names the site serves.
# Default: localhost, 127.0.0.1 and [::1].
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# DJANGO_CSRF_TRUSTED_ORIGINS: comma-separated origins (scheme and host) allowed
# to post forms through a proxy. Default: none beyond the request's own host.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# ANOMALENS_VAR_DIR: folder for the default SQLite file and saved models.
# Default: var/ in the project folder, which git ignores.
VAR_DIR = Path(os.environ.get("ANOMALENS_VAR_DIR", BASE_DIR / "var"))

# DJANGO_SECRET_KEY: the key that signs sessions, CSRF tokens and queued tasks.
# Default: a random key created on first start in VAR_DIR/secret_key, so that
# no two installs share one. Processes on several machines must all set it.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or install_secret_key(
    VAR_DIR / "secret_key"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "store",
    "activities",
    "simulator",
    "anomalies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "anomalens_site.request_limits.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "anomalens_site.throttling.AnonymousApiThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "anomalens_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "anomalens_site.wsgi.application"

# DATABASE_URL: where the data lives, as a URL (postgres://user:pass@host:5432/name
# or sqlite:///path). Default: an SQLite file at var/anomalens.sqlite3.
DEFAULT_SQLITE_PATH = VAR_DIR / "anomalens.sqlite3"
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(
        f"Invalid DATABASE_URL {redact_password(DATABASE_URL)!r}: {str(exc).rstrip('.')}. "
        "Use a URL such as "
        "postgres://user@127.0.0.1:5432/anomalens or sqlite:///var/anomalens.sqlite3."
    ) from exc

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside one writer. The busy timeout (seconds) and
    # IMMEDIATE transactions make the web server and a worker wait in turn for
    # the write lock, instead of failing with "database is locked" in the
    # middle of a transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
        ),
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-anomalens.sqlite3")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # ANOMALENS_DB_CONNECT_TIMEOUT: seconds to wait for PostgreSQL to accept a
    # connection before failing. Default: 10.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("ANOMALENS_DB_CONNECT_TIMEOUT", "10"))
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# ANOMALENS_TIME_ZONE: the zone pages show times in; data is stored in UTC.
# Default: UTC.
TIME_ZONE = os.environ.get("ANOMALENS_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve static files straight from the apps when collectstatic has not run.
WHITENOISE_USE_FINDERS = True

# ANOMALENS_MEDIA_ROOT: folder for saved detector models and uploads.
# Default: var/media.
MEDIA_ROOT = Path(os.environ.get("ANOMALENS_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# ANOMALENS_MAX_UPLOAD_MB: largest accepted upload, in MiB. Default: 200.
MAX_UPLOAD_BYTES = int(os.environ.get("ANOMALENS_MAX_UPLOAD_MB", "200")) * 1024 * 1024
# ANOMALENS_MAX_REQUEST_MB: largest request body, in MiB, that is not a file
# upload (JSON, form fields); larger bodies get a 400. Default: 64. A bulk POST
# of 10,000 activity events is about 3 MiB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = (
    int(os.environ.get("ANOMALENS_MAX_REQUEST_MB", "64")) * 1024 * 1024
)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes DRF reject a request
    # without credentials with 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "anomalens_site.permissions.ReadAuthenticatedWriteWithModelPermission",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "anomalens_site.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "anomalens_site.pagination.LimitOffsetSkipPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": [
        "anomalens_site.filters.StrictDjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "anomalens_site.exceptions.api_exception_handler",
    # Logged-in users and token clients are throttled per account after the
    # permission check. Anonymous requests never pass that check, so
    # AnonymousApiThrottleMiddleware applies the "anon" rate to them before it.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
    ],
    # ANOMALENS_THROTTLE_ANON / ANOMALENS_THROTTLE_USER: request rates per client
    # address (anonymous) or per account (session or token), as N/second,
    # N/minute, N/hour or N/day. Defaults: 60/minute anonymous, 6000/minute
    # per account.
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("ANOMALENS_THROTTLE_ANON", "60/minute"),
        "user": os.environ.get("ANOMALENS_THROTTLE_USER", "6000/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AnomaLens API",
    "DESCRIPTION": "Store data, user activity and the anomalies found in them.",
    "VERSION": "1.0.0",
    # Name the two entity-type choice sets, which otherwise collide: stored
    # rows are "activity" or "order", run requests also accept "all".
    "ENUM_NAME_OVERRIDES": {
        "EntityTypeEnum": "store.models.EntityType",
        "EntityTypeRequestEnum": ["activity", "order", "all"],
        # Orders and runs both have a "status" field, with different choices.
        # Detection runs and simulation runs share the same four states.
        "OrderStatusEnum": "store.models.Order.Status",
        "RunStatusEnum": "anomalies.models.Run.Status",
    },
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Serve Swagger UI's scripts from this site, so the docs work offline and
    # the browser loads nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# REDIS_URL: when set (redis://127.0.0.1:6379/0), django-q2 uses Redis as its
# broker and Django's cache lives there too. Default: unset, so tasks queue in
# the default database (ORM broker) and the cache is in process memory.
REDIS_URL = os.environ.get("REDIS_URL", "")

# The cache contains API throttle counters, login failure counters and drawn
# charts. Process memory suits one web process. With several (gunicorn
# workers), set REDIS_URL so that every process counts against the same limits.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "anomalens",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "anomalens",
        }
    }

# ANOMALENS_LOGIN_MAX_FAILURES: failed logins allowed for one user name from one
# client address (and 4 times as many from one address over all user names)
# before further attempts are rejected. Default: 5.
LOGIN_MAX_FAILURES = int(os.environ.get("ANOMALENS_LOGIN_MAX_FAILURES", "5"))
# ANOMALENS_LOGIN_LOCKOUT_MINUTES: how long failures are counted and a locked
# login stays locked, in minutes. Default: 15.
LOGIN_LOCKOUT_SECONDS = (
    int(os.environ.get("ANOMALENS_LOGIN_LOCKOUT_MINUTES", "15")) * 60
)
# ANOMALENS_Q_WORKERS: background worker processes. Default: 1.
Q_WORKERS = int(os.environ.get("ANOMALENS_Q_WORKERS", "1"))
# ANOMALENS_TASK_TIMEOUT: seconds a task may run before the cluster kills it.
# Default: 3600. The retry period is set longer, so a task is never started
# twice while its first attempt is still running.
TASK_TIMEOUT = int(os.environ.get("ANOMALENS_TASK_TIMEOUT", "3600"))
# ANOMALENS_HEARTBEAT_SECONDS: seconds between the heartbeats a running
# training or detection run writes. Default: 30.
HEARTBEAT_SECONDS = float(os.environ.get("ANOMALENS_HEARTBEAT_SECONDS", "30"))
# ANOMALENS_STALE_RUN_SECONDS: a running run without a heartbeat for this many
# seconds has lost its worker (killed) and is marked failed. Default: 120,
# four missed heartbeats at the default interval.
STALE_RUN_SECONDS = float(os.environ.get("ANOMALENS_STALE_RUN_SECONDS", "120"))
if not 0 < HEARTBEAT_SECONDS < STALE_RUN_SECONDS / 2:
    raise ImproperlyConfigured(
        f"ANOMALENS_HEARTBEAT_SECONDS={HEARTBEAT_SECONDS:g} with "
        f"ANOMALENS_STALE_RUN_SECONDS={STALE_RUN_SECONDS:g} would fail runs that "
        "are still alive: keep the heartbeat above 0 and under half the stale age."
    )
# ANOMALENS_TASK_QUEUE: name of the task queue the site and its workers share.
# Default: anomalens. Give each site its own name when several share one Redis
# database; the test suite gives each test process its own.
Q_CLUSTER = {
    "name": "anomalens",
    "cluster_name": os.environ.get("ANOMALENS_TASK_QUEUE", "anomalens"),
    "workers": Q_WORKERS,
    "timeout": TASK_TIMEOUT,
    "retry": TASK_TIMEOUT + 600,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker polls the queue table; one poll every 0.5 s is cheap.
    Q_CLUSTER["poll"] = 0.5

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        # ANOMALENS_LOG_LEVEL: level of the application's own loggers. Default: INFO.
        name: {
            "handlers": ["console"],
            "level": os.environ.get("ANOMALENS_LOG_LEVEL", "INFO"),
            "propagate": False,
        }
        for name in ("store", "activities", "simulator", "anomalies", "anomalens_site")
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # DJANGO_SECURE_COOKIES: send session and CSRF cookies over HTTPS only.
    # Default: off, because the bundled server speaks plain HTTP on loopback.
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=False)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# DJANGO_SSL_REDIRECT: redirect every plain-HTTP request to HTTPS. Default: off.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", default=False)
# DJANGO_SECURE_PROXY_SSL_HEADER: set when a proxy in front terminates TLS and
# sends "X-Forwarded-Proto: https", so that Django treats such requests as secure.
# Default: off. Turn it on only behind a proxy that sets or strips that header.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# DJANGO_HSTS_SECONDS: how long browsers must use HTTPS only for this site
# (Strict-Transport-Security), in seconds. Default: 0, no header. Start small
# (3600) and raise to 31536000 once HTTPS works everywhere.
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0"))
# DJANGO_HSTS_INCLUDE_SUBDOMAINS / DJANGO_HSTS_PRELOAD: extend the HSTS header
# to subdomains, and allow browsers to preload it. Defaults: off.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)

# --- Access-log import -------------------------------------------------------
# ANOMALENS_ACCESS_LOG_RULES: path of a JSON file with the rules that map a
# request's method, path, query and status to an activity action type, used by
# import_access_log when no --rules FILE is given. Default: empty, so the
# built-in rules in activities/importers/rules.py apply.
ANOMALENS_ACCESS_LOG_RULES = os.environ.get("ANOMALENS_ACCESS_LOG_RULES", "")
