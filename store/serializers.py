"""Serializers for the catalogue, customers and orders."""

from decimal import Decimal

from django.db import transaction
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from anomalens_site.filters import MAX_DATABASE_ID
from anomalens_site.serializers import StrictFieldsMixin
from store.models import Category, Customer, Order, OrderItem, Product, Source

# Largest quantity one order line accepts; it keeps a line total within the
# order total's 12 integer digits for any product price below 1,000,000.
MAX_ITEM_QUANTITY = 1_000_000
# Largest order total the ``total_amount`` column (14 digits, 2 decimal) stores.
MAX_ORDER_TOTAL = Decimal("999999999999.99")
# Most lines one order may have.
MAX_ORDER_ITEMS = 1_000


class CategorySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "description", "source"]
        read_only_fields = ["source"]


class ProductSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    category_id = serializers.PrimaryKeyRelatedField(
        source="category",
        queryset=Category.objects.all(),
        allow_null=True,
        required=False,
        help_text="Id of the product's category; null for none.",
    )
    # allow_null, not default=None: DRF leaves a field with a default out of
    # partial-update responses, and the schema then misses "nullable".
    category_name = serializers.CharField(
        source="category.name", read_only=True, allow_null=True
    )

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "description",
            "price",
            "category_id",
            "category_name",
            "external_id",
            "source",
        ]
        read_only_fields = ["source"]


class CustomerSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "created_at",
            "external_id",
            "source",
        ]
        read_only_fields = ["created_at", "source"]


class OrderItemSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """One order line: the client sends product and quantity, the price is looked up."""

    product_id = serializers.IntegerField(min_value=1, max_value=MAX_DATABASE_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_ITEM_QUANTITY)
    line_total = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True
    )

    class Meta:
        model = OrderItem
        fields = ["id", "product_id", "quantity", "unit_price", "line_total"]
        read_only_fields = ["unit_price"]


class OrderSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """An order with its items; unit prices and the total come from the products.

    Creating or replacing the items reads every referenced product in one
    query and writes the order and its items in one transaction, so a missing
    product or a total out of range stores nothing.
    """

    customer_id = serializers.PrimaryKeyRelatedField(
        source="customer", queryset=Customer.objects.all()
    )
    items = OrderItemSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "status",
            "created_at",
            "total_amount",
            "items",
            "external_id",
            "source",
        ]
        read_only_fields = ["created_at", "total_amount", "source"]

    def validate_items(self, items):
        if not items:
            raise ValidationError("An order needs at least one item.")
        if len(items) > MAX_ORDER_ITEMS:
            raise ValidationError(
                f"Too many items: {len(items)}. An order takes at most "
                f"{MAX_ORDER_ITEMS}."
            )
        product_ids = {item["product_id"] for item in items}
        prices = dict(
            Product.objects.filter(pk__in=product_ids).values_list("pk", "price")
        )
        errors = {}
        for index, item in enumerate(items):
            if item["product_id"] not in prices:
                errors[index] = {
                    "product_id": [
                        f"Product {item['product_id']} not found. "
                        "Use the id of an existing product (GET /api/store/products/)."
                    ]
                }
        if errors:
            raise ValidationError(
                [errors.get(index, {}) for index in range(len(items))]
            )
        for item in items:
            item["unit_price"] = prices[item["product_id"]]
        total = sum(
            (item["unit_price"] * item["quantity"] for item in items), Decimal("0")
        )
        if total > MAX_ORDER_TOTAL:
            raise ValidationError(
                f"Order total {total} exceeds the maximum {MAX_ORDER_TOTAL}. "
                "Lower the quantities."
            )
        return items

    @transaction.atomic
    def create(self, validated_data):
        items = validated_data.pop("items")
        validated_data.setdefault("source", Source.API)
        order = Order.objects.create(total_amount=_total(items), **validated_data)
        _create_items(order, items)
        return order

    @transaction.atomic
    def update(self, instance, validated_data):
        items = validated_data.pop("items", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        if items is not None:
            instance.items.all().delete()
            _create_items(instance, items)
            instance.total_amount = _total(items)
        instance.save()
        return instance


def _total(items):
    return sum((item["unit_price"] * item["quantity"] for item in items), Decimal("0"))


def _create_items(order, items):
    OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            product_id=item["product_id"],
            quantity=item["quantity"],
            unit_price=item["unit_price"],
        )
        for item in items
    )
