"""Retrofit endpoints: interface annotations decoded from the dex (``DexFile.annotated_methods``),
joined with the package's ``Retrofit.Builder().baseUrl(...)`` (permaudit/facts/endpoints.py)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permaudit.dex import DexError, DexFile, validate
from permaudit.dex.reader import Annotation
from permaudit.facts import endpoints
from permaudit.loading import load
from permaudit.model.endpoints import (
    Construction,
    EndpointFacts,
    EndpointKind,
    ServerOwner,
)

from .conftest import corpus, fixture

IFACE = "Lcom/apifixturedemo/app/ContactsApi;"
NET = "Lcom/apifixturedemo/app/Net;"
TYPES = ["Lretrofit2/http/GET;", "Lretrofit2/http/POST;", "Lretrofit2/http/HTTP;", "Lretrofit2/http/Multipart;", "Lretrofit2/http/Url;"]


def dex_of(path: Path) -> DexFile:
    source = load(path).dex[0]
    return DexFile(source.read(), source.name)


def extract(path: Path, dex: DexFile | None = None) -> tuple[EndpointFacts, list[Any]]:
    package = load(path)
    dexes = []
    for source in package.dex:
        d = dex if dex is not None else DexFile(source.read(), source.name)
        if not any(x.fatal for x in validate(d)):
            dexes.append((source.name, d))
    return endpoints.extract(package, dexes), package.problems


def retrofit_rows(facts: EndpointFacts) -> list[tuple[Any, ...]]:
    return [(e.value, s.construction, s.location.method if s.location else None, s.api, s.http_method,
             s.api_location.method if s.api_location else None, s.detail)
            for e in facts.endpoints for s in e.sources if s.api.startswith("retrofit2.http.")]


# ---------------------------------------------------------------------------- annotation values


def test_annotated_methods_decode_values() -> None:
    dex = dex_of(fixture("http_apis.apk"))
    found = {(dex.method(m).name, a.type, a.parameter): a for m, a in dex.annotated_methods(TYPES)}
    assert set(found) == {
        ("config", "Lretrofit2/http/GET;", None),
        ("upload", "Lretrofit2/http/Multipart;", None),
        ("upload", "Lretrofit2/http/POST;", None),
        ("latest", "Lretrofit2/http/GET;", None),
        ("logout", "Lretrofit2/http/HTTP;", None),
        ("fetch", "Lretrofit2/http/GET;", None),
        ("fetch", "Lretrofit2/http/Url;", 0),
    }
    assert found[("config", "Lretrofit2/http/GET;", None)] == Annotation("Lretrofit2/http/GET;", (("value", "v1/config"),), 1, None)
    http = found[("logout", "Lretrofit2/http/HTTP;", None)]
    assert http.elements == (("hasBody", True), ("method", "DELETE"), ("path", "v1/session"))
    assert http.get("method") == "DELETE" and http.get("missing", "x") == "x"
    assert found[("fetch", "Lretrofit2/http/GET;", None)].elements == ()  # the default value is not stored
    assert dex.annotated_methods(TYPES, interfaces_only=True) == dex.annotated_methods(TYPES)
    assert dex.annotated_methods(["Lno/such/Type;"]) == []
    method = next(m for m, a in dex.annotated_methods(TYPES) if dex.method(m).name == "config")
    assert [a.type for a in dex.method_annotation_items(method)] == ["Lretrofit2/http/GET;"]
    assert dex.method_annotations(method) == ["Lretrofit2/http/GET;"]


def _blob(value: bytes) -> DexFile:
    """The fixture dex with ``value`` appended: encoded values are decoded from the appended bytes."""
    data = bytearray(fixture_dex_bytes())
    at = len(data)
    data += value
    struct.pack_into("<I", data, 32, len(data))  # file_size
    dex = DexFile(bytes(data), "blob.dex")
    dex.blob_at = at  # type: ignore[attr-defined]
    return dex


def fixture_dex_bytes() -> bytes:
    return load(fixture("http_apis.apk")).dex[0].read()


def decode(value: bytes) -> Any:
    dex = _blob(value)
    from permaudit.dex.reader import _AnnotationBudget

    result, end = dex._encoded_value(dex.blob_at, 0, _AnnotationBudget())  # type: ignore[attr-defined]
    assert end == dex.blob_at + len(value)  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00\xff", -1),  # byte
        (b"\x22\x00\x80", -32768),  # short, 2 bytes
        (b"\x03\x41", 0x41),  # char, zero-extended
        (b"\x04\x2a", 42),  # int in 1 byte
        (b"\x64\xff\xff\xff\x7f", 0x7FFFFFFF),  # int in 4 bytes
        (b"\x46\x01\x02\x03", 0x030201),  # long in 3 bytes
        (b"\x30\x80\x3f", 1.0),  # float 1.0 (0x3f800000) stored as its two high bytes
        (b"\x31\xf0\x3f", 1.0),  # double 1.0 (0x3ff0000000000000), two high bytes
        (b"\x1e", None),
        (b"\x1f", False),
        (b"\x3f", True),
        (b"\x1c\x02\x04\x01\x1f", (1, False)),  # array of an int and a boolean
        (b"\x1c\x00", ()),
    ],
)
def test_encoded_values(raw: bytes, expected: Any) -> None:
    assert decode(raw) == expected


def test_encoded_string_type_and_nested_annotation() -> None:
    dex = dex_of(fixture("http_apis.apk"))
    sid = dex.find_string("v1/config")
    assert sid is not None and sid < 256
    assert decode(bytes([0x17, sid])) == "v1/config"
    type_idx = dex._find_type("Lretrofit2/http/GET;")
    assert type_idx is not None and type_idx < 128
    value_sid = dex.find_string("value")
    assert value_sid is not None and value_sid < 128
    nested = decode(bytes([0x1D, type_idx, 1, value_sid, 0x17, sid]))
    assert nested == Annotation("Lretrofit2/http/GET;", (("value", "v1/config"),))
    assert decode(bytes([0x18, type_idx])) == ("type", "Lretrofit2/http/GET;")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x05", "unknown value_type 0x05"),
        (b"\x20\x01", "2 bytes for a value of at most 1"),  # a byte with value_arg 1
        (b"\x64\xff", "runs past the end of the file"),  # an int claiming 4 bytes, 1 present
        (b"\x3c\x00", "value_arg"),  # an array with value_arg 1
        (b"\x5f", "boolean encoded_value"),
        (b"\x1c\xff\xff\xff\xff\x0f", "more than the file holds"),  # an array claiming 2^32-1 values
        (b"\x1c\xff", "LEB128"),  # truncated count
        (b"\x77\xff\xff\xff\x7f", "string index"),  # string id out of range
        (b"\x1c\x01" * 12 + b"\x1e", "nests deeper"),
    ],
)
def test_hostile_encoded_values_raise_dex_error(raw: bytes, message: str) -> None:
    with pytest.raises(DexError, match=message):
        decode(raw)


def _retrofit_item(dex: DexFile, method_name: str) -> int:
    """Offset of the first annotation_item on ``ContactsApi.<method_name>``."""
    data = dex._data
    ci = dex.class_def_index(IFACE)
    assert ci is not None
    off = dex._cd[8 * ci + 5]
    _, nfields, nmethods, _ = struct.unpack_from("<4I", data, off)
    for k in range(nmethods):
        method_idx, set_off = struct.unpack_from("<II", data, off + 16 + 8 * nfields + 8 * k)
        if dex.method(method_idx).name == method_name:
            return int(struct.unpack_from("<I", data, set_off + 4)[0])
    raise AssertionError(method_name)


@pytest.mark.parametrize("damage", ["item-offset", "type-index", "element-type", "directory"])
def test_damaged_annotations_become_a_problem_and_the_rest_is_read(damage: str) -> None:
    data = bytearray(fixture_dex_bytes())
    clean = DexFile(bytes(data), "classes.dex")
    item = _retrofit_item(clean, "config")
    if damage == "item-offset":  # the set's entry points past the end of the file
        ci = clean.class_def_index(IFACE)
        assert ci is not None
        off = clean._cd[8 * ci + 5]
        set_off = struct.unpack_from("<I", data, off + 16 + 4)[0]
        struct.pack_into("<I", data, set_off + 4, len(data) + 100)
    elif damage == "type-index":  # the element value is a string id out of range
        assert data[item + 1] < 0x80 and data[item + 2] == 1  # type uleb, one element
        name_end = item + 3 + (1 if data[item + 3] < 0x80 else 2)
        data[name_end] = 0x77  # string, 4 bytes
        data[name_end + 1:name_end + 5] = b"\xff\xff\xff\x7f"
    elif damage == "element-type":
        name_end = item + 3 + (1 if data[item + 3] < 0x80 else 2)
        data[name_end] = 0x09  # no such value_type
    else:  # the annotations directory claims 2^28 methods
        ci = clean.class_def_index(IFACE)
        assert ci is not None
        off = clean._cd[8 * ci + 5]
        struct.pack_into("<I", data, off + 8, 1 << 28)
    dex = DexFile(bytes(data), "classes.dex")
    with pytest.raises(DexError):
        dex.annotated_methods(TYPES)
    facts, problems = extract(fixture("http_apis.apk"), dex)
    assert [p.code for p in problems] == ["bad-dex"]
    assert "Retrofit annotations of this dex not read" in problems[0].message and "classes.dex" in problems[0].message
    assert retrofit_rows(facts) == []
    assert "https://api.apifixturedemo.com/v1/contacts" in {e.value for e in facts.endpoints}  # the code is still read


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzzed_annotation_bytes_never_raise_anything_but_dex_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(FIXTURE_DEX)
    for at, byte in edits:
        if ITEM + at < len(data):
            data[ITEM + at] = byte
    dex = DexFile(bytes(data), "classes.dex")
    try:
        dex.annotated_methods(TYPES)
    except DexError:
        pass


FIXTURE_DEX = fixture_dex_bytes()
ITEM = _retrofit_item(DexFile(FIXTURE_DEX, "classes.dex"), "config") - 40


# ---------------------------------------------------------------------------- endpoints


def test_retrofit_endpoints_exactly() -> None:
    facts, problems = extract(fixture("http_apis.apk"))
    assert problems == []
    R = Construction.RETROFIT
    both = " (one of 2 base URLs)"
    assert retrofit_rows(facts) == [
        ("http://47.52.158.74:8088/upload/contacts", R, "upload", "retrofit2.http.POST", "POST", "backup", "base URL http://47.52.158.74:8088/" + both + " @Multipart"),
        ("http://47.52.158.74:8088/v1/config", R, "config", "retrofit2.http.GET", "GET", "backup", "base URL http://47.52.158.74:8088/" + both),
        ("http://47.52.158.74:8088/v1/session", R, "logout", "retrofit2.http.HTTP", "DELETE", "backup", "base URL http://47.52.158.74:8088/" + both),
        ("http://47.52.158.74:8088/{?}", R, "fetch", "retrofit2.http.GET", "GET", "backup", "base URL http://47.52.158.74:8088/" + both + " @Url"),
        ("https://cdn.datasink-fixture.net/app/latest.json", R, "latest", "retrofit2.http.GET", "GET", None, "absolute path"),
        ("https://api.apifixturedemo.com/app/v1/config", R, "config", "retrofit2.http.GET", "GET", "api", "base URL https://api.apifixturedemo.com/app/" + both),
        ("https://api.apifixturedemo.com/app/v1/session", R, "logout", "retrofit2.http.HTTP", "DELETE", "api", "base URL https://api.apifixturedemo.com/app/" + both),
        ("https://api.apifixturedemo.com/app/{?}", R, "fetch", "retrofit2.http.GET", "GET", "api", "base URL https://api.apifixturedemo.com/app/" + both + " @Url"),
        ("https://api.apifixturedemo.com/upload/contacts", R, "upload", "retrofit2.http.POST", "POST", "api", "base URL https://api.apifixturedemo.com/app/" + both + " @Multipart"),
    ]
    by_value = {e.value: e for e in facts.endpoints}
    upload = by_value["https://api.apifixturedemo.com/upload/contacts"]
    assert upload.owner is ServerOwner.APP and upload.kind is EndpointKind.URL
    source = upload.sources[0]
    assert source.location is not None and (source.location.class_name, source.location.method, source.location.descriptor, source.location.offset) == (
        IFACE, "upload", "(Ljava/util/List;)Lretrofit2/Call;", 0)
    assert source.location.instruction == '.annotation runtime Lretrofit2/http/POST; @POST("/upload/contacts")'
    assert source.pieces == ("https://api.apifixturedemo.com/app/", "/upload/contacts")
    assert source.api_location is not None and (source.api_location.class_name, source.api_location.offset) == (NET, 7)
    assert source.api_location.instruction.startswith("invoke-virtual {v0, v1}, Lretrofit2/Retrofit$Builder;->baseUrl(")
    assert source.code_owner is not None and source.code_owner.owner == "first-party"
    logout = by_value["https://api.apifixturedemo.com/app/v1/session"].sources[0]
    assert logout.location is not None and logout.location.instruction.endswith('@HTTP(method="DELETE", path="v1/session")')


def test_base_urls_are_reported_at_the_baseurl_call() -> None:
    facts, _ = extract(fixture("http_apis.apk"))
    by_value = {e.value: e for e in facts.endpoints}
    base = by_value["https://api.apifixturedemo.com/app/"].sources[0]
    assert (base.construction, base.api, base.location.offset if base.location else None) == (Construction.LITERAL, "retrofit2.Retrofit$Builder.baseUrl", 5)
    built = by_value["http://47.52.158.74:8088/"].sources[0]  # through HttpUrl.get (a carrier), then baseUrl(HttpUrl)
    assert (built.construction, built.api, built.pieces) == (Construction.CONCATENATED, "retrofit2.Retrofit$Builder.baseUrl", ("http://", "47.52.158.74", ":8088/"))
    assert built.api_location is not None and built.api_location.offset == 30


def test_without_a_base_url_the_path_is_reported_as_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    real = endpoints._join_retrofit

    def no_bases(found: Any) -> None:
        found.bases.clear()
        real(found)

    monkeypatch.setattr(endpoints, "_join_retrofit", no_bases)
    facts, _ = extract(fixture("http_apis.apk"))
    rows = {(value, construction, method, detail) for value, construction, method, _, _, _, detail in retrofit_rows(facts)}
    assert rows == {
        ("{?}/upload/contacts", Construction.PIECES, "upload", "no base URL found @Multipart"),
        ("{?}/v1/config", Construction.PIECES, "config", "no base URL found"),
        ("{?}/v1/session", Construction.PIECES, "logout", "no base URL found"),
        ("{?}", Construction.PIECES, "fetch", "no base URL found @Url"),
        ("https://cdn.datasink-fixture.net/app/latest.json", Construction.RETROFIT, "latest", "absolute path"),
    }
    config = next(e for e in facts.endpoints if e.value == "{?}/v1/config")
    assert (config.kind, config.scheme, config.host, config.path, config.sources[0].pieces) == (EndpointKind.URL, "", "", "/v1/config", ("{?}", "v1/config"))


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("https://api.x.com/app/", "v1/users", "https://api.x.com/app/v1/users"),
        ("https://api.x.com/app/", "/v1/users", "https://api.x.com/v1/users"),  # leading '/' replaces the base path
        ("https://api.x.com/app", "v1/users", "https://api.x.com/v1/users"),  # the last segment is replaced
        ("https://api.x.com/app/", "https://other.cn/x", "https://other.cn/x"),
        ("https://api.x.com/app/", "//cdn.x.com/y", "https://cdn.x.com/y"),
        ("https://api.x.com/app/", "../up", "https://api.x.com/up"),
        ("https://api.x.com/app/", "users/{id}?full=1", "https://api.x.com/app/users/{id}?full=1"),
        ("https://{?}/api/", "v1", "https://{?}/api/v1"),
        ("https://api.x.com/{?}/", "{?}", "https://api.x.com/{?}/{?}"),
    ],
)
def test_resolve_as_retrofit_does(base: str, path: str, expected: str) -> None:
    assert endpoints.resolve(base, path) == expected


def test_corpus_projectspy_retrofit() -> None:
    facts, problems = extract(corpus("apk", "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk"))
    assert not [p for p in problems if "Retrofit" in p.message]
    rows = {(v, api, verb, m) for v, c, m, api, verb, _, _ in retrofit_rows(facts)}
    assert ("http://spy.cashnow.ee/api/login", "retrofit2.http.POST", "POST", "getToken") in rows
    assert ("http://spy.cashnow.ee/api/uploadimages", "retrofit2.http.POST", "POST", "uploadMultiple") in rows
    base = next(e for e in facts.endpoints if e.value == "http://spy.cashnow.ee/api/")
    assert any(s.api == "retrofit2.Retrofit$Builder.baseUrl" for s in base.sources)
