"""Follow values across methods, round by round.

Each candidate gets one forward register pass (``dataflow``). Values kept in fields,
handed to the app's own methods as arguments, or returned by them, make further
methods worth a pass; up to ``ROUNDS`` rounds run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from permaudit.dex import DexError, DexFile
from permaudit.errors import one_line
from permaudit.facts.code.candidates import OpenDex
from permaudit.facts.code.dataflow import MethodAnalyzer, MethodFacts, Value
from permaudit.model import Problem

ROUNDS = 4
T = TypeVar("T")


def analyse(dexes: list[OpenDex], problems: list[Problem]) -> list[tuple[OpenDex, MethodFacts]]:
    """Run the register pass over every candidate; then, round by round, over the methods
    that use a field a tracked value was stored in (or whose unknown value reached a
    permission API), were handed one as an argument, or call a method that returns one."""
    fields: dict[str, Value] = {}
    handed: dict[str, dict[int, Value]] = {}
    returned: dict[str, Value] = {}
    latest: dict[tuple[str, int], tuple[OpenDex, MethodFacts]] = {}
    asked: set[str] = set()
    todo = {dex.name: set(dex.candidates) for dex in dexes}
    for _ in range(ROUNDS):
        new_fields: dict[str, Value] = {}
        new_args: set[str] = set()
        new_returns: dict[str, Value] = {}
        wanted: set[str] = set()
        for dex in dexes:
            analyzer = MethodAnalyzer(dex.file, fields, returned)
            no_seeds: dict[int, dict[int, Value]] = {}
            seeded = _guarded(dex, problems, no_seeds, _callees, dex.file, handed)
            for method_idx in sorted(todo[dex.name]):
                facts = _run(dex, analyzer, method_idx, seeded.get(method_idx), problems)
                if facts is None:
                    continue
                latest[(dex.name, method_idx)] = (dex, facts)
                wanted |= facts.wanted - fields.keys() - asked
                new_fields.update((k, v) for k, v in facts.stores.items() if k not in fields)
                signature = dex.file.method(method_idx).signature
                if facts.returns is not None and signature not in returned:
                    new_returns[signature] = facts.returns
                for callee, args in facts.calls.items():
                    known = handed.setdefault(callee, {})
                    new_args.update(callee for position in args if position not in known)
                    for position, value in args.items():
                        known.setdefault(position, value)
        if not new_fields and not new_args and not new_returns and not wanted:
            break
        fields.update(new_fields)
        returned.update(new_returns)
        asked |= wanted
        for dex in dexes:
            todo[dex.name] = _guarded(dex, problems, set(), _next_round, dex.file, {s: handed[s] for s in new_args}, new_fields.keys() | wanted, new_returns)
    return list(latest.values())


def _run(dex: OpenDex, analyzer: MethodAnalyzer, method_idx: int, args: dict[int, Value] | None, problems: list[Problem]) -> MethodFacts | None:
    """One method's pass; damage or a bug in it is a problem naming the method, and the others still count."""
    try:
        return analyzer.run(method_idx, dex.insns(method_idx), _registers(dex.file, method_idx, args))
    except DexError as exc:
        problems.append(Problem("bad-method", f"{dex.name}: {dex.describe(method_idx)}: not analysed ({one_line(exc)})", dex.name))
    except MemoryError:
        raise  # the caller's limit, not a bug in this method
    except Exception as exc:  # a bug met on one hostile method must not cost the rest of the package
        problems.append(Problem("internal-error", f"{dex.name}: {dex.describe(method_idx)}: not analysed, internal error {type(exc).__name__}: {one_line(exc)} (please report)", dex.name))
    return None


def _next_round(dex: DexFile, handed: dict[str, dict[int, Value]], keys: Iterable[str], returns: dict[str, Value]) -> set[int]:
    """Methods of this dex worth a pass next round: handed a value, using a field of one, or calling a method returning one."""
    return _callees(dex, handed).keys() | _field_users(dex, keys) | _callers(dex, returns)


def _guarded(dex: OpenDex, problems: list[Problem], fallback: T, work: Callable[..., T], *args: Any) -> T:
    """Cross-method look-ups over one dex's tables; damage there stops following values into this dex only."""
    try:
        return work(*args)
    except DexError as exc:
        problems.append(Problem("bad-dex", f"{one_line(exc)}; values not followed further in this dex", dex.name))
        return fallback


def _callers(dex: DexFile, signatures: dict[str, Value]) -> set[int]:
    """Methods of this dex that invoke one of these app methods."""
    targets = sorted(i for i in map(functools.partial(_find, dex), signatures) if i is not None)
    return {r.method_idx for r in dex.refs(methods=targets)} if targets else set()


def _callees(dex: DexFile, handed: dict[str, dict[int, Value]]) -> dict[int, dict[int, Value]]:
    """Methods of this dex, with code, that a caller handed a tracked value to."""
    found = {}
    for signature, args in handed.items():
        method_idx = _find(dex, signature)
        if method_idx is not None and dex.method_code_offset(method_idx) is not None:
            found[method_idx] = args
    return found


def _find(dex: DexFile, signature: str) -> int | None:
    """The method id of ``Lcom/x/A;->name(...)R`` in this dex, if it names it."""
    class_name, _, rest = signature.partition("->")
    return dex.find_method(class_name, rest[: rest.index("(")], rest[rest.index("(") :])


def _registers(dex: DexFile, method_idx: int, args: dict[int, Value] | None) -> dict[int, Value] | None:
    """Argument positions to registers: arguments occupy the last ``ins_size`` registers."""
    info = dex.code_info(method_idx) if args else None
    if info is None or args is None:
        return None
    first = info.registers_size - info.ins_size
    return {first + position: value for position, value in args.items()}


def _field_users(dex: DexFile, keys: Iterable[str]) -> set[int]:
    """Methods that read or write one of these fields (``Lcls;->name:type`` keys)."""
    indices = []
    for key in keys:
        class_name, _, rest = key.partition("->")
        name, _, type_ = rest.partition(":")
        indices += [i for i in dex.find_fields(class_name, name) if dex.field(i).type == type_]
    return {r.method_idx for r in dex.refs(fields=sorted(indices))} if indices else set()


__all__ = ["ROUNDS", "analyse"]
