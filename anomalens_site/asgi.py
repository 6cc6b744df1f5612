"""ASGI entry point for AnomaLens."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anomalens_site.settings")

application = get_asgi_application()
