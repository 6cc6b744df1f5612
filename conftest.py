"""Fixtures shared by every app's tests: users of each access level and API clients."""

import logging
import os
import uuid

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Hash test passwords with MD5: PBKDF2 would spend most of the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    """Give each test its own cache key prefix, so no counter leaks between tests.

    Throttle and login-failure counters live in the cache, which is shared by
    every xdist worker when it is Redis. A fresh prefix isolates a test without
    clearing the cache, since clearing Redis would also clear the task queue.
    """
    caches = {alias: dict(config) for alias, config in settings.CACHES.items()}
    for config in caches.values():
        config["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture(autouse=True, scope="session")
def isolated_task_queue(worker_id):
    """Give this test process its own task queue, and delete the queue at the end.

    django-q2 names its queue after the cluster, so with the Redis broker every
    xdist worker would share one list, and a worker started by one test would
    run the tasks that other tests queued. ``anomalies/tests/qcluster.py``
    passes the name to its worker through ``ANOMALENS_TASK_QUEUE``.
    """
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    original = Conf.CLUSTER_NAME
    Conf.CLUSTER_NAME = f"{original}-test-{worker_id}-{os.getpid()}"
    yield Conf.CLUSTER_NAME
    # The ORM broker's queue goes with the test database; Redis keeps its lists.
    if not Conf.ORM:
        try:
            get_broker().delete_queue()
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the result
            logging.getLogger(__name__).warning(
                "Failed to delete the test task queue %s: %s", Conf.CLUSTER_NAME, exc
            )
    Conf.CLUSTER_NAME = original


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def reader_user(django_user_model):
    """A logged-in user with no model permissions: may read, may not write."""
    return django_user_model.objects.create_user(
        username="reader", password="reader-pass-123"
    )


@pytest.fixture
def writer_user(django_user_model):
    """A non-staff user allowed to add, change and delete store data and activities."""
    user = django_user_model.objects.create_user(
        username="writer", password="writer-pass-123"
    )
    codenames = [
        f"{action}_{model}"
        for action in ("add", "change", "delete", "view")
        for model in (
            "category",
            "product",
            "customer",
            "order",
            "orderitem",
            "useractivity",
        )
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def reader_client(reader_user):
    client = APIClient()
    client.force_authenticate(reader_user)
    return client


@pytest.fixture
def writer_client(writer_user):
    client = APIClient()
    client.force_authenticate(writer_user)
    return client


@pytest.fixture
def token_client(writer_user):
    """An API client that authenticates with the writer's token, as a program would."""
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=writer_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def make_category(db):
    from store.models import Category

    def make(name="Shoes", **fields):
        return Category.objects.create(name=name, **fields)

    return make


@pytest.fixture
def make_product(db):
    from decimal import Decimal

    from store.models import Product

    def make(name="Runner", price="19.99", **fields):
        return Product.objects.create(name=name, price=Decimal(price), **fields)

    return make


@pytest.fixture
def make_customer(db):
    from store.models import Customer

    counter = iter(range(1, 1_000_000))

    def make(email=None, **fields):
        email = email or f"customer{next(counter)}@example.com"
        return Customer.objects.create(email=email, **fields)

    return make
