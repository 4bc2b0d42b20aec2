"""Endpoint facts (permaudit/facts/endpoints.py): the servers a package names, where, how, and whose."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permaudit.dex import DexFile, validate
from permaudit.facts import endpoints, suffixes
from permaudit.loading import load
from permaudit.model.endpoints import (
    Construction,
    EndpointFacts,
    EndpointKind,
    IpScope,
    ServerOwner,
    SourceKind,
)

from .conftest import corpus, corpus_labels, fixture


def extract(path: Path) -> EndpointFacts:
    """As the code stage would call it: every dex that opens and validates, by name."""
    package = load(path)
    dexes = []
    for source in package.dex:
        dex = DexFile(source.read(), source.name)
        if not any(d.fatal for d in validate(dex)):
            dexes.append((source.name, dex))
    return endpoints.extract(package, dexes)


def rows(facts: EndpointFacts) -> list[tuple[Any, ...]]:
    out = []
    for e in facts.endpoints:
        for s in e.sources:
            where = (s.location.class_name, s.location.method, s.location.offset) if s.location else s.detail
            out.append((e.value, e.kind, e.owner, e.registrable_domain, s.kind, s.construction, s.member, where))
    return out


API = "Lcom/loanfixturedemo/app/Api;"


def test_fixture_endpoints_exactly() -> None:
    facts = extract(fixture("endpoints.apk"))
    U, A, T = ServerOwner.UNKNOWN, ServerOwner.APP, ServerOwner.THIRD_PARTY
    URL, IP, HOST = EndpointKind.URL, EndpointKind.IP, EndpointKind.HOST
    D, R, S, N, C = SourceKind.DEX, SourceKind.RESOURCE, SourceKind.ASSET, SourceKind.NATIVE, SourceKind.NETWORK_SECURITY_CONFIG
    lit, cat, b64, pcs = Construction.LITERAL, Construction.CONCATENATED, Construction.BASE64, Construction.PIECES
    assert rows(facts) == [
        ("http://10.0.0.5:8080/collect", URL, U, "", D, b64, "classes.dex", (API, "hidden", 0)),
        ("103.21.44.9:443", IP, U, "", N, lit, "lib/arm64-v8a/libfoo.so", "offset 0x82"),
        ("http://203.0.113.7:9000/sync", URL, U, "", S, lit, "assets/config.json", "line 3"),
        ("47.52.158.74", IP, U, "", D, lit, "classes.dex", (API, "built", 7)),
        ("http://47.52.158.74:8088/loan/contacts.php", URL, U, "", D, cat, "classes.dex", (API, "built", 0x1F)),
        ("http://62.60.134.177:7702/app/input.php", URL, U, "", D, lit, "classes.dex", (API, "literals", 2)),
        ("cleartext.datasink-fixture.net", HOST, U, "datasink-fixture.net", C, lit, "res/xml/network_security_config.xml", "<domain>"),
        ("https://collect.datasink-fixture.net/api/sms", URL, U, "datasink-fixture.net", D, cat, "classes.dex", (API, "formatted", 0xF)),
        ("https://native.datasink-fixture.net/hook", URL, U, "datasink-fixture.net", N, lit, "lib/arm64-v8a/libfoo.so", "offset 0x56"),
        ("https://api.loanfixturedemo.com/v1/contacts/upload", URL, A, "loanfixturedemo.com", D, lit, "classes.dex", (API, "literals", 0)),
        ("https://gateway.loanfixturedemo.com/api/", URL, A, "loanfixturedemo.com", R, lit, "resources.arsc", "string/api_base"),
        ("https://upload.loanfixturedemo.com/u?id=", URL, A, "loanfixturedemo.com", D, lit, "classes.dex", (API, "withId", 0)),
        ("https://upload.loanfixturedemo.com/u?id={?}", URL, A, "loanfixturedemo.com", D, pcs, "classes.dex", (API, "withId", 2)),
        ("https://fcm.googleapis.com/fcm/send", URL, T, "fcm.googleapis.com", D, lit, "classes.dex", (API, "literals", 4)),
        ("https://o1.ingest.sentry.io/api/1/store/", URL, T, "sentry.io", S, lit, "assets/config.json", "line 4"),
    ]
    assert facts.members_scanned == 4  # resources.arsc, the asset, the library, the network security config
    assert facts.capped == ()


def test_fixture_details_pieces_services_and_scopes() -> None:
    facts = extract(fixture("endpoints.apk"))
    by_value = {e.value: e for e in facts.endpoints}
    built = by_value["http://47.52.158.74:8088/loan/contacts.php"]
    assert (built.scheme, built.host, built.port, built.path, built.cleartext) == ("http", "47.52.158.74", 8088, "/loan/contacts.php", True)
    assert built.sources[0].pieces == ("http://", "47.52.158.74", ":", "8088", "/loan/contacts.php")
    assert built.sources[0].location is not None
    assert built.sources[0].location.instruction == "invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;"
    assert by_value["https://collect.datasink-fixture.net/api/sms"].sources[0].pieces == ("https://", "collect.datasink-fixture.net", "/api/", "sms")
    assert by_value["https://upload.loanfixturedemo.com/u?id={?}"].sources[0].pieces == ("https://upload.loanfixturedemo.com/u?id=", "{?}")
    hidden = by_value["http://10.0.0.5:8080/collect"]
    assert hidden.ip_scope is IpScope.PRIVATE and hidden.sources[0].pieces == ("aHR0cDovLzEwLjAuMC41OjgwODAvY29sbGVjdA==",)
    assert by_value["http://203.0.113.7:9000/sync"].ip_scope is IpScope.RESERVED  # RFC 5737 documentation range
    assert by_value["http://62.60.134.177:7702/app/input.php"].ip_scope is IpScope.PUBLIC
    fcm = by_value["https://fcm.googleapis.com/fcm/send"]
    assert (fcm.service, fcm.category) == ("Firebase Cloud Messaging", "push") and "firebase.google.com" in fcm.service_source
    assert by_value["https://o1.ingest.sentry.io/api/1/store/"].category == "crash"
    code_owner = by_value["https://api.loanfixturedemo.com/v1/contacts/upload"].sources[0].code_owner
    assert code_owner is not None and code_owner.owner == "first-party"
    assert not by_value["https://api.loanfixturedemo.com/v1/contacts/upload"].cleartext


def test_fixture_filtered_counts_per_reason() -> None:
    facts = extract(fixture("endpoints.apk"))
    assert [(f.reason, f.count, f.example) for f in facts.filtered] == [
        ("license", 1, "http://www.apache.org/licenses/LICENSE-2.0"),
        ("no-host", 1, "http://"),  # the scheme piece of the StringBuilder chain
        ("placeholder", 1, "https://www.example.com/"),
        ("template", 1, "https://%s/api/%s"),  # the String.format template itself (its result is reported)
        ("xml-namespace", 2, "http://schemas.android.com/apk/res/android"),  # dex + resources (the SVG namespace)
    ]


def test_extraction_is_deterministic() -> None:
    assert extract(fixture("endpoints.apk")) == extract(fixture("endpoints.apk"))


def test_a_package_without_endpoints_gives_empty_facts() -> None:
    facts = extract(fixture("clean_app.apk"))
    assert isinstance(facts, EndpointFacts)
    assert all(e.owner is not ServerOwner.APP for e in facts.endpoints)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://62.60.134.177:7702/app/input.php", (EndpointKind.URL, "http", "62.60.134.177", 7702, "/app/input.php")),
        ("https://Api.Example.org./x?y=1#z", (EndpointKind.URL, "https", "api.example.org", None, "/x?y=1#z")),
        ("wss://[2001:db8::1]:8443/socket", (EndpointKind.URL, "wss", "2001:db8::1", 8443, "/socket")),
        ("https://user:pw@host.cn/a", (EndpointKind.URL, "https", "host.cn", None, "/a")),
        ("10.1.2.3:80", (EndpointKind.IP, "", "10.1.2.3", 80, "")),
        ("8.8.8.8", (EndpointKind.IP, "", "8.8.8.8", None, "")),
    ],
)
def test_parse(value: str, expected: tuple[Any, ...]) -> None:
    parsed = endpoints.parse(value)
    assert not isinstance(parsed, str)
    assert (parsed.kind, parsed.scheme, parsed.host, parsed.port, parsed.path) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("http://", "no-host"),
        ("http://host:99999/", "bad-port"),
        ("https://%s/api", "template"),
        ("http://" + "a" * 3000 + ".com", "too-long"),
        ("http://schemas.android.com/apk/res/android", "xml-namespace"),
        ("http://ns.adobe.com/xap/1.0/", "xml-namespace"),
        ("http://www.apache.org/licenses/LICENSE-2.0", "license"),
        ("https://api.example.com/v1", "placeholder"),
        ("http://foo.bar.invalid/", "placeholder"),
        ("http://server.notatld/", "unknown-tld"),
        ("http://a..b.com/", "bad-host"),
    ],
)
def test_filter_reasons(value: str, reason: str) -> None:
    parsed = endpoints.parse(value)
    assert (parsed if isinstance(parsed, str) else endpoints.filter_reason(parsed)) == reason


def test_a_license_host_outside_its_license_path_is_kept() -> None:
    parsed = endpoints.parse("https://www.apache.org/dyn/closer.cgi")
    assert not isinstance(parsed, str) and endpoints.filter_reason(parsed) == ""


def test_registrable_domain_uses_the_shipped_public_suffix_list() -> None:
    assert endpoints.registrable_domain("ftukguhilcom.globat.com") == "globat.com"
    assert endpoints.registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert endpoints.registrable_domain("user.github.io") == "user.github.io"  # private section: each Pages site is its own
    assert endpoints.registrable_domain("62.60.134.177") == ""
    assert endpoints.registrable_domain("localhost") == ""


def test_public_suffixes_agree_with_the_publicsuffixlist_package() -> None:
    """permaudit reads the package's list itself (for speed); the rules and every answer must be the package's."""
    from publicsuffixlist import PublicSuffixList

    plain, full = PublicSuffixList(accept_unknown=False, accept_encoded_idn=False), PublicSuffixList(accept_unknown=False)
    assert suffixes.rules(False) == (plain._publicsuffix, plain._maxlabel)
    assert suffixes.rules(True)[0] == full._publicsuffix
    hosts = ["www.ck", "a.www.ck", "b.c.ck", "ck", "city.kobe.jp", "a.city.kobe.jp", "x.kobe.jp", "shop.xn--fiqs8s",
             "xn--55qx5d.cn", "EXAMPLE.COM.", "a..b", ".a.b", "foo.unknowntld", "user.github.io"]
    for rule in sorted(full._publicsuffix)[::7]:
        name = rule.lstrip("!").replace("*", "w")
        hosts += [name, "a." + name, "b.a." + name]
    for host in hosts:
        assert (suffixes.public_suffix(host), suffixes.private_suffix(host)) == (full.publicsuffix(host), full.privatesuffix(host)), host


def test_url_characters_are_printable_ascii_but_delimiters_or_beyond_the_bmp() -> None:
    """_URL_CHARS lists what it takes; it must take exactly what the negated class it replaced took."""
    import re

    negated = re.compile(r"[^\s\"'<>\\^`{}|\x00-\x20\x7f-\uffff]")
    listed = re.compile(endpoints._URL_CHARS)
    for code in [*range(0x11000), 0x1F600, 0x10FFFF]:
        assert bool(negated.fullmatch(chr(code))) == bool(listed.fullmatch(chr(code))), hex(code)


def test_the_public_suffix_list_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the public suffix list must never be fetched")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    suffixes.rules.cache_clear()
    try:
        assert endpoints.registrable_domain("api.shop.example.com.cn") == "example.com.cn"
    finally:
        suffixes.rules.cache_clear()


def test_services_match_at_label_boundaries() -> None:
    assert endpoints.service_of("alog.umeng.com")["category"] == "analytics"  # type: ignore[index]
    assert endpoints.service_of("xumeng.com") is None
    assert endpoints.service_of("umeng.com.evil.cn") is None


def test_every_host_entry_has_a_service_category_and_source() -> None:
    from permaudit.data import load as load_data

    table = load_data("hosts")
    for entry in table["hosts"]:
        assert entry["domain"] == entry["domain"].lower() and entry["service"] and entry["source"]
        assert entry["category"] in table["categories"]
    assert len({e["domain"] for e in table["hosts"]}) == len(table["hosts"])


@pytest.mark.parametrize(
    ("address", "scope"),
    [("127.0.0.1", IpScope.LOOPBACK), ("192.168.1.10", IpScope.PRIVATE), ("100.64.1.1", IpScope.PRIVATE), ("169.254.1.1", IpScope.LINK_LOCAL),
     ("0.0.0.0", IpScope.RESERVED), ("224.0.0.1", IpScope.RESERVED), ("198.51.100.9", IpScope.RESERVED), ("62.60.134.177", IpScope.PUBLIC),
     ("::1", IpScope.LOOPBACK), ("fd00::1", IpScope.PRIVATE), ("2606:4700::1111", IpScope.PUBLIC)],
)
def test_ip_scopes(address: str, scope: IpScope) -> None:
    import ipaddress

    assert endpoints.ip_scope(ipaddress.ip_address(address)) is scope


class _Package:
    """The parts of a LoadedPackage that ``extract`` reads, for synthetic members."""

    def __init__(self, members: dict[str, bytes]) -> None:
        self.members, self.manifest, self.base, self.problems = members, None, None, []
        self.path = "in.apk"

    def files(self) -> Any:
        for name, data in self.members.items():
            yield name, (lambda data=data: data)


def test_hostile_asset_output_is_capped_and_says_so() -> None:
    blob = b"\n".join(b'"https://h%d.flood-fixture.net/x"' % i for i in range(200_000))
    package = _Package({"assets/flood.json": blob})
    facts = endpoints.extract(package, [])  # type: ignore[arg-type]
    assert len(facts.endpoints) == endpoints.MAX_MEMBER_HITS
    assert [(p.code, p.severity.value) for p in package.problems] == [("endpoints-capped", "partial")]  # not read: the result is partial
    assert any("assets/flood.json" in line and "not read" in line for line in facts.capped)


def test_distinct_endpoints_are_capped_and_repeated_ones_keep_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "MAX_ENDPOINTS", 10)
    many = b" ".join(b"http://h%d.flood-fixture.net/" % i for i in range(50))
    repeated = b"\n".join([b"http://same.flood-fixture.net/up"] * 30)
    facts = endpoints.extract(_Package({"assets/a.txt": repeated, "assets/b.txt": many}), [])  # type: ignore[arg-type]
    assert len(facts.endpoints) == 10
    same = next(e for e in facts.endpoints if e.host == "same.flood-fixture.net")
    assert same.source_count == 30 and len(same.sources) == endpoints.MAX_SOURCES
    assert [s.detail for s in same.sources[:3]] == ["line 1", "line 2", "line 3"]
    assert any("cap of 10 distinct endpoints" in line for line in facts.capped)
    assert any("more than 20 places" in line for line in facts.capped)


def test_members_no_pattern_targets_are_never_read() -> None:
    read: list[str] = []

    class Recording(_Package):
        def files(self) -> Any:
            for name, data in self.members.items():
                def reader(name: str = name, data: bytes = data) -> bytes:
                    read.append(name)
                    return data
                yield name, reader

    package = Recording({"res/drawable/a.png": b"http://x.flood-fixture.net/", "assets/a.js": b"'http://y.flood-fixture.net/'", "META-INF/CERT.SF": b"http://z.flood-fixture.net/"})
    facts = endpoints.extract(package, [])  # type: ignore[arg-type]
    assert read == ["assets/a.js"]
    assert [e.host for e in facts.endpoints] == ["y.flood-fixture.net"]


def test_a_damaged_resource_table_is_a_problem_not_a_crash() -> None:
    package = _Package({"resources.arsc": b"\x02\x00\x0c\x00\xff\xff\x00\x00\x01\x00"})
    facts = endpoints.extract(package, [])  # type: ignore[arg-type]
    assert facts.endpoints == ()
    assert [p.code for p in package.problems] == ["bad-resources"]


# --------------------------------------------------------------------------- corpus

TP_LOAN_UPLOADS = {
    "http://62.60.134.177:7702/app/input.php",
    "http://62.60.134.177:7702/app/input2.php",
    "http://62.60.134.177:7702/app/input4.php",
    "http://62.60.134.177:7702/app/input5.php",
}


def test_corpus_tp_loan_upload_urls_are_found() -> None:
    loans = [row for row in corpus_labels() if row["kind"] == "tp-loan"]
    assert loans
    for row in loans:
        facts = extract(corpus(row["file"]))
        values = {e.value for e in facts.endpoints}
        assert TP_LOAN_UPLOADS <= values, row["name"]
        upload = next(e for e in facts.endpoints if e.value == "http://62.60.134.177:7702/app/input.php")
        assert upload.ip_scope is IpScope.PUBLIC and upload.owner is ServerOwner.UNKNOWN and upload.cleartext
        assert upload.sources[0].location is not None and upload.sources[0].location.class_name.startswith("Lcom/loan/test1/")


def test_corpus_exprespam_endpoint_is_found() -> None:
    facts = extract(corpus("dex", "exprespam", "classes.dex"))
    endpoint = next(e for e in facts.endpoints if e.value == "https://ftukguhilcom.globat.com/cgi-bin/confirmUserData.php")
    assert (endpoint.registrable_domain, endpoint.owner, endpoint.sources[0].kind) == ("globat.com", ServerOwner.UNKNOWN, SourceKind.DEX)


def test_corpus_every_apk_gives_bounded_deterministic_facts() -> None:
    from permaudit.dex import DexError
    from permaudit.errors import InputError

    counts = {}
    for row in corpus_labels():
        try:
            facts = extract(corpus(row["file"]))
        except (InputError, DexError):  # files the loader or the dex reader refuse: the other stages report them
            continue
        assert len(facts.endpoints) <= endpoints.MAX_ENDPOINTS
        assert all(len(e.sources) <= endpoints.MAX_SOURCES for e in facts.endpoints)
        counts[row["name"]] = (len(facts.endpoints), sum(f.count for f in facts.filtered))
    print("\nendpoints, filtered per corpus APK:", counts)
    assert counts


def test_candidate_strings_per_dex_are_capped_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "MAX_DEX_STRINGS", 2)
    facts = extract(fixture("endpoints.apk"))
    assert any(line.startswith("classes.dex: ") and "only the first" in line for line in facts.capped)
    assert len([e for e in facts.endpoints if any(s.kind is SourceKind.DEX and s.construction is Construction.LITERAL for s in e.sources)]) <= 2



@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=12), cut=st.none() | st.integers(0, 1 << 16))
def test_mutated_resource_tables_and_configs_never_raise(edits: list[tuple[int, int]], cut: int | None) -> None:
    package = load(fixture("endpoints.apk"))
    assert package.base is not None
    members = {name: package.base.read(name) for name in ("resources.arsc", "res/xml/network_security_config.xml", "assets/config.json")}
    mutated = {}
    for name, data in members.items():
        raw = bytearray(data)
        for at, value in edits:
            if raw:
                raw[at % len(raw)] = value
        mutated[name] = bytes(raw[:cut] if cut is not None else raw)
    fake = _Package(mutated)
    fake.manifest = package.manifest
    fake.base = package.base  # resolves the config's name from the unmutated table
    facts = endpoints.extract(fake, [])  # type: ignore[arg-type]
    assert isinstance(facts, EndpointFacts)
    assert {p.code for p in fake.problems} <= {"bad-resources"}


# ---------------------------------------------------------------------------- APIs (data/http_apis.json)

NET = "Lcom/apifixturedemo/app/Net;"


def test_fixture_http_apis_tie_each_endpoint_to_its_api() -> None:
    facts = extract(fixture("http_apis.apk"))
    U, A = ServerOwner.UNKNOWN, ServerOwner.APP
    URL, IP, HOST = EndpointKind.URL, EndpointKind.IP, EndpointKind.HOST
    lit, cat = Construction.LITERAL, Construction.CONCATENATED
    rows = [(e.value, e.kind, e.owner, s.construction, s.location.method, s.location.offset, s.api, s.http_method,
             s.api_location.offset if s.api_location else None)
            for e in facts.endpoints for s in e.sources
            if s.location is not None and s.location.class_name == NET]
    assert rows == [
        ("47.52.158.74", IP, U, lit, "backup", 7, "", "", None),  # a piece of the base URL below, reaching no API itself
        ("http://47.52.158.74:8088/", URL, U, cat, "backup", 17, "retrofit2.Retrofit$Builder.baseUrl", "", 30),
        ("http://62.60.134.177:7702/app/input.php", URL, U, lit, "connection", 2, "java.net.URL.openConnection", "", 7),
        ("62.60.134.178", IP, U, lit, "rawSocket", 2, "java.net.Socket.<init>", "", 6),
        ("62.60.134.178:7702", IP, U, cat, "rawSocket", 6, "java.net.Socket.<init>", "", 6),
        ("http://apache.datasink-fixture.net/collect", URL, U, lit, "apache", 2, "org.apache.http.client.methods.HttpPost.<init>", "POST", 4),
        ("http://socket.datasink-fixture.net:3000", URL, U, lit, "socketIo", 0, "io.socket.client.IO.socket", "", 2),
        ("tcp.datasink-fixture.net:9001", HOST, U, cat, "namedSocket", 6, "java.net.Socket.<init>", "", 6),
        ("https://volley.datasink-fixture.net/post", URL, U, lit, "volley", 3, "com.android.volley.toolbox.StringRequest.<init>", "POST", 6),
        ("https://api.apifixturedemo.com/app/", URL, A, lit, "api", 5, "retrofit2.Retrofit$Builder.baseUrl", "", 7),
        ("https://api.apifixturedemo.com/v1/contacts", URL, A, lit, "okhttp", 5, "okhttp3.Request$Builder.url", "", 7),
        ("https://h5.apifixturedemo.com/index.html", URL, A, lit, "web", 0, "android.webkit.WebView.loadUrl", "", 2),
    ]
    by_value = {e.value: e for e in facts.endpoints}
    named = by_value["tcp.datasink-fixture.net:9001"]
    assert (named.host, named.port, named.registrable_domain) == ("tcp.datasink-fixture.net", 9001, "datasink-fixture.net")
    assert named.sources[0].pieces == ("tcp.datasink-fixture.net", ":", "9001")
    raw = by_value["62.60.134.178:7702"]
    assert (raw.host, raw.port, raw.ip_scope) == ("62.60.134.178", 7702, IpScope.PUBLIC)
    call = by_value["http://62.60.134.177:7702/app/input.php"].sources[0].api_location
    assert call is not None and call.instruction == "invoke-virtual {v0}, Ljava/net/URL;->openConnection()Ljava/net/URLConnection;"
    assert [f.reason for f in facts.filtered] == ["no-host"]  # "http://", the first piece of the built base URL
    assert facts.capped == ()


def test_sources_without_an_api_keep_empty_fields() -> None:
    facts = extract(fixture("endpoints.apk"))
    assert all((s.api, s.api_location, s.http_method) == ("", None, "") for e in facts.endpoints for s in e.sources)


def test_api_table_is_data_and_every_entry_is_complete() -> None:
    from permaudit.data import load as load_data

    table = load_data("http_apis")
    names = {entry["api"] for entry in table["apis"]}
    assert {"okhttp3.Request$Builder.url", "java.net.URL.<init>", "java.net.URL.openConnection", "com.android.volley.toolbox.StringRequest.<init>",
            "com.android.volley.toolbox.JsonObjectRequest.<init>", "org.apache.http.client.methods.HttpPost.<init>",
            "org.apache.http.client.methods.HttpGet.<init>", "io.socket.client.IO.socket", "java.net.Socket.<init>",
            "android.webkit.WebView.loadUrl", "android.webkit.WebView.postUrl", "retrofit2.Retrofit$Builder.baseUrl"} <= names
    for entry in table["apis"]:
        assert entry["class"].startswith("L") and entry["class"].endswith(";") and entry["method"] and entry["library"]
        assert entry.get("role", "sink") in ("sink", "carrier")


def test_a_carrier_gives_way_to_the_sink_it_reaches() -> None:
    """``new URL(s)`` (a carrier) then ``url.openConnection()`` (a sink): the sink is reported."""
    facts = extract(fixture("http_apis.apk"))
    sources = next(e for e in facts.endpoints if e.value == "http://62.60.134.177:7702/app/input.php").sources
    assert [s.api for s in sources] == ["java.net.URL.openConnection"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("chat.example.net:7702", (EndpointKind.HOST, "", "chat.example.net", 7702, "")),
        ("{?}/v1/users", (EndpointKind.URL, "", "", None, "/v1/users")),
        ("{?}", (EndpointKind.URL, "", "", None, "")),
    ],
)
def test_parse_host_port_and_unknown_base(value: str, expected: tuple[Any, ...]) -> None:
    parsed = endpoints.parse(value)
    assert not isinstance(parsed, str)
    assert (parsed.kind, parsed.scheme, parsed.host, parsed.port, parsed.path) == expected


def test_blob_scans_tried_only_at_literals_find_what_the_full_regexes_find() -> None:
    """_urls_in/_ip_ports_in search around each '://' and ':' only (a 256 MiB asset of zeros
    once took 18 s in a per-byte regex scan); they must find exactly what the regexes find."""
    from permaudit.facts import endpoints as ep

    blob = (b"x" * 100 + b"HTTPS://a.example.org/p?q=1 xhttp://no.example.org ftp://f.example.net/a "
            b"http://b.example.org/" + b"a" * 3000 + b" wss://w.example.org:8443/s\nhttp://c.example.org "
            b"10.0.0.1:80 v1.2.3.4:5 1.2.3.4:65535x 8.8.8.8:53, 255.255.255.255:1 :://x http:// 7.7.7.7:")
    assert list(ep._urls_in(blob)) == [m.span() for m in ep.URL_BYTES.finditer(blob)]
    assert list(ep._ip_ports_in(blob)) == [m.span() for m in ep.IP_PORT_BYTES.finditer(blob)]


def test_a_bug_in_the_endpoint_stage_costs_its_own_facts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code stage prefetches the endpoint stage's ids (``facts/code._prefetch``), so endpoint
    code runs there too, outside the endpoint stage's guard: a bug met there must still cost the
    endpoint facts only (an ``internal-error`` naming them), never the code facts."""
    import permaudit

    def explode(dex: DexFile) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(endpoints, "_url_strings", explode)
    result = permaudit.audit(fixture("endpoints.apk"))
    assert result.code is not None and result.code.endpoints is None
    [problem] = [p for p in result.problems if p.code == "internal-error"]
    assert "endpoint extraction" in problem.message and "RuntimeError" in problem.message
