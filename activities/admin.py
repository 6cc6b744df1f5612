"""Admin pages for user activity events."""

from django.contrib import admin

from activities.models import UserActivity
from store.admin import SourcedAdmin


@admin.register(UserActivity)
class UserActivityAdmin(SourcedAdmin):
    list_display = [
        "id",
        "timestamp",
        "action_type",
        "customer",
        "session_id",
        "ip_address",
        "source",
    ]
    list_filter = ["action_type", "source", "timestamp"]
    list_select_related = ["customer"]
    search_fields = ["=session_id", "=ip_address", "customer__email", "user_agent"]
    raw_id_fields = ["batch", "customer"]
    date_hierarchy = "timestamp"
    # Counting every row of a large event table on each page load is slow.
    show_full_result_count = False
