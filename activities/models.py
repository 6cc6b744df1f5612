"""User activity events: what visitors and customers did on the shop, and from where."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from store.models import Customer, SourcedModel


class ActionType(models.TextChoices):
    VIEW_PAGE = "view_page", _("View page")
    VIEW_PRODUCT = "view_product", _("View product")
    SEARCH = "search", _("Search")
    ADD_TO_CART = "add_to_cart", _("Add to cart")
    REMOVE_FROM_CART = "remove_from_cart", _("Remove from cart")
    LOGIN = "login", _("Login")
    FAILED_LOGIN = "failed_login", _("Failed login")
    LOGOUT = "logout", _("Logout")
    PURCHASE = "purchase", _("Purchase")
    UPDATE_PROFILE = "update_profile", _("Update profile")


class UserActivity(SourcedModel):
    """One event: a page view, a search, a login attempt, a purchase.

    ``details`` holds the action's own fields, for example ``product_id``,
    ``query``, ``quantity``, ``order_total``, ``url`` or ``attempted_email``.
    """

    customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        # Deleting a customer keeps their events, now anonymous, because the
        # detectors and past findings still read them.
        on_delete=models.SET_NULL,
        related_name="activities",
        help_text=_("Empty for anonymous visitors."),
    )
    session_id = models.CharField(max_length=128, blank=True, default="")
    timestamp = models.DateTimeField(default=timezone.now)
    action_type = models.CharField(max_length=32, choices=ActionType.choices)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name = "user activity"
        verbose_name_plural = "user activities"
        indexes = [
            models.Index(fields=["ip_address", "timestamp"]),
            models.Index(fields=["customer", "timestamp"]),
            models.Index(fields=["session_id", "timestamp"]),
            models.Index(fields=["timestamp"]),
            models.Index(fields=["action_type", "timestamp"]),
        ]

    def __str__(self):
        return f"{self.action_type} at {self.timestamp:%Y-%m-%d %H:%M:%S}"
