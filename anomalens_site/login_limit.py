"""Limit failed logins on the site, admin and browsable-API login forms.

Failures are counted in Django's cache for LOGIN_LOCKOUT_SECONDS: per user
name and client address (LOGIN_MAX_FAILURES), and per client address over
all user names (4 times as many, against password spraying). Once a count is
reached, the form rejects every attempt, correct passwords included, until
the window ends, and shows the reason. A successful login clears the count
of that user name and address.
"""

import hashlib
import logging
import math

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# An address may fail this many times the per-user limit over all user names.
ADDRESS_FACTOR = 4
LOCKED_CODE = "too_many_attempts"


def client_address(request):
    """Return the client's address as the web server saw it.

    NOTE: behind a reverse proxy every client shares the proxy's address, so
    the per-address limit then applies to all clients together.
    """
    if request is None:
        return "unknown"
    return request.META.get("REMOTE_ADDR") or "unknown"


def _key(*parts):
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f"login-failures:{digest}"


def _keys(request, username):
    address = client_address(request)
    return (
        (_key(address, (username or "").casefold()), settings.LOGIN_MAX_FAILURES),
        (_key(address), settings.LOGIN_MAX_FAILURES * ADDRESS_FACTOR),
    )


def is_locked(request, username):
    """Tell whether logins for ``username`` from this client are rejected for now."""
    counts = cache.get_many([key for key, _limit in _keys(request, username)])
    return any(counts.get(key, 0) >= limit for key, limit in _keys(request, username))


def record_failure(request, username):
    """Count one failed login for ``username`` from this client."""
    timeout = settings.LOGIN_LOCKOUT_SECONDS
    for key, limit in _keys(request, username):
        # add() starts the window on the first failure, and incr() keeps its expiry.
        if cache.add(key, 1, timeout):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:
                # The entry expired between add() and incr(): start again.
                cache.set(key, 1, timeout)
                count = 1
        if count == limit:
            logger.warning(
                "Locked logins from %s (user name %r) for %s s after %s failures",
                client_address(request),
                username,
                timeout,
                count,
            )


def clear_failures(request, username):
    """Forget the failed logins of ``username`` from this client."""
    cache.delete(_keys(request, username)[0][0])


def locked_message():
    minutes = math.ceil(settings.LOGIN_LOCKOUT_SECONDS / 60)
    return _(
        "Too many failed login attempts from your address. For your safety, "
        "logging in is blocked for %(minutes)s minutes; try again later or ask "
        "an administrator to reset your password."
    ) % {"minutes": minutes}


class LoginLimitMixin:
    """Reject a login while it is locked, and count the failures of the form."""

    def clean(self):
        username = self.data.get("username", "")
        if is_locked(self.request, username):
            raise ValidationError(locked_message(), code=LOCKED_CODE)
        try:
            return super().clean()
        except ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                record_failure(self.request, username)
            raise
        finally:
            if self.user_cache is not None:
                clear_failures(self.request, username)


class LimitedAuthenticationForm(LoginLimitMixin, AuthenticationForm):
    """The site's login form with failed-login limits."""


class LimitedAdminAuthenticationForm(LoginLimitMixin, AdminAuthenticationForm):
    """The admin login form with failed-login limits."""


class LimitedLoginView(auth_views.LoginView):
    """The login page, returning 429 with the reason while logins are locked."""

    authentication_form = LimitedAuthenticationForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context.get("form")
        context["login_locked"] = bool(form and form.has_error("__all__", LOCKED_CODE))
        return context

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", LOCKED_CODE):
            response.status_code = 429
        return response
