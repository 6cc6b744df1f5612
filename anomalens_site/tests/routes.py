"""Walk the URL configuration: every route, the methods its view handles, a real path.

Shared by the permission matrix and the CSRF tests, so that a route added to
any urls.py is tested by both without being listed by hand.
"""

import re
from dataclasses import dataclass

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

SAFE_METHODS = ("get", "head", "options")
UNSAFE_METHODS = ("post", "put", "patch", "delete")
# Format-suffix routes (categories.json) that DRF's routers add beside each
# route. They behave exactly as the route without the suffix.
FORMAT_SUFFIX = re.compile(
    r"(\\\.\(\?P<format>\[a-z0-9\]\+\)/\?\$|<drf_format_suffix:format>)$"
)
PARAMETER = re.compile(
    r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)"
)


@dataclass(frozen=True)
class Route:
    """One URL pattern, its view, and the key it has in the rules tables."""

    key: str
    pattern: URLPattern
    view_class: type | None

    @property
    def is_api(self):
        return self.key.startswith("api/")

    @property
    def is_admin(self):
        return self.key.startswith("admin/")

    @property
    def parameters(self):
        return [
            match.group("name") or match.group("group")
            for match in PARAMETER.finditer(self.key)
        ]

    def methods(self):
        """Return the HTTP methods the view handles, in lower case, safe ones first."""
        callback = self.pattern.callback
        actions = getattr(callback, "actions", None)
        if actions is not None:
            allowed = set(self.view_class.http_method_names)
            names = {method for method in actions if method in allowed}
            names |= {"options"}
        elif self.view_class is not None:
            names = {
                method
                for method in self.view_class.http_method_names
                if hasattr(self.view_class, method)
            }
        else:
            # Function views of the admin answer GET and POST.
            names = {"get", "post"}
        if "get" in names:
            names.add("head")
        order = SAFE_METHODS + UNSAFE_METHODS
        return sorted(names & set(order), key=order.index)

    def model(self):
        """Return the model of an admin route such as admin/store/category/..."""
        parts = self.key.split("/")
        return apps.get_model(parts[1], parts[2])

    def path(self, values):
        """Return a concrete path for this route, with ``values`` for its parameters."""
        key = (
            FORMAT_SUFFIX.sub(".json", self.key) if self.has_format_suffix else self.key
        )

        def replace(match):
            name = match.group("name") or match.group("group")
            return str(values[name])

        path = PARAMETER.sub(replace, key)
        path = path.replace("^", "").replace("$", "").replace("\\.", ".")
        return "/" + path

    @property
    def has_format_suffix(self):
        return bool(FORMAT_SUFFIX.search(self.key))

    @property
    def rule_key(self):
        """Return the key of the rule: format-suffix routes share their base route's."""
        match = FORMAT_SUFFIX.search(self.key)
        if not match:
            return self.key
        base = self.key[: match.start()]
        return base if match.group(0).startswith("<") else base + "/$"


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def all_routes():
    """Return every reachable route of the site, skipping patterns shadowed by others."""
    routes, seen = [], set()
    for key, pattern in _walk(get_resolver().url_patterns):
        if key in seen:
            # An earlier pattern with the same route answers every request.
            continue
        seen.add(key)
        callback = pattern.callback
        view_class = getattr(callback, "cls", None) or getattr(
            callback, "view_class", None
        )
        routes.append(Route(key, pattern, view_class))
    return routes
