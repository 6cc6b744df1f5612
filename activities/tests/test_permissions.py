import pytest

from activities.models import UserActivity

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(api_client, reader_client, writer_client, staff_client, token_client):
    return {
        "anonymous": api_client,
        "reader": reader_client,
        "writer": writer_client,
        "staff": staff_client,
        "token": token_client,
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("reader", 200),
        ("writer", 200),
        ("staff", 200),
        ("token", 200),
    ],
)
@pytest.mark.parametrize("suffix", ["", "{pk}/", "{pk}/context/session_history"])
def test_reading_events_needs_login(clients, role, expected, suffix):
    event = UserActivity.objects.create(action_type="login", session_id="s")
    url = "/api/activities/" + suffix.format(pk=event.pk)
    assert clients[role].get(url).status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 401),
        ("reader", 403),
        ("writer", 201),
        ("staff", 201),
        ("token", 201),
    ],
)
@pytest.mark.parametrize(
    "body", [{"action_type": "login"}, [{"action_type": "login"}] * 2]
)
def test_posting_events_needs_add_permission(clients, role, expected, body):
    response = clients[role].post("/api/activities/", body, format="json")
    assert response.status_code == expected


@pytest.mark.parametrize("role", ["anonymous", "reader"])
def test_rejected_post_stores_nothing(clients, role):
    clients[role].post("/api/activities/", [{"action_type": "login"}], format="json")
    assert UserActivity.objects.count() == 0
