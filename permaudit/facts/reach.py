"""Reachability from entry points: does a read run from start-up before a consent screen? (docs/reach.md)

A bounded breadth-first search *backwards* from each reading method to the methods the
framework runs for the manifest's components (``Application.onCreate``, the launcher
activity, boot receivers, services...). A method's predecessors are the methods that invoke
it (also through the app superclass or interface method it overrides), for a callback body
(``run``, ``onClick``...: ``data/reach.json``) the methods that construct its class, and for a
component's lifecycle method the methods that name the component's class (``const-class``,
as ``new Intent(ctx, X.class)`` does). Activities that look like a consent or privacy-policy
screen (name, label, strings, a WebView layout) stop the search: what lies behind them runs
after the user has seen them. All searches advance together, one depth at a time, so each
depth costs one ``refs()`` scan per dex. Static analysis cannot prove timing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from permaudit.data import category_rank, load
from permaudit.dex import DexError, DexFile, Insn
from permaudit.errors import ArscError, MemberError
from permaudit.facts.code.candidates import types_with_prefix
from permaudit.facts.manifest import application_class, components
from permaudit.loading import LoadedPackage, arsc
from permaudit.model import CodeFacts, CodeLocation, Component
from permaudit.model.common import counted
from permaudit.model.reach import (
    ClueSource,
    ConsentClue,
    ConsentScreen,
    EntryKind,
    EntryPoint,
    ReachEdge,
    ReachFacts,
    ReachOutcome,
    ReachStep,
    SiteReach,
)
from permaudit.model.record import record

MAX_DEPTH = 10
"""Edges from a contacts read back to an entry point."""
MAX_NODES = 120
"""Methods visited per contacts reading method."""
MAX_DEPTH_OTHER = 2
"""Edges from a read of another category."""
MAX_NODES_OTHER = 8
"""Methods visited per reading method of another category."""
MAX_TOTAL = 1500
"""Methods visited per package, all searches together (contacts first)."""
MAX_FANIN = 16
"""Predecessors followed from one method (callers, constructors, starters)."""
MAX_SCREEN_METHODS = 150
"""Activity ``onCreate`` methods decoded for consent-screen strings, per package."""
MAX_OTHER_ENTRIES = 5

NEW_INSTANCE = 0x22
CONST_CLASS = 0x1C
RESOURCE_PACKAGE = 0x7F


@functools.cache
def _table() -> tuple[dict[str, frozenset[str]], frozenset[str], frozenset[str], tuple[str, ...], tuple[str, ...]]:
    data = load("reach")
    lifecycle = {k: frozenset(v) for k, v in data["lifecycle"].items()}
    return lifecycle, frozenset(data["boot_actions"]), frozenset(data["callbacks"]), tuple(data["consent"]["topic"]), tuple(data["consent"]["assent"])


def _descriptor(dotted: str) -> str:
    return "L" + dotted.replace(".", "/") + ";"


def _outer(class_name: str) -> str:
    return class_name.split("$", 1)[0] + (";" if "$" in class_name else "")


def _split(signature: str) -> tuple[str, str, str]:
    cls, _, rest = signature.partition("->")
    i = rest.find("(")
    return cls, rest[:i], rest[i:]


def _keyword(text: str, words: Iterable[str]) -> str:
    low = text.lower()
    return next((w for w in words if w in low), "")


@record
class _Component:
    """A manifest component as an entry point: its kind here and its class."""

    kind: EntryKind
    name: str
    class_name: str
    lifecycle: frozenset[str]


class _Code:
    """The app's dex files with the look-ups the search needs, each cached."""

    def __init__(self, dexes: list[tuple[str, DexFile]]) -> None:
        self.dexes = dict(dexes)
        self.order = [name for name, _ in dexes]
        self._classes: dict[str, tuple[str | None, tuple[str, ...]]] = {}
        self._types: dict[tuple[str, str], int | None] = {}
        self._mids: dict[tuple[str, str], int | None] = {}
        self._code: dict[tuple[str, int], list[Insn] | None] = {}
        self.callers: dict[str, list[tuple[str, int, int, ReachEdge]]] = {}
        self.starters: dict[str, list[tuple[str, int, int, ReachEdge]]] = {}

    def type_id(self, dex: str, class_name: str) -> int | None:
        key = (dex, class_name)
        if key not in self._types:
            found = None
            try:
                d = self.dexes[dex]
                r = types_with_prefix(d, class_name)
                if r and d.type_name(r.start) == class_name:
                    found = r.start
            except DexError:
                pass
            self._types[key] = found
        return self._types[key]

    def method_id(self, dex: str, signature: str) -> int | None:
        """The method id of this signature in this dex (defined there or only referenced), or None."""
        key = (dex, signature)
        if key not in self._mids:
            cls, name, desc = _split(signature)
            self._mids[key] = self.dexes[dex].find_method(cls, name, desc) if self.type_id(dex, cls) is not None else None
        return self._mids[key]

    def _class(self, class_name: str) -> tuple[str | None, tuple[str, ...]]:
        """(superclass, interfaces) of an app class, or (None, ())."""
        if class_name not in self._classes:
            got: tuple[str | None, tuple[str, ...]] = (None, ())
            for d in self.dexes.values():
                try:
                    ci = d.class_def_index(class_name)
                    if ci is not None:
                        c = d._class_def(ci)  # one class_def; class_defs() would read them all
                        got = (c.superclass, c.interfaces)
                        break
                except DexError:
                    continue
            self._classes[class_name] = got
        return self._classes[class_name]

    def is_app(self, class_name: str) -> bool:
        sup, ifaces = self._class(class_name)
        return sup is not None or bool(ifaces)

    def supertypes(self, class_name: str) -> list[str]:
        """App superclasses and interfaces of an app class (nearest first, at most 32)."""
        out: list[str] = []
        todo = [class_name]
        while todo and len(out) < 32:
            c = todo.pop(0)
            sup, ifaces = self._class(c)
            for x in (sup, *ifaces):
                if x and x not in out and x != class_name and self.is_app(x):
                    out.append(x)
                    todo.append(x)
        return out

    def decode(self, dex: str, idx: int) -> list[Insn] | None:
        key = (dex, idx)
        if key not in self._code:
            try:
                self._code[key] = self.dexes[dex].code(idx)
            except DexError:
                self._code[key] = None
        return self._code[key]

    def prefetch(self, signatures: Iterable[str], starts: Iterable[str], callbacks: frozenset[str]) -> None:
        """Callers (and constructors of callback classes) of these methods, and starters of these
        component classes: one ``refs()`` scan per dex for all of them."""
        sigs = [s for s in dict.fromkeys(signatures) if s not in self.callers]
        classes = [c for c in dict.fromkeys(starts) if c not in self.starters]
        if not sigs and not classes:
            return
        for s in sigs:
            self.callers[s] = []
        for c in classes:
            self.starters[c] = []
        targets: dict[str, list[str]] = {}  # signature -> the method ids' signatures an invoke of it may name
        for s in sigs:
            cls, name, desc = _split(s)
            targets[s] = [s] + ([] if name in ("<init>", "<clinit>") else [f"{t}->{name}{desc}" for t in self.supertypes(cls)])
        for dex in self.order:
            d = self.dexes[dex]
            try:
                mids: dict[int, list[str]] = {}
                for s, names in targets.items():
                    for target in names:
                        i = self.method_id(dex, target)
                        if i is not None:
                            mids.setdefault(i, []).append(s)
                tids: dict[int, list[tuple[str, int]]] = {}
                for s in sigs:
                    cls, name, _ = _split(s)
                    if name in callbacks:
                        tid = self.type_id(dex, cls)
                        if tid is not None:
                            tids.setdefault(tid, []).append((s, NEW_INSTANCE))
                for c in classes:
                    tid = self.type_id(dex, c)
                    if tid is not None:
                        tids.setdefault(tid, []).append((c, CONST_CLASS))
                refs = d.refs(methods=sorted(mids), types=sorted(tids)) if mids or tids else []
            except DexError:
                continue
            for r in refs:
                if r.kind == "method":
                    for s in mids.get(r.index, ()):
                        self.callers[s].append((dex, r.method_idx, r.offset, ReachEdge.CALL))
                elif r.kind == "type":
                    for key, op in tids.get(r.index, ()):
                        if op == r.opcode == NEW_INSTANCE:
                            self.callers[key].append((dex, r.method_idx, r.offset, ReachEdge.CALLBACK))
                        elif op == r.opcode == CONST_CLASS:
                            self.starters[key].append((dex, r.method_idx, r.offset, ReachEdge.START))


# -------------------------------------------------------------------- manifest side


def _entry_components(package: LoadedPackage | None, declared: tuple[Component, ...]) -> list[_Component]:
    """Application class first, then providers, launcher, boot receivers, other components."""
    if package is None or package.manifest is None:
        return []
    lifecycle, boot, _, _, _ = _table()
    out: list[_Component] = []
    app = application_class(package.manifest)
    if app:
        out.append(_Component(EntryKind.APPLICATION, app, _descriptor(app), lifecycle["application"]))
    launcher = {_target(c) for c in declared if c.kind in ("activity", "activity-alias")
                and "android.intent.action.MAIN" in c.actions and "android.intent.category.LAUNCHER" in c.categories}
    for c in declared:
        name = _target(c)
        if c.kind == "provider":
            kind, cycle = EntryKind.PROVIDER, lifecycle["provider"]
        elif c.kind in ("activity", "activity-alias"):
            kind, cycle = (EntryKind.LAUNCHER if name in launcher else EntryKind.ACTIVITY), lifecycle["activity"]
        elif c.kind == "service":
            kind, cycle = EntryKind.SERVICE, lifecycle["service"]
        elif c.kind == "receiver":
            kind, cycle = (EntryKind.BOOT_RECEIVER if boot & set(c.actions) else EntryKind.RECEIVER), lifecycle["receiver"]
        else:
            continue
        out.append(_Component(kind, name, _descriptor(name), cycle))
    rank = list(EntryKind)
    seen: dict[str, _Component] = {}
    for comp in sorted(out, key=lambda x: rank.index(x.kind)):
        seen.setdefault(comp.class_name, comp)  # an alias of the launcher and the activity itself: the launcher wins
    return list(seen.values())


def _target(c: Component) -> str:
    return c.target_activity or c.name


class _Screens:
    """Which activities look like a consent or privacy-policy screen, and why."""

    def __init__(self, code: _Code, package: LoadedPackage | None, comps: list[_Component], declared: tuple[Component, ...]) -> None:
        self.code, self.package, self.declared = code, package, declared
        self._table: bytes | None = None
        self._resolved: dict[int, str | None] = {}
        self.decoded = 0
        self.skipped = 0
        self.screens = self._find(comps)
        self.classes = {s.class_name: s for s in self.screens}

    def _find(self, comps: list[_Component]) -> tuple[ConsentScreen, ...]:
        _, _, _, topic, assent = _table()
        labels = self._labels()
        out = []
        for c in comps:
            if c.kind not in (EntryKind.LAUNCHER, EntryKind.ACTIVITY):
                continue
            clues: list[ConsentClue] = []
            simple = c.class_name.rstrip(";").rsplit("/", 1)[-1]
            if word := _keyword(simple, topic):
                clues.append(ConsentClue(ClueSource.NAME, c.name, word))
            label = labels.get(c.name, "")
            if label and (word := _keyword(label, topic)):
                clues.append(ConsentClue(ClueSource.LABEL, label, word))
            strings = self._strings(c.class_name)
            topical = [ConsentClue(src, text, w) for src, text in strings if src is not ClueSource.LAYOUT and (w := _keyword(text, topic))]
            agreeing = [ConsentClue(src, text, w) for src, text in strings
                        if src is not ClueSource.LAYOUT and all(t.text != text for t in topical) and (w := _keyword(text, assent))]
            layouts = [ConsentClue(ClueSource.LAYOUT, text, "WebView") for src, text in strings if src is ClueSource.LAYOUT]
            if (topical or clues) and (agreeing or layouts or clues):
                clues += topical[:3] + agreeing[:3] + layouts[:1]
            if clues:
                out.append(ConsentScreen(c.name, c.class_name, tuple(clues)))
        return tuple(out)

    def _labels(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in self.declared:
            raw = c.label
            if raw.startswith("@"):
                try:
                    raw = self._resource(int(raw[1:], 16)) or ""
                except ValueError:
                    raw = ""
            if raw:
                out.setdefault(_target(c), raw)
        return out

    def _resource(self, res_id: int) -> str | None:
        """A string resource's default value (a layout's is its path), or None."""
        if res_id in self._resolved:
            return self._resolved[res_id]
        value = None
        base = self.package.base if self.package is not None else None
        if base is not None:
            try:
                if self._table is None:
                    self._table = base.read("resources.arsc") if "resources.arsc" in base.files() else b""
                value = arsc.resolve(self._table, res_id) if self._table else None
            except (ArscError, MemberError):
                self._table, value = b"", None
        self._resolved[res_id] = value
        return value

    def _has_webview(self, path: str) -> bool:
        base = self.package.base if self.package is not None else None
        if base is None:
            return False
        try:
            data = base.read(path)
        except MemberError:
            return False
        return b"WebView" in data or "WebView".encode("utf-16-le") in data

    def _strings(self, class_name: str) -> list[tuple[ClueSource, str]]:
        """The string constants, string resources and WebView layouts the activity's ``onCreate``
        names (bounded per package: the screen's text and layout are usually set there)."""
        out: list[tuple[ClueSource, str]] = []
        for dex in self.code.order:
            d = self.code.dexes[dex]
            try:
                methods = [i for i in d.find_methods(class_name, "onCreate") if d.method_code_offset(i)]
            except DexError:
                continue
            for i in methods:
                if self.decoded >= MAX_SCREEN_METHODS:
                    self.skipped += 1
                    continue
                self.decoded += 1
                for insn in self.code.decode(dex, i) or ():
                    try:
                        if insn.kind == "string" and insn.index is not None:
                            out.append((ClueSource.STRING, d.string(insn.index)))
                            continue
                    except DexError:
                        continue
                    if insn.mnemonic not in ("const", "const/high16") or insn.literal is None or (insn.literal >> 24) & 0xFF != RESOURCE_PACKAGE:
                        continue
                    value = self._resource(insn.literal & 0xFFFFFFFF)
                    if value is None:
                        continue
                    if value.startswith("res/layout"):
                        if self._has_webview(value):
                            out.append((ClueSource.LAYOUT, value))
                    else:
                        out.append((ClueSource.RESOURCE, value))
        return list(dict.fromkeys(out))


# -------------------------------------------------------------------- the search


@dataclass
class _Node:
    sig: str
    dex: str
    idx: int
    offset: int
    """Where this method leads to ``parent`` (the read in the root)."""
    edge: ReachEdge
    parent: _Node | None
    depth: int


@dataclass
class _State:
    """The search from one reading method (every read site in it shares it)."""

    root: _Node
    budget: int
    depth_limit: int
    contacts: bool
    frontier: list[_Node] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    start: tuple[EntryPoint, _Node] | None = None
    consent: tuple[ConsentScreen, _Node] | None = None
    others: list[tuple[EntryPoint, _Node]] = field(default_factory=list)
    visited: int = 0
    cut: str = ""
    done: bool = False


class _Entries:
    """Which methods are entry points: a component's lifecycle methods, also when an app superclass defines them."""

    def __init__(self, code: _Code, comps: list[_Component]) -> None:
        self.by_class: dict[str, list[_Component]] = {}
        for c in comps:
            self.by_class.setdefault(c.class_name, []).append(c)
            for sup in code.supertypes(c.class_name)[:8]:
                self.by_class.setdefault(sup, []).append(c)

    def of(self, sig: str) -> EntryPoint | None:
        cls, name, desc = _split(sig)
        # the framework constructs the component itself: its constructors (field initialisers) run as it starts
        found = [c for c in self.by_class.get(cls, ()) if name in c.lifecycle or (name == "<init>" and c.class_name == cls)]
        if not found:
            return None
        rank = list(EntryKind)
        c = min(found, key=lambda c: rank.index(c.kind))
        return EntryPoint(c.kind, c.name, cls, name, desc)

    def started(self, sig: str) -> list[str]:
        """Classes of the activities, services and receivers whose lifecycle method this is (their own
        or inherited): who names one of them (``const-class``) may start it."""
        cls, name, _ = _split(sig)
        return [c.class_name for c in self.by_class.get(cls, ())
                if (name in c.lifecycle or (name == "<init>" and c.class_name == cls))
                and c.kind not in (EntryKind.APPLICATION, EntryKind.PROVIDER)][:MAX_FANIN]

    def component(self, class_name: str) -> _Component | None:
        """The component whose own class this is (not a superclass)."""
        return next((c for c in self.by_class.get(class_name, ()) if c.class_name == class_name), None)


def extract(facts: CodeFacts, dexes: list[tuple[str, DexFile]], package: LoadedPackage | None = None, *,
            max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES, max_depth_other: int = MAX_DEPTH_OTHER,
            max_other: int = MAX_NODES_OTHER, max_total: int = MAX_TOTAL) -> ReachFacts:
    """For every read site of ``facts`` (contacts first): an entry point that reaches it, and whether
    the path passes a consent screen.

    ``dexes`` are the dex files the code stage opened and validated, by the names
    ``CodeLocation.dex`` uses; ``package`` gives the manifest (entry points, labels) and the
    resources (consent-screen strings, layouts); without it nothing is an entry point. Never
    raises on package content: what cannot be read ends the search there.
    """
    code = _Code(dexes)
    declared = components(package.manifest) if package is not None else ()
    comps = _entry_components(package, declared)
    entries = _Entries(code, comps)
    states: dict[tuple[str, str], _State] = {}
    order: list[tuple[str, CodeLocation, tuple[str, str] | None, str]] = []
    listed: set[tuple[str, CodeLocation]] = set()
    for site in sorted(facts.sites, key=lambda s: (category_rank(s.category), s.location.dex, s.location.signature, s.location.offset)):
        loc = site.location
        key = (loc.dex, loc.signature)
        contacts = site.category == "contacts"
        if (site.category, loc) in listed:
            continue
        listed.add((site.category, loc))
        if key in states:
            st = states[key]
            if contacts and not st.contacts:  # a contacts read in the same method: the larger bounds
                st.contacts, st.budget, st.depth_limit = True, max_nodes, max_depth
            order.append((site.category, loc, key, ""))
            continue
        if loc.dex not in code.dexes:
            order.append((site.category, loc, None, f"dex {loc.dex} not given to the search"))
            continue
        try:
            idx = code.dexes[loc.dex].find_method(loc.class_name, loc.method, loc.descriptor)
        except DexError:
            idx = None
        if idx is None:
            order.append((site.category, loc, None, "the reading method cannot be found"))
            continue
        root = _Node(loc.signature, loc.dex, idx, loc.offset, ReachEdge.READ, None, 0)
        st = _State(root, max_nodes if contacts else max_other, max_depth if contacts else min(max_depth, max_depth_other), contacts)
        st.frontier = [root]
        states[key] = st
        order.append((site.category, loc, key, ""))
    screens = _Screens(code, package, comps, declared)
    _advance(code, list(states.values()), screens, entries, max_total)
    out = []
    for category, loc, found, why in order:
        if found is None:
            out.append(SiteReach(category, loc, ReachOutcome.NOT_SEARCHED, note=why))
        else:
            out.append(_result(code, states[found], category, loc, bool(screens.screens)))
    cut = [f"{st.root.sig}: {st.cut}" for st in states.values() if st.cut and st.start is None and st.consent is None and not st.others]
    if screens.skipped:
        cut.append(f"consent-screen strings: {screens.skipped} activity onCreate methods not decoded (bound {MAX_SCREEN_METHODS} per package)")
    limits = (f"depth {max_depth} calls back from a contacts read, {min(max_depth, max_depth_other)} from another read",
              f"{max_nodes} methods per contacts reading method, {max_other} per other reading method",
              f"{max_total} methods per package", f"{MAX_FANIN} callers, constructors or starters per method",
              f"{MAX_SCREEN_METHODS} activity onCreate methods decoded for consent-screen strings")
    return ReachFacts(tuple(out), screens.screens, len(comps), limits, tuple(cut))


def _advance(code: _Code, states: list[_State], screens: _Screens, entries: _Entries, max_total: int) -> None:
    """Advance every search one depth at a time: one ``refs()`` scan per dex per depth for all."""
    _, _, callbacks, _, _ = _table()
    total = 0
    states = sorted(states, key=lambda st: not st.contacts)  # contacts first: the package budget goes to them
    for depth in range(max((st.depth_limit for st in states), default=0) + 1):
        expand: list[tuple[_State, _Node, _Component | None]] = []
        want: list[str] = []
        starts: list[str] = []
        for st in states:
            if st.done:
                continue
            for node in st.frontier:
                if node.sig in st.seen:
                    continue
                if st.visited >= st.budget or total >= max_total:
                    st.cut = st.cut or (f"stopped after {st.visited} methods (bound {st.budget} per reading method)" if st.visited >= st.budget
                                        else f"package budget of {max_total} methods spent")
                    st.done = True
                    break
                st.seen.add(node.sig)
                st.visited += 1
                total += 1
                cls = _split(node.sig)[0]
                screen = screens.classes.get(_outer(cls))
                if screen is not None:
                    if st.consent is None:
                        st.consent = (screen, node)
                    continue  # behind the consent screen: what starts it does not matter here
                entry = entries.of(node.sig)
                if entry is not None:
                    if entry.kind.at_start:
                        st.start = (entry, node)
                        st.done = True
                        break
                    if len(st.others) < MAX_OTHER_ENTRIES and all(e.component != entry.component for e, _ in st.others):
                        st.others.append((entry, node))
                if depth >= st.depth_limit:
                    st.cut = st.cut or f"paths longer than {st.depth_limit} calls not followed"
                    continue
                comp = entries.component(cls)
                want.append(node.sig)
                if entry is not None:
                    starts += entries.started(node.sig)
                expand.append((st, node, comp))
            st.frontier = []
        if not expand:
            break
        code.prefetch(want, starts, callbacks)
        for st, node, comp in expand:
            if st.done:
                continue
            cls, name, desc = _split(node.sig)
            preds = list(code.callers.get(node.sig, ()))
            for started in entries.started(node.sig):
                preds += code.starters.get(started, [])
            if not preds and comp is not None and name.startswith("on"):
                # a callback of a component the framework created (onClick of an activity that is its own
                # listener): runs while the component is alive, so the component is the entry point
                if st.start is None and comp.kind.at_start:
                    st.start = (EntryPoint(comp.kind, comp.name, cls, name, desc), node)
                    st.done = True
                elif len(st.others) < MAX_OTHER_ENTRIES and all(e.component != comp.name for e, _ in st.others):
                    st.others.append((EntryPoint(comp.kind, comp.name, cls, name, desc), node))
                continue
            for dex, midx, off, edge in preds[:MAX_FANIN]:
                try:
                    sig = code.dexes[dex].method(midx).signature
                except DexError:
                    continue
                if sig not in st.seen:
                    st.frontier.append(_Node(sig, dex, midx, off, edge, node, depth + 1))
        if all(st.done or not st.frontier for st in states):
            break


def _steps(code: _Code, node: _Node, read_offset: int) -> tuple[ReachStep, ...]:
    out = []
    n: _Node | None = node
    while n is not None:
        offset = read_offset if n.parent is None else n.offset
        cls, name, desc = _split(n.sig)
        text = ""
        d = code.dexes[n.dex]
        for insn in code.decode(n.dex, n.idx) or ():
            if insn.offset == offset:
                try:
                    text = insn.text(d)
                except DexError:
                    text = ""
                break
        out.append(ReachStep(CodeLocation(n.dex, cls, name, desc, offset, text), n.edge))
        n = n.parent
    return tuple(out)


def _chain(node: _Node) -> set[str]:
    out = set()
    n: _Node | None = node
    while n is not None:
        out.add(n.sig)
        n = n.parent
    return out


def _result(code: _Code, st: _State, category: str, loc: CodeLocation, have_screens: bool) -> SiteReach:
    best = st.start or st.consent or (st.others[0] if st.others else None)
    on_path = _chain(best[1]) if best is not None else set()
    others = tuple(e for e, n in st.others if n.sig not in on_path)
    if st.start is not None:
        entry, node = st.start
        steps = _steps(code, node, loc.offset)
        where = f"{entry.kind.value} {entry.component} ({entry.method})"
        calls = f"along {counted(len(steps) - 1, 'call')}" if len(steps) > 1 else "in the entry point itself"
        if have_screens:
            return SiteReach(category, loc, ReachOutcome.BEFORE_CONSENT, entry, steps, None, others,
                             f"runs from {where} {calls}, without passing a consent screen", st.visited)
        return SiteReach(category, loc, ReachOutcome.REACHABLE, entry, steps, None, others,
                         f"no consent screen found in the app; runs from {where} at start", st.visited)
    if st.consent is not None:
        screen, node = st.consent
        cls, name, desc = _split(node.sig)
        entry = EntryPoint(EntryKind.CONSENT_SCREEN, screen.component, cls, name, desc)
        steps = _steps(code, node, loc.offset)
        also = f"; also reached from {', '.join(f'{e.kind.value} {e.component}' for e in others)}, not ordered against consent" if others else ""
        return SiteReach(category, loc, ReachOutcome.AFTER_CONSENT, entry, steps, screen, others,
                         f"reached only behind the consent screen {screen.component}; no start-up path avoids it{also}", st.visited)
    if st.others:
        entry, node = st.others[0]
        steps = _steps(code, node, loc.offset)
        why = "the app has no consent screen" if not have_screens else "no start-up path or consent screen was found to start it"
        return SiteReach(category, loc, ReachOutcome.REACHABLE, entry, steps, None, others,
                         f"reached from {entry.kind.value} {entry.component}; {why}", st.visited)
    if st.cut:
        return SiteReach(category, loc, ReachOutcome.CUT, note=st.cut + "; an entry point may lie beyond", methods_visited=st.visited)
    return SiteReach(category, loc, ReachOutcome.NOT_REACHED,
                     note=f"no entry point reached within {st.depth_limit} calls ({counted(st.visited, 'method')} searched): dead code, or called through reflection, "
                          "native code or a framework callback the search does not model", methods_visited=st.visited)


__all__ = ["MAX_DEPTH", "MAX_DEPTH_OTHER", "MAX_NODES", "MAX_NODES_OTHER", "MAX_TOTAL", "extract"]
