import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yml"
    )
    assert (tmp_path / "s.yml").stat().st_size > 0


def test_schema_endpoint_lists_api_paths(reader_client):
    response = reader_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    paths = response.json()["paths"]
    assert "/api/activities/{id}/context/session_history/" in paths
    assert "/api/store/orders/" in paths


def test_swagger_ui_renders(reader_client):
    response = reader_client.get("/api/docs/")
    assert response.status_code == 200


def test_swagger_ui_loads_no_cdn_script(reader_client):
    content = reader_client.get("/api/docs/").content.decode()
    assert "cdn.jsdelivr.net" not in content


def test_swagger_ui_script_is_served(client, reader_user):
    client.force_login(reader_user)
    script = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    response = client.get(script)
    assert response.status_code == 200


def test_schema_needs_login(api_client):
    assert api_client.get("/api/schema/").status_code == 401


@pytest.mark.parametrize(
    "url", ["/api/store/", "/api/store/orders/", "/api/activities/"]
)
def test_browsable_api_renders(client, staff_user, url):
    client.force_login(staff_user)
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<form" in response.content


def test_browsable_api_form_post_creates_category(client, writer_user):
    client.force_login(writer_user)
    response = client.post(
        "/api/store/categories/", {"name": "From form", "description": ""}
    )
    assert response.status_code == 201
