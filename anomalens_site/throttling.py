"""Rate limit for anonymous API requests, applied before any permission check.

DRF checks throttles only after authentication and permissions pass, and no
API endpoint lets an anonymous client through, so DRF's own AnonRateThrottle
would never count an anonymous request. This middleware counts every
anonymous request under /api/ with the same class and rate ("anon" in
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]) and returns 429 once the rate is
spent, whatever the endpoint would have returned.
"""

import logging
import math

from django.http import JsonResponse
from rest_framework.throttling import AnonRateThrottle

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# The browsable API's login and logout pages: Django's auth views, whose
# failed logins are limited by anomalens_site.login_limit instead.
AUTH_PREFIX = "/api/auth/"


class AnonymousApiThrottleMiddleware:
    """Return 429 to an anonymous client over the "anon" rate on /api/ paths.

    A request counts as anonymous when it has no logged-in session and no
    Authorization header; token clients are throttled per account by DRF's
    UserRateThrottle instead. Must come after AuthenticationMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self.is_anonymous_api_request(request):
            throttle = AnonRateThrottle()
            if not throttle.allow_request(request, None):
                return self.throttled_response(request, throttle)
        return self.get_response(request)

    @staticmethod
    def is_anonymous_api_request(request):
        if not request.path.startswith(API_PREFIX):
            return False
        if request.path.startswith(AUTH_PREFIX):
            return False
        if "HTTP_AUTHORIZATION" in request.META:
            return False
        return not request.user.is_authenticated

    @staticmethod
    def throttled_response(request, throttle):
        wait = throttle.wait()
        seconds = max(1, math.ceil(wait)) if wait is not None else 60
        # Log the first rejection of each client per throttle window only, so
        # that a flood of requests does not become a flood of log lines.
        ident = throttle.get_ident(request)
        if throttle.cache.add(
            f"{throttle.get_cache_key(request, None)}:logged", 1, seconds
        ):
            logger.warning(
                "Throttled anonymous API requests from %s (first to %s) for %s s",
                ident,
                request.path,
                seconds,
            )
        response = JsonResponse(
            {
                "detail": (
                    f"Request was throttled: anonymous clients may make "
                    f"{throttle.rate} requests. Log in or use an API token, "
                    f"or retry in {seconds} seconds."
                )
            },
            status=429,
        )
        response["Retry-After"] = str(seconds)
        return response
