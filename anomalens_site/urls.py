"""URL configuration: the admin, the REST API under /api/, and the HTML pages."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema"),
        name="api-docs",
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
