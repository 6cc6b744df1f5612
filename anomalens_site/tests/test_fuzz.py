"""Fuzz the REST API from its own OpenAPI schema with schemathesis.

Every operation of the schema that drf-spectacular generates is called with
requests built from that schema, in-process through the WSGI application and
as a staff user (token authentication), so that every endpoint lets the
request reach its validation. Each response must not be a server error and
must match the schema for its status code and content type.

The number of examples per operation is bounded and derandomized, so the run
takes the same requests every time and stays well under two minutes.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from anomalens_site.wsgi import application

# Requests per operation. About 35 operations make a few hundred requests.
EXAMPLES_PER_OPERATION = 12
CHECKS = (not_a_server_error, response_schema_conformance, content_type_conformance)


@pytest.fixture
def api_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    # The WSGI handler closes the database connection at the start and end of
    # each request, which would end the test's transaction. Django's test
    # client detaches the same receivers for the same reason.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.from_dict(document, app=application)
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.from_pytest_fixture("api_schema")


@pytest.fixture
def staff_token(staff_user):
    return Token.objects.create(user=staff_user).key


@pytest.mark.fuzz
@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_schema(case, staff_token):
    response = case.call_wsgi(headers={"Authorization": f"Token {staff_token}"})
    case.validate_response(response, checks=CHECKS)
