"""REST API viewsets for the catalogue, customers and orders."""

from django.db.models import Prefetch
from rest_framework import filters, viewsets

from anomalens_site.filters import StrictDjangoFilterBackend
from store.filters import CategoryFilter, CustomerFilter, OrderFilter, ProductFilter
from store.models import Category, Customer, Order, OrderItem, Product, Source
from store.serializers import (
    CategorySerializer,
    CustomerSerializer,
    OrderSerializer,
    ProductSerializer,
)

FILTER_BACKENDS = [
    StrictDjangoFilterBackend,
    filters.SearchFilter,
    filters.OrderingFilter,
]


class SourcedModelViewSet(viewsets.ModelViewSet):
    """Model viewset whose created rows record that they came from the API."""

    filter_backends = FILTER_BACKENDS
    lookup_value_regex = r"[0-9]+"

    def perform_create(self, serializer):
        serializer.save(source=Source.API)


class CategoryViewSet(SourcedModelViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer
    filterset_class = CategoryFilter
    search_fields = ["name", "description"]
    ordering_fields = ["id", "name"]


class ProductViewSet(SourcedModelViewSet):
    queryset = Product.objects.select_related("category")
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    search_fields = ["name", "description", "external_id"]
    ordering_fields = ["id", "name", "price"]


class CustomerViewSet(SourcedModelViewSet):
    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    search_fields = ["email", "first_name", "last_name"]
    ordering_fields = ["id", "email", "created_at"]


class OrderViewSet(SourcedModelViewSet):
    queryset = Order.objects.prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.order_by("id"))
    )
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["id", "created_at", "total_amount", "status"]
