"""Tables kept as data (permission groups, API signatures, SDK prefixes), loaded once per process."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def load(name: str) -> Any:
    """Parse ``permaudit/data/<name>.json``; cached because the files never change at run time."""
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def permission_categories() -> dict[str, str]:
    """Permission name -> data category (``contacts``, ``sms``, ...)."""
    return {perm: group["id"] for group in load("permissions")["categories"] for perm in group["permissions"]}


@functools.cache
def category_names() -> dict[str, dict[str, str]]:
    """Data category -> its name per language (``{"en": "call log", "zh": "通话记录"}``)."""
    return {group["id"]: group.get("name", {}) for group in load("permissions")["categories"]}


@functools.cache
def category_order() -> tuple[str, ...]:
    """Categories in report order: contacts first."""
    return tuple(group["id"] for group in load("permissions")["categories"])


def category_rank(category: str) -> int:
    """Sort key for a data category: its place in report order, unknown ones last."""
    order = category_order()
    return order.index(category) if category in order else len(order)
