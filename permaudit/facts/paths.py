"""Read-to-send paths: from each read site to a send API (``data/sinks.json``), docs/paths.md.

A breadth-first search over methods, shortest first. Each method on the frontier is
decoded once and given one forward register pass that follows the value read (the
cursor, then what is taken from it) through moves, calls (any call with a tainted argument
taints its result and its receiver: ``list.add``, ``StringBuilder.append``,
``JSONObject.put``), arrays and fields. The search moves on only where the value goes:
to an app method it is passed to, back to the callers when it is returned, into a thread
or callback body it is handed to, and to the readers of an app field it is stored in.
It ends at a send API invoked with the value (or, for a stream, written to it).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from permaudit.data import category_rank, load
from permaudit.dex import DexError, DexFile, Insn
from permaudit.model import CodeFacts, CodeLocation, Endpoint
from permaudit.model.paths import (
    Confidence,
    Edge,
    Outcome,
    PathFacts,
    PathStep,
    SendPath,
    Sink,
    SinkKind,
    SitePaths,
)
from permaudit.model.record import record

MAX_DEPTH = 10
"""Edges between methods on one path."""
MAX_NODES = 150
"""Method passes per contacts read site."""
MAX_NODES_OTHER = 8
"""Method passes per read site of another category."""
MAX_DEPTH_OTHER = 2
"""Edges between methods on one path from a read site of another category."""
MAX_TOTAL = 800
"""Method passes per package, all read sites together."""
MAX_PATHS = 3
"""Paths kept per read site (shortest first, distinct sinks)."""
MORE_AFTER_FIRST = 20
"""Method passes spent looking for further paths once one is found."""
MAX_FANOUT = 12
"""Callers, implementations or field readers followed from one method."""

ALL = -1
"""Seed: every parameter (and ``this``) carries the value (thread and callback bodies)."""


@record
class _SinkSpec:
    kind: SinkKind
    role: str
    carries: str


@dataclass
class _Hit:
    offset: int
    api: str
    spec: _SinkSpec
    evidence: str = ""


@dataclass
class _Scan:
    """What one register pass of one method found."""

    sinks: list[_Hit] = field(default_factory=list)
    calls: list[tuple[int, int, frozenset[int]]] = field(default_factory=list)
    """(offset, method id in this dex, tainted argument positions)."""
    dispatch: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    """(offset, candidate app classes, callback names)."""
    returns: int | None = None
    """Offset of a ``return`` of the value."""
    fields: dict[str, int] = field(default_factory=dict)
    """App field signature -> offset of the write of the value."""
    serialised: list[str] = field(default_factory=list)
    stores: list[tuple[int, str]] = field(default_factory=list)
    """(offset, API) of local stores the value reaches (``stores`` of ``data/sinks.json``)."""


@dataclass
class _Node:
    dex: str
    idx: int
    seed: object
    """frozenset of argument positions, ALL, ('result', offset) or ('field',)."""
    entry: int | None
    depth: int
    parent: _Node | None = None
    edge: Edge = Edge.SINK
    """How the value reached this node from the parent."""
    leave: int = 0
    """Offset in the parent where the value left for this node."""
    serialised: tuple[str, ...] = ()


@record
class _Table:
    """``data/sinks.json``, indexed for the look-ups of the search."""

    sinks: dict[tuple[str, str], _SinkSpec]
    serial: frozenset[tuple[str, str]]
    dispatch_exact: dict[tuple[str, str], tuple[str, ...]]
    dispatch_prefixed: list[tuple[str, frozenset[str], tuple[str, ...]]]
    suppliers: dict[str, tuple[str, _SinkSpec]]
    """Overridable method name -> (library class, spec)."""
    stores: frozenset[tuple[str, str]]
    data: dict[str, Any]


@functools.cache
def _sink_table() -> _Table:
    data = load("sinks")
    sinks = {(s["class"], s["method"]): _SinkSpec(SinkKind(s["kind"]), s["role"], s["carries"]) for s in data["sinks"]}
    serial = {(s["class"], m) for s in data["serialisers"] for m in s["methods"]}
    exact: dict[tuple[str, str], tuple[str, ...]] = {}
    prefixed = []
    for d in data["dispatchers"]:
        if "class" in d:
            for m in d["methods"]:
                exact[(d["class"], m)] = tuple(exact.get((d["class"], m), ())) + tuple(d["callbacks"])
        else:
            prefixed.append((d["class_prefix"], frozenset(d["methods"]), tuple(d["callbacks"])))
    suppliers = {m: (s["class"], _SinkSpec(SinkKind(s["kind"]), s["role"], s["carries"])) for s in data["suppliers"] for m in s["methods"]}
    stores = frozenset((s["class"], m) for s in data["stores"] for m in s["methods"])
    return _Table(sinks, frozenset(serial), exact, prefixed, suppliers, stores, data)


def sink_ids(dex: DexFile) -> list[int]:
    """Method ids of the send APIs in this dex, whose calls the search looks for (also prefetched
    with other stages' ids, ``facts/code``)."""
    return [i for (cls, name) in _sink_table().sinks for i in dex.find_methods(cls, name)]


_ROLE_RANK = {"stream": 0, "send": 1, "body": 2}


class _Program:
    """The app's dex files, with the look-ups the search needs, each cached."""

    def __init__(self, dexes: list[tuple[str, DexFile]]) -> None:
        self.dexes = dict(dexes)
        self.order = [name for name, _ in dexes]
        table = _sink_table()
        self.sinks, self.serial, data = table.sinks, table.serial, table.data
        self.dispatch_exact, self.dispatch_prefixed = table.dispatch_exact, table.dispatch_prefixed
        self.suppliers, self.stores = table.suppliers, table.stores
        self.erased: dict[str, str] = data["erased_callbacks"]
        self.retrofit = tuple(load("http_apis")["retrofit"]["packages"])
        self.retrofit_spec = _SinkSpec(SinkKind(data["retrofit"]["kind"]), data["retrofit"]["role"], data["retrofit"]["carries"])
        self.app_dispatch = frozenset(data["app_dispatch_names"])
        self.async_results = {k: tuple(v) for k, v in data["async_results"].items()}
        self.code: dict[tuple[str, int], list[Insn] | None] = {}
        self._defined: dict[str, tuple[str, int] | None] = {}
        self._is_app: dict[str, bool] = {}
        self._callers: dict[str, list[tuple[str, int, int]]] = {}
        self._readers: dict[str, list[tuple[str, int, int]]] = {}
        self._sink_of: dict[tuple[str, int], tuple[str, _SinkSpec | None, str, str]] = {}
        self._colocated: dict[str, dict[str, list[tuple[str, int, int, str, _SinkSpec]]]] = {}
        self._retrofit: dict[str, bool] = {}
        self._digests: dict[tuple[str, int], tuple[list[tuple[Any, ...]], list[tuple[int, int, tuple[int, ...]]]] | None] = {}
        self._fields: dict[tuple[str, int], tuple[str, str]] = {}
        self._cur = -1
        self._fields_now: set[str] = set()
        self._classes: dict[str, tuple[str | None, int, tuple[str, ...]]] = {}
        self._inherited: dict[tuple[str, str], tuple[str, ...]] = {}
        self._supplier: dict[tuple[str, int], tuple[str, _SinkSpec] | None] = {}
        self._touched: dict[tuple[str, int], frozenset[str]] = {}
        self._targets: dict[tuple[str, int], tuple[str, _SinkSpec | None, str, str, tuple[str, ...], bool, bool, str]] = {}
        self._scans: dict[tuple[str, int, object, frozenset[str]], tuple[_Scan, frozenset[str]]] = {}
        self.passes = 0

    # ---------------------------------------------------------------- look-ups

    def decode(self, dex: str, idx: int) -> list[Insn] | None:
        key = (dex, idx)
        if key not in self.code:
            try:
                self.code[key] = self.dexes[dex].code(idx)
            except DexError:
                self.code[key] = None
        return self.code[key]

    def defined(self, signature: str) -> tuple[str, int] | None:
        """(dex, method id) of the app method with this signature and code, first dex first."""
        if signature not in self._defined:
            found = None
            cls, _, rest = signature.partition("->")
            name, desc = rest[: rest.index("(")], rest[rest.index("(") :]
            for dex in self.order:
                try:
                    i = self.dexes[dex].find_method(cls, name, desc)
                    if i is not None and self.dexes[dex].method_code_offset(i) is not None:
                        found = (dex, i)
                        break
                except DexError:
                    continue
            self._defined[signature] = found
        return self._defined[signature]

    def is_app(self, class_name: str) -> bool:
        if class_name not in self._is_app:
            ok = False
            for d in self.dexes.values():
                try:
                    if d.class_def_index(class_name) is not None:
                        ok = True
                        break
                except DexError:
                    continue
            self._is_app[class_name] = ok
        return self._is_app[class_name]

    def resolve(self, class_name: str, name: str, desc: str) -> list[tuple[str, int]]:
        """App methods an invoke of ``class_name->name desc`` may run: the method itself or
        the one it inherits, and the overriding methods of app subclasses and implementations."""
        out: list[tuple[str, int]] = []
        found = self.defined(f"{class_name}->{name}{desc}")
        c, hops = class_name, 0
        while found is None and hops < 20:
            c = self.superclass(c)  # type: ignore[assignment]
            if not c:
                break
            found = self.defined(f"{c}->{name}{desc}")
            hops += 1
        if found:
            out.append(found)
        elif name != "<init>" and self.class_flags(class_name) & 0x600:  # an interface or abstract class: its app implementations
            for dex in self.order:
                dx = self.dexes[dex]
                try:
                    for i in dx.find_methods(None, name)[: MAX_FANOUT * 8]:
                        m = dx.method(i)
                        if m.descriptor == desc and dx.method_code_offset(i) is not None and self.extends(m.class_name, class_name):
                            out.append((dex, i))
                except DexError:
                    continue
                if len(out) >= MAX_FANOUT:
                    break
        return out

    def extends(self, class_name: str, ancestor: str) -> bool:
        """``class_name`` is ``ancestor`` or extends or implements it (through app classes)."""
        todo: list[str] = [class_name]
        seen: set[str] = set()
        while todo and len(seen) < 64:
            c = todo.pop()
            if c == ancestor:
                return True
            if c in seen:
                continue
            seen.add(c)
            sup, _, ifaces = self._class(c)
            todo += [x for x in (sup, *ifaces) if x]
        return False

    def _class(self, class_name: str) -> tuple[str | None, int, tuple[str, ...]]:
        """(superclass, access flags, interfaces) of an app class, or (None, 0, ())."""
        if class_name not in self._classes:
            got: tuple[str | None, int, tuple[str, ...]] = (None, 0, ())
            for d in self.dexes.values():
                try:
                    ci = d.class_def_index(class_name)
                    if ci is not None:
                        c = d._class_def(ci)  # one class_def; DexFile.class_defs() would read them all
                        got = (c.superclass, c.access_flags, c.interfaces)
                        break
                except DexError:
                    continue
            self._classes[class_name] = got
        return self._classes[class_name]

    def superclass(self, class_name: str) -> str | None:
        return self._class(class_name)[0]

    def class_flags(self, class_name: str) -> int:
        return self._class(class_name)[1]

    def callbacks(self, class_name: str, names: Iterable[str]) -> list[tuple[str, int]]:
        """The callback bodies (``run``, ``doInBackground``...) an app class defines or inherits from the app."""
        out: list[tuple[str, int]] = []
        c: str | None = class_name
        hops = 0
        while c and hops < 10 and self.is_app(c):
            for dex in self.order:
                d = self.dexes[dex]
                for n in names:
                    try:
                        found = [i for i in d.find_methods(c, n) if d.method_code_offset(i) is not None]
                        erased = self.erased.get(n)
                        if erased and len(found) > 1:  # the bridge the framework calls, not the typed method behind it
                            found = [i for i in found if d.method(i).descriptor == erased] or found
                        out += [(dex, i) for i in found if (dex, i) not in out]
                    except DexError:
                        continue
            if out:
                break
            c = self.superclass(c)
            hops += 1
        return out[:MAX_FANOUT]

    def callers(self, signature: str) -> list[tuple[str, int, int]]:
        """(dex, caller method id, offset) of every invoke of this method, in every dex."""
        if signature not in self._callers:
            cls, _, rest = signature.partition("->")
            name, desc = rest[: rest.index("(")], rest[rest.index("(") :]
            out = []
            for dex in self.order:
                d = self.dexes[dex]
                try:
                    i = d.find_method(cls, name, desc)
                    if i is not None:
                        out += [(dex, r.method_idx, r.offset) for r in d.refs(methods=[i])]
                except DexError:
                    continue
            self._callers[signature] = out
        return self._callers[signature]

    def prefetch(self, signatures: Iterable[str], fields: Iterable[str]) -> None:
        """Callers of these methods and readers of these fields, one ``refs()`` scan per dex for all."""
        sigs = [x for x in set(signatures) if x not in self._callers]
        flds = [x for x in set(fields) if x not in self._readers]
        if not sigs and not flds:
            return
        for x in sigs:
            self._callers[x] = []
        for x in flds:
            self._readers[x] = []
        for dex in self.order:
            d = self.dexes[dex]
            try:
                mids: dict[int, str] = {}
                for x in sigs:
                    cls, _, rest = x.partition("->")
                    i = d.find_method(cls, rest[: rest.index("(")], rest[rest.index("(") :])
                    if i is not None:
                        mids[i] = x
                fids: dict[int, str] = {}
                for x in flds:
                    cls, _, rest = x.partition("->")
                    name, _, type_ = rest.partition(":")
                    fids.update((i, x) for i in d.find_fields(cls, name) if d.field(i).type == type_)
                refs = d.refs(methods=sorted(mids), fields=sorted(fids)) if mids or fids else []
            except DexError:
                continue
            for r in refs:
                if r.kind == "method" and r.index in mids:
                    self._callers[mids[r.index]].append((dex, r.method_idx, r.offset))
                elif r.kind == "field" and r.index in fids and (0x52 <= r.opcode <= 0x58 or 0x60 <= r.opcode <= 0x66):
                    self._readers[fids[r.index]].append((dex, r.method_idx, r.offset))

    def readers(self, field_sig: str) -> list[tuple[str, int, int]]:
        """(dex, method id, offset) of every read of this field (iget*/sget*)."""
        if field_sig not in self._readers:
            cls, _, rest = field_sig.partition("->")
            name, _, type_ = rest.partition(":")
            out = []
            for dex in self.order:
                d = self.dexes[dex]
                try:
                    ids = [i for i in d.find_fields(cls, name) if d.field(i).type == type_]
                    if ids:
                        out += [(dex, r.method_idx, r.offset) for r in d.refs(fields=ids) if 0x52 <= r.opcode <= 0x58 or 0x60 <= r.opcode <= 0x66]
                except DexError:
                    continue
            self._readers[field_sig] = out
        return self._readers[field_sig]

    def sink_of(self, dex: str, idx: int) -> tuple[str, _SinkSpec | None, str, str]:
        """(signature, sink spec or None, class, name) of an invoked method id."""
        key = (dex, idx)
        if key not in self._sink_of:
            m = self.dexes[dex].method(idx)
            spec = self.sinks.get((m.class_name, m.name))
            self._sink_of[key] = (m.signature, spec, m.class_name, m.name)
        return self._sink_of[key]

    def retrofit_call(self, dex: str, idx: int) -> bool:
        """The invoked method is a Retrofit interface method (``retrofit2.http.*`` annotations)."""
        sig = self.dexes[dex].method(idx).signature
        if sig not in self._retrofit:
            self._retrofit[sig] = self._annotated(sig)
        return self._retrofit[sig]

    def _annotated(self, sig: str) -> bool:
        for dname in self.order:
            d = self.dexes[dname]
            cls, _, rest = sig.partition("->")
            try:
                i = d.find_method(cls, rest[: rest.index("(")], rest[rest.index("(") :])
                if i is not None and d.class_def_index(cls) is not None:
                    return any(a.startswith(self.retrofit) for a in d.method_annotations(i))
            except DexError:
                continue
        return False

    def dispatch_callbacks(self, class_name: str, name: str) -> tuple[str, ...]:
        cb = self.dispatch_exact.get((class_name, name))
        if cb:
            return cb
        for prefix, names, callbacks in self.dispatch_prefixed:
            if class_name.startswith(prefix) and name in names:
                return callbacks
        return ()

    def inherited_dispatch(self, class_name: str, name: str) -> tuple[str, ...]:
        """Callbacks of a dispatcher an app class inherits from the framework: ``publishProgress``
        called on an ``AsyncTask`` subclass, ``runOnUiThread`` on an activity, ``start`` on a ``Thread`` subclass."""
        key = (class_name, name)
        if key not in self._inherited:
            c: str | None = class_name
            hops = 0
            while c and hops < 16 and self.is_app(c):
                c = self.superclass(c)
                hops += 1
            self._inherited[key] = self.dispatch_callbacks(c, name) if c and hops else ()
        return self._inherited[key]

    def supplier(self, dex: str, idx: int) -> tuple[str, _SinkSpec] | None:
        """(library method, spec) when this method overrides one the library calls to get the
        request body (Volley ``Request.getParams``): what it returns is sent."""
        key = (dex, idx)
        if key not in self._supplier:
            m = self.dexes[dex].method(idx)
            got = self.suppliers.get(m.name)
            self._supplier[key] = (f"{got[0]}->{m.name}{m.descriptor}", got[1]) if got and self.extends(m.class_name, got[0]) else None
        return self._supplier[key]

    def colocated(self, dex: str, class_name: str) -> list[tuple[str, int, int, str, _SinkSpec]]:
        """Send calls in methods of this class (or its outer class) in this dex, whatever they send."""
        if dex not in self._colocated:
            index: dict[str, list[tuple[str, int, int, str, _SinkSpec]]] = {}
            self._colocated[dex] = index
            d = self.dexes[dex]
            try:
                ids = sink_ids(d)
                refs = d.refs(methods=ids) if ids else []
            except DexError:
                refs = []
            for r in refs:
                try:
                    owner = d.method(r.method_idx).class_name
                except DexError:
                    continue
                sig, spec, _, _ = self.sink_of(dex, r.index)
                if spec is not None:
                    index.setdefault(_outer(owner), []).append((dex, r.method_idx, r.offset, sig, spec))
        return self._colocated[dex].get(_outer(class_name), [])

    # ---------------------------------------------------------------- one pass

    def digest(self, dex: str, idx: int) -> tuple[list[tuple[Any, ...]], list[tuple[int, int, tuple[int, ...]]]] | None:
        """The method's instructions reduced to what the register pass needs, ids resolved once."""
        key = (dex, idx)
        if key in self._digests:
            return self._digests[key]
        insns = self.decode(dex, idx)
        if insns is None:
            self._digests[key] = None
            return None
        d = self.dexes[dex]
        out: list[tuple[Any, ...]] = []
        payloads = {insn.offset: insn.payload for insn in insns if insn.opcode in (0x100, 0x200)}
        for insn in insns:
            if insn.opcode >= 256:
                continue
            mn, regs, off = insn.mnemonic, insn.registers, insn.offset
            kind = _kind(mn)
            if kind is _BR:
                out.append((_BR, off, (insn.literal,), not mn.startswith("goto")))
            elif kind is _SWITCH:
                pl = payloads.get(insn.literal) or ()  # type: ignore[arg-type]
                out.append((_BR, off, tuple(off + rel for _, rel in pl), True))  # type: ignore[misc]
            elif kind is _END:
                out.append((_END, off))
            elif kind is _INV:
                if insn.index is None or insn.kind != "method":
                    out.append((_OP, off, regs[0] if regs else -1, regs))
                else:
                    out.append((_INV, off, regs, insn.index, self.target(dex, insn.index), mn.startswith("invoke-static"), mn.startswith("invoke-interface")))
            elif kind is _MR:
                out.append((_MR, off, regs[0]))
            elif kind is _FNA:
                out.append((_FNA, off, regs))
            elif kind is _RET:
                out.append((_RET, off, regs[0] if regs else -1))
                out.append((_END, off))
            elif kind is _CC:
                out.append((_CC, off, regs[0], d.type_name(insn.index)))  # type: ignore[arg-type]
            elif kind is _SKIP:
                continue
            elif kind is _MOVE:
                out.append((_MOVE, off, regs[0], regs[1]))
            elif kind is _NEW:
                out.append((_NEW, off, regs[0], d.type_name(insn.index)))  # type: ignore[arg-type]
            elif kind is _CONST:
                out.append((_CONST, off, regs[0]))
            elif kind is _GET or kind is _PUT:
                f = self.field_of(dex, insn.index)  # type: ignore[arg-type]
                if kind is _GET:
                    out.append((_GET, off, regs[0], regs[1] if mn[0] == "i" else -1, f[0], f[1]))
                else:
                    out.append((_PUT, off, regs[0], regs[1] if mn[0] == "i" else -1, f[0]))
            elif kind is _AGET or kind is _APUT:
                out.append((kind, off, regs[0], regs[1]))
            elif regs:
                out.append((_OP, off, regs[0], regs if "/2addr" in mn else regs[1:]))
        self._digests[key] = (out, _blocks(out))
        return self._digests[key]

    def target(self, dex: str, idx: int) -> tuple[str, _SinkSpec | None, str, str, tuple[str, ...], bool, bool, str]:
        """What the pass needs of an invoked method id, once per package: (signature, sink spec,
        class, name, callbacks it dispatches to, an app call, a serialising call, return type)."""
        key = (dex, idx)
        got = self._targets.get(key)
        if got is None:
            sig, spec, cls, name = self.sink_of(dex, idx)
            callbacks = self.dispatch_callbacks(cls, name) or self.inherited_dispatch(cls, name)
            got = self._targets[key] = (sig, spec, cls, name, callbacks, spec is None and not cls.startswith(_FRAMEWORK),
                                        (cls, name) in self.serial, sig[sig.rindex(")") + 1 :])
        return got

    def field_of(self, dex: str, idx: int) -> tuple[str, str]:
        key = (dex, idx)
        f = self._fields.get(key)
        if f is None:
            ref = self.dexes[dex].field(idx)
            f = self._fields[key] = (ref.signature, ref.type)
        return f

    def scan(self, dex: str, idx: int, seed: object, tainted_fields: set[str]) -> _Scan | None:
        """The register pass of one method from this seed, once per package: read sites whose
        searches meet in a method (several reads in one method, one helper for many) share it.
        The pass depends on the seed and on which of the fields the method touches carry the
        value, so that is the key; the fields it taints are replayed into ``tainted_fields``."""
        digest = self.digest(dex, idx)
        if digest is None:
            return None
        touched = self._touched.get((dex, idx))
        if touched is None:
            touched = self._touched[(dex, idx)] = frozenset(ins[4] for ins in digest[0] if ins[0] is _GET or ins[0] is _PUT)
        key = (dex, idx, seed, frozenset(tainted_fields & touched))
        cached = self._scans.get(key)
        if cached is None:
            before = set(tainted_fields)
            out = self._scan(dex, idx, seed, tainted_fields, digest)
            cached = self._scans[key] = (out, frozenset(tainted_fields - before))
        else:
            tainted_fields |= cached[1]
        return cached[0]

    def _scan(self, dex: str, idx: int, seed: object, tainted_fields: set[str],
              digest: tuple[list[tuple[Any, ...]], list[tuple[int, int, tuple[int, ...]]]]) -> _Scan:
        self.passes += 1
        self._cur = idx
        self._fields_now = tainted_fields
        d = self.dexes[dex]
        out = _Scan()
        taint: set[int] = set()
        types: dict[int, str] = {}
        streams: dict[int, _Hit] = {}
        ident: dict[int, object] = {}
        if seed == ALL or isinstance(seed, frozenset):
            info = d.code_info(idx)
            if info is not None:
                first = info.registers_size - info.ins_size
                if seed == ALL:
                    taint.update(range(first, info.registers_size))
                else:
                    taint.update(first + p for p in seed)  # type: ignore[union-attr]
        result_at = seed[1] if isinstance(seed, tuple) and seed[0] == "result" else None
        if not taint and result_at is None and not tainted_fields:
            return out
        code, blocks = digest
        supplier = self.supplier(dex, idx)
        calls_seen: set[tuple[int, frozenset[int]]] = set()
        ins_state: list[frozenset[int] | None] = [None] * len(blocks)
        ins_state[0] = frozenset(taint)
        work = [0]
        steps = 0
        while work and steps < 8 * len(blocks) + 8:
            steps += 1
            b = work.pop()
            taint = set(ins_state[b] or ())
            start, end, succ = blocks[b]
            last_tainted = False
            last_stream: _Hit | None = None
            last_type = ""
            for ins in code[start:end]:
                op = ins[0]
                if op is _INV:
                    last_tainted, last_stream, last_type = self._invoke(dex, ins, taint, types, streams, out, ident, calls_seen)
                    if ins[1] == result_at:
                        last_tainted = True
                elif op is _MR:
                    r = ins[2]
                    _set(taint, r, last_tainted)
                    ident[r] = ("r", ins[1])
                    streams.pop(r, None)
                    if last_stream is not None:
                        streams[r] = last_stream
                    types[r] = last_type
                elif op is _MOVE:
                    dst, src = ins[2], ins[3]
                    _set(taint, dst, src in taint)
                    if src in ident:
                        ident[dst] = ident[src]
                    else:
                        ident.pop(dst, None)
                    if src in streams:
                        streams[dst] = streams[src]
                    if src in types:
                        types[dst] = types[src]
                elif op is _GET:
                    dst, obj, fsig, ftype = ins[2], ins[3], ins[4], ins[5]
                    _set(taint, dst, fsig in tainted_fields or obj in taint)
                    types[dst] = ftype
                    ident[dst] = ("f", fsig, obj)
                elif op is _PUT:
                    if ins[2] in taint:
                        if ins[3] >= 0:
                            _mutate(taint, ident, ins[3], out, tainted_fields, ins[1])
                        if ins[4] not in tainted_fields and ins[4] not in out.fields:
                            out.fields[ins[4]] = ins[1]
                        tainted_fields.add(ins[4])
                elif op is _CONST:
                    _set(taint, ins[2], False)
                    types.pop(ins[2], None)
                elif op is _NEW:
                    _set(taint, ins[2], False)
                    streams.pop(ins[2], None)
                    types[ins[2]] = ins[3]
                    ident[ins[2]] = ("n", ins[1])
                elif op is _RET:
                    if ins[2] in taint and out.returns is None:
                        out.returns = ins[1]
                        if supplier is not None:
                            out.sinks.append(_Hit(ins[1], supplier[0], supplier[1]))
                elif op is _FNA:
                    last_tainted = any(r in taint for r in ins[2])
                    last_stream, last_type = None, ""
                elif op is _CC:
                    if not self.is_app(types.get(ins[2], "")) or self.is_app(ins[3]):
                        types[ins[2]] = ins[3]  # a cast to a framework interface keeps the app class (kotlinc: lambda -> Function2)
                elif op is _AGET:
                    _set(taint, ins[2], ins[3] in taint)
                elif op is _APUT:
                    if ins[2] in taint:
                        _mutate(taint, ident, ins[3], out, tainted_fields, ins[1])
                elif op is _OP:
                    _set(taint, ins[2], any(r in taint for r in ins[3]))
            now = frozenset(taint)
            for nb in succ:
                old = ins_state[nb]
                merged = now if old is None else old | now
                if merged != old:
                    ins_state[nb] = merged
                    if nb not in work:
                        work.append(nb)
        seen_hits: set[tuple[int, str, str]] = set()
        out.sinks = [h for h in out.sinks if (h.offset, h.api, h.evidence) not in seen_hits and not seen_hits.add((h.offset, h.api, h.evidence))]  # type: ignore[func-returns-value]
        out.serialised = list(dict.fromkeys(out.serialised))
        return out

    def _invoke(self, dex: str, ins: tuple[Any, ...], taint: set[int], types: dict[int, str], streams: dict[int, _Hit],
                out: _Scan, ident: dict[int, object], calls_seen: set[tuple[int, frozenset[int]]]) -> tuple[bool, _Hit | None, str]:
        _, offset, regs, midx, (sig, spec, cls, name, callbacks, app_call, serial, ret), static, iface = ins
        tainted = [i for i, r in enumerate(regs) if r in taint]
        if spec is not None and spec.role == "stream":
            hit = _Hit(offset, sig, spec)
            if tainted:  # the socket or connection itself carries the value (URL built from it)
                out.sinks.append(hit)
            return bool(tainted), hit, ret
        if spec is not None and tainted:
            out.sinks.append(_Hit(offset, sig, spec))
        elif tainted and iface and app_call and self.is_app(cls) and self.retrofit_call(dex, midx):
            out.sinks.append(_Hit(offset, sig, self.retrofit_spec))
            spec = self.retrofit_spec
        if serial and tainted:
            out.serialised.append(f"{cls}->{name}")
        if tainted and (cls, name) in self.stores:
            out.stores.append((offset, sig))
        stream = next((streams[r] for r in regs if r in streams), None) if streams else None
        if stream is not None and tainted and any(regs[i] not in streams for i in tainted):
            text = ""
            for insn in self.decode(dex, self._cur) or ():
                if insn.offset == offset:
                    text = insn.text(self.dexes[dex])
                    break
            out.sinks.append(_Hit(stream.offset, stream.api, stream.spec, f"{text} at {offset}"))
        if stream is not None and not static and name == "<init>" and regs:
            streams[regs[0]] = stream  # new DataOutputStream(os), new OutputStreamWriter(os)...
        if tainted:
            if not static and regs and any(i > 0 for i in tainted):
                _mutate(taint, ident, regs[0], out, self._fields_now, offset)  # list.add(x), builder.append(x), json.put(k, x): the receiver holds it now
            if app_call and spec is None:
                key = (offset, frozenset(tainted))
                if key not in calls_seen:
                    calls_seen.add(key)
                    out.calls.append((offset, midx, key[1]))
            cbs = callbacks
            if not cbs and name in self.app_dispatch and self.is_app(cls):
                cbs = ("doInBackground", "run", "call")
            if cbs:
                cands = [c for c in {cls, *(types.get(r, "") for r in regs)} if c and self.is_app(c)]
                if cands:
                    out.dispatch.append((offset, tuple(sorted(cands)), cbs))
        if spec is None and stream is not None and not static and regs and regs[0] in streams and name != "<init>":
            return bool(tainted), streams[regs[0]], ret  # writer.getStream()-like: stays the sink's stream
        return bool(tainted), None, ret


def _mutate(taint: set[int], ident: dict[int, object], reg: int, out: _Scan | None = None, fields: set[str] | None = None, offset: int = 0) -> None:
    """The object in ``reg`` now holds the value: so does every register holding the same object,
    and, when the object was read from a field (``this.list.add(x)``), that field."""
    taint.add(reg)
    me = ident.get(reg)
    if me is not None:
        taint.update(r for r, o in ident.items() if o == me)
        if fields is not None and isinstance(me, tuple) and me[0] == "f":
            if out is not None and me[1] not in fields:
                out.fields.setdefault(me[1], offset)  # its readers in other methods are followed
            fields.add(me[1])  # later reads of the field in searched methods carry it


_INV, _MR, _MOVE, _GET, _PUT, _CONST, _NEW, _RET, _FNA, _CC, _AGET, _APUT, _OP, _BR, _END, _SWITCH, _SKIP = (
    "inv", "mr", "move", "get", "put", "const", "new", "ret", "fna", "cc", "aget", "aput", "op", "br", "end", "switch", "skip")
_KIND_BY_PREFIX = (
    (("if-", "goto"), _BR), (("packed-switch", "sparse-switch"), _SWITCH), (("throw",), _END), (("invoke",), _INV),
    (("move-result",), _MR), (("filled-new-array",), _FNA), (("return",), _RET), (("check-cast",), _CC),
    (("fill-array-data", "monitor", "nop"), _SKIP), (("move-exception",), _CONST), (("move",), _MOVE),
    (("new-instance",), _NEW), (("const", "new-array", "instance-of"), _CONST), (("iget", "sget"), _GET),
    (("iput", "sput"), _PUT), (("aget",), _AGET), (("aput",), _APUT),
)


@functools.cache
def _kind(mnemonic: str) -> str:
    """What the register pass does with an instruction, by its mnemonic (first matching prefix)."""
    return next((kind for prefixes, kind in _KIND_BY_PREFIX if mnemonic.startswith(prefixes)), _OP)
_FRAMEWORK = ("Ljava/", "Landroid/", "Ljavax/", "Lkotlin/", "Lorg/json/", "Ldalvik/", "Lsun/")


def _set(taint: set[int], reg: int, value: bool) -> None:
    if value:
        taint.add(reg)
    else:
        taint.discard(reg)


def _blocks(code: list[tuple[Any, ...]]) -> list[tuple[int, int, tuple[int, ...]]]:
    """Basic blocks of a digest: (first, end) indices and successor blocks. Exception edges
    are not modelled (a handler starts with ``move-exception``, which carries nothing read)."""
    if not code:
        return [(0, 0, ())]
    index_of: dict[int, int] = {}
    for i, ins in enumerate(code):
        index_of.setdefault(ins[1], i)  # a return is two entries (value, end): jumps land on the first
    leaders = {0}
    for i, ins in enumerate(code):
        if ins[0] is _BR:
            leaders.update(index_of[t] for t in ins[2] if t in index_of)
            leaders.add(i + 1)
        elif ins[0] is _END:
            leaders.add(i + 1)
    starts = sorted(x for x in leaders if x < len(code))
    block_of = {st: n for n, st in enumerate(starts)}
    # a branch target that is not an instruction of the digest (a payload, a skipped nop) goes to the next one
    def target(off: int) -> int | None:
        i = index_of.get(off)
        if i is None:
            i = next((j for j, ins in enumerate(code) if ins[1] > off), None)
        while i is not None and i not in block_of and i > 0:
            i -= 1
        return block_of.get(i) if i is not None else None
    out = []
    for n, st in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(code)
        last = code[end - 1]
        succ: list[int] = []
        if last[0] is _BR:
            succ += [t for t in map(target, last[2]) if t is not None]
            if last[3] and n + 1 < len(starts):
                succ.append(n + 1)
        elif last[0] is not _END and n + 1 < len(starts):
            succ.append(n + 1)
        out.append((st, end, tuple(dict.fromkeys(succ))))
    return out


def _outer(class_name: str) -> str:
    return class_name.split("$", 1)[0] + (";" if "$" in class_name else "")


# -------------------------------------------------------------------- the search


@dataclass
class _State:
    """The search from one read site."""

    category: str
    loc: CodeLocation
    budget: int
    depth_limit: int
    frontier: list[_Node] = field(default_factory=list)
    visited: set[tuple[str, int, object]] = field(default_factory=set)
    tainted_fields: set[str] = field(default_factory=set)
    found: list[tuple[_Node, _Hit]] = field(default_factory=list)
    sinks_seen: set[tuple[str, int, int]] = field(default_factory=set)
    stored: list[tuple[str, int, int]] = field(default_factory=list)
    """(dex, method id, offset) of local stores the value reaches."""
    passes: int = 0
    first_found: int = 0
    cut: str = ""
    done: bool = False
    idx: int = -1


def extract(facts: CodeFacts, dexes: list[tuple[str, DexFile]], *, max_depth: int = MAX_DEPTH,
            max_nodes: int = MAX_NODES, max_other: int = MAX_NODES_OTHER, max_depth_other: int = MAX_DEPTH_OTHER,
            max_total: int = MAX_TOTAL, categories: Iterable[str] | None = None) -> PathFacts:
    """Read-to-send paths for every read site of ``facts`` (contacts first).

    ``dexes`` are the dex files the code stage opened and validated, by the names
    ``CodeLocation.dex`` uses. Never raises on package content: a method that cannot be
    decoded ends the search there. The searches from all sites advance together, one
    call depth at a time, so each depth costs one ``refs()`` scan per dex for all of them.
    ``categories`` limits the search to read sites of these data categories (all by default).
    """
    program = _Program(dexes)
    endpoints = _endpoints_by_method(facts)
    states: list[_State] = []
    seen_sites = set()
    wanted = None if categories is None else set(categories)
    for site in sorted(facts.sites, key=lambda s: (category_rank(s.category), s.location.dex, s.location.signature, s.location.offset)):
        loc = site.location
        if (site.category, loc) in seen_sites or (wanted is not None and site.category not in wanted):
            continue
        seen_sites.add((site.category, loc))
        contacts = site.category == "contacts"
        st = _State(site.category, loc, max_nodes if contacts else max_other, max_depth if contacts else min(max_depth, max_depth_other))
        states.append(st)
        if loc.dex not in program.dexes:
            st.done, st.cut = True, f"dex {loc.dex} not given to the search"
            continue
        try:
            idx = program.dexes[loc.dex].find_method(loc.class_name, loc.method, loc.descriptor)
        except DexError:
            idx = None
        if idx is None or program.decode(loc.dex, idx) is None:
            st.done, st.cut = True, "the reading method cannot be found or decoded"
            continue
        st.idx = idx
        st.frontier = [_Node(loc.dex, idx, ("result", loc.offset), loc.offset, 0)]
    _advance(program, states, max_total)
    out = [_result(program, st, endpoints, st.depth_limit) for st in states]
    cut_lines = [f"{st.loc.signature} at {st.loc.offset}: {st.cut}" for st in states if st.cut and not st.found]
    limits = (f"depth {max_depth} calls from a contacts read, {min(max_depth, max_depth_other)} from another read",
              f"{max_nodes} method passes per contacts read site, {max_other} per other read site",
              f"{max_total} method passes per package", f"{MAX_FANOUT} callers, implementations or field readers per method",
              f"{MAX_PATHS} paths per read site")
    return PathFacts(tuple(out), limits, tuple(cut_lines))


def _advance(program: _Program, states: list[_State], max_total: int) -> None:
    """Advance these searches together, one call depth at a time (one ``refs()`` scan per dex per depth)."""
    for depth in range(max((st.depth_limit for st in states), default=0) + 1):
        want_callers: set[str] = set()
        want_readers: set[str] = set()
        pending: list[tuple[_State, _Node, _Scan]] = []
        # contacts first: what their searches may still need is kept back from the others
        reserve = sum(max(0, st.budget - st.passes) for st in states if st.category == "contacts" and not st.done)
        for st in states:
            if st.done:
                continue
            limit = max_total if st.category == "contacts" else max_total - reserve
            for node in st.frontier:
                key = (node.dex, node.idx, node.seed)
                if key in st.visited:
                    continue
                if st.passes >= st.budget or program.passes >= limit:
                    st.cut = st.cut or (f"stopped after {st.passes} method passes (bound {st.budget} per read site)" if st.passes >= st.budget
                                        else f"package budget of {max_total} method passes spent")
                    st.done = True
                    break
                st.visited.add(key)
                st.passes += 1
                try:
                    scan = program.scan(node.dex, node.idx, node.seed, st.tainted_fields)
                except DexError:
                    scan = None
                if scan is None:
                    continue
                node.serialised = tuple(scan.serialised)
                for off, _api in scan.stores:
                    if len(st.stored) < MAX_PATHS and (node.dex, node.idx, off) not in st.stored:
                        st.stored.append((node.dex, node.idx, off))
                for hit in sorted(scan.sinks, key=lambda h: (_ROLE_RANK.get(h.spec.role, 9), h.offset)):
                    if (node.dex, node.idx, hit.offset) not in st.sinks_seen:
                        st.sinks_seen.add((node.dex, node.idx, hit.offset))
                        st.found.append((node, hit))
                        break  # one sink per method: the best role
                if st.found and not st.first_found:
                    st.first_found = st.passes
                if len(st.found) >= MAX_PATHS or (st.found and st.passes >= st.first_found + MORE_AFTER_FIRST):
                    st.done = True
                    break
                if depth >= st.depth_limit:
                    if scan.calls or scan.dispatch or scan.returns is not None or scan.fields:
                        st.cut = st.cut or f"paths longer than {st.depth_limit} calls not followed"
                    continue
                pending.append((st, node, scan))
                if scan.returns is not None and node.edge in (Edge.SINK, Edge.RETURN, Edge.ASYNC, Edge.FIELD):
                    want_callers.add(program.dexes[node.dex].method(node.idx).signature)
                want_readers.update(f for f in scan.fields if program.is_app(f.partition("->")[0]))
            st.frontier = []
        if not pending:
            break
        program.prefetch(want_callers, want_readers)
        for st, node, scan in pending:
            if st.done:
                continue
            st.frontier += _expand(program, node, scan, depth + 1)
        if all(st.done or not st.frontier for st in states):
            break


def _expand(program: _Program, node: _Node, scan: _Scan, depth: int) -> list[_Node]:
    out: list[_Node] = []
    d_file = program.dexes[node.dex]
    for offset, callee, positions in scan.calls:
        m = d_file.method(callee)
        for tdex, tidx in program.resolve(m.class_name, m.name, m.descriptor)[:MAX_FANOUT]:
            out.append(_Node(tdex, tidx, positions, None, depth, node, Edge.CALL, offset))
    for offset, classes, names in scan.dispatch:
        for c in classes:
            for tdex, tidx in program.callbacks(c, names):
                out.append(_Node(tdex, tidx, ALL, None, depth, node, Edge.ASYNC, offset))
    if scan.returns is not None and node.edge in (Edge.SINK, Edge.RETURN, Edge.ASYNC, Edge.FIELD):
        me = d_file.method(node.idx)
        for cdex, cidx, coff in program.callers(me.signature)[:MAX_FANOUT]:
            out.append(_Node(cdex, cidx, ("result", coff), coff, depth, node, Edge.RETURN, scan.returns))
        if me.name in program.async_results:
            for tdex, tidx in program.callbacks(me.class_name, program.async_results[me.name]):
                out.append(_Node(tdex, tidx, ALL, None, depth, node, Edge.ASYNC, scan.returns))
    for fsig, foff in scan.fields.items():
        if not program.is_app(fsig.partition("->")[0]):
            continue
        for rdex, ridx, roff in program.readers(fsig)[:MAX_FANOUT]:
            if (rdex, ridx) != (node.dex, node.idx):
                out.append(_Node(rdex, ridx, ("field",), roff, depth, node, Edge.FIELD, foff))
    return out


def _result(program: _Program, st: _State, endpoints: dict[str, list[Endpoint]], max_depth: int) -> SitePaths:
    if st.idx < 0:
        return SitePaths(st.category, st.loc, Outcome.NOT_SEARCHED, note=st.cut)
    if st.found:
        paths = sorted((_path(program, n, h, endpoints) for n, h in st.found), key=lambda p: (p.calls, _ROLE_RANK.get(p.sink.role, 9)))
        return SitePaths(st.category, st.loc, Outcome.PATH, tuple(paths), methods_visited=st.passes)
    co = _colocated(program, st.loc, st.idx, endpoints)
    stored = tuple(_location(program, dex, idx, off) for dex, idx, off in st.stored)
    kept = f"; the value is stored locally ({', '.join(f'{_api_name(s.instruction)} in {s.signature} at {s.offset}' for s in stored)}): later reads of that store are not followed" if stored else ""
    if st.cut:
        return SitePaths(st.category, st.loc, Outcome.CUT, co, note=st.cut + ("; a send API is called in the same class (co-located, no path)" if co else "") + kept, methods_visited=st.passes, stored=stored)
    if co:
        return SitePaths(st.category, st.loc, Outcome.CO_LOCATED, co, note="no path within the bounds; a send API is called in the same class, with no flow of the value read to it" + kept, methods_visited=st.passes, stored=stored)
    return SitePaths(st.category, st.loc, Outcome.NO_SINK, note=f"no send API reached within {max_depth} calls ({st.passes} methods searched)" + kept, methods_visited=st.passes, stored=stored)


def _location(program: _Program, dex: str, idx: int, offset: int) -> CodeLocation:
    step = _step(program, dex, idx, None, offset, Edge.SINK)
    return CodeLocation(dex, step.class_name, step.method, step.descriptor, offset, step.instruction)


def _api_name(instruction: str) -> str:
    """``Landroid/database/sqlite/SQLiteDatabase;->insert`` from the invoke's smali text."""
    target = instruction.rpartition(", ")[2]
    return target[: target.index("(")] if "(" in target else target


def _step(program: _Program, dex: str, idx: int, entry: int | None, offset: int, edge: Edge) -> PathStep:
    d = program.dexes[dex]
    m = d.method(idx)
    text = ""
    for insn in program.decode(dex, idx) or ():
        if insn.offset == offset:
            text = insn.text(d)
            break
    return PathStep(dex, m.class_name, m.name, m.descriptor, entry, offset, text, edge)


def _path(program: _Program, node: _Node, hit: _Hit, endpoints: dict[str, list[Endpoint]]) -> SendPath:
    chain = []
    n: _Node | None = node
    while n is not None:
        chain.append(n)
        n = n.parent
    chain.reverse()
    steps = []
    for i, n in enumerate(chain):
        if i + 1 < len(chain):
            nxt = chain[i + 1]
            steps.append(_step(program, n.dex, n.idx, n.entry, nxt.leave, nxt.edge))
        else:
            steps.append(_step(program, n.dex, n.idx, n.entry, hit.offset, Edge.SINK))
    last = steps[-1]
    sink = Sink(hit.api, hit.spec.kind, hit.spec.role, hit.spec.carries,
                CodeLocation(last.dex, last.class_name, last.method, last.descriptor, hit.offset, last.instruction), hit.evidence)
    calls = len(steps) - 1
    confidence = Confidence.SAME_METHOD if calls == 0 else Confidence.DIRECT_CALL if calls == 1 else Confidence.WITHIN_CALLS
    ends: dict[tuple[str, str], Endpoint] = {}
    for sig in [s.signature for s in steps] + [hit.api]:  # a Retrofit endpoint's source is the interface method called
        for e in endpoints.get(sig, ()):
            ends.setdefault((str(e.kind), e.value), e)
    pieces = {p for e in ends.values() for src in e.sources for p in src.pieces}
    ends = {k: e for k, e in ends.items() if e.value not in pieces}  # a base URL or literal joined into another is not a server of its own
    serial: list[str] = []
    for n in chain:  # the serialising calls seen in the passes of the methods on the path
        for api in n.serialised:
            if api not in serial:
                serial.append(api)
    return SendPath(confidence, calls, tuple(steps), sink, tuple(ends.values()), tuple(serial))


def _colocated(program: _Program, loc: CodeLocation, idx: int, endpoints: dict[str, list[Endpoint]]) -> tuple[SendPath, ...]:
    out = []
    seen = set()
    for dex, midx, offset, api, spec in sorted(program.colocated(loc.dex, loc.class_name), key=lambda t: (t[0] != loc.dex or t[1] != idx, t[0], t[1], t[2])):
        if (dex, midx) in seen:
            continue
        seen.add((dex, midx))
        first = _step(program, loc.dex, idx, loc.offset, loc.offset, Edge.CO_LOCATED)
        last = _step(program, dex, midx, None, offset, Edge.SINK)
        steps = (first, last) if (dex, midx) != (loc.dex, idx) else (PathStep(first.dex, first.class_name, first.method, first.descriptor, loc.offset, offset, last.instruction, Edge.SINK),)
        sink = Sink(api, spec.kind, spec.role, spec.carries, CodeLocation(dex, last.class_name, last.method, last.descriptor, offset, last.instruction))
        ends = {(str(e.kind), e.value): e for s in steps for e in endpoints.get(s.signature, ())}
        out.append(SendPath(Confidence.CO_LOCATED, len(steps) - 1, steps, sink, tuple(ends.values())))
        if len(out) >= MAX_PATHS:
            break
    return tuple(out)


def _endpoints_by_method(facts: CodeFacts) -> dict[str, list[Endpoint]]:
    out: dict[str, list[Endpoint]] = {}
    if facts.endpoints is None:
        return out
    for e in facts.endpoints.endpoints:
        for s in e.sources:
            if s.location is not None:
                out.setdefault(s.location.signature, []).append(e)
    return out


__all__ = ["MAX_DEPTH", "MAX_DEPTH_OTHER", "MAX_NODES", "MAX_NODES_OTHER", "MAX_TOTAL", "extract", "sink_ids"]
