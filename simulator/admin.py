from django.contrib import admin

from simulator.models import AnomalyLabel, SimulationRun


@admin.register(SimulationRun)
class SimulationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "progress", "batch", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in SimulationRun._meta.fields]

    def has_add_permission(self, request):
        # Runs come from the simulator; an add form of read-only fields would
        # save an empty run.
        return False


@admin.register(AnomalyLabel)
class AnomalyLabelAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "entity_type", "entity_id", "incident_id", "batch"]
    list_filter = ["kind", "entity_type"]
    search_fields = ["=incident_id", "=entity_id"]
    readonly_fields = [field.name for field in AnomalyLabel._meta.fields]

    def has_add_permission(self, request):
        # Labels come from the simulator; an add form of read-only fields would
        # try to save a label without its entity and fail with a server error.
        return False
