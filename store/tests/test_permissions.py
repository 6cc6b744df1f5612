import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LIST_URLS = [
    "/api/store/categories/",
    "/api/store/products/",
    "/api/store/customers/",
    "/api/store/orders/",
]


@pytest.fixture
def clients(api_client, reader_client, writer_client, staff_client):
    return {
        "anonymous": api_client,
        "reader": reader_client,
        "writer": writer_client,
        "staff": staff_client,
    }


@pytest.fixture
def create_bodies(make_customer, make_product):
    customer, product = make_customer(), make_product()
    counter = iter(range(1000))
    return {
        "/api/store/categories/": lambda: {"name": f"Category {next(counter)}"},
        "/api/store/products/": lambda: {"name": "P", "price": "1.00"},
        "/api/store/customers/": lambda: {"email": f"c{next(counter)}@example.com"},
        "/api/store/orders/": lambda: {
            "customer_id": customer.pk,
            "items": [{"product_id": product.pk, "quantity": 1}],
        },
    }


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("reader", 200), ("writer", 200), ("staff", 200)],
)
def test_read_needs_login(clients, url, role, expected):
    assert clients[role].get(url).status_code == expected


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("reader", 403), ("writer", 201), ("staff", 201)],
)
def test_create_needs_add_permission(clients, create_bodies, url, role, expected):
    response = clients[role].post(url, create_bodies[url](), format="json")
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("reader", 403), ("writer", 204), ("staff", 204)],
)
def test_delete_needs_delete_permission(clients, make_category, role, expected):
    category = make_category()
    response = clients[role].delete(f"/api/store/categories/{category.pk}/")
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("reader", 403), ("writer", 200), ("staff", 200)],
)
def test_update_needs_change_permission(clients, make_category, role, expected):
    category = make_category()
    response = clients[role].patch(
        f"/api/store/categories/{category.pk}/", {"name": "New"}, format="json"
    )
    assert response.status_code == expected


def test_staff_without_model_permission_cannot_write(django_user_model):
    user = django_user_model.objects.create_user(username="clerk", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/store/categories/", {"name": "X"}, format="json")
    assert response.status_code == 403


def test_token_authenticates_writes(token_client):
    response = token_client.post(
        "/api/store/categories/", {"name": "Via token"}, format="json"
    )
    assert response.status_code == 201


def test_bad_token_is_rejected(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/store/categories/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_session_login_reads(reader_user):
    client = APIClient()
    client.login(username="reader", password="reader-pass-123")
    assert client.get("/api/store/categories/").status_code == 200


def test_session_write_needs_csrf_token(writer_user):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="writer", password="writer-pass-123")
    response = client.post("/api/store/categories/", {"name": "X"}, format="json")
    assert response.status_code == 403
