"""A ring of lending apps: two different apps (ring_a, ring_b) that send the contact list to one collector.

Each fixture reads the phone contacts in bulk and POSTs them with HttpURLConnection to
``collect.ring-fixture.net`` (different paths, different code layout, one plain and one with
obfuscation-like names); each also names an endpoint of its own that is not on the path.
The audit must find each read-to-send path and name the collector; recorded into one store,
the cross-app questions must put both apps under that host, its registrable domain and the
(fixture test) signing certificate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import permaudit
from permaudit.model import AuditResult, Status
from permaudit.store import Store

from .conftest import expected, fixture

QUERY = ("Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;"
         "[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;")
GET_OUTPUT_STREAM = "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
TEST_CERT_SHA256 = "21ac232614d742fdc66516987ebe6afadd7f3236fe05d584c1683df35ffe5a08"
TEST_CERT_SUBJECT = "CN=permaudit test fixtures,O=permaudit,C=CN"

# fixture -> (package, label, read (class, method, descriptor, offset), sink (class, method, descriptor, offset),
#             destination URL, the app's own endpoint (named, not on the path))
RING = {
    "ring_a": (
        "com.example.ring.rupeefast", "RupeeFast Loan",
        ("Lcom/example/ring/rupeefast/ContactSync;", "readBook", "()Lorg/json/JSONArray;", 17),
        ("Lcom/example/ring/rupeefast/HttpPoster;", "post", "(Ljava/lang/String;Ljava/lang/String;)I", 27),
        "https://collect.ring-fixture.net/api/v1/contacts",
        "https://api.rupeefast-fixture.in/v1/loan/offers",
    ),
    "ring_b": (
        "com.example.ring.cashpeso", "CashPeso Loan",
        ("Lcom/example/ring/cashpeso/a;", "a", "(Landroid/content/Context;)Ljava/lang/String;", 15),
        ("Lcom/example/ring/cashpeso/c;", "a", "(Ljava/lang/String;)V", 29),
        "https://collect.ring-fixture.net/api/v2/upload",
        "https://api.cashpeso-fixture.ph/v2/config",
    ),
}

_AUDITED: dict[str, AuditResult] = {}


def audited(name: str) -> AuditResult:
    if name not in _AUDITED:
        result = permaudit.audit(fixture(f"{name}.apk"))
        assert result.status is Status.COMPLETE, result.problems
        assert result.code is not None and result.code.paths is not None
        _AUDITED[name] = result
    return _AUDITED[name]


@pytest.mark.parametrize("name", sorted(RING))
def test_manifest(name: str) -> None:
    package, label, *_ = RING[name]
    manifest = audited(name).manifest
    assert (manifest.package, manifest.label) == (package, label)
    names = {p.name for p in manifest.permissions}
    assert {"android.permission.READ_CONTACTS", "android.permission.INTERNET"} <= names


@pytest.mark.parametrize("name", sorted(RING))
def test_bulk_read_location(name: str) -> None:
    _, _, read, *_ = RING[name]
    code = audited(name).code
    assert code is not None
    [site] = code.sites
    loc = site.location
    assert (site.category, site.kind, site.api) == ("contacts", "bulk", QUERY)
    assert site.source == "Landroid/provider/ContactsContract$CommonDataKinds$Phone;->CONTENT_URI"
    assert (loc.dex, loc.class_name, loc.method, loc.descriptor, loc.offset) == ("classes.dex", *read)


@pytest.mark.parametrize("name", sorted(RING))
def test_read_to_send_path_names_the_collector(name: str) -> None:
    _, _, read, sink, url, own = RING[name]
    code = audited(name).code
    assert code is not None and code.paths is not None
    [searched] = code.paths.sites
    assert (searched.category, searched.outcome) == ("contacts", "path")
    site = searched.site
    assert (site.class_name, site.method, site.descriptor, site.offset) == read
    [path] = searched.paths
    assert (path.confidence, path.calls) == ("within-calls", 2)
    assert (path.sink.api, path.sink.kind, path.sink.role) == (GET_OUTPUT_STREAM, "network", "stream")
    assert path.sink.evidence == "invoke-virtual {v1, v2}, Ljava/io/OutputStream;->write([B)V at 37"
    where = path.sink.location
    assert (where.dex, where.class_name, where.method, where.descriptor, where.offset) == ("classes.dex", *sink)
    assert [(e.value, e.host, e.registrable_domain) for e in path.endpoints] == [(url, "collect.ring-fixture.net", "ring-fixture.net")]
    # the app's own endpoint is found by the endpoint stage but is not on the contacts path
    assert code.endpoints is not None
    assert {e.value for e in code.endpoints.endpoints} == {url, own}


@pytest.mark.parametrize("name", sorted(RING))
def test_path_matches_expected_json(name: str) -> None:
    code = audited(name).code
    assert code is not None and code.paths is not None
    [truth] = expected(name)["sites"]
    want = truth["path"]
    [path] = code.paths.sites[0].paths
    got_steps = [{"dex": s.dex, "method": f"{s.class_name}->{s.method}{s.descriptor}", "entry_offset": s.entry_offset,
                  "offset": s.offset, "edge": s.edge} for s in path.steps]
    assert got_steps == want["steps"]
    assert (path.confidence, path.calls, path.sink.api, path.sink.role, path.sink.evidence) == \
        (want["confidence"], want["calls"], want["sink_api"], want["sink_role"], want["sink_evidence"])
    loc = path.sink.location
    assert {"dex": loc.dex, "method": f"{loc.class_name}->{loc.method}{loc.descriptor}", "offset": loc.offset} == want["sink_location"]
    assert [e.value for e in path.endpoints] == want["endpoints"]
    assert list(path.serialised) == want["serialised"]


def test_store_names_the_ring(tmp_path: Path) -> None:
    results = {name: audited(name) for name in sorted(RING)}
    members = ", ".join(sorted(f"{RING[n][0]} ({r.hashes.sha256[:12]})" for n, r in results.items()))
    with Store.open(tmp_path / "r.db") as store:
        for result in results.values():
            store.record(result, input_sha256=result.hashes.sha256, seconds=0.0)

        host = store.ask("contacts-same-host")
        assert host.columns == ("host", "apps", "packages", "members")
        assert host.rows == (("collect.ring-fixture.net", 2, 2, members),)

        domain = store.ask("contacts-same-domain")
        assert domain.columns == ("domain", "apps", "packages", "members")
        assert domain.rows == (("ring-fixture.net", 2, 2, members),)

        cert = store.ask("shared-certificate")
        assert cert.columns == ("certificate", "subject", "apps", "packages", "members")
        assert cert.rows == ((TEST_CERT_SHA256, TEST_CERT_SUBJECT, 2, 2, members),)

        # each app alone is no ring; its own endpoint is never on a contacts path
        assert store.ask("contacts-same-host", min_apps=1).rows == host.rows
        sent = store.query("SELECT dest_url FROM paths WHERE category = 'contacts' AND outcome = 'path' ORDER BY dest_url")
        assert sent == ((RING["ring_a"][4],), (RING["ring_b"][4],))
