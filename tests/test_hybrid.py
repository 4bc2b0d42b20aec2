"""Contacts access by cross-platform frameworks, found in assets, native strings and plugin classes."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable

import pytest

from permaudit.data import load
from permaudit.dex.reader import DexError, DexFile
from permaudit.facts import hybrid
from permaudit.model import HybridEvidence

from .conftest import corpus, expected, fixture

HERMES_MAGIC = b"\xc6\x1f\xbc\x03\xc1\x03\x19\x1f"


def _files(members: dict[str, bytes]) -> list[tuple[str, Callable[[], bytes]]]:
    return [(name, lambda data=data: data) for name, data in members.items()]


def _untouchable(name: str) -> tuple[str, Callable[[], bytes]]:
    def read() -> bytes:
        raise AssertionError(f"{name} should not have been read")

    return name, read


def _scan(members: dict[str, bytes], classes: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
    return [(e.framework, e.evidence_kind, e.path, e.detail) for e in hybrid.scan(_files(members), classes)]


# React Native


def test_react_native_contacts_in_a_text_bundle() -> None:
    bundle = (
        b'__d(function(g,r,i,a,m,e,d){var n=r(d[0]).NativeModules.Contacts;m.exports={getAll:function(){return n.getAll()}}},'
        b'"node_modules/react-native-contacts/index.js");\n'
        b'var C=require("react-native-contacts");C.default;Contacts.getAll().then(upload);'
    )
    assert _scan({"assets/index.android.bundle": bundle}) == [
        ("react-native", "asset", "assets/index.android.bundle", "Contacts.getAll("),
        ("react-native", "asset", "assets/index.android.bundle", "NativeModules.Contacts"),
        ("react-native", "asset", "assets/index.android.bundle", "node_modules/react-native-contacts/"),
        ("react-native", "asset", "assets/index.android.bundle", 'require("react-native-contacts")'),
    ]


def test_hermes_bytecode_strings_are_searched_as_bytes() -> None:
    # Hermes keeps identifiers in a string table, back to back and with no JS syntax around them.
    bundle = HERMES_MAGIC + bytes(range(256)) + b"RCTContactsgetAllWithoutPhotosrequestPermission\x00\xff" + bytes(64)
    assert _scan({"assets/index.android.bundle": bundle}) == [
        ("react-native", "asset", "assets/index.android.bundle", "RCTContacts"),
        ("react-native", "asset", "assets/index.android.bundle", "getAllWithoutPhotos"),
    ]


def test_expo_contacts_read_and_picker() -> None:
    bundle = b'var t=requireNativeModule("ExpoContacts");t.getContactsAsync({});t.presentContactPickerAsync()'
    assert _scan({"assets/app.bundle": bundle}) == [
        ("react-native", "asset", "assets/app.bundle", "ExpoContacts"),
        ("react-native", "asset", "assets/app.bundle", "getContactsAsync"),
        ("react-native", "asset", "assets/app.bundle", "picker: presentContactPickerAsync"),
    ]


def test_select_contact_is_reported_as_a_picker() -> None:
    bundle = b"var o=t.NativeModules.SelectContact;o.openContactSelection().then(f)"
    assert _scan({"assets/index.android.bundle": bundle}) == [
        ("react-native", "asset", "assets/index.android.bundle", "picker: NativeModules.SelectContact"),
        ("react-native", "asset", "assets/index.android.bundle", "picker: openContactSelection"),
    ]


PLUGIN_CLASSES = {
    # entry class: (framework, detail)
    "Lcom/rt2zz/reactnativecontacts/ContactsManager;": ("react-native", "react-native-contacts native module (com.rt2zz.reactnativecontacts)"),
    "Lexpo/modules/contacts/ContactsModule;": ("react-native", "expo-contacts native module (expo.modules.contacts)"),
    "Lcom/streem/selectcontact/SelectContactModule;": (
        "react-native",
        "picker: react-native-select-contact native module (com.streem.selectcontact)",
    ),
    "Lco/quis/flutter_contacts/FlutterContactsPlugin;": ("flutter", "flutter_contacts plugin (co.quis.flutter_contacts)"),
    "Lflutter/plugins/contactsservice/contactsservice/ContactsServicePlugin;": (
        "flutter",
        "contacts_service plugin (flutter.plugins.contactsservice)",
    ),
    "Lcom/github/s0nerik/fast_contacts/FastContactsPlugin;": ("flutter", "fast_contacts plugin (com.github.s0nerik.fast_contacts)"),
    "Lorg/apache/cordova/contacts/ContactManager;": ("cordova", "cordova-plugin-contacts native plugin (org.apache.cordova.contacts)"),
    "Lorg/apache/cordova/ContactManager;": ("cordova", "Cordova 1.x-2.x built-in contacts plugin (org.apache.cordova.ContactManager)"),
    "Lio/dcloud/feature/contacts/ContactsFeatureImpl;": ("uni-app", "DCloud HTML5+ contacts feature (io.dcloud.feature.contacts)"),
}


@pytest.mark.parametrize("entry", sorted(PLUGIN_CLASSES))
def test_plugin_classes(entry: str) -> None:
    framework, detail = PLUGIN_CLASSES[entry]
    sibling = entry.rsplit("/", 1)[0] + "/Helper;"  # another class of the plugin, not reported beside its entry
    assert _scan({}, (sibling, entry)) == [(framework, "class", entry, detail)]


def test_class_evidence_is_one_per_plugin_and_prefers_the_entry_class() -> None:
    plugin = [f"Lco/quis/flutter_contacts/crud/impl/Impl{i};" for i in range(50)]
    assert [e.path for e in hybrid.scan([], plugin)] == ["Lco/quis/flutter_contacts/crud/impl/Impl0;"]
    entry = "Lco/quis/flutter_contacts/FlutterContactsPlugin;"
    assert [e.path for e in hybrid.scan([], [*plugin, entry])] == [entry]


def test_class_prefixes_stop_at_package_boundaries() -> None:
    assert _scan({}, ("Lorg/apache/cordova/ContactManagerX;", "Lorg/apache/cordova/contactsx/A;", "Lcom/rt2zz/reactnativecontactsx/A;")) == []


# Flutter


@pytest.mark.parametrize(
    "strings",
    [
        ("package:flutter_contacts/", "github.com/QuisApp/flutter_contacts", "FlutterContacts.getContacts"),
        ("package:contacts_service/", "github.com/clovisnicolas/flutter_contacts", "ContactsService.getContacts"),
        ("package:fast_contacts/", "com.github.s0nerik.fast_contacts", "FastContacts.getAllContacts"),
    ],
)
def test_flutter_plugins_in_the_aot_snapshot(strings: tuple[str, str, str]) -> None:
    # library URI, MethodChannel name and API call, as one-byte strings among the AOT code
    uri, channel, call = strings
    snapshot = b"\x7fELF" + bytes(300) + f"{uri}src/plugin.dart\x00{channel}/events\x00{call}\x00".encode() + bytes(64)
    path = "lib/arm64-v8a/libapp.so"
    assert _scan({path: snapshot, "lib/arm64-v8a/libflutter.so": b"engine"}) == sorted(("flutter", "native", path, s) for s in strings)


def test_flutter_app_without_a_contacts_plugin() -> None:
    # permission_handler can ask for the contacts permission, but reads nothing itself.
    snapshot = b"package:permission_handler/permission_handler.dart\x00Permission.contacts\x00package:http/http.dart\x00my contacts page\x00"
    assert _scan({"lib/arm64-v8a/libapp.so": snapshot}) == []


def test_split_apk_members_keep_their_split_prefix() -> None:
    path = "split_config.arm64_v8a.apk!lib/arm64-v8a/libapp.so"
    assert _scan({path: b"..package:flutter_contacts/.."}) == [("flutter", "native", path, "package:flutter_contacts/")]


# Cordova


PLUGIN_FILES = "cordova-plugin-contacts JS module bundled (navigator.contacts)"
CORDOVA_PLUGINS = b"""cordova.define('cordova/plugin_list', function(require, exports, module) {
module.exports = [{"id": "cordova-plugin-contacts.contacts", "file": "plugins/cordova-plugin-contacts/www/contacts.js",
 "pluginId": "cordova-plugin-contacts", "clobbers": ["navigator.contacts"]},
 {"id": "cordova-plugin-contacts-info.contactsInfo", "pluginId": "cordova-plugin-contacts-info"}];
});"""


def test_cordova_plugin_list_and_plugin_files() -> None:
    members = {
        "assets/www/cordova_plugins.js": CORDOVA_PLUGINS,
        "assets/www/plugins/cordova-plugin-contacts/www/Contact.js": b"",
        "assets/www/plugins/cordova-plugin-contacts/www/contacts.js": b"cordova.define('cordova-plugin-contacts.contacts', ...)",
    }
    assert _scan(members) == [
        ("cordova", "asset", "assets/www/cordova_plugins.js", "cordova-plugin-contacts"),
        ("cordova", "asset", "assets/www/plugins/cordova-plugin-contacts/www/contacts.js", PLUGIN_FILES),
    ]


def test_cordova_find_pick_and_bundled_bridge_call() -> None:
    app = (
        b'navigator.contacts.find(["displayName", "phoneNumbers"], ok, fail, {multiple: true});\n'
        b"navigator.contacts.pickContact(function (c) { show(c) }, fail);"
    )
    bundle = b'var n={find:function(e,t,r,o){s(function(i){e(i)},t,"Contacts","search",[r,o])}};exec(win, fail, "Contacts", "search", [f, o]);'
    assert _scan({"assets/www/js/app.js": app, "assets/www/build/main.js": bundle}) == [
        ("cordova", "asset", "assets/www/build/main.js", 'exec(win, fail, "Contacts", "search"'),
        ("cordova", "asset", "assets/www/js/app.js", 'navigator.contacts.find(["displayName", "phoneNumbers"], ok, fail, {multiple: true})'),
        ("cordova", "asset", "assets/www/js/app.js", "picker: navigator.contacts.pickContact(function (c)"),
    ]


def test_js_mentioning_contacts_in_prose_is_not_evidence() -> None:
    prose = (
        b"// We never read your contacts. Contacts stay on your phone.\n"
        b'var text = "Invite your contacts! navigator.contacts is not used by this app";\n'
        b"function findContacts(list) { return list.find(function (c) { return c.phone; }); }\n"
    )
    members = {"assets/www/js/app.js": prose, "assets/www/index.html": b"<p>Manage your contacts</p>", "assets/index.android.bundle": prose}
    assert _scan(members) == []


# uni-app / DCloud


def test_uni_app_address_book_read() -> None:
    service = (
        b'(function(){plus.contacts.getAddressBook(plus.contacts.ADDRESSBOOK_PHONE,\n\t function (book) {\n'
        b'   book.find(["displayName", "phoneNumbers"], function (list) { uni.request({url: u, data: list}) }, e, {multiple: true})})})()'
    )
    (evidence,) = hybrid.scan(_files({"assets/apps/__UNI__1234567/www/app-service.js": service}), ())
    assert (evidence.framework, evidence.evidence_kind, evidence.path) == ("uni-app", "asset", "assets/apps/__UNI__1234567/www/app-service.js")
    assert evidence.detail == 'plus.contacts.getAddressBook(plus.contacts.ADDRESSBOOK_PHONE, function (book) { book.find(['
    assert "\n" not in evidence.detail and len(evidence.detail) <= hybrid.DETAIL_MAX


def test_uni_app_runtime_adding_a_contact_is_not_a_read() -> None:
    # uni-app's own runtime implements uni.addPhoneContact with getAddressBook(...).create().
    runtime = (
        b"function addPhoneContact(o){plus.contacts.getAddressBook(plus.contacts.ADDRESSBOOK_PHONE,"
        b"(a)=>{const c=a.create();c.name={};c.save()})}"
    )
    assert _scan({"assets/apps/__UNI__1234567/www/app-service.js": runtime}) == []


def test_uni_app_native_js_and_feature_config() -> None:
    page = b'<script>var C=plus.android.importClass("android.provider.ContactsContract$CommonDataKinds$Phone");</script>'
    properties = (
        b'<properties><features><feature name="Contacts" value="io.dcloud.feature.contacts.ContactsFeatureImpl">'
        b"</feature></features></properties>"
    )
    assert _scan({"assets/apps/H5A1B2C3/www/index.html": page, "assets/data/dcloud_properties.xml": properties}) == [
        (
            "uni-app",
            "asset",
            "assets/apps/H5A1B2C3/www/index.html",
            'plus.android.importClass("android.provider.ContactsContract$CommonDataKinds$Phone"',
        ),
        ("uni-app", "asset", "assets/data/dcloud_properties.xml", '<feature name="Contacts" value="io.dcloud.feature.contacts.ContactsFeatureImpl">'),
    ]


# Reading, capping, ordering


def test_untargeted_members_are_never_read() -> None:
    untouched = [
        "classes.dex",
        "resources.arsc",
        "AndroidManifest.xml",
        "res/raw/contacts.js",
        "lib/arm64-v8a/libflutter.so",
        "lib/arm64-v8a/libcontacts.so",
        "assets/contacts.txt",
        "assets/www/contacts.txt",
        "assets/www/plugins/cordova-plugin-contacts/www/contacts.js",  # its path is the evidence
        "assets/apps/__UNI__1/contacts.js",  # not under www/
        "assets/data/other.xml",
        "META-INF/CERT.RSA",
    ]
    evidence = hybrid.scan([_untouchable(name) for name in untouched], ())
    assert [(e.framework, e.path) for e in evidence] == [("cordova", "assets/www/plugins/cordova-plugin-contacts/www/contacts.js")]


def test_each_targeted_member_is_read_once() -> None:
    reads: list[str] = []

    def reader(name: str, data: bytes) -> tuple[str, Callable[[], bytes]]:
        def read() -> bytes:
            reads.append(name)
            return data

        return name, read

    hybrid.scan([reader("assets/index.android.bundle", b"RCTContacts ExpoContacts"), reader("assets/www/js/app.js", b"")], ())
    assert reads == ["assets/index.android.bundle", "assets/www/js/app.js"]


def test_evidence_per_path_is_capped() -> None:
    cap = load("hybrid")["max_per_path"]
    bundle = b";".join(f'navigator.contacts.find(["f{i}"])'.encode() for i in range(20))
    evidence = hybrid.scan(_files({"assets/www/js/app.js": bundle}), ())
    assert len(evidence) == cap
    assert [e.detail for e in evidence] == sorted(e.detail for e in evidence)


def test_results_are_sorted_and_unique() -> None:
    classes = ("Lorg/apache/cordova/contacts/ContactManager;",) * 3
    members = {"assets/www/js/b.js": b"navigator.contacts.find(x)", "assets/www/js/a.js": b"navigator.contacts.find(x) navigator.contacts.find(x)"}
    evidence = hybrid.scan(_files(members), classes)
    keys = [(e.framework, e.path, e.detail) for e in evidence]
    assert keys == sorted(set(keys))
    assert all(isinstance(e, HybridEvidence) and e.category == "contacts" for e in evidence)


# The data itself


FRAMEWORKS = {"react-native", "flutter", "cordova", "uni-app"}


def test_signature_table_is_well_formed() -> None:
    table = load("hybrid")
    ids = [s["id"] for s in table["signatures"]]
    assert len(ids) == len(set(ids))
    for sig in table["signatures"]:
        assert sig["framework"] in FRAMEWORKS, sig["id"]
        assert sig["category"] == "contacts", sig["id"]
        assert sig["source"].strip(), sig["id"]
        assert sig.get("access", "read") in {"read", "picker"}, sig["id"]
        if sig["kind"] == "class":
            assert re.fullmatch(r"L[\w$/]+(/|;)", sig["prefix"]), sig["id"]
            assert all(e.startswith(sig["prefix"]) for e in sig.get("entries", [])), sig["id"]
            assert sig["label"], sig["id"]
        else:
            assert sig["kind"] in {"asset", "native"} and sig["members"], sig["id"]
            assert sig.get("patterns") or sig.get("label"), sig["id"]
            for pattern in sig.get("patterns", []):
                re.compile(pattern.encode("ascii"))
                # a literal start keeps big members fast: no leading alternation, class, group or \b
                assert re.match(r"[A-Za-z<_]", pattern), (sig["id"], pattern)
    for compiled in hybrid._signatures()[0]:  # compiled only when first met in an APK: each must compile
        re.compile(compiled.members)
        re.compile(compiled.exclude)


# The committed fixtures, built from fixtures/src/hybrid_*


FIXTURE_EVIDENCE = {
    "hybrid_rn": [
        ("react-native", "class", "Lcom/rt2zz/reactnativecontacts/ContactsManager;", PLUGIN_CLASSES["Lcom/rt2zz/reactnativecontacts/ContactsManager;"][1]),
        ("react-native", "asset", "assets/index.android.bundle", "Contacts.getAll("),
        ("react-native", "asset", "assets/index.android.bundle", "NativeModules.Contacts"),
        ("react-native", "asset", "assets/index.android.bundle", "node_modules/react-native-contacts/"),
        ("react-native", "asset", "assets/index.android.bundle", 'require("react-native-contacts")'),
    ],
    "hybrid_flutter": [
        ("flutter", "class", "Lco/quis/flutter_contacts/FlutterContactsPlugin;", "flutter_contacts plugin (co.quis.flutter_contacts)"),
        ("flutter", "native", "lib/arm64-v8a/libapp.so", "FlutterContacts.getContacts"),
        ("flutter", "native", "lib/arm64-v8a/libapp.so", "package:flutter_contacts/"),
    ],
    "hybrid_cordova": [
        ("cordova", "class", "Lorg/apache/cordova/contacts/ContactManager;", "cordova-plugin-contacts native plugin (org.apache.cordova.contacts)"),
        ("cordova", "asset", "assets/www/cordova_plugins.js", "cordova-plugin-contacts"),
        ("cordova", "asset", "assets/www/js/app.js", 'navigator.contacts.find(["displayName","phoneNumbers"], onOk, onErr, {multiple:true})'),
        ("cordova", "asset", "assets/www/plugins/cordova-plugin-contacts/www/contacts.js", PLUGIN_FILES),
    ],
    "hybrid_uniapp": [
        ("uni-app", "class", "Lio/dcloud/feature/contacts/ContactsFeatureImpl;", "DCloud HTML5+ contacts feature (io.dcloud.feature.contacts)"),
        (
            "uni-app",
            "asset",
            "assets/apps/__UNI__ABCDEF1/www/app-service.js",
            "plus.contacts.getAddressBook(plus.contacts.ADDRESSBOOK_PHONE, function(a){a.find([",
        ),
        ("uni-app", "asset", "assets/data/dcloud_control.xml", '<feature name="Contacts" value="io.dcloud.feature.contacts.ContactsFeatureImpl" />'),
    ],
}


def _scan_apk(apk: zipfile.ZipFile) -> tuple[HybridEvidence, ...]:
    classes = [c[0] for name in apk.namelist() if re.fullmatch(r"classes\d*\.dex", name) for c in DexFile(apk.read(name), name).class_defs()]
    return hybrid.scan(((name, lambda name=name: apk.read(name)) for name in apk.namelist()), classes)


@pytest.mark.parametrize("name", sorted(FIXTURE_EVIDENCE))
def test_fixture_apks(name: str) -> None:
    with zipfile.ZipFile(fixture(f"{name}.apk")) as apk:
        found = [(e.framework, e.evidence_kind, e.path, e.detail) for e in _scan_apk(apk)]
    assert found == FIXTURE_EVIDENCE[name]
    truth = {(h["framework"], h["evidence_kind"], h.get("path") or h["class"]) for h in expected(name)["hybrid"]}
    assert {(f, k, p) for f, k, p, _ in found} == truth


def test_fixtures_without_frameworks_have_no_hybrid_evidence() -> None:
    for name in ("loan_harvest", "clean_app", "sdk_attributed", "picker"):
        with zipfile.ZipFile(fixture(f"{name}.apk")) as apk:
            assert _scan_apk(apk) == (), name


def test_corpus_apks_have_no_hybrid_contacts_evidence() -> None:
    """None of the third-party corpus APKs is built with RN, Flutter, Cordova or uni-app."""
    scanned = 0
    for path in sorted(corpus("apk").glob("*.apk")):
        try:
            apk = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            continue
        with apk:
            try:
                evidence = _scan_apk(apk)
            except DexError:  # the deliberately broken dex header: scan its members alone
                evidence = hybrid.scan(((n, lambda n=n: apk.read(n)) for n in apk.namelist()), ())
        assert evidence == (), path.name
        scanned += 1
    assert scanned >= 20
