"""WSGI entry point for AnomaLens."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")

application = get_wsgi_application()
