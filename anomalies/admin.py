"""Admin pages of detector settings, trained models, runs and findings."""

from django.contrib import admin, messages

from . import storage
from .models import DetectorSettings, Finding, Run, TrainedModel


@admin.register(DetectorSettings)
class DetectorSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "limit",
        "z_threshold",
        "zscore_robust",
        "iforest_contamination",
        "dbscan_eps",
        "dbscan_min_samples",
        "updated_at",
    ]

    def has_add_permission(self, request):
        # A single row holds the settings; DetectorSettings.load creates it.
        return not DetectorSettings.objects.exists()


@admin.register(TrainedModel)
class TrainedModelAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "detector",
        "entity_type",
        "is_active",
        "training_rows",
        "sklearn_version",
        "created_at",
    ]
    list_filter = ["detector", "entity_type", "is_active", "sklearn_version"]
    search_fields = ["detector", "file_sha256"]
    readonly_fields = [
        field.name
        for field in TrainedModel._meta.fields
        if field.name not in ("is_active",)
    ]
    actions = ["activate_selected"]

    @admin.action(description="Make the selected version active")
    def activate_selected(self, request, queryset):
        for record in queryset:
            try:
                storage.check_model(record)
            except storage.ModelLoadError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            storage.activate_model(record)
            self.message_user(request, f"{record} is now active.")

    def save_model(self, request, obj, form, change):
        if "is_active" in form.changed_data and obj.is_active:
            storage.activate_model(obj)
        else:
            super().save_model(request, obj, form, change)

    def has_add_permission(self, request):
        # Only training writes model files; see the module docstring of storage.
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "detector",
        "entity_type",
        "status",
        "progress",
        "rows_processed",
        "anomalies_found",
        "created_at",
        "finished_at",
    ]
    list_filter = ["kind", "status", "detector", "entity_type"]
    search_fields = ["detector", "error", "task_id"]
    readonly_fields = [field.name for field in Run._meta.fields]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "detector",
        "entity_type",
        "entity_id",
        "entity_time",
        "score",
        "severity",
        "review_status",
        "run",
    ]
    list_filter = ["detector", "entity_type", "severity", "review_status"]
    search_fields = ["=entity_id", "detector"]
    readonly_fields = [
        field.name
        for field in Finding._meta.fields
        if field.name not in ("review_status",)
    ]
    list_select_related = ["run"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False
