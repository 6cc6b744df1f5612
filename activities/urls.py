"""Activity API routes, mounted under /api/activities/."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from activities import views


class SessionHistoryAliasViewSet(views.UserActivityViewSet):
    """The same session history, at the path without a trailing slash."""

    # Left out of the OpenAPI schema, which documents the canonical path.
    schema = None


router = SimpleRouter()
router.register("", views.UserActivityViewSet, basename="activity")

urlpatterns = [
    # The earlier API spelled this path without a trailing slash; a redirect
    # would lose the request's Authorization header in some clients.
    re_path(
        r"^(?P<pk>[0-9]+)/context/session_history$",
        SessionHistoryAliasViewSet.as_view({"get": "session_history"}),
        name="activity-session-history-no-slash",
    ),
    *router.urls,
]
