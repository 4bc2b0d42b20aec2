"""Whose code a class is: the app's own, or a known third-party SDK.

A read of the contact list inside a risk-control or KYC SDK is still the app's doing, but
the report should say which vendor's code does it. Package prefixes and their SDKs are
data (``data/sdk_prefixes.json``), each with the public source that documents it.
"""

from __future__ import annotations

import functools
from typing import Any

from permaudit.data import load
from permaudit.model import Attribution

FIRST_PARTY = Attribution("first-party")


def attribute(class_name: str) -> Attribution:
    """The SDK with the longest prefix that owns ``class_name`` (``Lcom/x/Y;`` or ``com.x.Y``), else first-party.

    Prefixes match whole package segments: ``com.facebook`` owns ``com.facebook.ads.X``
    but not ``com.facebookx.Y``.
    """
    table = _table()
    parts = _dotted(class_name).split(".")
    for end in range(len(parts), 0, -1):
        entry = table.get(".".join(parts[:end]))
        if entry is not None:
            return Attribution("third-party", entry["sdk"], entry["prefix"], entry["category"], entry["source"])
    return FIRST_PARTY


def _dotted(class_name: str) -> str:
    name = class_name.lstrip("[")
    if name.startswith("L") and name.endswith(";"):
        name = name[1:-1].replace("/", ".")
    return name


@functools.cache
def _table() -> dict[str, dict[str, Any]]:
    """Prefix -> entry, built once: a class is attributed per reported site."""
    return {entry["prefix"]: entry for entry in load("sdk_prefixes")["sdks"]}
