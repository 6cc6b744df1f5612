"""Admin pages for the catalogue, customers, orders and data batches."""

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import ProtectedError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from store.batches import delete_batches
from store.models import (
    Category,
    Customer,
    DataBatch,
    Order,
    OrderItem,
    Product,
    Source,
)


class SourcedAdmin(admin.ModelAdmin):
    """Admin for rows that record their source; rows added here are marked "admin"."""

    raw_id_fields = ["batch"]
    readonly_fields = ["source"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.source = Source.ADMIN
        super().save_model(request, obj, form, change)


def batch_row_counts(batch):
    """Return {model verbose name: row count} for every model that points at a batch."""
    counts = {}
    for model in apps.get_models():
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if field.many_to_one and related is DataBatch and field.concrete:
                rows = model._default_manager.filter(**{field.name: batch}).count()
                if rows:
                    counts[str(model._meta.verbose_name_plural)] = rows
    return counts


@admin.register(DataBatch)
class DataBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "source", "label", "created_at", "stats"]
    list_filter = ["source", "kind", "created_at"]
    search_fields = ["label", "kind", "content_sha256"]
    date_hierarchy = "created_at"
    readonly_fields = ["row_counts"]
    actions = ["delete_with_rows"]

    @admin.display(description=_("Rows in this batch"))
    def row_counts(self, obj):
        if obj.pk is None:
            return "-"
        counts = batch_row_counts(obj)
        return ", ".join(f"{name}: {rows:,}" for name, rows in counts.items()) or "-"

    @admin.action(
        description=_("Delete selected batches with all their rows"),
        permissions=["delete"],
    )
    def delete_with_rows(self, request, queryset):
        batches = list(queryset)
        if request.POST.get("confirm") != "yes":
            # First step: show what would go and post back with "confirm".
            return TemplateResponse(
                request,
                "admin/store/databatch/delete_with_rows_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Delete batches with all their rows?"),
                    "opts": self.model._meta,
                    "batches": [(batch, batch_row_counts(batch)) for batch in batches],
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        try:
            deleted, per_model = delete_batches(queryset)
        except ProtectedError as exc:
            self.message_user(
                request,
                _(
                    "Nothing was deleted: %(count)d rows outside these batches "
                    "still refer to their rows (for example order items of other "
                    "batches protecting products). Delete those batches first."
                )
                % {"count": len(exc.protected_objects)},
                messages.ERROR,
            )
            return
        summary = ", ".join(f"{label}: {rows:,}" for label, rows in per_model.items())
        self.message_user(
            request,
            ngettext(
                "Deleted %(batches)d batch and %(rows)s rows (%(summary)s).",
                "Deleted %(batches)d batches and %(rows)s rows (%(summary)s).",
                len(batches),
            )
            % {"batches": len(batches), "rows": f"{deleted:,}", "summary": summary},
            messages.SUCCESS,
        )


@admin.register(Category)
class CategoryAdmin(SourcedAdmin):
    list_display = ["id", "name", "source", "batch"]
    list_filter = ["source"]
    search_fields = ["name", "description"]


@admin.register(Product)
class ProductAdmin(SourcedAdmin):
    list_display = ["id", "name", "price", "category", "external_id", "source"]
    list_filter = ["source", "category"]
    list_select_related = ["category"]
    search_fields = ["name", "description", "external_id"]
    raw_id_fields = ["batch", "category"]


@admin.register(Customer)
class CustomerAdmin(SourcedAdmin):
    list_display = ["id", "email", "first_name", "last_name", "created_at", "source"]
    list_filter = ["source", "created_at"]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    date_hierarchy = "created_at"


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    raw_id_fields = ["product"]
    extra = 0


@admin.register(Order)
class OrderAdmin(SourcedAdmin):
    list_display = ["id", "customer", "status", "total_amount", "created_at", "source"]
    list_filter = ["status", "source", "created_at"]
    list_select_related = ["customer"]
    search_fields = ["=id", "customer__email", "external_id"]
    raw_id_fields = ["batch", "customer"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline]


@admin.register(OrderItem)
class OrderItemAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "product", "quantity", "unit_price"]
    list_filter = ["order__status", "order__source"]
    list_select_related = ["order", "product"]
    search_fields = ["=order__id", "product__name"]
    raw_id_fields = ["order", "product"]
