"""URL configuration: the admin, the REST API under /api/, and the HTML pages."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from anomalens_site.login_limit import LimitedAdminAuthenticationForm, LimitedLoginView

# Every login form counts failed attempts: the admin's through its form, the
# site's and the browsable API's through the view listed before the routes of
# django.contrib.auth and rest_framework, which would otherwise answer first.
admin.site.login_form = LimitedAdminAuthenticationForm


class SwaggerView(SpectacularSwaggerView):
    """Swagger UI, answering GET and HEAD only."""

    # The view renders through an HTML template that OPTIONS metadata does not
    # have, so an OPTIONS request ended in a server error.
    http_method_names = ["get", "head"]


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", LimitedLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
    ),
    path(
        "api/auth/login/",
        LimitedLoginView.as_view(template_name="rest_framework/login.html"),
        name="api-login",
    ),
    path("api/auth/", include("rest_framework.urls")),
    path("api/store/", include("store.urls")),
    path("api/activities/", include("activities.urls")),
    path("api/simulator/", include("simulator.api_urls")),
    path("api/", include("anomalies.api_urls")),
    path("simulator/", include("simulator.urls")),
    path("imports/", include("activities.page_urls")),
    path("", include("anomalies.urls")),
]
