"""Rules that turn an HTTP request into an activity action type.

A rule set is an ordered list of rules and a default action. The first rule
whose conditions all hold decides a request's action; a request that no rule
matches gets the default. Each rule has an ``action`` and any of:

``methods``
    HTTP methods, upper case, for example ``["POST"]``.
``path``
    A regular expression searched for in the path (``re.search`` semantics,
    so anchor it with ``^`` to match a prefix).
``query``
    A regular expression searched for in the query string; a request without
    a query string never matches a rule that has one.
``statuses``
    Response status codes, as integers or classes such as ``"2xx"``.

The same structure, as JSON, is what ``--rules FILE`` and the
``ANOMALENS_ACCESS_LOG_RULES`` setting point at.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from activities.models import ActionType

# Login forms (Django, WordPress and most frameworks) answer a failed attempt
# with the form again (200) or with 401/403, and a successful one with a
# redirect away from the form.
LOGIN_PATH = r"(?i)(?:^|/)(?:log-?in|sign-?in|wp-login\.php|session)(?:/|\.\w+)?$"
DEFAULT_RULES = {
    "default_action": ActionType.VIEW_PAGE.value,
    "rules": [
        {
            "action": ActionType.LOGIN.value,
            "methods": ["POST"],
            "path": LOGIN_PATH,
            "statuses": [301, 302, 303, 307],
        },
        {
            "action": ActionType.FAILED_LOGIN.value,
            "methods": ["POST"],
            "path": LOGIN_PATH,
            "statuses": [200, 401, 403],
        },
        {
            "action": ActionType.LOGOUT.value,
            "path": r"(?i)(?:^|/)(?:log-?out|sign-?out)(?:/|\.\w+)?$",
        },
        {
            "action": ActionType.SEARCH.value,
            "path": r"(?i)(?:^|/)(?:search|find)(?:/|\.\w+)?$",
            "query": r"(?i)(?:^|&)(?:q|s|query|search|keywords?|term)=[^&]",
        },
        {
            "action": ActionType.ADD_TO_CART.value,
            "path": r"(?i)/(?:cart|basket|bag)/(?:add|items?)(?:/|$)",
            "methods": ["POST", "PUT"],
        },
        {
            "action": ActionType.ADD_TO_CART.value,
            "query": r"(?i)(?:^|&)add-to-cart=[^&]",
        },
        {
            "action": ActionType.REMOVE_FROM_CART.value,
            "path": r"(?i)/(?:cart|basket|bag)/(?:remove|delete)(?:/|$)",
        },
        {
            # A purchase is a confirmed order, so a GET of the checkout page
            # or a rejected POST stays a page view.
            "action": ActionType.PURCHASE.value,
            "methods": ["POST"],
            "path": r"(?i)/(?:checkout|orders?|purchase)(?:/|$)",
            "statuses": ["2xx", 301, 302, 303],
        },
        {
            "action": ActionType.UPDATE_PROFILE.value,
            "methods": ["POST", "PUT", "PATCH"],
            "path": r"(?i)/(?:account|profile|my-account)(?:/|$)",
            "statuses": ["2xx", "3xx"],
        },
        {
            "action": ActionType.VIEW_PRODUCT.value,
            "methods": ["GET", "HEAD"],
            "path": r"(?i)/(?:products?|items?|p|dp|shop)/[^/?]+",
        },
    ],
}
RULE_KEYS = {"action", "methods", "path", "query", "statuses"}
STATUS_CLASS = re.compile(r"^[1-5]xx$")


class RulesError(ValueError):
    """A rules file or object that cannot be used, with the reason and the fix."""


def load_rules(path):
    """Read and validate a JSON rules file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"Cannot read rules file {path}: {exc.strerror}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RulesError(
            f"Invalid JSON in rules file {path}, line {exc.lineno} column "
            f"{exc.colno}: {exc.msg}."
        ) from exc
    return validate_rules(data, origin=str(path))


def validate_rules(data, origin="rules"):
    """Return a validated copy of a rule set, raising RulesError on the first fault."""
    valid_actions = sorted(ActionType.values)
    if not isinstance(data, dict):
        raise RulesError(
            f"{origin}: expected a JSON object with 'rules' and 'default_action', "
            f"got {type(data).__name__}."
        )
    unknown = set(data) - {"rules", "default_action"}
    if unknown:
        raise RulesError(
            f"{origin}: unknown key(s) {sorted(unknown)}; use 'rules' and "
            "'default_action'."
        )
    default_action = data.get("default_action", ActionType.VIEW_PAGE.value)
    if default_action not in valid_actions:
        raise RulesError(
            f"{origin}: invalid default_action {default_action!r}; use one of "
            f"{', '.join(valid_actions)}."
        )
    rules = data.get("rules")
    if not isinstance(rules, list):
        raise RulesError(f"{origin}: 'rules' must be a list of rule objects.")
    return {
        "default_action": default_action,
        "rules": [
            _validate_rule(rule, f"{origin}: rule {index}", valid_actions)
            for index, rule in enumerate(rules)
        ],
    }


def _validate_rule(rule, where, valid_actions):
    if not isinstance(rule, dict):
        raise RulesError(f"{where}: expected an object, got {rule!r}.")
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise RulesError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed keys are "
            f"{', '.join(sorted(RULE_KEYS))}."
        )
    action = rule.get("action")
    if action not in valid_actions:
        raise RulesError(
            f"{where}: invalid action {action!r}; use one of {', '.join(valid_actions)}."
        )
    checked = {"action": action}

    if "methods" in rule:
        methods = rule["methods"]
        if not isinstance(methods, list) or not all(
            isinstance(method, str) and method.isalpha() for method in methods
        ):
            raise RulesError(
                f"{where}: invalid methods {methods!r}; use a list such as "
                '["GET", "POST"].'
            )
        checked["methods"] = [method.upper() for method in methods]

    for key in ("path", "query"):
        if key in rule:
            pattern = rule[key]
            if not isinstance(pattern, str):
                raise RulesError(f"{where}: {key} must be a regular expression string.")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RulesError(
                    f"{where}: invalid {key} regular expression {pattern!r}: {exc}."
                ) from exc
            checked[key] = pattern

    if "statuses" in rule:
        statuses = rule["statuses"]
        if not isinstance(statuses, list) or not all(
            _is_status(status) for status in statuses
        ):
            raise RulesError(
                f"{where}: invalid statuses {statuses!r}; use codes 100-599 and "
                'classes such as "4xx", for example [200, "3xx"].'
            )
        checked["statuses"] = statuses
    return checked


def _is_status(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 100 <= value <= 599
    return isinstance(value, str) and bool(STATUS_CLASS.match(value))


def assign_actions(frame, rules):
    """Return the action type of every request in ``frame`` under ``rules``.

    ``frame`` needs the columns ``method``, ``path``, ``query`` and ``status``.
    Each rule is one vectorised mask over the whole frame; its regular
    expressions run once per distinct path or query string, not once per row.
    """
    actions = np.full(len(frame), rules["default_action"], dtype=object)
    undecided = np.ones(len(frame), dtype=bool)
    method = frame["method"].fillna("")
    status = frame["status"].to_numpy()
    distinct = {}
    for key in ("path", "query"):
        codes, uniques = pd.factorize(frame[key], use_na_sentinel=True)
        distinct[key] = (codes, pd.Series(uniques, dtype=object))

    for rule in rules["rules"]:
        mask = undecided.copy()
        if "methods" in rule:
            mask &= method.isin(rule["methods"]).to_numpy()
        if "statuses" in rule:
            mask &= _status_mask(status, rule["statuses"])
        for key in ("path", "query"):
            if key in rule and mask.any():
                codes, uniques = distinct[key]
                rows = np.flatnonzero(mask)
                row_codes = codes[rows]
                # A missing query (code -1) never matches. A missing path is
                # read as "", so a pattern that matches "" matches it.
                present = np.unique(row_codes[row_codes >= 0])
                found = np.zeros(len(uniques) + 1, dtype=bool)
                found[present] = (
                    uniques.iloc[present]
                    .str.contains(rule[key], regex=True)
                    .to_numpy(dtype=bool)
                )
                if key == "path":
                    found[-1] = bool(re.search(rule[key], ""))
                mask[rows] = found[row_codes]
        actions[mask] = rule["action"]
        undecided &= ~mask
    return pd.Series(actions, index=frame.index)


def _status_mask(status, statuses):
    codes = [value for value in statuses if isinstance(value, int)]
    mask = np.isin(status, codes)
    for value in statuses:
        if isinstance(value, str):
            mask |= status // 100 == int(value[0])
    return mask
