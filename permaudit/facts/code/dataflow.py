"""Follow values through the registers of one method, in instruction order.

This is deliberately small: a single forward pass per method, no control flow, which is
what the evidence needs: *this* query gets *that* contacts URI, *this* cursor is
iterated, *this* request names *those* permissions. Values cross methods only through
fields (a URI kept in a static field, a permission array in a constant), through the
arguments of app methods and through what app methods return; the bytecode stage feeds
all three back in rounds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from permaudit.data import load
from permaudit.dex import DexFile, Insn, MethodRef, split_params
from permaudit.dex.opcodes import OPCODES
from permaudit.model.record import record

URI_TYPE = "Landroid/net/Uri;"
STRING_TYPE = "Ljava/lang/String;"
BASE64_URI_PREFIX = "Y29udGVudDovL"  # base64 of "content://"
EVIDENCE_LIMIT = 8
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a column name, not a stale string in a reused register
HANDED = ("data", "picked", "intent", "arr")  # values followed into the app methods they are passed to
FRAMEWORK_PREFIXES = ("Landroid/", "Ljava/", "Ljavax/", "Ldalvik/", "Lkotlin/", "Lorg/json/", "Lorg/apache/http/")


@dataclass(frozen=True)
class Value:
    """What a register is known to hold."""

    kind: str
    """``data`` (a URI naming personal data), ``authority`` (a provider authority such as
    ``com.android.contacts``: data only once given to an authority API), ``mime`` (a contacts MIME type),
    ``str``, ``arr`` (string array), ``field`` (a string field not known yet; ``text`` is its key),
    ``picked`` (URI returned by a picker), ``cursor``,
    ``intent`` (``items`` holds a picker action, ``text`` the contacts URI or MIME type)."""
    category: str = ""
    text: str = ""
    items: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    site: int = -1
    origin: str = ""
    """``dex:method@offset`` of the instruction that first named the data, to tell reads from mere references."""
    param: int = -1
    """The argument position it entered this method by (a caller handed it), else -1: a read of it
    is also a read at each caller's invoke of this method (``settle``)."""

    def step(self, line: str) -> Value:
        return replace(self, evidence=(self.evidence + (line,))[-EVIDENCE_LIMIT:])


@dataclass
class Site:
    """A read found in a method; ``kind`` is settled once iteration is known."""

    category: str
    kind: str
    api: str
    source: str
    method_idx: int
    offset: int
    instruction: str
    evidence: tuple[str, ...]
    origin: str = ""
    columns: tuple[str, ...] = ()
    param: int = -1
    """The argument position the URI came in by, else -1 (see ``Value.param``)."""
    via: str = ""
    """For a read at a call of a wrapper: ``<wrapper signature> @<offset>`` of the read it repeats."""
    iterated: bool = False
    returned: bool = False
    escapes: list[MethodRef] = field(default_factory=list)


@record
class Call:
    """An invoke of an app method handing it a URI (or picked URI) at some argument positions."""

    callee: str
    """``Lcom/x/W;->a(Landroid/net/Uri;)V``."""
    method_idx: int
    """The calling method."""
    offset: int
    instruction: str
    args: dict[int, Value]
    """Argument position -> the value handed, its evidence ending with this invoke."""


@dataclass
class Request:
    api: str
    permissions: tuple[str, ...]
    method_idx: int
    offset: int
    instruction: str


@dataclass
class MethodFacts:
    """What one pass over one method found."""

    sites: list[Site] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    stores: dict[str, Value] = field(default_factory=dict)
    """Field key -> value stored into it (a URI in a static field, a permission array)."""
    picker_launches: list[Site] = field(default_factory=list)
    calls: dict[str, dict[int, Value]] = field(default_factory=dict)
    wanted: set[str] = field(default_factory=set)
    """Fields whose unknown value reached a permission API: their writers are worth a pass."""
    returns: Value | None = None
    """A URI or string array the method returns, so its callers can be followed."""
    created: list[Site] = field(default_factory=list)
    """Every place this method names a personal-data URI, read or not (kind ``reference``)."""
    """App method signature -> {argument position: value} for values handed to app code."""
    handed: list[Call] = field(default_factory=list)
    """Every invoke of an app method with a URI argument, so a read inside it is also reported there."""


@functools.cache
def _apis() -> Any:
    """``data/apis.json`` (plain JSON, so typed as Any)."""
    return load("apis")


@functools.cache
def _uri_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(e["pattern"]), e["category"]) for e in _apis()["uri_strings"])


def classify_string(text: str) -> Value:
    """A const-string as a tracked value: data URI, base64 of one, contacts MIME type, or plain."""
    for pattern, category in _uri_patterns():
        if pattern.search(text):
            return Value("data", category, text)
    authorities = {e["value"]: e["category"] for e in _apis()["authorities"]}
    if text in authorities:
        return Value("authority", authorities[text], text)
    picker = _apis()["picker_types"]
    if re.match(picker["pattern"], text):
        return Value("mime", picker["category"], text)
    if text.startswith(BASE64_URI_PREFIX):
        decoded = _b64(text)
        if decoded:
            inner = classify_string(decoded)
            if inner.kind == "data":
                return Value("data", inner.category, decoded, evidence=(f'base64 of "{decoded}"',))
    return Value("str", text=text)


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def field_category(class_name: str, field_type: str) -> str:
    """The data category of a framework URI field such as ``ContactsContract$Contacts.CONTENT_URI``."""
    if field_type != URI_TYPE:
        return ""
    for entry in _apis()["uri_fields"]:
        if class_name.startswith(entry["class_prefix"]):
            return str(entry["category"])
    return ""


def param_slots(ref: MethodRef, is_static: bool) -> list[tuple[str, int]]:
    """(type, register position) of each argument, counting ``this`` and wide pairs."""
    types = ([ref.class_name] if not is_static else []) + split_params(ref.descriptor)
    slots, pos = [], 0
    for t in types:
        slots.append((t, pos))
        pos += 2 if t in ("J", "D") else 1
    return slots


def moves_cursor(dex: DexFile, insns: Sequence[Insn]) -> bool:
    """Whether these instructions move any cursor through its rows (``moveToNext``...)."""
    iteration = set(_apis()["cursor_iteration"])
    return any(
        insn.mnemonic.startswith("invoke") and insn.index is not None
        and (ref := dex.method(insn.index)).name in iteration and "Cursor" in ref.class_name
        for insn in insns
    )


def returns(descriptor: str) -> str:
    """The return type of a method descriptor (empty when it is malformed)."""
    return descriptor.partition(")")[2]


class MethodAnalyzer:
    """One forward pass over a method's instructions against the API tables."""

    def __init__(self, dex: DexFile, fields: dict[str, Value], returned: dict[str, Value]) -> None:
        """``fields``: what earlier rounds saw stored in fields; ``returned``: what app methods return."""
        self.dex = dex
        self.fields = fields
        self.returned = returned
        self.where = ""
        apis = _apis()
        self.query_by_name = {e["name"]: e for e in apis["query_apis"] if "class" not in e}
        self.query_by_ref = {(e["class"], e["name"]): e for e in apis["query_apis"] if "class" in e}
        self.data_apis = {(e["class"], e["name"]): e for e in apis["data_apis"]}
        self.perm_by_ref = {(e["class"], e["name"]) for e in apis["permission_apis"] if "class" in e}
        self.perm_by_name = {e["name"]: e["params_contain"] for e in apis["permission_apis"] if "class" not in e}
        self.iteration = set(apis["cursor_iteration"])
        self.bulk_streams = apis["bulk_streams"]
        self.builders = {(c, m) for c in apis["string_builders"]["classes"] for m in apis["string_builders"]["mutators"]}
        self.column_lookups = set(apis["cursor_columns"])
        self.picked = {(e["class"], e["name"]) for e in apis["picked_uri_sources"]}
        self.intents = {(e["class"], e["name"]) for e in apis["intent_builders"]}
        self.launchers = set(apis["intent_launchers"])
        self.picker_actions = set(apis["picker_actions"])
        reflection = apis["reflection"]
        self.authority_apis = {(e["class"], e["name"]) for e in apis["authority_apis"]}
        self.reflect_invoke = (reflection["invoke"]["class"], reflection["invoke"]["name"])
        self.reflect_target = reflection["target_class"]
        self.reflect_methods = tuple(reflection["target_methods"])
        self._callees: dict[tuple[int, bool], tuple[MethodRef, str, list[tuple[str, int]]]] = {}

    def run(self, method_idx: int, insns: Sequence[Insn], seeds: dict[int, Value] | None = None) -> MethodFacts:
        """One pass; ``seeds`` are registers known on entry (arguments passed by a caller)."""
        facts = MethodFacts()
        regs: dict[int, Value] = dict(seeds or {})
        info = self.dex.code_info(method_idx) if seeds else None
        if info is not None:  # arguments occupy the last ins_size registers
            first = info.registers_size - info.ins_size
            regs = {r: replace(v, param=r - first) if v.kind in ("data", "picked") else v for r, v in regs.items()}
        ref = self.dex.method(method_idx)
        self.where = f"{ref.class_name}->{ref.name}{ref.descriptor}"
        pending: Value | None = None
        strings: list[str] = []
        data_seen: list[Value] = []
        value: Value | None
        for insn in insns:
            op = insn.opcode
            if op in _MOVE_RESULT:
                _assign(regs, insn.registers[0], pending)
                pending = None
                continue
            pending = None
            if op in _CONST_STRING:
                value = classify_string(self.dex.string(_index(insn)))
                strings.append(value.text)
                if value.kind == "data":
                    note = f" ({value.evidence[0]})" if value.evidence else ""
                    value = replace(value, evidence=(self.step(insn) + note,), origin=self.origin(insn))
                    data_seen.append(value)
                    facts.created.append(self.reference(method_idx, insn, value))
                regs[insn.registers[0]] = value
            elif op in _GET_OBJECT:
                fref = self.dex.field(_index(insn))
                key = f"{fref.class_name}->{fref.name}:{fref.type}"
                category = field_category(fref.class_name, fref.type)
                if category:
                    value = Value("data", category, f"{fref.class_name}->{fref.name}", evidence=(self.step(insn),), origin=self.origin(insn))
                    facts.created.append(self.reference(method_idx, insn, value))
                else:
                    stored = self.fields.get(key)
                    value = stored.step(self.step(insn)) if stored else None
                    if value is None and fref.type in (STRING_TYPE, "[" + STRING_TYPE):
                        value = Value("field", text=key)  # unknown yet: its writer may be analysed later
                if value is not None and value.kind == "data":
                    data_seen.append(value)
                _assign(regs, insn.registers[0], value)
            elif op in _PUT_OBJECT:
                value = regs.get(insn.registers[0])
                if value is not None and value.kind in ("data", "arr"):
                    fref = self.dex.field(_index(insn))
                    facts.stores[f"{fref.class_name}->{fref.name}:{fref.type}"] = replace(value, param=-1).step(self.step(insn))
            elif op in _MOVE_OBJECT:
                _assign(regs, insn.registers[0], regs.get(insn.registers[1]))
            elif op in _NEW_ARRAY:
                string_array = self.dex.type_name(_index(insn)) == "[" + STRING_TYPE
                _assign(regs, insn.registers[0], Value("arr") if string_array else None)
            elif op in _APUT_OBJECT:
                array, item = regs.get(insn.registers[1]), regs.get(insn.registers[0])
                if array is not None and array.kind == "arr" and item is not None and item.kind == "str":
                    regs[insn.registers[1]] = replace(array, items=array.items + (item.text,))
            elif op in _FILLED_NEW_ARRAY:
                items = tuple(v.text for v in (regs.get(r) for r in insn.registers) if v is not None and v.kind == "str")
                pending = Value("arr", items=items)
            elif op in _INVOKE:
                pending = self._invoke(facts, method_idx, insn, regs, strings, data_seen)
            elif op in _RETURN_OBJECT:
                value = regs.get(insn.registers[0])
                if value is not None and value.kind == "cursor":
                    facts.sites[value.site].returned = True
                elif value is not None and value.kind in ("data", "arr") and facts.returns is None:
                    facts.returns = replace(value, param=-1).step(self.step(insn))
            elif op in _DEFINES_FIRST and insn.registers:
                regs.pop(insn.registers[0], None)
        return facts

    def step(self, insn: Insn) -> str:
        """An evidence line: where, and what (``Lcom/x/A;->m()V @0x1c: sget-object ...``)."""
        return f"{self.where} @{insn.offset:#x}: {insn.text(self.dex)}"

    def origin(self, insn: Insn) -> str:
        return f"{self.dex.name}:{self.where}@{insn.offset}"

    def reference(self, method_idx: int, insn: Insn, value: Value) -> Site:
        return Site(value.category, "reference", "", value.text, method_idx, insn.offset, insn.text(self.dex), value.evidence, value.origin)

    def _invoke(
        self, facts: MethodFacts, method_idx: int, insn: Insn, regs: dict[int, Value], strings: list[str], data_seen: list[Value]
    ) -> Value | None:
        is_static = "static" in insn.mnemonic
        ref, api, slots = self._callee(_index(insn), is_static)
        args = [(t, regs.get(insn.registers[pos]) if pos < len(insn.registers) else None) for t, pos in slots]
        values = [v for _, v in args]
        live = values.count(None) < len(values)  # most calls hand over no tracked value at all
        receiver = values[0] if not is_static and values else None
        key = (ref.class_name, ref.name)

        if receiver is not None and receiver.kind == "cursor":
            site = facts.sites[receiver.site]
            if ref.name in self.iteration and not site.iterated:
                site.iterated = True
                site.evidence += (f"cursor iterated: {self.step(insn)}",)
            elif ref.name in self.column_lookups:
                site.columns += tuple(v.text for v in values[1:] if v is not None and v.kind == "str" and COLUMN.fullmatch(v.text))
            return None
        for v in (values[1:] if not is_static else values) if live else ():
            if v is not None and v.kind == "cursor":
                facts.sites[v.site].escapes.append(ref)

        query = self.query_by_ref.get(key) or self._query_by_name(ref)
        if query is not None:
            uri = next((v for t, v in args[0 if is_static else 1 :] if t == URI_TYPE), None)
            if (uri is None or uri.kind not in ("data", "picked")) and receiver is not None and receiver.kind == "data":
                uri = receiver  # a ContentProviderClient acquired for a personal-data authority
            if uri is not None and query.get("stream") and (uri.kind != "data" or uri.category not in query["categories"]):
                return None  # a picked image, a file, a media item: not a read of these categories
            if uri is not None and uri.kind in ("data", "picked"):
                kind = "picker" if uri.kind == "picked" else str(query["kind"])
                if query.get("stream") and self._bulk_stream(uri.text):
                    kind = "bulk"  # a vCard export: every field of the contacts named, in one read
                category = uri.category or "contacts"
                site = Site(category, kind, api, uri.text, method_idx, insn.offset, insn.text(self.dex), uri.evidence + (self.step(insn),), uri.origin, param=uri.param)
                projection = next((v.items for t, v in args if t == "[" + STRING_TYPE and v is not None and v.kind == "arr"), ())
                site.columns = tuple(c for c in projection if COLUMN.fullmatch(c))
                facts.sites.append(site)
                return Value("cursor", category, site=len(facts.sites) - 1) if kind in ("query", "picker") else None
            return None
        if key in self.authority_apis:
            authority = next((v for v in values if v is not None and v.kind == "authority"), None)
            if authority is not None:
                value = Value("data", authority.category, authority.text, evidence=(self.step(insn),), origin=self.origin(insn))
                facts.created.append(self.reference(method_idx, insn, value))
                return value
        if key in self.picked:
            return Value("picked", text=api, evidence=(self.step(insn),))
        if key in self.intents:
            self._intent(insn, values, regs)
            return None
        intent = next((v for v in values if v is not None and v.kind == "intent"), None) if live and ref.name in self.launchers else None
        if intent is not None and intent.category and intent.items:
            facts.picker_launches.append(
                Site(intent.category, "picker", api, intent.text, method_idx, insn.offset, insn.text(self.dex), intent.evidence + (self.step(insn),), intent.origin)
            )
            return None
        if key == self.reflect_invoke:
            joined = "".join(strings)
            if self.reflect_target in joined and any(m in joined for m in self.reflect_methods) and data_seen:
                uri = data_seen[-1]
                facts.sites.append(Site(uri.category, "reflection", api, uri.text, method_idx, insn.offset, insn.text(self.dex), uri.evidence + (self.step(insn),), uri.origin))
            return None
        if key in self.data_apis:
            entry = self.data_apis[key]
            wanted_string = entry.get("string_arg")
            if wanted_string is None or any(v is not None and v.kind == "str" and v.text == wanted_string for v in values):
                facts.sites.append(Site(str(entry["category"]), str(entry["kind"]), api, wanted_string or "", method_idx, insn.offset, insn.text(self.dex), (self.step(insn),)))
            return None
        if key in self.perm_by_ref or (ref.name in self.perm_by_name and self.perm_by_name[ref.name] in ref.descriptor):
            named = [p for v in values if v is not None for p in ((v.text,) if v.kind == "str" else v.items if v.kind == "arr" else ())]
            facts.wanted.update(v.text for v in values if v is not None and v.kind == "field")
            facts.requests.append(Request(api, tuple(p for p in named if "." in p), method_idx, insn.offset, insn.text(self.dex)))
            return None
        handed = {pos: v.step(self.step(insn)) for (_, pos), v in zip(slots, values) if v is not None and v.kind in HANDED} if live else {}
        if handed and not ref.class_name.startswith(FRAMEWORK_PREFIXES):
            facts.calls.setdefault(api, handed)
            uris = {pos: v for pos, v in handed.items() if v.kind in ("data", "picked")}
            if uris:
                facts.handed.append(Call(api, method_idx, insn.offset, insn.text(self.dex), uris))
        if api in self.returned:  # an app method known to return a URI or permission array
            return self.returned[api].step(self.step(insn))
        carried = next((v for v in values if v is not None and v.kind in ("data", "picked")), None) if live else None
        if carried is None:
            return None
        carried = carried.step(self.step(insn))
        if key in self.builders and not is_static and insn.registers:
            regs[insn.registers[0]] = carried  # sb.append(uri): the builder holds it, whether or not the result is kept
        if ref.name == "<init>" and not is_static and insn.registers:
            regs[insn.registers[0]] = carried  # new String(bytes), new Intent(..., uri): the object carries it
            return None
        return carried if returns(ref.descriptor).startswith(("L", "[")) else None

    def _callee(self, method_idx: int, is_static: bool) -> tuple[MethodRef, str, list[tuple[str, int]]]:
        """The invoked method, its signature and its argument slots, once per method id: the same
        few framework methods are invoked thousands of times."""
        key = (method_idx, is_static)
        got = self._callees.get(key)
        if got is None:
            ref = self.dex.method(method_idx)
            got = self._callees[key] = (ref, ref.signature, param_slots(ref, is_static))
        return got

    def _bulk_stream(self, source: str) -> bool:
        """Whether a stream read of this URI (field or string) copies many contacts at once (vCard export)."""
        return source in self.bulk_streams["fields"] or any(re.search(p, source) for p in self.bulk_streams["patterns"])

    def _query_by_name(self, ref: MethodRef) -> Any:
        entry = self.query_by_name.get(ref.name)
        if entry is None or returns(ref.descriptor) != entry["returns"] or URI_TYPE not in ref.descriptor:
            return None
        return entry

    def _intent(self, insn: Insn, values: list[Value | None], regs: dict[int, Value]) -> None:
        """Remember an intent's action and contacts URI or MIME type, so its launch can be judged."""
        if not insn.registers:
            return
        intent = values[0] if values[0] is not None and values[0].kind == "intent" else Value("intent")
        for value in values[1:]:
            if value is None:
                continue
            if value.kind == "str" and value.text in self.picker_actions:
                intent = replace(intent, items=(value.text,))
            elif value.kind in ("data", "mime"):
                intent = replace(intent, category=value.category, text=value.text, evidence=value.evidence)
        regs[insn.registers[0]] = intent.step(self.step(insn))


def _index(insn: Insn) -> int:
    """The index operand of an instruction that has one (const-string, sget, invoke...)."""
    assert insn.index is not None, insn.mnemonic
    return insn.index


def _assign(regs: dict[int, Value], register: int, value: Value | None) -> None:
    if value is None:
        regs.pop(register, None)
    else:
        regs[register] = value


def _defines_first(op: str) -> bool:
    """Whether the instruction writes its first register (so what we knew of it is gone)."""
    return not op.startswith(("if-", "goto", "return", "throw", "monitor", "fill-array", "packed-switch", "sparse-switch",
                              "aput", "iput", "sput", "nop", "invoke", "filled-new-array"))


def _opcodes(test: Callable[[str], bool]) -> frozenset[int]:
    """The opcodes whose mnemonic passes ``test``: the pass dispatches on the opcode number, not on
    string prefixes of each instruction's mnemonic (payloads, above 255, are in none)."""
    return frozenset(op for op, (name, _, _) in enumerate(OPCODES) if test(name))


_MOVE_RESULT = _opcodes(lambda n: n.startswith("move-result"))
_CONST_STRING = _opcodes(lambda n: n.startswith("const-string"))
_GET_OBJECT = _opcodes(lambda n: n.startswith(("sget-object", "iget-object")))
_PUT_OBJECT = _opcodes(lambda n: n.startswith(("sput-object", "iput-object")))
_MOVE_OBJECT = _opcodes(lambda n: n.startswith("move-object"))
_NEW_ARRAY = _opcodes(lambda n: n == "new-array")
_APUT_OBJECT = _opcodes(lambda n: n == "aput-object")
_FILLED_NEW_ARRAY = _opcodes(lambda n: n.startswith("filled-new-array"))
_INVOKE = _opcodes(lambda n: n.startswith("invoke"))
_RETURN_OBJECT = _opcodes(lambda n: n == "return-object")
_DEFINES_FIRST = _opcodes(lambda n: n != "check-cast" and _defines_first(n))
