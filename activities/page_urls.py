"""Staff pages for importing uploaded files, mounted under /imports/."""

from django.urls import path

from activities import pages

app_name = "imports"

urlpatterns = [
    path("", pages.ImportPageView.as_view(), name="page"),
    path("jobs/<uuid:job_id>/", pages.ImportJobView.as_view(), name="job"),
]
