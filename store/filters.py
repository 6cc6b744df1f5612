"""Filters for the store API lists."""

from django.db.models import Q
from django_filters import rest_framework as filters

from anomalens_site.filters import IdFilter
from store.models import Category, Customer, Order, Product, Source


class MoneyFilter(filters.NumberFilter):
    """Filter on an amount with at most 12 integer digits and 2 decimal places."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)


class CategoryFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    source = filters.ChoiceFilter(choices=Source.choices)

    class Meta:
        model = Category
        fields = ["name", "source"]


class ProductFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    category_id = IdFilter(field_name="category_id")
    min_price = MoneyFilter(field_name="price", lookup_expr="gte")
    max_price = MoneyFilter(field_name="price", lookup_expr="lte")
    external_id = filters.CharFilter()
    source = filters.ChoiceFilter(choices=Source.choices)

    class Meta:
        model = Product
        fields = [
            "name",
            "category_id",
            "min_price",
            "max_price",
            "external_id",
            "source",
        ]


class CustomerFilter(filters.FilterSet):
    email = filters.CharFilter(lookup_expr="iexact")
    name = filters.CharFilter(method="filter_name")
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte"
    )
    external_id = filters.CharFilter()
    source = filters.ChoiceFilter(choices=Source.choices)

    class Meta:
        model = Customer
        fields = [
            "email",
            "name",
            "created_after",
            "created_before",
            "external_id",
            "source",
        ]

    def filter_name(self, queryset, name, value):
        return queryset.filter(
            Q(first_name__icontains=value) | Q(last_name__icontains=value)
        )


class OrderFilter(filters.FilterSet):
    customer_id = IdFilter(field_name="customer_id")
    status = filters.ChoiceFilter(choices=Order.Status.choices)
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lte"
    )
    min_total = MoneyFilter(field_name="total_amount", lookup_expr="gte")
    max_total = MoneyFilter(field_name="total_amount", lookup_expr="lte")
    external_id = filters.CharFilter()
    source = filters.ChoiceFilter(choices=Source.choices)

    class Meta:
        model = Order
        fields = [
            "customer_id",
            "status",
            "created_after",
            "created_before",
            "min_total",
            "max_total",
            "external_id",
            "source",
        ]
