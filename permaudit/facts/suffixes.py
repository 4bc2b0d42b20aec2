"""Public suffixes and registrable domains, from the list the ``publicsuffixlist`` package ships.

The list is read from the package's folder, never fetched. Its rules are read with one
regular expression instead of the package's parser, which loops over its 10,000 lines in
Python and IDNA-encodes each rule: 24 ms per process without the punycode copies of the
~460 non-ASCII rules and 67 ms with them, against about 3 ms here. The punycode copies
are made, once, only when a name holds an ``xn--`` label (only such a name can meet
them). The matching is the package's reading of the PSL algorithm (an exception rule
first, then a wildcard, then an exact rule, each wildcard implying its root), and
``tests/test_endpoints.py`` checks both agree on the package's rule set and on hosts.
"""

from __future__ import annotations

import functools
import re
from itertools import repeat
from pathlib import Path

_RULE = re.compile(rb"^(?!//)(\S+)", re.MULTILINE)
"""A rule: a line's first word (the list's format: a line is read up to its first white space),
unless the line is a ``//`` comment."""


@functools.cache
def rules(punycode: bool = False) -> tuple[frozenset[str], int]:
    """The rules (lower case) and the most labels any of them has; ``punycode`` adds the
    ASCII (IDNA) spelling of every non-ASCII rule."""
    if punycode:
        plain, most = rules(False)
        encoded = {_encoded(rule) for rule in plain if not rule.isascii()}
        return plain | encoded, most
    from publicsuffixlist import PSLFILE

    words = _RULE.findall(Path(PSLFILE).read_bytes())
    found = frozenset(b"\n".join(words).decode("utf-8", "surrogateescape").lower().split("\n")) if words else frozenset()
    return found, max(map(str.count, found, repeat(".")), default=-1) + 1


def _encoded(rule: str) -> str:
    bang = "!" if rule.startswith("!") else ""
    return bang + rule.lstrip("!").encode("idna").decode("ascii")


def _public_labels(labels: list[str]) -> int:
    """How many trailing labels form the public suffix; 0 when no rule knows the name."""
    known, most = rules(any(label.startswith("xn--") for label in labels))
    count = len(labels)
    for start in range(max(0, count - (most + 1)), count):
        depth = count - start
        name = ".".join(labels[start:])
        if "!" + name in known:
            return depth - 1
        if "*." + name in known:
            return depth + 1 if start > 0 else depth
        if name in known:
            return depth
    return 0


def _labels(host: str) -> list[str] | None:
    labels = host.removesuffix(".").lower().split(".")
    return None if "" in labels else labels


def public_suffix(host: str) -> str | None:
    """``co.uk`` for ``a.b.example.co.uk``; None for a name no rule knows or a malformed one."""
    labels = _labels(host)
    if labels is None:
        return None
    depth = _public_labels(labels)
    return ".".join(labels[-depth:]) if depth else None


def private_suffix(host: str) -> str | None:
    """The registrable domain: ``example.co.uk`` for ``a.b.example.co.uk``; None when there is none."""
    labels = _labels(host)
    if labels is None:
        return None
    depth = _public_labels(labels)
    return ".".join(labels[-(depth + 1):]) if depth and len(labels) > depth else None


__all__ = ["private_suffix", "public_suffix", "rules"]
