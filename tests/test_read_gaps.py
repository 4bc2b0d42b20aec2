"""Read-detection gaps measured on real apps (issue 7 §1), on the ``read_gaps`` fixture:
contacts URIs built by concatenation, contacts read as streams (photo, vCard), and reads
through obfuscated static wrappers reported at the callers' invokes. Every site is asserted
whole: category, kind, api, source, location and evidence lines."""

from __future__ import annotations

import pytest

import permaudit
from permaudit.data import load
from permaudit.model import AccessSite, AuditResult, Status

from .conftest import CORPUS, fixture

PKG = "Lcom/example/fx/readgaps/"
QUERY = "Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;"
QUERY_INSN = f"invoke-virtual/range {{v0, v1, v2, v3, v4, v5}}, {QUERY}"
PHONE = "Landroid/provider/ContactsContract$CommonDataKinds$Phone;->CONTENT_URI"
EMAIL = "Landroid/provider/ContactsContract$CommonDataKinds$Email;->CONTENT_URI"
CONTACTS = "Landroid/provider/ContactsContract$Contacts;->CONTENT_URI"
WRAP_A = f"{PKG}a;->a(Landroid/content/Context;Landroid/net/Uri;)Landroid/database/Cursor;"
WRAP_B = f"{PKG}a;->b(Landroid/content/Context;Landroid/net/Uri;)Landroid/database/Cursor;"


@pytest.fixture(scope="module")
def result() -> AuditResult:
    audited = permaudit.audit(fixture("read_gaps.apk"))
    assert audited.status is Status.COMPLETE, audited.problems
    assert audited.code is not None
    return audited


def site(result: AuditResult, class_name: str, method: str) -> AccessSite:
    assert result.code is not None
    [found] = [s for s in result.code.sites if s.location.class_name == f"{PKG}{class_name};" and s.location.method == method]
    return found


def at(signature: str, offset: int, text: str) -> str:
    return f"{PKG}{signature} @{offset:#x}: {text}"


def check(s: AccessSite, kind: str, api: str, source: str, descriptor: str, offset: int, instruction: str, evidence: list[str]) -> None:
    assert (s.category, s.kind, s.api, s.source) == ("contacts", kind, api, source)
    assert (s.location.dex, s.location.descriptor, s.location.offset, s.location.instruction) == ("classes.dex", descriptor, offset, instruction)
    assert list(s.evidence) == evidence
    assert s.attribution.owner == "first-party"


def test_string_builder_chain_with_discarded_results(result: AuditResult) -> None:
    m = "Concat;->builderLookup(Landroid/content/Context;Ljava/lang/String;)Ljava/lang/String;"
    uri = "content://com.android.contacts/data/phones/filter/"
    check(site(result, "Concat", "builderLookup"), "lookup", QUERY, uri, "(Landroid/content/Context;Ljava/lang/String;)Ljava/lang/String;", 0x1D, QUERY_INSN, [
        at(m, 0x5, f'const-string v1, "{uri}"'),
        at(m, 0x7, "invoke-virtual {v0, v1}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;"),
        at(m, 0xA, "invoke-virtual {v0, v8}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;"),
        at(m, 0xD, "invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;"),
        at(m, 0x11, "invoke-static {v0}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x1D, QUERY_INSN),
    ])


def test_concat_iterated_is_bulk(result: AuditResult) -> None:
    m = "Concat;->concatBulk(Landroid/content/Context;Ljava/lang/String;)I"
    check(site(result, "Concat", "concatBulk"), "bulk", QUERY, "content://com.android.contacts/", "(Landroid/content/Context;Ljava/lang/String;)I", 0x12, QUERY_INSN, [
        at(m, 0x0, 'const-string v0, "content://com.android.contacts/"'),
        at(m, 0x2, "invoke-virtual {v0, v8}, Ljava/lang/String;->concat(Ljava/lang/String;)Ljava/lang/String;"),
        at(m, 0x6, "invoke-static {v0}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x12, QUERY_INSN),
        "cursor iterated: " + at(m, 0x17, "invoke-interface {v0}, Landroid/database/Cursor;->moveToNext()Z"),
    ])


def test_format_and_value_of(result: AuditResult) -> None:
    m = "Concat;->formatLookup(Landroid/content/Context;Ljava/lang/String;)V"
    check(site(result, "Concat", "formatLookup"), "lookup", QUERY, "content://com.android.contacts/phone_lookup/%s", "(Landroid/content/Context;Ljava/lang/String;)V", 0x18, QUERY_INSN, [
        at(m, 0x0, 'const-string v0, "content://com.android.contacts/phone_lookup/%s"'),
        at(m, 0x8, "invoke-static {v0, v1}, Ljava/lang/String;->format(Ljava/lang/String;[Ljava/lang/Object;)Ljava/lang/String;"),
        at(m, 0xC, "invoke-static {v0}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x18, QUERY_INSN),
    ])
    m = "Concat;->valueOfLookup(Landroid/content/Context;J)V"
    check(site(result, "Concat", "valueOfLookup"), "lookup", QUERY, "content://com.android.contacts/contacts/", "(Landroid/content/Context;J)V", 0x1A, QUERY_INSN, [
        at(m, 0x2, 'const-string v1, "content://com.android.contacts/contacts/"'),
        at(m, 0x4, "invoke-direct {v0, v1}, Ljava/lang/StringBuffer;-><init>(Ljava/lang/String;)V"),
        at(m, 0x7, "invoke-virtual {v0, v8, v9}, Ljava/lang/StringBuffer;->append(J)Ljava/lang/StringBuffer;"),
        at(m, 0xA, "invoke-static {v0}, Ljava/lang/String;->valueOf(Ljava/lang/Object;)Ljava/lang/String;"),
        at(m, 0xE, "invoke-static {v0}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x1A, QUERY_INSN),
    ])


def test_builder_of_another_provider_is_nothing(result: AuditResult) -> None:
    assert result.code is not None
    touched = [s for s in (*result.code.sites, *result.code.references) if s.location.method in ("builderOther", "c", "pickedImage")]
    assert touched == []


def test_photo_streams_are_lookups(result: AuditResult) -> None:
    m = "Streams;->photo(Landroid/content/Context;J)Ljava/io/InputStream;"
    api = "Landroid/provider/ContactsContract$Contacts;->openContactPhotoInputStream(Landroid/content/ContentResolver;Landroid/net/Uri;)Ljava/io/InputStream;"
    insn = f"invoke-static {{v1, v0}}, {api}"
    check(site(result, "Streams", "photo"), "lookup", api, CONTACTS, "(Landroid/content/Context;J)Ljava/io/InputStream;", 0xA, insn, [
        at(m, 0x0, f"sget-object v0, {CONTACTS}:Landroid/net/Uri;"),
        at(m, 0x2, "invoke-static {v0, v4, v5}, Landroid/content/ContentUris;->withAppendedId(Landroid/net/Uri;J)Landroid/net/Uri;"),
        at(m, 0xA, insn),
    ])
    m = "Streams;->displayPhoto(Landroid/content/Context;J)Landroid/os/ParcelFileDescriptor;"
    api = "Landroid/content/ContentResolver;->openFileDescriptor(Landroid/net/Uri;Ljava/lang/String;)Landroid/os/ParcelFileDescriptor;"
    insn = f"invoke-virtual {{v1, v0, v2}}, {api}"
    check(site(result, "Streams", "displayPhoto"), "lookup", api, CONTACTS, "(Landroid/content/Context;J)Landroid/os/ParcelFileDescriptor;", 0x12, insn, [
        at(m, 0x0, f"sget-object v0, {CONTACTS}:Landroid/net/Uri;"),
        at(m, 0x2, "invoke-static {v0, v4, v5}, Landroid/content/ContentUris;->withAppendedId(Landroid/net/Uri;J)Landroid/net/Uri;"),
        at(m, 0x8, "invoke-static {v0, v1}, Landroid/net/Uri;->withAppendedPath(Landroid/net/Uri;Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x12, insn),
    ])


def test_vcard_exports_are_bulk(result: AuditResult) -> None:
    for method, field, api, offset, insn_regs in [
        ("vcard", "CONTENT_VCARD_URI", "Landroid/content/ContentResolver;->openAssetFileDescriptor(Landroid/net/Uri;Ljava/lang/String;)Landroid/content/res/AssetFileDescriptor;", 0xC, "{v1, v0, v2}"),
        ("multiVcard", "CONTENT_MULTI_VCARD_URI", "Landroid/content/ContentResolver;->openInputStream(Landroid/net/Uri;)Ljava/io/InputStream;", 0xA, "{v1, v0}"),
    ]:
        s = site(result, "Streams", method)
        source = f"Landroid/provider/ContactsContract$Contacts;->{field}"
        m = f"Streams;->{method}{s.location.descriptor}"
        insn = f"invoke-virtual {insn_regs}, {api}"
        check(s, "bulk", api, source, s.location.descriptor, offset, insn, [
            at(m, 0x0, f"sget-object v0, {source}:Landroid/net/Uri;"),
            at(m, 0x2, f"invoke-static {{v0, {'v4' if method == 'vcard' else 'v3'}}}, Landroid/net/Uri;->withAppendedPath(Landroid/net/Uri;Ljava/lang/String;)Landroid/net/Uri;"),
            at(m, offset, insn),
        ])
    s = site(result, "Streams", "vcardString")
    api = "Landroid/content/ContentResolver;->openTypedAssetFileDescriptor(Landroid/net/Uri;Ljava/lang/String;Landroid/os/Bundle;)Landroid/content/res/AssetFileDescriptor;"
    m = "Streams;->vcardString(Landroid/content/Context;Ljava/lang/String;)Landroid/content/res/AssetFileDescriptor;"
    insn = f"invoke-virtual {{v1, v0, v2, v3}}, {api}"
    check(s, "bulk", api, "content://com.android.contacts/contacts/as_vcard/", "(Landroid/content/Context;Ljava/lang/String;)Landroid/content/res/AssetFileDescriptor;", 0x1A, insn, [
        at(m, 0x2, 'const-string v1, "content://com.android.contacts/contacts/as_vcard/"'),
        at(m, 0x4, "invoke-direct {v0, v1}, Ljava/lang/StringBuilder;-><init>(Ljava/lang/String;)V"),
        at(m, 0x7, "invoke-virtual {v0, v5}, Ljava/lang/StringBuilder;->append(Ljava/lang/String;)Ljava/lang/StringBuilder;"),
        at(m, 0xB, "invoke-virtual {v0}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;"),
        at(m, 0xF, "invoke-static {v0}, Landroid/net/Uri;->parse(Ljava/lang/String;)Landroid/net/Uri;"),
        at(m, 0x1A, insn),
    ])


def test_streams_of_other_data_are_not_contacts_reads(result: AuditResult) -> None:
    assert result.code is not None
    assert [s for s in result.code.sites if s.location.method in ("pickedImage", "mediaItem")] == []
    [media] = [r for r in result.code.references if r.location.method == "mediaItem"]
    assert media.category == "media"


def test_wrapper_read_is_also_at_the_caller(result: AuditResult) -> None:
    a_insn = f"invoke-static {{v3, v0}}, {WRAP_A}"
    inner = site(result, "a", "a")
    check(inner, "bulk", QUERY, PHONE, "(Landroid/content/Context;Landroid/net/Uri;)Landroid/database/Cursor;", 0xD, QUERY_INSN, [
        at("b;->a(Landroid/content/Context;)I", 0x0, f"sget-object v0, {PHONE}:Landroid/net/Uri;"),
        at("b;->a(Landroid/content/Context;)I", 0x3, a_insn),
        f"{WRAP_A} @0xd: {QUERY_INSN}",
        f"cursor returned to {PKG}b;->a, which iterates it",
    ])
    check(site(result, "b", "a"), "bulk", WRAP_A, PHONE, "(Landroid/content/Context;)I", 0x3, a_insn, [
        at("b;->a(Landroid/content/Context;)I", 0x0, f"sget-object v0, {PHONE}:Landroid/net/Uri;"),
        at("b;->a(Landroid/content/Context;)I", 0x3, a_insn),
        f"via wrapper {WRAP_A} @0xd: {QUERY_INSN}",
    ])


def test_wrapper_of_wrapper_points_one_level_down(result: AuditResult) -> None:
    b_insn = f"invoke-static {{v2, v0}}, {WRAP_B}"
    inner_insn = f"invoke-static {{v1, v2}}, {WRAP_A}"
    outer_lines = [
        at("b;->b(Landroid/content/Context;)Landroid/database/Cursor;", 0x0, f"sget-object v0, {EMAIL}:Landroid/net/Uri;"),
        at("b;->b(Landroid/content/Context;)Landroid/database/Cursor;", 0x3, b_insn),
    ]
    check(site(result, "a", "b"), "bulk", WRAP_A, EMAIL, "(Landroid/content/Context;Landroid/net/Uri;)Landroid/database/Cursor;", 0x1, inner_insn, [
        *outer_lines,
        f"{WRAP_B} @0x1: {inner_insn}",
        f"via wrapper {WRAP_A} @0xd: {QUERY_INSN}",
    ])
    check(site(result, "b", "b"), "bulk", WRAP_B, EMAIL, "(Landroid/content/Context;)Landroid/database/Cursor;", 0x3, b_insn, [
        *outer_lines,
        f"via wrapper {WRAP_B} @0x1: {inner_insn}",
    ])


def test_via_sites_repeat_one_read_each(result: AuditResult) -> None:
    """Counting reads: a site whose evidence ends ``via wrapper <sig> @<offset>: ...`` repeats
    the site at that location, which exists; following the pointers always ends at a site that
    is not via a wrapper, so counting only those counts each read once."""
    assert result.code is not None
    by_location = {f"{s.location.signature} @{s.location.offset:#x}": s for s in result.code.sites}
    via = [s for s in result.code.sites if s.evidence[-1].startswith("via wrapper ")]
    assert sorted((s.location.class_name, s.location.method) for s in via) == [(f"{PKG}a;", "b"), (f"{PKG}b;", "a"), (f"{PKG}b;", "b")]
    for s in via:
        target = s
        while target.evidence[-1].startswith("via wrapper "):
            target = by_location[target.evidence[-1].removeprefix("via wrapper ").split(": ", 1)[0]]
        assert target.location.signature == WRAP_A and target.location.offset == 0xD
    assert len(result.code.sites) - len(via) == 10


def test_email_handed_to_a_wrapper_is_not_a_mere_reference(result: AuditResult) -> None:
    assert result.code is not None
    assert [(r.category, r.location.method) for r in result.code.references] == [("media", "mediaItem")]


def test_stream_apis_are_data() -> None:
    apis = load("apis")
    streams = {(e["class"], e["name"]): (e["kind"], tuple(e["categories"])) for e in apis["query_apis"] if e.get("stream")}
    resolver = "Landroid/content/ContentResolver;"
    assert streams == {
        (resolver, "openInputStream"): ("lookup", ("contacts",)),
        (resolver, "openAssetFileDescriptor"): ("lookup", ("contacts",)),
        (resolver, "openFileDescriptor"): ("lookup", ("contacts",)),
        (resolver, "openTypedAssetFileDescriptor"): ("lookup", ("contacts",)),
        ("Landroid/provider/ContactsContract$Contacts;", "openContactPhotoInputStream"): ("lookup", ("contacts",)),
        ("Landroid/provider/Contacts$People;", "openContactPhotoInputStream"): ("lookup", ("contacts",)),
    }
    assert set(apis["bulk_streams"]["fields"]) == {
        "Landroid/provider/ContactsContract$Contacts;->CONTENT_VCARD_URI",
        "Landroid/provider/ContactsContract$Contacts;->CONTENT_MULTI_VCARD_URI",
    }


@pytest.mark.skipif(not (CORPUS / "dex" / "save_me").exists(), reason=f"third-party corpus not present at {CORPUS}")
def test_save_me_vcard_export_is_a_bulk_read() -> None:
    """SaveMe exports every contact's vCard (openAssetFileDescriptor of CONTENT_VCARD_URI +
    lookup key, in its loop over the contacts cursor) and uploads the file: once only a reference."""
    audited = permaudit.audit(CORPUS / "dex" / "save_me")
    assert audited.code is not None
    [s] = [s for s in audited.code.sites if s.location.method == "getVCF" and "openAssetFileDescriptor" in s.api]
    assert (s.category, s.kind, s.source, s.location.class_name, s.location.offset) == (
        "contacts", "bulk", "Landroid/provider/ContactsContract$Contacts;->CONTENT_VCARD_URI", "Lcom/savemebeta/Scan;", 0xB2)
    assert not [r for r in audited.code.references if r.location.method == "getVCF"]
