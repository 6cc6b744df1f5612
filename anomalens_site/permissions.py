"""Access rules shared by every API endpoint.

Reading needs a logged-in user or a token. Writing needs the Django model
permission for the change (add, change, delete). Anything that trains or runs
detectors or generates data needs a staff account.
"""

from rest_framework import permissions


class ReadAuthenticatedWriteWithModelPermission(permissions.DjangoModelPermissions):
    """Let any authenticated user read; require model permissions to write.

    Views without a queryset (custom actions) fall back to staff-only writes.
    """

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if getattr(view, "queryset", None) is None and not hasattr(
            view, "get_queryset"
        ):
            return bool(user.is_staff)
        return super().has_permission(request, view)


class IsStaffOrReadOnly(permissions.BasePermission):
    """Let authenticated users read; only staff may write."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(user.is_staff)


class IsStaff(permissions.BasePermission):
    """Only staff accounts, for every method."""

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
