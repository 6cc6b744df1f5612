"""Template filters and tags for the AnomaLens pages: numbers, metrics and links."""

import json

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import formats
from django.utils.http import urlencode

from anomalies.describe import format_count, format_money

register = template.Library()


@register.filter
def count(value):
    """Format a whole number with thousands separators, or nothing for None."""
    if value is None or value == "":
        return ""
    return format_count(value)


@register.filter
def money(value):
    """Format an amount with two decimals and thousands separators."""
    if value is None or value == "":
        return ""
    return format_money(value)


@register.filter
def metric(value, digits=3):
    """Format a 0-1 metric with a fixed number of decimals, or an en dash when missing."""
    if value is None or value == "":
        return "–"
    try:
        digits = int(digits)
        # number_format cuts surplus decimals off, so round first.
        return formats.number_format(round(float(value), digits), digits, use_l10n=True)
    except (TypeError, ValueError):
        return "–"


@register.filter
def number(value, digits=2):
    """Format a number with grouping and ``digits`` decimals, and return other values as they are."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return format_count(value)
    if isinstance(value, float):
        digits = int(digits)
        return formats.number_format(
            round(value, digits), digits, use_l10n=True, force_grouping=True
        )
    return value


@register.filter
def percent(value):
    """Format a fraction from 0 to 1 as a whole percentage."""
    if value is None:
        return "–"
    return f"{round(float(value) * 100)} %"


@register.filter
def as_json(value):
    """Format a JSON-like value compactly, for parameter lists."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag
def admin_change_url(app_label, model_name, pk):
    """Return the admin change page of a row, or an empty string when the model has none."""
    if pk is None:
        return ""
    try:
        return reverse(f"admin:{app_label}_{model_name}_change", args=[pk])
    except NoReverseMatch:
        return ""


@register.simple_tag
def findings_for_ip(ip):
    """Return the findings list filtered to one IP address."""
    return f"{reverse('anomalies:finding-list')}?{urlencode({'ip': ip})}"
