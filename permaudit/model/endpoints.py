"""Endpoint facts: the URLs, hosts and servers an app names, where each was found and whose it is.

Facts only: an endpoint is a server the package *names* (a string in its code, resources,
assets, native libraries or network security config), not yet a proof that personal
data is sent there (the read-to-send paths are a later step). See ``docs/endpoints.md``.
"""

from __future__ import annotations

import enum

from permaudit.model.code import Attribution, CodeLocation
from permaudit.model.record import record


class EndpointKind(str, enum.Enum):
    """What the endpoint value is."""

    URL = "url"
    """``scheme://host[:port]/path``: a full URL, or one with ``{?}`` for pieces not known statically."""
    HOST = "host"
    """A bare host name (network security config ``<domain>``)."""
    IP = "ip"
    """An IPv4/IPv6 address, with ``:port`` when one is given, without a scheme."""


class SourceKind(str, enum.Enum):
    """Where in the package the endpoint was found."""

    DEX = "dex"
    RESOURCE = "resource"
    ASSET = "asset"
    NATIVE = "native"
    NETWORK_SECURITY_CONFIG = "network-security-config"


class Construction(str, enum.Enum):
    """How the value was obtained from the package."""

    LITERAL = "literal"
    """One string, as stored."""
    CONCATENATED = "concatenated"
    """Joined in one method from constants only (``StringBuilder.append``, ``concat``, ``String.format``, ``valueOf``)."""
    BASE64 = "base64"
    """A base64 constant that decodes to the URL."""
    PIECES = "pieces"
    """Joined in one method, but some pieces are not constants: ``{?}`` stands for each; ``pieces`` lists the constants."""
    RETROFIT = "retrofit"
    """A Retrofit interface method's path (``@GET("v1/users")``, ``@HTTP(method=, path=)``) resolved against
    a ``Retrofit.Builder().baseUrl(...)`` of the package, as Retrofit resolves it (RFC 3986)."""


class ServerOwner(str, enum.Enum):
    """Whose server it is."""

    APP = "app"
    """The registrable domain is the app's own package name reversed (``com.example.loan`` -> ``example.com``)."""
    THIRD_PARTY = "third-party"
    """A known SDK or service host (``data/hosts.json``); ``service`` names it."""
    UNKNOWN = "unknown"
    """Neither: most malware command servers and every bare IP address."""


class IpScope(str, enum.Enum):
    """For IP endpoints (and URLs whose host is an IP): which address range it falls in."""

    PUBLIC = "public"
    PRIVATE = "private"
    """RFC 1918, RFC 4193 (fc00::/7), shared CGNAT 100.64/10."""
    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    RESERVED = "reserved"
    """Unspecified, multicast, documentation and other reserved ranges."""


@record
class EndpointSource:
    """One place the endpoint is named, precise enough to find it again."""

    kind: SourceKind
    member: str
    """The package member: ``classes2.dex``, ``resources.arsc``, ``assets/config.json``,
    ``lib/arm64-v8a/libfoo.so``, ``res/xml/network_security_config.xml`` (``split.apk!...`` in a split)."""
    construction: Construction
    detail: str = ""
    """``string/api_url`` (resource), ``line 3`` (text asset), ``offset 0x1f40`` (native library, byte
    offset), ``<domain>`` (network security config); empty for dex (see ``location``)."""
    location: CodeLocation | None = None
    """For dex: the ``const-string`` (literal, base64) or the instruction that completes the value
    (``toString``, ``concat``, ``format``, ``new String``)."""
    pieces: tuple[str, ...] = ()
    """For concatenated and pieces-only values: the pieces in order, ``{?}`` for each unknown one."""
    code_owner: Attribution | None = None
    """For dex: whose code holds the site (first-party or a named SDK)."""
    api: str = ""
    """For dex: the network API the value reaches in the method (``okhttp3.Request$Builder.url``,
    ``java.net.URL.openConnection``, ``java.net.Socket.<init>``, ``retrofit2.Retrofit$Builder.baseUrl``...,
    ``data/http_apis.json``); for Retrofit, the annotation (``retrofit2.http.GET``); empty when none is seen."""
    api_location: CodeLocation | None = None
    """The call the value reaches (``api``); for Retrofit, the ``baseUrl`` call the base URL was passed to."""
    http_method: str = ""
    """``GET``, ``POST``... when the API fixes it (Retrofit annotation, Apache ``HttpPost``, Volley's method argument)."""


@record
class Endpoint:
    """A server the package names, de-duplicated over every place it is found."""

    value: str
    """The URL as found or built (``http://62.60.134.177:7702/app/input.php``), a host, or ``ip[:port]``."""
    kind: EndpointKind
    scheme: str
    """``https``, ``http``, ``ws``...; empty for hosts and bare IPs."""
    host: str
    """Lower-case host or IP (IPv6 without brackets); empty when not known statically."""
    port: int | None
    """The explicit port, else None (the scheme's default)."""
    path: str
    """Path, query and fragment as found (``/app/input.php``); empty when none."""
    registrable_domain: str
    """The public-suffix-list registrable domain (``globat.com`` for ``ftukguhilcom.globat.com``); empty for IPs."""
    owner: ServerOwner
    service: str = ""
    """For third-party hosts: the SDK or service (``Firebase Crashlytics``)."""
    category: str = ""
    """For third-party hosts: ``analytics``, ``ads``, ``push``, ``crash``, ``maps``, ``payments``, ``risk-control``..."""
    service_source: str = ""
    """The public source that documents the host -> service mapping."""
    ip_scope: IpScope | None = None
    """For IP addresses (bare or as a URL's host): public, private, loopback, link-local, reserved."""
    cleartext: bool = False
    """``http://``, ``ws://`` or ``ftp://``: readable by anyone on the path."""
    sources: tuple[EndpointSource, ...] = ()
    """Where it is named, in order, at most ``MAX_SOURCES`` of them; ``source_count`` has the total."""
    source_count: int = 0


@record
class FilteredCount:
    """Values matched as URLs and left out on purpose, counted per reason (``data/endpoint_filters.json``)."""

    reason: str
    """``xml-namespace``, ``license``, ``placeholder``, ``no-host``, ``too-long``..."""
    count: int
    example: str
    """The first value filtered for this reason (in the order the package was read)."""


@record
class EndpointFacts:
    """Every endpoint a package names, what was filtered, and any cap that was reached."""

    endpoints: tuple[Endpoint, ...] = ()
    """Sorted: owner unknown first, then app, then third party; then by host and value."""
    filtered: tuple[FilteredCount, ...] = ()
    capped: tuple[str, ...] = ()
    """One line per cap reached (endpoints, sources per endpoint, strings per dex, methods
    decoded, hits per member): the output is bounded on hostile input and says so here."""
    members_scanned: int = 0
    """Package members read for endpoints (dex files not included)."""


__all__ = ["Construction", "Endpoint", "EndpointFacts", "EndpointKind", "EndpointSource", "FilteredCount", "IpScope", "ServerOwner", "SourceKind"]
