from decimal import Decimal

import pytest

from store.models import Category, Customer, Order, OrderItem, Product, Source

pytestmark = pytest.mark.django_db


# Categories, products and customers: the plain CRUD resources.


def test_category_create_records_api_source(writer_client):
    response = writer_client.post(
        "/api/store/categories/", {"name": "Shoes"}, format="json"
    )
    assert response.status_code == 201
    assert Category.objects.get(pk=response.json()["id"]).source == Source.API


def test_category_list_paginates(reader_client, make_category):
    for name in ("A", "B", "C"):
        make_category(name=name)
    body = reader_client.get("/api/store/categories/?limit=2&offset=1").json()
    assert body["count"] == 3
    assert [row["name"] for row in body["results"]] == ["B", "C"]


def test_category_list_accepts_skip(reader_client, make_category):
    for name in ("A", "B", "C"):
        make_category(name=name)
    body = reader_client.get("/api/store/categories/?limit=1&skip=2").json()
    assert [row["name"] for row in body["results"]] == ["C"]


def test_category_retrieve_update_delete(writer_client, make_category):
    category = make_category(name="Old")
    url = f"/api/store/categories/{category.pk}/"
    assert writer_client.get(url).json()["name"] == "Old"
    assert writer_client.patch(url, {"name": "New"}, format="json").status_code == 200
    assert writer_client.put(
        url, {"name": "Newer", "description": "d"}, format="json"
    ).json() == {
        "id": category.pk,
        "name": "Newer",
        "description": "d",
        "source": "api",
    }
    assert writer_client.delete(url).status_code == 204
    assert not Category.objects.filter(pk=category.pk).exists()


def test_category_duplicate_name_is_400(writer_client, make_category):
    make_category(name="Shoes")
    response = writer_client.post(
        "/api/store/categories/", {"name": "Shoes"}, format="json"
    )
    assert response.status_code == 400
    assert "Shoes" in response.json()["name"][0]


def test_product_create_with_category(writer_client, make_category):
    category = make_category()
    response = writer_client.post(
        "/api/store/products/",
        {"name": "Runner", "price": "49.90", "category_id": category.pk},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["category_name"] == category.name


def test_product_price_is_decimal_string(reader_client, make_product):
    make_product(price="0.10")
    assert reader_client.get("/api/store/products/").json()["results"][0]["price"] == (
        "0.10"
    )


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"name": "X", "price": "-1"}, "price", "greater than or equal to 0"),
        ({"name": "X", "price": "abc"}, "price", "'abc'"),
        ({"name": "X", "price": "1", "category_id": 999}, "category_id", "999"),
        ({"name": "X", "price": "1", "colour": "red"}, "colour", "Unknown field"),
        ({"price": "1"}, "name", "required"),
    ],
)
def test_product_bad_input_is_400(writer_client, body, field, fragment):
    response = writer_client.post("/api/store/products/", body, format="json")
    assert response.status_code == 400
    assert fragment in " ".join(response.json()[field])
    assert Product.objects.count() == 0


def test_product_filters_by_category_and_price(reader_client, make_product):
    shoes = Category.objects.create(name="Shoes")
    make_product(name="Cheap", price="5", category=shoes)
    make_product(name="Dear", price="500", category=shoes)
    make_product(name="Other", price="50")
    body = reader_client.get(
        f"/api/store/products/?category_id={shoes.pk}&max_price=100"
    ).json()
    assert [row["name"] for row in body["results"]] == ["Cheap"]


def test_product_search_and_ordering(reader_client, make_product):
    make_product(name="Trail runner", price="80")
    make_product(name="Road runner", price="60")
    make_product(name="Sandal", price="20")
    body = reader_client.get("/api/store/products/?search=runner&ordering=price").json()
    assert [row["name"] for row in body["results"]] == ["Road runner", "Trail runner"]


def test_product_in_orders_cannot_be_deleted(
    writer_client, make_customer, make_product
):
    product = make_product()
    writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": make_customer().pk,
            "items": [{"product_id": product.pk, "quantity": 1}],
        },
        format="json",
    )
    response = writer_client.delete(f"/api/store/products/{product.pk}/")
    assert response.status_code == 409
    assert Product.objects.filter(pk=product.pk).exists()


def test_customer_create_and_filter_by_email(writer_client):
    writer_client.post(
        "/api/store/customers/", {"email": "ada@example.com"}, format="json"
    )
    writer_client.post(
        "/api/store/customers/", {"email": "bob@example.com"}, format="json"
    )
    body = writer_client.get("/api/store/customers/?email=ADA@example.com").json()
    assert [row["email"] for row in body["results"]] == ["ada@example.com"]


def test_customer_bad_email_is_400(writer_client):
    response = writer_client.post(
        "/api/store/customers/", {"email": "not-an-email"}, format="json"
    )
    assert response.status_code == 400
    assert "not-an-email" in response.json()["email"][0]


def test_customer_created_at_is_read_only(writer_client):
    response = writer_client.post(
        "/api/store/customers/",
        {"email": "a@example.com", "created_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert Customer.objects.get(pk=response.json()["id"]).created_at.year != 2001


# Orders: prices and totals come from the products.


@pytest.fixture
def order_parts(make_customer, make_product):
    return make_customer(), make_product(price="2.50"), make_product(price="10.00")


def test_order_create_prices_items_from_products(writer_client, order_parts):
    customer, socks, shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [
                {"product_id": socks.pk, "quantity": 3},
                {"product_id": shoes.pk, "quantity": 1},
            ],
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["total_amount"] == "17.50"
    assert [item["unit_price"] for item in body["items"]] == ["2.50", "10.00"]
    assert body["status"] == "pending"
    assert body["source"] == "api"


def test_order_unit_price_survives_price_change(
    writer_client, reader_client, order_parts
):
    customer, socks, _shoes = order_parts
    order_id = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": socks.pk, "quantity": 2}],
        },
        format="json",
    ).json()["id"]
    Product.objects.filter(pk=socks.pk).update(price=Decimal("99"))
    body = reader_client.get(f"/api/store/orders/{order_id}/").json()
    assert body["items"][0]["unit_price"] == "2.50"
    assert body["total_amount"] == "5.00"


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([], "at least one item"),
        ([{"product_id": 999_999, "quantity": 1}], "Product 999999 not found"),
        ([{"product_id": "PRODUCT", "quantity": 1}], "'PRODUCT'"),
        ([{"quantity": 1}], "required"),
        ("not-a-list", "list"),
    ],
)
def test_order_bad_items_are_400(writer_client, order_parts, items, fragment):
    customer, _socks, _shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {"customer_id": customer.pk, "items": items},
        format="json",
    )
    assert response.status_code == 400
    assert fragment in str(response.json()["items"])
    assert Order.objects.count() == 0


@pytest.mark.parametrize("quantity", [0, -3, 10**7, 2.5])
def test_order_bad_quantity_is_400(writer_client, order_parts, quantity):
    customer, socks, _shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": socks.pk, "quantity": quantity}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "quantity" in response.json()["items"][0]
    assert OrderItem.objects.count() == 0


def test_order_missing_product_stores_nothing(writer_client, order_parts):
    customer, socks, _shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [
                {"product_id": socks.pk, "quantity": 1},
                {"product_id": 424242, "quantity": 1},
            ],
        },
        format="json",
    )
    assert response.json()["items"][0] == {}
    assert "424242" in response.json()["items"][1]["product_id"][0]
    assert Order.objects.count() == 0


@pytest.mark.parametrize("customer_id", [999_999, "abc", None, 2**80])
def test_order_bad_customer_is_400(writer_client, order_parts, customer_id):
    _customer, socks, _shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer_id,
            "items": [{"product_id": socks.pk, "quantity": 1}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "customer_id" in response.json()


def test_order_total_past_column_is_400(writer_client, make_customer, make_product):
    product = make_product(price="9999999999.99")
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": make_customer().pk,
            "items": [{"product_id": product.pk, "quantity": 1000}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "exceeds the maximum" in response.json()["items"][0]


def test_order_bad_status_lists_allowed(writer_client, order_parts):
    customer, socks, _shoes = order_parts
    response = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "status": "lost",
            "items": [{"product_id": socks.pk, "quantity": 1}],
        },
        format="json",
    )
    assert "shipped" in response.json()["status"][0]


def test_order_patch_status_keeps_items(writer_client, order_parts):
    customer, socks, _shoes = order_parts
    order_id = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": socks.pk, "quantity": 2}],
        },
        format="json",
    ).json()["id"]
    body = writer_client.patch(
        f"/api/store/orders/{order_id}/", {"status": "shipped"}, format="json"
    ).json()
    assert body["status"] == "shipped"
    assert len(body["items"]) == 1


def test_order_put_replaces_items_and_total(writer_client, order_parts):
    customer, socks, shoes = order_parts
    order_id = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": socks.pk, "quantity": 2}],
        },
        format="json",
    ).json()["id"]
    body = writer_client.put(
        f"/api/store/orders/{order_id}/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": shoes.pk, "quantity": 3}],
        },
        format="json",
    ).json()
    assert body["total_amount"] == "30.00"
    assert OrderItem.objects.filter(order_id=order_id).count() == 1


def test_order_delete_removes_items(writer_client, order_parts):
    customer, socks, _shoes = order_parts
    order_id = writer_client.post(
        "/api/store/orders/",
        {
            "customer_id": customer.pk,
            "items": [{"product_id": socks.pk, "quantity": 2}],
        },
        format="json",
    ).json()["id"]
    assert writer_client.delete(f"/api/store/orders/{order_id}/").status_code == 204
    assert OrderItem.objects.count() == 0


def test_order_filters(reader_client, make_customer):
    ada, bob = make_customer(), make_customer()
    Order.objects.create(customer=ada, total_amount=Decimal("10"), status="shipped")
    Order.objects.create(customer=ada, total_amount=Decimal("99"), status="pending")
    Order.objects.create(customer=bob, total_amount=Decimal("10"), status="shipped")
    body = reader_client.get(
        f"/api/store/orders/?customer_id={ada.pk}&status=shipped&max_total=50"
    ).json()
    assert body["count"] == 1


def test_order_list_query_count_is_flat(
    reader_client, make_customer, make_product, django_assert_max_num_queries
):
    customer, product = make_customer(), make_product()
    for _ in range(20):
        order = Order.objects.create(customer=customer, total_amount=Decimal("1"))
        OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=1)
    # Count, page and prefetched items: no query per order.
    with django_assert_max_num_queries(6):
        reader_client.get("/api/store/orders/")


# Bad query parameters on every list.


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/store/products/?categroy_id=1", "categroy_id"),
        ("/api/store/orders/?status=lost", "status"),
        ("/api/store/orders/?created_after=yesterday", "created_after"),
        ("/api/store/orders/?customer_id=1.5", "customer_id"),
        ("/api/store/orders/?customer_id=99999999999999999999", "customer_id"),
        ("/api/store/products/?min_price=1e400", "min_price"),
        ("/api/store/products/?ordering=colour", "ordering"),
        ("/api/store/orders/?search=x", "search"),
        ("/api/store/customers/?limit=10001", "limit"),
        ("/api/store/customers/?limit=0", "limit"),
        ("/api/store/customers/?offset=-1", "offset"),
        ("/api/store/customers/?offset=9223372036854775808", "offset"),
        ("/api/store/customers/?skip=abc", "skip"),
    ],
)
def test_bad_query_parameter_is_400(reader_client, url, field):
    response = reader_client.get(url)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("raw", ["0", "-1", "x", "10001"])
def test_bad_limit_message_gives_range(reader_client, raw):
    response = reader_client.get(f"/api/store/customers/?limit={raw}")

    assert response.status_code == 400
    assert response.json()["limit"] == [
        f"Invalid limit '{raw}': use a whole number from 1 to 10000."
    ]


def test_unknown_parameter_error_lists_allowed(reader_client):
    message = reader_client.get("/api/store/orders/?stauts=x").json()["stauts"][0]
    assert "status" in message


def test_last_valid_offset_returns_empty_page(reader_client, make_category):
    make_category()
    response = reader_client.get("/api/store/categories/?offset=9223372036854775807")
    assert response.json()["results"] == []


@pytest.mark.parametrize("pk", ["99999999999999999999999", "999"])
def test_missing_detail_is_404(reader_client, pk):
    assert reader_client.get(f"/api/store/orders/{pk}/").status_code == 404


def test_malformed_json_is_400(writer_client):
    response = writer_client.post(
        "/api/store/categories/", "{bad json", content_type="application/json"
    )
    assert response.status_code == 400


def test_customer_delete_keeps_their_events(writer_client, make_customer):
    from activities.models import UserActivity

    customer = make_customer()
    event = UserActivity.objects.create(
        customer=customer, session_id="s1", action_type="login"
    )
    response = writer_client.delete(f"/api/store/customers/{customer.pk}/")
    assert response.status_code == 204
    event.refresh_from_db()
    assert event.customer_id is None
