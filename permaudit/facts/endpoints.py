"""Endpoints: the URLs, hosts and ``ip:port`` servers a package names, and whose they are.

Public entry: :func:`extract`. Sources, each read only where a pattern targets it:

* dex: the string ids that hold a URL, a bare ``ip[:port]`` or base64 of ``http(s)://``
  (``DexFile.strings_matching``), their ``const-string`` sites (``DexFile.refs``), and one
  forward pass over each method holding one, which joins constants
  (``StringBuilder.append``, ``String.concat``, ``String.format``, ``String.valueOf``,
  ``Base64.decode`` + ``new String``) into the value the code builds;
* ``resources.arsc``: string values of the table (our own reader of the global string
  pool and the entries that point at it, no androguard);
* assets: text configs, JS bundles (React Native, uni-app, Cordova), JSON, HTML;
* native libraries ``lib/*/*.so`` (Flutter's ``libapp.so`` included): printable URLs;
* the network security config the manifest names: its ``<domain>`` names.

Each value is parsed, filtered (``data/endpoint_filters.json``, every filtered value
counted per reason), labelled with its registrable domain (the public suffix list shipped
by ``publicsuffixlist``, never downloaded) and its owner (the app's own, a known service of
``data/hosts.json``, or unknown), de-duplicated with its locations, and capped.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import ipaddress
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from permaudit.data import load
from permaudit.dex import DexError, DexFile, Insn, split_params
from permaudit.errors import ArscError, one_line
from permaudit.facts import attribution, suffixes
from permaudit.loading import LoadedPackage, member_name
from permaudit.loading.arsc import entry_names, global_pool, pool_strings
from permaudit.model import Attribution, CodeLocation, Problem
from permaudit.model.endpoints import (
    Construction,
    Endpoint,
    EndpointFacts,
    EndpointKind,
    EndpointSource,
    FilteredCount,
    IpScope,
    ServerOwner,
    SourceKind,
)
from permaudit.model.record import record

MAX_ENDPOINTS = 2000
"""Distinct endpoints kept; past it the rest are counted in ``capped``."""
MAX_SOURCES = 20
"""Locations kept per endpoint (``source_count`` has the total)."""
MAX_DEX_STRINGS = 20000
"""Candidate string ids per dex."""
MAX_METHODS = 5000
"""Methods decoded per dex for the forward pass (literal sites past it are still reported)."""
MAX_MEMBER_HITS = 2000
"""Matches read per member (asset, library, resource table)."""
MAX_VALUE = 2048
"""Longest value kept; longer ones are filtered as ``too-long``."""
MAX_PIECES = 64
"""Pieces one builder may hold before it is given up (bounded work per method)."""
UNKNOWN = "{?}"

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
_SCHEMES = ("http", "https", "ws", "wss", "ftp")
_CLEARTEXT = ("http", "ws", "ftp")
_URL_CHARS = r"(?:[!#-&(-;=?-\[\]_a-z~\U00010000-\U0010ffff]|\{\?\})"
"""A URL character: printable ASCII but ``"'<>\\^`{}|`` and space, or one beyond the BMP; the
``{?}`` of an unknown piece. Spelled as the characters it takes (the same set as "none of
``\\s"'<>\\^`{}|``, the controls, U+007F-U+FFFF"): that negated class took 3 ms to compile."""
URL_RE = re.compile(r"(?<![a-zA-Z0-9+.-])(?i:https?|wss?|ftp)://" + _URL_CHARS + "*")
URL_BYTES = re.compile(rb"(?<![a-zA-Z0-9+.-])(?i:https?|wss?|ftp)://[^\s\"'<>\\^`{}|\x00-\x20\x7f-\xff]*")
"""A URL in a blob; only ever tried where a literal ``://`` was found (``_urls_in``), so a
large member of anything else costs one C-speed search, not a regex attempt per byte."""
_URL_TAIL = re.compile(rb"[^\s\"'<>\\^`{}|\x00-\x20\x7f-\xff]*")
_SCHEME_BACK = 6  # len("https") + 1: how far before "://" a scheme (and its boundary) can start
IP_PORT_BYTES = re.compile(rb"(?<![\w.:/@])(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}(?![\w.])")
"""Bare ``ip:port`` in assets and libraries (a bare dotted quad there is too often a version number)."""
IP_STRING = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?:/" + _URL_CHARS + "*)?")
"""A dex string that is wholly an IPv4 address, optionally with port and path."""
B64_RE = re.compile(r"aHR0c[A-Za-z0-9+/_-]{4,}={0,2}")
_TRAILING = ".,;:)]!?'\""

DEX_NEEDLES = (rb"://", rb"\.\d{1,3}\.\d{1,3}\.", rb"aHR0c")
"""Literal-led scans of the string data (a case-insensitive or digit-led pattern is 50x slower
there); each hit is confirmed by :func:`_candidate`."""
TEXT_ASSET = re.compile(
    r"assets/.+\.(?:json|js|jsbundle|bundle|html?|xml|txt|properties|conf|cfg|ini|ya?ml|config|env|plist)", re.IGNORECASE
)
NATIVE = re.compile(r"lib/[^/]+/[^/]+\.so", re.IGNORECASE)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


# ---------------------------------------------------------------------------- public entry


def extract(package: LoadedPackage, dexes: list[tuple[str, DexFile]]) -> EndpointFacts:
    """Every endpoint ``package`` names, with where and how it was found and whose server it is.

    ``dexes`` are the dex files the code stage opened and validated, as ``(name, DexFile)``
    (a dex whose tables failed validation is not passed, and so not read here). Members are
    read only through ``package.files()`` and only when a pattern targets them. Damage
    (a resource table that cannot be walked, a method that cannot be decoded) is a problem
    appended to ``package.problems``; what was read elsewhere is kept. Never raises on
    package content.
    """
    found = _Collector(_app_domains(package))
    owner_of = _code_owner(package)
    for name, dex in dexes:
        _scan_dex(found, name, dex, package.problems, owner_of)
    _join_retrofit(found)
    nsc = _nsc_member(package)
    members = 0
    for path, read in package.files():
        member = member_name(path)
        if member == "resources.arsc":
            members += 1
            _scan_arsc(found, path, read(), package.problems)
        elif NATIVE.fullmatch(member):
            members += 1
            _scan_blob(found, path, read(), SourceKind.NATIVE, by_line=False)
        elif TEXT_ASSET.fullmatch(member):  # also React Native's index.android.bundle, uni-app's assets/apps/*/www/
            members += 1
            _scan_blob(found, path, read(), SourceKind.ASSET, by_line=True)
        elif nsc and member == nsc:
            members += 1
            _scan_nsc(found, path, read(), package.problems)
    package.problems.extend(Problem("endpoints-capped", f"{package.path}: {line}") for line in found.unread())
    return found.facts(members)


# ---------------------------------------------------------------------------- values


@record
class Parsed:
    kind: EndpointKind
    value: str
    scheme: str
    host: str
    port: int | None
    path: str


def parse(value: str) -> Parsed | str:
    """A URL, host or ``ip[:port]`` split into its parts, or the reason it is not an endpoint."""
    value = value.rstrip(_TRAILING)
    if len(value) > MAX_VALUE:
        return "too-long"
    if value == UNKNOWN or value.startswith(UNKNOWN + "/"):  # a Retrofit path whose base URL is not known statically
        return Parsed(EndpointKind.URL, value, "", "", None, value[len(UNKNOWN):])
    if "://" in value:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return "bad-port"
        scheme = parts.scheme.lower()
        netloc = parts.netloc.rpartition("@")[2]
        host = (parts.hostname or "").lower().rstrip(".")
        if not netloc or not host:
            return "no-host"
        if UNKNOWN in netloc:
            host, port = "", None
        elif "%" in netloc:
            return "template"
        path = value[value.find(parts.netloc) + len(parts.netloc):] if parts.netloc else ""
        return Parsed(EndpointKind.URL, value, scheme, host, port, path)
    host, _, rest = value.partition("/")
    path = "/" + rest if rest else ""
    address, _, port_text = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    if not port_text.isdigit() and port_text:
        return "bad-port"
    port = int(port_text) if port_text else None
    if port is not None and not 0 < port < 65536:
        return "bad-port"
    try:
        ipaddress.ip_address(address)
        return Parsed(EndpointKind.IP, value, "", address, port, path)
    except ValueError:
        pass
    if port is not None:  # host:port (java.net.Socket)
        name = address.lower().rstrip(".")
        return Parsed(EndpointKind.HOST, f"{name}:{port}", "", name, port, "")
    return Parsed(EndpointKind.HOST, value.lower().rstrip("."), "", value.lower().rstrip("."), None, "")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def ip_scope(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> IpScope:
    if address.is_loopback:
        return IpScope.LOOPBACK
    if address.is_link_local:
        return IpScope.LINK_LOCAL
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return IpScope.RESERVED
    if address.is_private or (address.version == 4 and address in ipaddress.ip_network("100.64.0.0/10")):
        return IpScope.PRIVATE if not _documentation(address) else IpScope.RESERVED
    return IpScope.PUBLIC if address.is_global else IpScope.RESERVED


def _documentation(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    nets = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24") if address.version == 4 else ("2001:db8::/32",)
    return any(address in ipaddress.ip_network(n) for n in nets)


def registrable_domain(host: str) -> str:
    """``globat.com`` for ``ftukguhilcom.globat.com``; empty for IPs, single labels and unknown suffixes."""
    if not host or _ip(host) is not None:
        return ""
    return suffixes.private_suffix(host) or ""


def _host_ok(host: str) -> str:
    """Empty when ``host`` is a usable name, else the filter reason."""
    if _ip(host) is not None or host == "localhost":
        return ""
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return "bad-host"
    if len(labels) < 2 or suffixes.public_suffix(host) is None:
        return "unknown-tld"
    return ""


@functools.cache
def _filters() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    return tuple((r["reason"], tuple(h.lower() for h in r["hosts"]), r.get("path_prefix", "")) for r in load("endpoint_filters")["rules"])


def filter_reason(parsed: Parsed) -> str:
    """Why ``parsed`` is not reported (``xml-namespace``, ``license``, ``placeholder``...), or empty."""
    host = parsed.host
    for reason, hosts, path_prefix in _filters():
        if host and any(host == h or host.endswith("." + h) for h in hosts) and (not path_prefix or parsed.path.startswith(path_prefix)):
            return reason
    return _host_ok(host) if host else ""


@functools.cache
def _hosts() -> dict[str, dict[str, str]]:
    return {e["domain"].lower(): e for e in load("hosts")["hosts"]}


def service_of(host: str) -> dict[str, str] | None:
    """The ``data/hosts.json`` entry of the longest domain that is ``host`` or a parent of it."""
    table = _hosts()
    labels = host.split(".")
    for start in range(len(labels) - 1):
        entry = table.get(".".join(labels[start:]))
        if entry is not None:
            return entry
    return None


def _app_domains(package: LoadedPackage) -> frozenset[str]:
    """Registrable domains the app's package name spells in reverse (``com.example.loan`` -> ``example.com``)."""
    name = package.manifest.get("package", "") if package.manifest is not None else ""
    parts = [p.lower() for p in name.split(".") if p]
    domains = set()
    for end in range(2, len(parts) + 1):
        candidate = ".".join(reversed(parts[:end]))
        domain = registrable_domain(candidate)
        if domain and domain == candidate and domain not in ("example.com", "android.com", "google.com"):
            domains.add(domain)
    return frozenset(domains)


# ---------------------------------------------------------------------------- collecting


@dataclass
class _Found:
    parsed: Parsed
    sources: list[EndpointSource] = field(default_factory=list)
    count: int = 0


_SOURCE_RANK = {k: i for i, k in enumerate(SourceKind)}


class _Collector:
    def __init__(self, app_domains: frozenset[str]) -> None:
        self.app_domains = app_domains
        self.found: dict[tuple[EndpointKind, str], _Found] = {}
        self.filtered: dict[str, list[Any]] = {}
        self.capped: list[str] = []
        self.over = 0
        self.bases: dict[str, _Base] = {}
        """Retrofit base URLs (``baseUrl``/``setEndpoint`` arguments) over every dex, first site of each."""
        self.retrofit: list[_RetrofitMethod] = []

    def add(self, value: str, source: EndpointSource) -> None:
        parsed = parse(value)
        reason = parsed if isinstance(parsed, str) else filter_reason(parsed)
        if reason:
            entry = self.filtered.setdefault(reason, [0, value[:200]])
            entry[0] += 1
            return
        assert isinstance(parsed, Parsed)
        key = (parsed.kind, parsed.value)
        found = self.found.get(key)
        if found is None:
            if len(self.found) >= MAX_ENDPOINTS:
                self.over += 1
                return
            found = self.found[key] = _Found(parsed)
        found.count += 1
        if source not in found.sources:
            found.sources.append(source)

    def cap(self, message: str) -> None:
        self.capped.append(message)

    def unread(self) -> list[str]:
        """The caps past which something was not read or not listed (the result is then partial)."""
        over = [f"endpoints: {self.over} further occurrences of new values past the cap of {MAX_ENDPOINTS} distinct endpoints not listed"] if self.over else []
        return self.capped + over

    def facts(self, members: int) -> EndpointFacts:
        endpoints = [self._endpoint(f) for f in self.found.values()]
        order = {ServerOwner.UNKNOWN: 0, ServerOwner.APP: 1, ServerOwner.THIRD_PARTY: 2}
        endpoints.sort(key=lambda e: (order[e.owner], e.registrable_domain or e.host, e.host, e.value, e.kind.value))
        capped = self.unread()
        many = sum(1 for f in self.found.values() if len(set(f.sources)) > MAX_SOURCES)
        if many:
            capped.append(f"sources: {many} endpoints named in more than {MAX_SOURCES} places; the first {MAX_SOURCES} are listed, source_count has the total")
        filtered = tuple(FilteredCount(r, c, ex) for r, (c, ex) in sorted(self.filtered.items()))
        return EndpointFacts(tuple(endpoints), filtered, tuple(capped), members)

    def _endpoint(self, found: _Found) -> Endpoint:
        p = found.parsed
        sources = sorted(found.sources, key=_source_key)
        domain = registrable_domain(p.host)
        address = _ip(p.host) if p.host else None
        service = service_of(p.host) if p.host and address is None else None
        if service is not None:
            owner = ServerOwner.THIRD_PARTY
        elif domain and domain in self.app_domains:
            owner = ServerOwner.APP
        else:
            owner = ServerOwner.UNKNOWN
        return Endpoint(
            value=p.value,
            kind=p.kind,
            scheme=p.scheme,
            host=p.host,
            port=p.port,
            path=p.path,
            registrable_domain=domain,
            owner=owner,
            service=service["service"] if service else "",
            category=service["category"] if service else "",
            service_source=service["source"] if service else "",
            ip_scope=ip_scope(address) if address is not None else None,
            cleartext=p.scheme in _CLEARTEXT,
            sources=tuple(sources[:MAX_SOURCES]),
            source_count=len(sources),
        )


def _source_key(s: EndpointSource) -> tuple[Any, ...]:
    loc = s.location
    return (_SOURCE_RANK[s.kind], s.member, loc.signature if loc else "", loc.offset if loc else 0, _detail_key(s.detail), s.construction.value, s.pieces)


def _detail_key(detail: str) -> tuple[str, int]:
    head, _, number = detail.rpartition(" ")
    try:
        return (head, int(number, 0))
    except ValueError:
        return (detail, 0)


def urls_in(text: str) -> list[str]:
    return [m.group().rstrip(_TRAILING) for m in URL_RE.finditer(text)]


# ---------------------------------------------------------------------------- dex


def _code_owner(package: LoadedPackage) -> Callable[[str], Attribution]:
    """Whose code a class is, as the code stage attributes it (``facts/attribution.py``)."""
    return attribution.Attributor.from_manifest(package.manifest).of


def _scan_dex(found: _Collector, name: str, dex: DexFile, problems: list[Problem], owner_of: Callable[[str], Attribution]) -> None:
    _scan_retrofit(found, name, dex, problems, owner_of)
    try:
        ids, capped = _url_strings(dex)
        if capped:
            found.cap(f"{name}: {capped}")
        apis = _apis(dex)
        port_calls = [m for m, spec in apis.items() if spec.port]
        if not ids and not port_calls:
            return
        refs = dex.refs(strings=sorted(ids), methods=port_calls)
    except DexError as exc:
        problems.append(Problem("bad-dex", f"{one_line(exc)}; endpoints of this dex not read", name))
        return
    joiners = _joiners(dex)
    by_method: dict[int, list[tuple[int, int]]] = {}
    for hit in refs:
        by_method.setdefault(hit.method_idx, []).append((hit.offset, hit.index if hit.kind == "string" else -1))
    methods = sorted(by_method)
    if len(methods) > MAX_METHODS:
        found.cap(f"{name}: {len(methods)} methods use URL strings or socket APIs; the first {MAX_METHODS} decoded, literal sites of the rest listed without joining pieces")
    for n, method_idx in enumerate(methods):
        try:
            method_ref = dex.method(method_idx)
        except DexError:
            continue
        owner = owner_of(method_ref.class_name)

        def where(offset: int, text: str, ref: Any = method_ref) -> CodeLocation:
            return CodeLocation(name, ref.class_name, ref.name, ref.descriptor, offset, text if len(text) <= 300 else text[:297] + "...")

        insns: list[Insn] | None = None
        if n < MAX_METHODS:
            try:
                insns = dex.code(method_idx) or []
            except DexError as exc:
                problems.append(Problem("bad-method", f"{name}: {one_line(exc)} (endpoints of this method not read)", name))
                continue
        try:
            if insns is None:
                for offset, index in by_method[method_idx]:
                    if index >= 0:
                        _literal(found, name, dex.string(index), where(offset, f'const-string "{dex.string(index)}"'), owner)
                continue
            _Pass(found, name, dex, ids, where, owner, joiners, apis).run(insns)
        except DexError as exc:  # an index out of range in this method's code: the other methods still count
            problems.append(Problem("bad-method", f"{name}: {method_ref.signature}: {one_line(exc)} (endpoints of this method not read)", name))


# ---------------------------------------------------------------------------- network APIs


@record
class _Api:
    """One modelled network API (``data/http_apis.json``), as one dex names it."""

    api: str
    sink: bool
    url_pos: int
    """Position of the URL among the invoke's registers (``this`` counted; wide parameters take two)."""
    method_pos: int = -1
    """Volley: position of the int ``Request.Method`` parameter before the URL, else -1."""
    port_pos: int = -1
    """Socket: position of the int port parameter after the host, else -1."""
    port: bool = False
    base_url: bool = False
    http_method: str = ""


@functools.cache
def _api_table() -> tuple[tuple[str, ...], dict[str, str], tuple[dict[str, Any], ...]]:
    data = load("http_apis")
    return tuple(data["url_types"]), dict(data["volley_methods"]), tuple(data["apis"])


def _url_strings(dex: DexFile) -> tuple[set[int], str]:
    """The ids of the strings worth following (:func:`_candidate`), and what was left unread when
    there are too many (empty when none was)."""
    hits: set[int] = set()
    for needle in DEX_NEEDLES:
        hits.update(dex.strings_matching(needle))
    ids: set[int] = set()
    for checked, i in enumerate(sorted(hits)):
        if len(ids) >= MAX_DEX_STRINGS or checked >= 10 * MAX_DEX_STRINGS:
            return ids, (f"{len(hits)} strings hold '://', a dotted quad or base64 of 'http'; "
                         f"only the first {checked} (by string id) read, {len(ids)} of them endpoint candidates")
        if _candidate(dex.string(i)):
            ids.add(i)
    return ids, ""


def wanted(dex: DexFile) -> dict[str, list[int]]:
    """The ids whose uses :func:`_scan_dex` asks ``DexFile.refs`` for, as its keywords (prefetched
    with other stages' ids, ``facts/code``)."""
    ids, _ = _url_strings(dex)
    return {"strings": sorted(ids), "methods": [m for m, spec in _apis(dex).items() if spec.port]}


def _apis(dex: DexFile) -> dict[int, _Api]:
    """Method id -> modelled network API, for every overload of every ``data/http_apis.json`` entry
    this dex references (a method whose URL parameter cannot be found is not modelled)."""
    url_types, _, table = _api_table()
    out: dict[int, _Api] = {}
    for entry in table:
        for method_idx in dex.find_methods(entry["class"], entry["method"]):
            params = split_params(dex.method(method_idx).descriptor)
            positions: list[int] = []
            at = 1  # as called on an instance; one less for invoke-static (_Pass._api)
            for p in params:
                positions.append(at)
                at += 2 if p in ("J", "D") else 1
            url, method_pos, port_pos = 0, -1, -1
            if entry.get("arg") != "this":
                k = next((i for i, p in enumerate(params) if p in url_types), -1)
                if k < 0:
                    continue
                url = positions[k]
                if entry.get("http_method_arg"):
                    method_pos = next((positions[i] for i in range(k) if params[i] == "I"), -1)
                if entry.get("port"):
                    port_pos = next((positions[i] for i in range(k + 1, len(params)) if params[i] == "I"), -1)
            if entry.get("port") and port_pos < 0:
                continue  # Socket(InetAddress, int), Socket(): no host string
            out[method_idx] = _Api(entry["api"], entry.get("role", "sink") == "sink", url, method_pos, port_pos,
                                   bool(entry.get("port")), bool(entry.get("base_url")), entry.get("http_method", ""))
    return out


# ---------------------------------------------------------------------------- Retrofit


@record
class _Base:
    """A Retrofit base URL: its text (``{?}`` for unknown pieces) and the ``baseUrl`` call it reaches."""

    text: str
    member: str
    location: CodeLocation
    api: str


@record
class _RetrofitMethod:
    member: str
    location: CodeLocation
    owner: Attribution
    api: str
    """``retrofit2.http.GET``."""
    http_method: str
    path: str
    """The annotation's path (``users/{id}``); empty with ``@Url``."""
    notes: tuple[str, ...]
    """``@Multipart``, ``@FormUrlEncoded``, ``@Url``."""


@functools.cache
def _retrofit_types() -> tuple[dict[str, tuple[str, str]], frozenset[str], frozenset[str]]:
    """Annotation type -> (kind name, HTTP method); marker types; ``@Url`` types."""
    r = load("http_apis")["retrofit"]
    methods = {pkg + name + ";": (name, verb) for pkg in r["packages"] for name, verb in r["methods"].items()}
    markers = frozenset(pkg + name + ";" for pkg in r["packages"] for name in r["markers"])
    url = frozenset(pkg + r["url_parameter"] + ";" for pkg in r["packages"])
    return methods, markers, url


def _scan_retrofit(found: _Collector, name: str, dex: DexFile, problems: list[Problem], owner_of: Callable[[str], Attribution]) -> None:
    """Retrofit interface methods of this dex: their HTTP method and path, read from the annotations."""
    methods, markers, url_types = _retrofit_types()
    try:
        annotated = dex.annotated_methods([*methods, *markers, *url_types], interfaces_only=True)
        by_method: dict[int, list[Any]] = {}
        for method_idx, annotation in annotated:
            by_method.setdefault(method_idx, []).append(annotation)
        for count, (method_idx, annotations) in enumerate(by_method.items()):
            if count >= MAX_METHODS:
                found.cap(f"{name}: {len(by_method)} Retrofit-annotated methods; the first {MAX_METHODS} read")
                break
            http = [a for a in annotations if a.type in methods and a.parameter is None]
            if not http:
                continue
            ref = dex.method(method_idx)
            notes = tuple(sorted({"@" + a.type.rsplit("/", 1)[1][:-1] for a in annotations if a.type in markers or a.type in url_types}))
            for a in http:
                kind, verb = methods[a.type]
                path = a.get("value", "") if kind != "HTTP" else a.get("path", "")
                verb = verb or (a.get("method", "") if isinstance(a.get("method", ""), str) else "")
                path = path if isinstance(path, str) else ""
                shown = f'@{kind}("{path}")' if kind != "HTTP" else f'@HTTP(method="{verb}", path="{path}")'
                text = f".annotation runtime {a.type} {shown}"
                found.retrofit.append(_RetrofitMethod(
                    name, CodeLocation(name, ref.class_name, ref.name, ref.descriptor, 0, text[:300]), owner_of(ref.class_name),
                    a.type[1:-1].replace("/", "."), verb, path, notes))
    except DexError as exc:
        problems.append(Problem("bad-dex", f"{one_line(exc)}; Retrofit annotations of this dex not read", name))


_HOLE = "permaudit-unknown-piece"
"""Stands for ``{?}`` while a URL is resolved (``?`` would start a query)."""


def resolve(base: str, path: str) -> str:
    """``path`` resolved against ``base`` as Retrofit does (``HttpUrl.resolve``, RFC 3986 section 5.2):
    a path starting with ``/`` replaces the base path, a relative one replaces its last segment,
    an absolute URL replaces the base."""
    joined = urljoin(base.replace(UNKNOWN, _HOLE), path.replace(UNKNOWN, _HOLE))
    return joined.replace(_HOLE, UNKNOWN)


def _join_retrofit(found: _Collector) -> None:
    """Each Retrofit method's path against every base URL of the package (or alone, as ``pieces``)."""
    bases = list(found.bases.values())[:MAX_BASES]
    if len(found.bases) > MAX_BASES:
        found.cap(f"retrofit: {len(found.bases)} base URLs; the first {MAX_BASES} joined with each interface path")
    for method in found.retrofit:
        path = method.path or UNKNOWN  # @Url: the whole URL is a call argument
        notes = " ".join(method.notes)
        source = EndpointSource(SourceKind.DEX, method.member, Construction.RETROFIT, location=method.location, code_owner=method.owner,
                                api=method.api, http_method=method.http_method)
        if "://" in path.partition("?")[0]:
            found.add(path, replace(source, detail=("absolute path " + notes).strip(), pieces=(path,)))
            continue
        if not bases:
            value = UNKNOWN if path == UNKNOWN else UNKNOWN + ("" if path.startswith("/") else "/") + path
            found.add(value, replace(source, construction=Construction.PIECES, detail=("no base URL found " + notes).strip(), pieces=(UNKNOWN, path)))
            continue
        for base in bases:
            detail = f"base URL {base.text}" + (f" (one of {len(bases)} base URLs)" if len(bases) > 1 else "") + (f" {notes}" if notes else "")
            found.add(resolve(base.text, path), replace(source, detail=detail, pieces=(base.text, path), api_location=base.location))


MAX_BASES = 16
"""Retrofit base URLs joined with each interface path."""


JOINERS = (
    *((cls, name) for cls in ("Ljava/lang/StringBuilder;", "Ljava/lang/StringBuffer;") for name in ("<init>", "append", "toString")),
    *(("Ljava/lang/String;", name) for name in ("concat", "valueOf", "format", "<init>", "trim", "toString", "intern")),
    ("Landroid/util/Base64;", "decode"), ("Ljava/util/Base64$Decoder;", "decode"),
    ("Ljava/lang/Integer;", "toString"), ("Ljava/lang/Long;", "toString"),
)


def _joiners(dex: DexFile) -> frozenset[int]:
    """Method ids of the calls the forward pass models; every other invoke just ends what it knew of the result."""
    ids: set[int] = set()
    for cls, name in JOINERS:
        ids.update(dex.find_methods(cls, name))
    return frozenset(ids)


def _candidate(text: str) -> bool:
    """A dex string worth following: it holds a URL (or a scheme piece), is an ``ip[:port]``, or holds base64 of ``http``."""
    return bool(URL_RE.search(text) or IP_STRING.fullmatch(text) or B64_RE.search(text))


def _literal(found: _Collector | _Pass, member: str, text: str, location: CodeLocation, owner: Any) -> None:
    for url in urls_in(text):
        found.add(url, EndpointSource(SourceKind.DEX, member, Construction.LITERAL, location=location, code_owner=owner))
    if IP_STRING.fullmatch(text):
        found.add(text, EndpointSource(SourceKind.DEX, member, Construction.LITERAL, location=location, code_owner=owner))
    for decoded in _b64_urls(text):
        found.add(decoded, EndpointSource(SourceKind.DEX, member, Construction.BASE64, location=location, code_owner=owner, pieces=(text[:200],)))


def _b64_urls(text: str) -> list[str]:
    out = []
    for match in B64_RE.finditer(text):
        token = match.group()
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_" if ("-" in token or "_" in token) else None)
            decoded = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        out += urls_in(decoded)
    return out


def _b64_text(text: str) -> str | None:
    try:
        token = text.strip()
        return base64.b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


Pieces = tuple[str | None, ...]
"""A string value as pieces: a constant, or None for a piece not known statically."""


class _Builder:
    __slots__ = ("pieces",)

    def __init__(self, pieces: Pieces = ()) -> None:
        self.pieces: list[str | None] = list(pieces)


@dataclass
class _Str:
    pieces: Pieces
    joined: bool = False
    """Built from more than one piece (so worth reporting as a built value)."""
    emitted: tuple[int, ...] = ()
    """The pass's pending sources this value produced (``_Pass.pending``), tagged with the API it reaches."""


class _Bytes:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _Array:
    __slots__ = ("items",)

    def __init__(self, size: int) -> None:
        self.items: list[Any] = [None] * max(0, min(size, MAX_PIECES))


SB = ("Ljava/lang/StringBuilder;", "Ljava/lang/StringBuffer;")
STRING = "Ljava/lang/String;"
_NO_DEF = ("if-", "goto", "return", "throw", "monitor", "fill-array", "packed-switch", "sparse-switch",
           "aput", "iput", "sput", "nop", "invoke", "filled-new-array")


class _Pass:
    """One forward pass over a method: constants, builders, concat, format, base64, in instruction order."""

    def __init__(self, found: _Collector, member: str, dex: DexFile, ids: set[int],
                 where: Callable[[int, str], CodeLocation], owner: Any, joiners: frozenset[int], apis: dict[int, _Api]) -> None:
        self.found, self.member, self.dex, self.ids, self.where, self.owner = found, member, dex, ids, where, owner
        self.joiners = joiners
        self.apis = apis
        self.pending: list[tuple[str, EndpointSource, bool]] = []
        """(value, source, reached a sink API) found in this method, added to ``found`` when the pass ends."""

    def add(self, value: str, source: EndpointSource) -> None:
        if len(self.pending) < MAX_ENDPOINTS:
            self.pending.append((value, source, False))

    def run(self, insns: Sequence[Insn]) -> None:
        try:
            self._run(insns)
        finally:
            for value, source, _ in self.pending:
                self.found.add(value, source)

    def _run(self, insns: Sequence[Insn]) -> None:
        regs: dict[int, Any] = {}
        pending: Any = None
        dex = self.dex
        for insn in insns:
            op = insn.mnemonic
            if op.startswith("move-result"):
                if pending is None:
                    regs.pop(insn.registers[0], None)
                else:
                    regs[insn.registers[0]] = pending
                pending = None
                continue
            pending = None
            if op.startswith("const-string"):
                index = insn.index if insn.index is not None else -1
                text = dex.string(index)
                start = len(self.pending)
                if index in self.ids:
                    _literal(self, self.member, text, self.where(insn.offset, insn.text(dex)), self.owner)
                regs[insn.registers[0]] = _Str((text,), emitted=tuple(range(start, len(self.pending))))
            elif op in ("const/4", "const/16", "const", "const/high16"):
                regs[insn.registers[0]] = insn.literal
            elif op.startswith("move-object") or op in ("move", "move/from16", "move/16"):
                value = regs.get(insn.registers[1])
                if value is None:
                    regs.pop(insn.registers[0], None)
                else:
                    regs[insn.registers[0]] = value
            elif op == "new-instance":
                type_name = dex.type_name(insn.index or 0)
                regs[insn.registers[0]] = _Builder() if type_name in SB else ("new", type_name)
            elif op == "new-array":
                size = regs.get(insn.registers[1])
                regs[insn.registers[0]] = _Array(size) if isinstance(size, int) else None
            elif op == "aput-object":
                array, slot = regs.get(insn.registers[1]), regs.get(insn.registers[2])
                if isinstance(array, _Array) and isinstance(slot, int) and 0 <= slot < len(array.items):
                    array.items[slot] = regs.get(insn.registers[0])
            elif op.startswith("filled-new-array"):
                array = _Array(len(insn.registers))
                array.items = [regs.get(r) for r in insn.registers]
                pending = array
            elif op.startswith("invoke"):
                pending = self._invoke(insn, regs)
            elif op != "check-cast" and insn.registers and not op.startswith(_NO_DEF):
                regs.pop(insn.registers[0], None)
                if "wide" in op:
                    regs.pop(insn.registers[0] + 1, None)

    def _invoke(self, insn: Insn, regs: dict[int, Any]) -> Any:
        api = self.apis.get(insn.index or 0)
        if api is not None:
            return self._api(insn, regs, api)
        if insn.index not in self.joiners:
            return None
        try:
            ref = self.dex.method(insn.index or 0)
        except DexError:
            return None
        args = [regs.get(r) for r in insn.registers]
        cls, name, desc = ref.class_name, ref.name, ref.descriptor
        if cls in SB:
            this = args[0] if args else None
            if not isinstance(this, _Builder):
                return None
            if name == "<init>":
                this.pieces = [] if desc == "()V" or desc == "(I)V" else list(_pieces(args[1] if len(args) > 1 else None, desc[1:-2]))
                return None
            if name == "append":
                if len(this.pieces) < MAX_PIECES:
                    this.pieces = list(_bounded((*this.pieces, *_pieces(args[1] if len(args) > 1 else None, desc[1:desc.index(")")]))))
                return this
            if name == "toString":
                return self._built(insn, tuple(this.pieces))
            return None
        if cls == STRING:
            if name == "concat" and len(args) == 2:
                return self._built(insn, _pieces(args[0], STRING) + _pieces(args[1], STRING))
            if name == "valueOf" and len(args) == 1:
                pieces = _pieces(args[0], desc[1:desc.index(")")])
                if isinstance(args[0], _Str):
                    return _Str(pieces, joined=args[0].joined, emitted=args[0].emitted)
                return _Str(pieces)
            if name == "format":
                return self._format(insn, args, desc)
            if name == "<init>" and args and isinstance(args[0], tuple) and len(args) >= 2 and isinstance(args[1], _Bytes):
                regs[insn.registers[0]] = _Str((args[1].text,))
                return None
            if name in ("trim", "toString", "intern"):
                return args[0] if isinstance(args[0], _Str) else None
            return None
        if name == "decode" and cls in ("Landroid/util/Base64;", "Ljava/util/Base64$Decoder;"):
            source = args[0] if cls == "Landroid/util/Base64;" else (args[1] if len(args) > 1 else None)
            if isinstance(source, _Str) and None not in source.pieces:
                text = _b64_text("".join(p for p in source.pieces if p is not None))
                return _Bytes(text) if text is not None else None
            return None
        if cls in ("Ljava/lang/Integer;", "Ljava/lang/Long;") and name == "toString" and len(args) == 1:
            return _Str(_pieces(args[0], "I"))
        return None

    def _format(self, insn: Insn, args: list[Any], desc: str) -> Any:
        offset = 1 if desc.startswith("(Ljava/util/Locale;") else 0
        if len(args) < offset + 2:
            return None
        template, array = args[offset], args[offset + 1]
        if not isinstance(template, _Str) or None in template.pieces:
            return None
        values = array.items if isinstance(array, _Array) else []
        out: list[str | None] = []
        text = "".join(p for p in template.pieces if p is not None)
        position = 0
        last = 0
        for match in re.finditer(r"%(?:(\d+)\$)?[-#+ 0,(]*\d*(?:\.\d+)?([a-zA-Z%])", text):
            out.append(text[last:match.start()])
            last = match.end()
            if match.group(2) == "%":
                out.append("%")
                continue
            if match.group(2) == "n":
                out.append("\n")
                continue
            if match.group(1):
                index = int(match.group(1)) - 1
            else:
                index, position = position, position + 1
            value = values[index] if 0 <= index < len(values) else None
            out.extend(_pieces(value, "Ljava/lang/Object;"))
        out.append(text[last:])
        return self._built(insn, tuple(p for p in out if p != ""), formatted=True)

    def _api(self, insn: Insn, regs: dict[int, Any], api: _Api) -> Any:
        """A modelled network API call: the value it receives is tagged with it (``EndpointSource.api``)."""
        shift = 1 if insn.mnemonic.startswith("invoke-static") else 0  # positions count a receiver

        def arg(pos: int) -> Any:
            pos -= shift
            return regs.get(insn.registers[pos]) if 0 <= pos < len(insn.registers) else None

        value = arg(api.url_pos)
        if not isinstance(value, _Str):
            return None
        http_method = api.http_method
        if api.method_pos >= 0:
            code = arg(api.method_pos)
            http_method = _api_table()[1].get(str(code), "") if isinstance(code, int) and not isinstance(code, bool) else ""
        location = self.where(insn.offset, insn.text(self.dex))
        for i in value.emitted:
            url, source, sink = self.pending[i]
            tagged = replace(source, api=api.api, api_location=location, http_method=http_method)
            if not source.api or (api.sink and not sink):
                self.pending[i] = (url, tagged, api.sink)
            elif api.sink and source.api != api.api and len(self.pending) < MAX_ENDPOINTS:
                self.pending.append((url, tagged, True))
        text = "".join(UNKNOWN if p is None else p for p in value.pieces)
        if api.port:
            port = arg(api.port_pos)
            if isinstance(port, int) and not isinstance(port, bool) and any(p for p in value.pieces if p) and "://" not in text:
                pieces = (*(UNKNOWN if p is None else p[:200] for p in value.pieces), ":", str(port))
                construction = Construction.PIECES if None in value.pieces else Construction.CONCATENATED
                if len(self.pending) < MAX_ENDPOINTS:
                    self.pending.append((f"{text}:{port}", EndpointSource(SourceKind.DEX, self.member, construction, location=location, pieces=pieces,
                                                                         code_owner=self.owner, api=api.api, api_location=location,
                                                                         http_method=http_method), True))
        if api.base_url and any(p for p in value.pieces if p) and "://" in text and len(self.found.bases) < 4 * MAX_BASES:
            self.found.bases.setdefault(text, _Base(text, self.member, location, api.api))
        if not api.sink:  # a carrier: the URL object stands for its string
            if self.dex.method(insn.index or 0).name == "<init>":
                regs[insn.registers[0]] = value
                return None
            return value
        return None

    def _built(self, insn: Insn, pieces: Pieces, formatted: bool = False) -> _Str:
        pieces = _bounded(pieces)
        start = len(self.pending)
        value = _Str(pieces, joined=True)
        constants = [p for p in pieces if p is not None]
        if (len(pieces) > 1 or formatted) and constants:
            joined = "".join(UNKNOWN if p is None else p for p in pieces)
            urls = urls_in(joined)
            if IP_STRING.fullmatch(joined):
                urls.append(joined)
            shown = tuple(UNKNOWN if p is None else p[:200] for p in pieces[:MAX_PIECES])
            for url in urls:
                if any(url == p for p in constants):
                    continue  # one constant, already reported at its const-string
                construction = Construction.PIECES if UNKNOWN in url else Construction.CONCATENATED
                source = EndpointSource(SourceKind.DEX, self.member, construction, location=self.where(insn.offset, insn.text(self.dex)),
                                        pieces=shown, code_owner=self.owner)
                self.add(url, source)
        value.emitted = tuple(range(start, len(self.pending)))
        return value


def _bounded(pieces: Pieces) -> Pieces:
    """At most ``MAX_PIECES`` pieces and ``4 * MAX_VALUE`` characters (a value doubled by
    ``s.concat(s)`` in a long method must not grow without bound); the excess becomes one unknown piece."""
    total = 0
    kept: list[str | None] = []
    for piece in pieces[:MAX_PIECES]:
        total += len(piece) if piece is not None else 3
        if total > 4 * MAX_VALUE:
            return (*kept, None)
        kept.append(piece)
    return tuple(kept) if len(pieces) <= MAX_PIECES else (*kept, None)


def _pieces(value: Any, type_desc: str) -> Pieces:
    """What appending ``value`` (of parameter type ``type_desc``) adds to a string."""
    if isinstance(value, _Str):
        return value.pieces
    if isinstance(value, int) and not isinstance(value, bool):
        if type_desc == "C":
            return (chr(value),) if 0 <= value < 0x110000 else (None,)
        if type_desc == "Z":
            return ("true" if value else "false",)
        if type_desc in ("I", "J", "S", "B", "Ljava/lang/Object;"):
            return (str(value),)
    return (None,)


# ---------------------------------------------------------------------------- members


def _urls_in(data: bytes) -> Iterator[tuple[int, int]]:
    """Spans of ``URL_BYTES`` matches, tried only around each literal ``://``; a URL longer than
    the window is followed to its real end (it is then filtered as too long, whole)."""
    at = data.find(b"://")
    while at >= 0:
        window = at + 3 + MAX_VALUE
        match = URL_BYTES.search(data, max(0, at - _SCHEME_BACK), window)
        if match is not None and match.start() <= at:
            tail = _URL_TAIL.match(data, match.end()) if match.end() >= window else None  # [^...]* always matches
            end = tail.end() if tail is not None else match.end()
            yield match.start(), end
            at = data.find(b"://", max(end, at + 3))
        else:
            at = data.find(b"://", at + 3)


def _ip_ports_in(data: bytes) -> Iterator[tuple[int, int]]:
    """Spans of ``IP_PORT_BYTES`` matches, tried only around each ``:`` (``255.255.255.255:`` is 16 bytes)."""
    at = data.find(b":")
    while at >= 0:
        match = IP_PORT_BYTES.search(data, max(0, at - 15), at + 7)
        if match is not None and match.start() < at < match.end():
            yield match.span()
        at = data.find(b":", at + 1)


def _scan_blob(found: _Collector, path: str, data: bytes, kind: SourceKind, *, by_line: bool) -> None:
    hits = 0
    line_starts: list[int] | None = None
    for spans in (_urls_in(data), _ip_ports_in(data)):
        for start, end in spans:
            hits += 1
            if hits > MAX_MEMBER_HITS:
                found.cap(f"{path}: more than {MAX_MEMBER_HITS} URL matches, the rest not read")
                return
            text = data[start:end].decode("ascii", "replace").rstrip(_TRAILING)
            if by_line:
                if line_starts is None:
                    line_starts = [m.end() for m in re.finditer(rb"\n", data)]
                detail = f"line {bisect.bisect_right(line_starts, start) + 1}"
            else:
                detail = f"offset {start:#x}"
            found.add(text, EndpointSource(kind, path, Construction.LITERAL, detail=detail))


def _nsc_member(package: LoadedPackage) -> str:
    """The member the manifest's ``networkSecurityConfig`` names (``res/xml/network_security_config.xml``), or empty."""
    manifest = package.manifest
    application = manifest.find("application") if manifest is not None else None
    if application is None:
        return ""
    raw = application.get(ANDROID_NS + "networkSecurityConfig") or application.get("networkSecurityConfig") or ""
    if not raw.startswith("@"):
        return raw
    base = package.base
    if base is None:
        return ""
    try:
        return base.resource_string(int(raw[1:], 16)) or ""
    except (ValueError, ArscError):  # the manifest stage reports a malformed table
        return ""


def _scan_nsc(found: _Collector, path: str, data: bytes, problems: list[Problem]) -> None:
    """``<domain>`` names of a network security config: binary XML (its string pool) or text XML."""
    names: list[str] = []
    if data[:4] == b"\x03\x00\x08\x00":
        try:
            names = pool_strings(data, 8)
        except (struct.error, IndexError, ValueError) as exc:
            problems.append(Problem("bad-resources", f"{path}: network security config string pool unreadable ({exc})", path))
            return
        source = EndpointSource(SourceKind.NETWORK_SECURITY_CONFIG, path, Construction.LITERAL, detail="<domain>")
        for name in names[:MAX_MEMBER_HITS]:
            name = name.strip()
            if "." in name and not name.startswith(("http", "@")) and _host_ok(name.lower()) == "" and " " not in name:
                found.add(name, source)
        return
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        problems.append(Problem("bad-resources", f"{path}: network security config unreadable ({one_line(exc)})", path))
        return
    for element in root.iter("domain"):
        if element.text and element.text.strip():
            found.add(element.text.strip(), EndpointSource(SourceKind.NETWORK_SECURITY_CONFIG, path, Construction.LITERAL, detail="<domain>"))


# ---------------------------------------------------------------------------- resources.arsc



def _scan_arsc(found: _Collector, path: str, data: bytes, problems: list[Problem]) -> None:
    try:
        hits = _arsc_hits(data)
        if not hits:
            return
        names = entry_names(data, set(hits))
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        problems.append(Problem("bad-resources", f"{path}: resource table unreadable for endpoints ({exc})", path))
        return
    for index, text in sorted(hits.items()):
        detail = ", ".join(sorted(names.get(index, ()))[:3]) or f"string pool #{index}"
        source = EndpointSource(SourceKind.RESOURCE, path, Construction.LITERAL, detail=detail)
        for url in urls_in(text):
            found.add(url, source)
        if IP_STRING.fullmatch(text.strip()):
            found.add(text.strip(), source)
        for url in _b64_urls(text):
            found.add(url, EndpointSource(SourceKind.RESOURCE, path, Construction.BASE64, detail=detail, pieces=(text[:200],)))


def _arsc_hits(data: bytes) -> dict[int, str]:
    """Global-pool strings holding a URL, a bare IP or base64 of one: index -> text.

    One regex over the pool bytes (UTF-8 or UTF-16), each hit mapped to its string by bisection."""
    pool = global_pool(data)
    needles = [rb"(?i)(?:https?|wss?|ftp)://", rb"(?:\d{1,3}\.){3}\d{1,3}", rb"aHR0c"]
    if not pool.utf8:
        needles = [rb"(?i)h\x00t\x00t\x00p\x00s?\x00?:\x00/\x00/\x00|w\x00s\x00s?\x00?:\x00/\x00/\x00|f\x00t\x00p\x00:\x00/\x00/\x00",
                   rb"(?:\d\x00){1,3}\.\x00(?:\d\x00){1,3}\.\x00(?:\d\x00){1,3}\.\x00(?:\d\x00){1,3}", rb"a\x00H\x00R\x000\x00c\x00"]
    wanted: set[int] = set()
    for needle in needles:
        for match in re.finditer(needle, pool.data):
            k = pool.index_at(match.start())
            if k is not None:
                wanted.add(k)
            if len(wanted) > MAX_MEMBER_HITS:
                break
    chosen = sorted(wanted)[:MAX_MEMBER_HITS]
    texts = pool_strings(data, pool.offset, chosen)
    return {i: t for i, t in zip(chosen, texts) if URL_RE.search(t) or IP_STRING.fullmatch(t.strip()) or B64_RE.search(t)}


__all__ = ["MAX_ENDPOINTS", "MAX_SOURCES", "extract", "filter_reason", "ip_scope", "parse", "registrable_domain", "service_of", "wanted"]
