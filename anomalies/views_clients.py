"""Findings grouped by client address and by order, so an analyst reads a short list.

Thousands of flagged requests usually come from a few addresses. This page
ranks the addresses by their findings and shows, for each, what its traffic
looked like (requests, 4xx share, distinct paths, login-path and automated
user-agent shares, top user agents and paths), and ranks the flagged orders
with their customers. Every figure comes from grouped queries over one page
of addresses at a time.
"""

from django.core.paginator import Paginator
from django.db.models import Count, F, FloatField, Max, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.views.generic import TemplateView

from activities.models import UserActivity
from store.models import EntityType, Order

from .features.activity import AUTOMATED_AGENT
from .features.client import LOGIN_PATH
from .models import Finding
from .views import PageMixin

CLIENTS_PER_PAGE = 25
# User agents and paths listed per address, most frequent first.
TOP_VALUES = 3
ORDERS_SHOWN = 20

SORTS = {
    "findings": [F("findings").desc(), F("max_score").desc(), F("ip").asc()],
    "score": [F("max_score").desc(), F("findings").desc(), F("ip").asc()],
    "events": [F("flagged_events").desc(), F("max_score").desc(), F("ip").asc()],
}


def ranked_clients(sort="findings"):
    """Return findings on activity events grouped by the event's IP address.

    Each row has ``ip``, ``findings``, ``flagged_events`` (distinct events)
    and ``max_score``. Events without an IP address are left out.
    """
    event_ip = UserActivity.objects.filter(pk=OuterRef("entity_id")).values(
        "ip_address"
    )[:1]
    return (
        Finding.objects.filter(entity_type=EntityType.ACTIVITY)
        .annotate(ip=Subquery(event_ip))
        .exclude(ip=None)
        .values("ip")
        .annotate(
            findings=Count("id"),
            flagged_events=Count("entity_id", distinct=True),
            max_score=Max("score"),
        )
        .order_by(*SORTS[sort])
    )


def traffic_by_ip(ips):
    """Return each address's request count and traffic shares, keyed by IP."""
    status = Cast(KT("details__status"), FloatField())
    rows = (
        UserActivity.objects.filter(ip_address__in=ips)
        .annotate(status_code=status, path=KT("details__path"))
        .values("ip_address")
        .annotate(
            requests=Count("id"),
            with_status=Count("id", filter=Q(status_code__isnull=False)),
            client_4xx=Count("id", filter=Q(status_code__gte=400, status_code__lt=500)),
            distinct_paths=Count("path", distinct=True),
            login_paths=Count("id", filter=Q(path__iregex=LOGIN_PATH.pattern)),
            automated=Count(
                "id",
                filter=Q(user_agent__iregex=AUTOMATED_AGENT.pattern) | Q(user_agent=""),
            ),
        )
    )
    traffic = {}
    for row in rows:
        requests = row["requests"] or 1
        traffic[row["ip_address"]] = {
            "requests": row["requests"],
            "status_4xx_share": row["client_4xx"] / (row["with_status"] or 1),
            "has_status": row["with_status"] > 0,
            "distinct_paths": row["distinct_paths"],
            "login_path_share": row["login_paths"] / requests,
            "automated_share": row["automated"] / requests,
        }
    return traffic


def top_values(ips, expression, limit=TOP_VALUES):
    """Return the ``limit`` most frequent values of ``expression`` per address."""
    rows = (
        UserActivity.objects.filter(ip_address__in=ips)
        .annotate(value=expression)
        .exclude(value=None)
        .values("ip_address", "value")
        .annotate(n=Count("id"))
        .order_by("ip_address", "-n", "value")
    )
    top = {}
    for row in rows:
        values = top.setdefault(row["ip_address"], [])
        # Empty text is skipped here because SQLite cannot compare a JSON
        # value with "" in the query.
        if row["value"] != "" and len(values) < limit:
            values.append((row["value"], row["n"]))
    return top


def detectors_by_ip(ips):
    """Return the sorted detector names that flagged each address's events."""
    event_ids = UserActivity.objects.filter(ip_address__in=ips).values("id")
    event_ip = UserActivity.objects.filter(pk=OuterRef("entity_id")).values(
        "ip_address"
    )[:1]
    rows = (
        Finding.objects.filter(entity_type=EntityType.ACTIVITY, entity_id__in=event_ids)
        .annotate(ip=Subquery(event_ip))
        .order_by()
        .values_list("ip", "detector")
        .distinct()
    )
    detectors = {}
    for ip, detector in rows:
        detectors.setdefault(ip, []).append(detector)
    return {ip: sorted(names) for ip, names in detectors.items()}


def ranked_orders(limit=ORDERS_SHOWN):
    """Return the flagged orders with the highest scores, with customer and detectors."""
    rows = list(
        Finding.objects.filter(entity_type=EntityType.ORDER)
        .values("entity_id")
        .annotate(
            max_score=Max("score"),
            findings=Count("id"),
            detectors=Count("detector", distinct=True),
        )
        .order_by("-max_score", "-findings", "entity_id")[:limit]
    )
    ids = [row["entity_id"] for row in rows]
    orders = Order.objects.select_related("customer").in_bulk(ids)
    best = {}
    for finding in (
        Finding.objects.filter(entity_type=EntityType.ORDER, entity_id__in=ids)
        .order_by("entity_id", "-score", "-id")
        .only("id", "entity_id", "detector")
    ):
        best.setdefault(finding.entity_id, finding)
    for row in rows:
        row["order"] = orders.get(row["entity_id"])
        row["top_finding"] = best.get(row["entity_id"])
    return rows


class ClientRankingView(PageMixin, TemplateView):
    """Client addresses ranked by their findings, and the top-scored orders."""

    template_name = "anomalies/clients.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sort = self.request.GET.get("sort", "findings")
        if sort not in SORTS:
            sort = "findings"
        paginator = Paginator(ranked_clients(sort), CLIENTS_PER_PAGE)
        page = paginator.get_page(self.request.GET.get("page"))
        clients = list(page.object_list)
        ips = [row["ip"] for row in clients]
        traffic = traffic_by_ip(ips)
        agents = top_values(ips, F("user_agent"))
        paths = top_values(ips, KT("details__path"))
        detectors = detectors_by_ip(ips)
        for row in clients:
            row["traffic"] = traffic.get(row["ip"], {})
            requests = row["traffic"].get("requests") or 0
            row["flagged_share"] = row["flagged_events"] / requests if requests else 0
            row["agents"] = agents.get(row["ip"], [])
            row["paths"] = paths.get(row["ip"], [])
            row["detectors"] = detectors.get(row["ip"], [])
        context.update(
            clients=clients,
            page_obj=page,
            paginator=paginator,
            sort=sort,
            sorts=list(SORTS),
            query=f"sort={sort}",
            orders=ranked_orders(),
        )
        return context
