"""Check every route and method of the site against the access rules.

The routes come from the URL configuration itself, so a new page or endpoint
is tested as soon as it exists, and fails until it has a row in RULES:

- reading needs a login (LOGIN),
- writing store data and activities needs the model permission (MODEL),
- everything that changes detectors or generates data needs staff (STAFF),
- the admin needs staff, and the login and password-reset pages are public.

HEAD is left out because Django and DRF handle it with the GET handler, after the
same checks. Each route is requested by four users: anonymous, a logged-in reader with no
permissions, a writer with the store and activity model permissions, and a
staff superuser. Safe methods (GET, HEAD, OPTIONS) follow the route's read
rule, the others its write rule.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django_q.models import OrmQ, Schedule, Task
from rest_framework.authtoken.models import Token

from activities.models import UserActivity
from anomalens_site.tests.routes import SAFE_METHODS, all_routes
from anomalies.models import DetectorSettings, Finding, Run, TrainedModel
from simulator.models import AnomalyLabel, SimulationRun
from store.models import Category, Customer, DataBatch, Order, OrderItem, Product

PUBLIC = "public"
LOGIN = "login"
MODEL = "model permission"
STAFF = "staff"
ROLES = ("anonymous", "reader", "writer", "staff")
ALLOWED_ROLES = {
    PUBLIC: set(ROLES),
    LOGIN: {"reader", "writer", "staff"},
    MODEL: {"writer", "staff"},
    STAFF: {"staff"},
}

# Route (as the URL configuration spells it) -> (read rule, write rule, the
# object whose id fills the route's parameters). A rule of None means the
# route handles no method of that kind. Routes under admin/ follow ADMIN_RULE.
RULES = {
    # Django's own login, logout and password pages.
    "accounts/login/": (PUBLIC, PUBLIC, None),
    "accounts/logout/": (PUBLIC, PUBLIC, None),
    "accounts/password_change/": (LOGIN, LOGIN, None),
    "accounts/password_change/done/": (LOGIN, None, None),
    "accounts/password_reset/": (PUBLIC, PUBLIC, None),
    "accounts/password_reset/done/": (PUBLIC, None, None),
    "accounts/reset/<uidb64>/<token>/": (PUBLIC, PUBLIC, None),
    "accounts/reset/done/": (PUBLIC, None, None),
    "admin/login/": (PUBLIC, PUBLIC, None),
    # Logging out when not logged in as staff only redirects to the admin index.
    "admin/logout/": (PUBLIC, PUBLIC, None),
    # API documentation and the browsable API's login.
    "api/schema/": (LOGIN, None, None),
    "api/docs/": (LOGIN, None, None),
    "api/auth/login/": (PUBLIC, PUBLIC, None),
    "api/auth/logout/": (PUBLIC, PUBLIC, None),
    # Store data: read with a login, write with the model permission.
    "api/store/": (LOGIN, None, None),
    "api/store/^categories/$": (LOGIN, MODEL, None),
    "api/store/^categories/(?P<pk>[0-9]+)/$": (LOGIN, MODEL, "category"),
    "api/store/^products/$": (LOGIN, MODEL, None),
    "api/store/^products/(?P<pk>[0-9]+)/$": (LOGIN, MODEL, "product"),
    "api/store/^customers/$": (LOGIN, MODEL, None),
    "api/store/^customers/(?P<pk>[0-9]+)/$": (LOGIN, MODEL, "customer"),
    "api/store/^orders/$": (LOGIN, MODEL, None),
    "api/store/^orders/(?P<pk>[0-9]+)/$": (LOGIN, MODEL, "order"),
    # Activities: an append-only log.
    "api/activities/^$": (LOGIN, MODEL, None),
    "api/activities/^(?P<pk>[0-9]+)/$": (LOGIN, None, "activity"),
    "api/activities/^(?P<pk>[0-9]+)/context/session_history/$": (
        LOGIN,
        None,
        "activity",
    ),
    "api/activities/^(?P<pk>[0-9]+)/context/session_history$": (
        LOGIN,
        None,
        "activity",
    ),
    # Generating data and running detectors: staff only.
    "api/simulator/generate": (STAFF, STAFF, None),
    "api/simulator/generate/": (STAFF, STAFF, None),
    "api/simulator/runs/": (STAFF, None, None),
    "api/simulator/runs/<int:pk>/": (STAFF, None, "simulation_run"),
    "api/anomalies/train": (STAFF, STAFF, None),
    "api/anomalies/detect": (STAFF, STAFF, None),
    "api/settings/": (LOGIN, STAFF, None),
    # Findings are reviewed by staff or holders of anomalies.change_finding,
    # which the writer does not have.
    "api/^anomalies/$": (LOGIN, None, None),
    "api/^anomalies/(?P<pk>[^/.]+)/$": (LOGIN, STAFF, "finding"),
    "api/^runs/$": (LOGIN, None, None),
    "api/^runs/(?P<pk>[^/.]+)/$": (LOGIN, None, "run"),
    "api/^models/$": (LOGIN, None, None),
    "api/^models/(?P<pk>[^/.]+)/$": (LOGIN, None, "trained_model"),
    # OPTIONS describes the action to any logged-in user; POST needs staff.
    "api/^models/(?P<pk>[^/.]+)/activate/$": (LOGIN, STAFF, "trained_model"),
    # HTML pages.
    "": (LOGIN, None, None),
    "findings/": (LOGIN, None, None),
    "findings/<int:pk>/": (LOGIN, None, "finding"),
    "findings/<int:pk>/review/": (None, STAFF, "finding"),
    "runs/": (LOGIN, None, None),
    "runs/new/": (LOGIN, STAFF, None),
    "runs/<int:pk>/": (LOGIN, None, "run"),
    "evaluation/": (LOGIN, None, None),
    "features/": (LOGIN, None, None),
    # NOTE: a POST carrying "time_zone" only sets the session's own time zone
    # and is open to every logged-in user; this probe sends no such field.
    "settings/": (LOGIN, STAFF, None),
    "simulator/": (STAFF, STAFF, None),
    "simulator/runs/<int:pk>/": (STAFF, None, "simulation_run"),
    "clients/": (LOGIN, None, None),
    # Uploads import data: staff only. A job that does not exist still has to
    # be refused to non-staff before the lookup answers 404.
    "imports/": (STAFF, STAFF, None),
    "imports/jobs/<uuid:job_id>/": (STAFF, None, None),
}
ADMIN_RULE = (STAFF, STAFF)
# A body that no form or serializer accepts, so that an allowed write stops at
# validation instead of generating data or training detectors.
PROBE_BODY = {"permission_probe": "1"}
ROUTES = all_routes()


def rule_for(route):
    if route.rule_key in RULES:
        read, write, _object = RULES[route.rule_key]
        return read, write
    if route.is_admin:
        return ADMIN_RULE
    return None


@pytest.fixture
def world(staff_user, reader_user, writer_user):
    """Create one object of each model that a route can name, and the four clients."""
    batch = DataBatch.objects.create(source="simulator", kind="simulation")
    category = Category.objects.create(name="Shoes")
    product = Product.objects.create(name="Runner", price=Decimal("19.99"))
    customer = Customer.objects.create(email="alice@example.com")
    order = Order.objects.create(customer=customer, total_amount=Decimal("19.99"))
    OrderItem.objects.create(
        order=order, product=product, quantity=1, unit_price=Decimal("19.99")
    )
    activity = UserActivity.objects.create(
        customer=customer, session_id="s1", action_type="view_page"
    )
    run = Run.objects.create(kind="detect", detector="statistical_zscore")
    trained_model = TrainedModel.objects.create(
        detector="statistical_zscore",
        entity_type="activity",
        file="models/statistical_zscore/activity/missing.joblib",
        file_sha256="0" * 64,
        sklearn_version="1.5",
    )
    finding = Finding.objects.create(
        run=run,
        detector="statistical_zscore",
        entity_type="activity",
        entity_id=activity.pk,
        raw_score=4.0,
        score=99.0,
        severity="high",
    )
    simulation_run = SimulationRun.objects.create(requested_by=staff_user)
    AnomalyLabel.objects.create(
        entity_type="activity",
        entity_id=activity.pk,
        kind="brute_force",
        incident_id=1,
        batch=batch,
    )
    DetectorSettings.load()
    Group.objects.create(name="analysts")
    Token.objects.create(user=staff_user)
    Schedule.objects.create(func="math.floor", args="1")
    now = datetime(2025, 1, 6, tzinfo=UTC)
    for success in (True, False):
        Task.objects.create(
            id=f"task{success:d}",
            name=f"task-{success}",
            func="math.floor",
            started=now,
            stopped=now,
            success=success,
        )
    OrmQ.objects.create(key="anomalens", payload="x", lock=None)

    # Server errors come back as 500 responses, so they are reported per route
    # and method instead of stopping the test at the first one.
    clients = {"anonymous": Client(raise_request_exception=False)}
    for role, user in (
        ("reader", reader_user),
        ("writer", writer_user),
        ("staff", staff_user),
    ):
        client = Client(raise_request_exception=False)
        client.force_login(user)
        clients[role] = client
    return {
        "objects": {
            "category": category,
            "product": product,
            "customer": customer,
            "order": order,
            "activity": activity,
            "run": run,
            "trained_model": trained_model,
            "finding": finding,
            "simulation_run": simulation_run,
        },
        "clients": clients,
        "users": {"staff": staff_user},
    }


def route_values(route, world):
    """Return parameter values that make ``route`` name a real object."""
    objects = world["objects"]
    if route.is_admin:
        if route.key.startswith("admin/r/"):
            category = objects["category"]
            content_type = ContentType.objects.get_for_model(Category)
            return {"content_type_id": content_type.pk, "object_id": category.pk}
        values = {"app_label": "store", "url": "no-such-page/"}
        if "object_id" in route.parameters or "id" in route.parameters:
            instance = route.model()._default_manager.order_by("pk").first()
            if instance is None:
                pytest.fail(
                    f"No {route.model().__name__} exists for {route.key}: create one "
                    "in the world fixture of test_permissions_matrix.py."
                )
            values["object_id"] = values["id"] = instance.pk
        return values
    _read, _write, object_name = RULES[route.rule_key]
    values = {
        "format": "json",
        "uidb64": "MQ",
        "token": "invalid-token",
        "job_id": "00000000-0000-4000-8000-000000000000",
    }
    if object_name:
        values["pk"] = objects[object_name].pk
    return values


def denial(route, response):
    """Return how ``response`` refuses the request, or None if it lets it through."""
    if route.is_admin:
        # Inside the admin, a 403 is the admin's own decision, for example on
        # the add page of a read-only model. Only the login redirect means that
        # the site rejected the user.
        location = response.get("Location", "")
        if response.status_code == 302 and location.startswith("/admin/login/"):
            return f"redirect to {location}"
        return None
    if response.status_code in (401, 403):
        return f"{response.status_code}"
    location = response.get("Location", "")
    if response.status_code == 302 and (
        location.startswith("/accounts/login/") or location.startswith("/admin/login/")
    ):
        return f"redirect to {location}"
    return None


def expected_denial(route, role, response):
    """Return why ``response`` is the wrong kind of refusal for ``role``, or None."""
    status = response.status_code
    location = response.get("Location", "")
    if route.is_admin:
        if status != 302 or not location.startswith("/admin/login/"):
            return f"expected a redirect to the admin login, got {status} {location}"
    elif route.is_api and role == "anonymous":
        if status != 401 or not response.get("WWW-Authenticate", "").startswith(
            "Token"
        ):
            return f"expected 401 with a Token challenge, got {status}"
    elif route.is_api:
        if status != 403:
            return f"expected 403, got {status}"
    elif role == "anonymous":
        if status != 302 or not location.startswith("/accounts/login/"):
            return f"expected a redirect to the login page, got {status} {location}"
    elif status != 403:
        return f"expected 403, got {status}"
    return None


def send(client, method, path):
    if method in SAFE_METHODS:
        return getattr(client, method)(path)
    if path.startswith("/api/"):
        return getattr(client, method)(
            path, PROBE_BODY, content_type="application/json"
        )
    if method == "post":
        return client.post(path, PROBE_BODY)
    return getattr(client, method)(path)


def test_every_route_has_a_rule():
    missing = [
        route.key for route in ROUTES if rule_for(route) is None and not route.is_admin
    ]
    assert not missing, (
        "Routes without an access rule: add each to RULES in "
        f"anomalens_site/tests/test_permissions_matrix.py: {missing}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[route.key or "/" for route in ROUTES])
def test_route_follows_access_rules(route, world):
    rule = rule_for(route)
    if rule is None:
        pytest.fail(
            f"Route {route.key!r} has no access rule: add it to RULES in "
            "anomalens_site/tests/test_permissions_matrix.py."
        )
    read, write = rule
    path = route.path(route_values(route, world))
    problems = []
    for method in route.methods():
        if method == "head":
            continue
        level = read if method in SAFE_METHODS else write
        if level is None:
            problems.append(
                f"{method.upper()} is handled but the rule has no "
                f"{'read' if method in SAFE_METHODS else 'write'} level"
            )
            continue
        for role in ROLES:
            response = send(world["clients"][role], method, path)
            refused = denial(route, response)
            if response.status_code >= 500:
                problems.append(f"{role} {method.upper()}: {response.status_code}")
            elif level == PUBLIC:
                # A public page may redirect anywhere, the login page included
                # (logout does), so only server errors count.
                continue
            elif role in ALLOWED_ROLES[level] and refused:
                problems.append(f"{role} {method.upper()} refused ({refused})")
            elif role not in ALLOWED_ROLES[level]:
                wrong = expected_denial(route, role, response)
                if wrong:
                    problems.append(f"{role} {method.upper()} ({level}): {wrong}")
    assert not problems, f"{path}: " + "; ".join(problems)


CSRF_ROUTES = [route for route in ROUTES if set(route.methods()) - set(SAFE_METHODS)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", CSRF_ROUTES, ids=[route.key or "/" for route in CSRF_ROUTES]
)
def test_unsafe_method_without_csrf_token_is_rejected(route, world):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(world["users"]["staff"])
    path = route.path(route_values(route, world))
    statuses = {
        method: send(client, method, path).status_code
        for method in route.methods()
        if method not in SAFE_METHODS
    }
    accepted = {method: code for method, code in statuses.items() if code != 403}
    assert not accepted, f"{path} answered without a CSRF token: {accepted}"
