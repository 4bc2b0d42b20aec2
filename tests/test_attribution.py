"""Whose code a class is: first-party (the app's package), a named library, or unknown (docs/attribution.md)."""

from __future__ import annotations

import collections
import gzip
import json
import re
from importlib import resources

import pytest
from lxml import etree

from permaudit import audit
from permaudit.facts import attribution
from permaudit.facts.attribution import Attributor, dotted, prefixes_of
from permaudit.model.code import AccessSite, Attribution, Owner

from .conftest import CORPUS, fixture

FIRST, THIRD, UNKNOWN = Owner.FIRST_PARTY, Owner.THIRD_PARTY, Owner.UNKNOWN
APP = Attributor("com.example.app")
DATA = resources.files("permaudit.data")


def test_owner_is_a_string_enum() -> None:
    assert [o.value for o in Owner] == ["first-party", "third-party", "unknown"]
    assert Owner("first-party") is Owner.FIRST_PARTY and isinstance(Owner.FIRST_PARTY, str) and f"{Owner.UNKNOWN}" == "unknown"
    assert str.__eq__(Owner.THIRD_PARTY, "third-party")
    assert json.dumps(Attribution(Owner.THIRD_PARTY).owner) == '"third-party"'


@pytest.mark.parametrize(
    "name",
    [
        "Lcn/tongdun/android/shell/utils/ContactCollector;",
        "cn.tongdun.android.shell.utils.ContactCollector",
        "Lcn/tongdun/android/shell/FMAgent$1;",
        "[Lcn/tongdun/android/shell/FMAgent;",
    ],
)
def test_descriptor_and_dotted_names_agree(name: str) -> None:
    found = APP.of(name)
    assert (found.owner, found.prefix, found.category) == (THIRD, "cn.tongdun", "risk-control")
    assert found.sdk.startswith("TongDun (同盾)") and "curated" in found.source and "com.zyjr.emergencylending" in found.source


def test_candidate_prefixes_stop_at_dots_and_dollars() -> None:
    assert dotted("[[Lcom/a/B$C;") == "com.a.B$C"
    assert prefixes_of("com.a.B$C") == ["com.a.B$C", "com.a.B", "com.a", "com"]
    assert prefixes_of("") == []
    assert prefixes_of("Main") == ["Main"]


def test_prefixes_match_at_dot_and_dollar_boundaries_only() -> None:
    assert (APP.of("Lcom/facebook/ads/AdView;").owner, APP.of("Lcom/facebook/ads/AdView;").prefix) == (THIRD, "com.facebook.ads")
    assert APP.of("Lcom/facebookx/ads/AdView;") == Attribution(UNKNOWN)
    assert APP.of("Lcom/facebook/adsx/AdView;").prefix == "com.facebook"  # the vendor namespace, not com.facebook.ads
    # an Exodus signature that is a class name owns its nested classes ($) but not a longer name
    event = APP.of("Lcom/google/firebase/analytics/FirebaseAnalytics$Event;")
    assert (event.prefix, event.category) == ("com.google.firebase.analytics.FirebaseAnalytics", "analytics")
    assert APP.of("Lcom/google/firebase/analytics/FirebaseAnalyticsX;").prefix == "com.google.firebase.analytics"
    assert APP.of("okhttp3").prefix == "okhttp3"  # the prefix itself


def test_longest_prefix_wins() -> None:
    cases = {
        "Lcom/umeng/message/PushAgent;": ("com.umeng.message", "push"),
        "Lcom/umeng/analytics/MobclickAgent;": ("com.umeng.analytics", "analytics"),
        "Lcom/umeng/foo/X;": ("com.umeng", "vendor-sdk"),
        "Lcom/google/android/gms/ads/identifier/AdvertisingIdClient;": ("com.google.android.gms.ads.identifier", "identification"),
        "Lcom/google/android/gms/ads/AdView;": ("com.google.android.gms.ads.AdView", "ads"),
        "Lcom/google/android/gms/common/internal/zzb;": ("com.google.android.gms", "platform-services"),
        "Lcom/tencent/a/a/a/a/h;": ("com.tencent", "vendor-sdk"),
        "Lcom/tencent/wxop/stat/common/r;": ("com.tencent.wxop.stat", "analytics"),
        "Landroid/support/v7/app/TwilightManager;": ("android.support.v7.app", "ui-support"),
        "Landroidx/core/widget/TextViewCompat$OreoCallback;": ("androidx.core", "ui-support"),
        "Lcom/bumptech/glide/load/data/MediaStoreThumbFetcher$ImageThumbnailQuery;": ("com.bumptech.glide", "image-loading"),
    }
    assert {name: (APP.of(name).prefix, APP.of(name).category) for name in cases} == cases


def test_unnamed_rows_name_nothing_a_named_row_names() -> None:
    # androidx.ads has a category but no name: the curated androidx row names it
    assert (APP.of("Landroidx/ads/X;").prefix, APP.of("Landroidx/ads/X;").sdk) == ("androidx", "Android Jetpack (AndroidX)")
    # an AndroLibZoo namespace with no name at all: named by its prefix, category unknown-library
    twitter = APP.of("Lcom/twitter/sdk/android/core/Twitter;")
    assert (twitter.owner, twitter.sdk, twitter.prefix, twitter.category) == (THIRD, "com.twitter", "com.twitter", "unknown-library")
    assert "AndroLibZoo" in twitter.source and "MIT" in twitter.source


def test_the_apps_own_package_wins_over_library_lists() -> None:
    wechat = Attributor("com.tencent.mm")
    assert wechat.of("Lcom/tencent/mm/ui/LauncherUI;") == Attribution(FIRST, source="manifest package com.tencent.mm")
    assert wechat.of("Lcom/tencent/mm/opensdk/openapi/IWXAPI;").owner == FIRST
    assert wechat.of("Lcom/tencent/bugly/crashreport/CrashReport;").prefix == "com.tencent.bugly"
    assert APP.of("Lcom/tencent/mm/ui/LauncherUI;").prefix == "com.tencent.mm"  # elsewhere: a library list's entry
    assert APP.of("Lcom/tencent/mm/opensdk/openapi/IWXAPI;").sdk == "WeChat OpenSDK (login / share / pay)"


def test_own_package_matches_at_boundaries() -> None:
    assert APP.of("Lcom/example/app/Own;").owner == FIRST
    assert APP.of("Lcom/example/app$Inner;").owner == FIRST
    assert APP.of("com.example.app").owner == FIRST
    assert APP.of("Lcom/example/appx/Own;") == Attribution(UNKNOWN)
    assert APP.of("Lcom/example/Other;") == Attribution(UNKNOWN)


def test_the_application_class_package_is_first_party() -> None:
    italia = Attributor("operatore.italia", "lib.operatore.core.CoreApp")
    assert italia.of("Llib/operatore/core/a;") == Attribution(FIRST, source="package of application class lib.operatore.core.CoreApp")
    assert italia.of("Llib/operatore/Other;").owner == UNKNOWN  # only that package, not its parent
    assert Attributor("com.x.app", ".App").application_class == "com.x.app.App"
    assert Attributor("com.x.app", "App").application_class == "com.x.app.App"
    assert Attributor("com.x.app", "com.x.core.App").of("Lcom/x/core/Util;").owner == FIRST
    # Google's own app in Google's vendor namespace
    assert Attributor("com.google.android.apps.authenticator2", "com.google.android.apps.authenticator.AuthenticatorApplication").of(
        "Lcom/google/android/apps/authenticator/AccountDb;"
    ).owner == FIRST


@pytest.mark.parametrize(
    "app_class",
    [
        "androidx.multidex.MultiDexApplication",
        "android.support.multidex.MultiDexApplication",
        "android.app.Application",
        "com.tencent.tinker.loader.app.TinkerApplication",
        "a.App",  # one bare segment: R8 renames library code into it too
    ],
)
def test_a_library_or_platform_application_class_makes_nothing_first_party(app_class: str) -> None:
    attributor = Attributor("com.x.app", app_class)
    assert attributor.own_packages == {"com.x.app": "manifest package com.x.app"}
    assert attributor.of("La/b;").owner == UNKNOWN


def test_unlisted_code_is_unknown_never_first_party() -> None:
    assert APP.of("La/b/c;") == Attribution(UNKNOWN)
    assert APP.of("LMainActivity;") == Attribution(UNKNOWN)
    assert APP.of("") == Attribution(UNKNOWN)
    bare = Attributor()  # a bare dex: no manifest, so no package is the app's
    assert bare.own_packages == {}
    assert bare.of("Lcom/example/fx/sdkattributed/Own;") == Attribution(UNKNOWN)
    assert bare.of("Lcn/tongdun/android/shell/FMAgent;").prefix == "cn.tongdun"


def test_from_manifest_reads_package_and_application_class() -> None:
    root = etree.fromstring(
        b'<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.x.app">'
        b'<application android:name=".core.App"/></manifest>'
    )
    found = Attributor.from_manifest(root)
    assert (found.package_name, found.application_class) == ("com.x.app", "com.x.app.core.App")
    assert found.of("Lcom/x/app/core/A;").owner == FIRST
    no_application = Attributor.from_manifest(etree.fromstring(b'<manifest package="p.q"/>'))
    assert (no_application.package_name, no_application.application_class) == ("p.q", "")
    assert Attributor.from_manifest(None).own_packages == {}


def test_lending_risk_and_credit_sdks_are_named() -> None:
    cases = {
        "Lcn/tongdun/android/shell/FMAgent;": ("cn.tongdun", "risk-control"),
        "Lcom/trustdecision/mobrisk/TDRisk;": ("com.trustdecision", "risk-control"),
        "Lcom/ishumei/smantifraud/SmAntiFraud;": ("com.ishumei", "risk-control"),
        "Lcom/dingxiang/mobile/risk/DXRisk;": ("com.dingxiang.mobile", "risk-control"),
        "Lcom/dx/mobile/risk/DXRisk;": ("com.dx.mobile", "risk-control"),
        "Lcom/bqs/risk/df/android/BqsDF;": ("com.bqs.risk", "risk-control"),
        "Lcom/moxie/client/manager/MoxieSDK;": ("com.moxie.client", "risk-control"),
        "Lcom/lexisnexisrisk/threatmetrix/TMXProfiling;": ("com.lexisnexisrisk.threatmetrix", "risk-control"),
        "Lio/seon/androidsdk/service/Seon;": ("io.seon.androidsdk", "risk-control"),
        "Lcredoapp/CredoAppService;": ("credoapp", "risk-control"),
        "Lin/finbox/mobileriskmanager/FinBox;": ("in.finbox.mobileriskmanager", "risk-control"),
        "Lin/finbox/lending/X;": ("in.finbox", "risk-control"),
        "Lcn/shuzilm/core/Main;": ("cn.shuzilm", "risk-control"),
        "Lcom/lenddo/mobile/core/LenddoCoreInfo;": ("com.lenddo.mobile", "risk-control"),
        "Lcom/geetest/sdk/GT3GeetestUtils;": ("com.geetest", "risk-control"),
        "Lcom/netease/nis/captcha/Captcha;": ("com.netease.nis", "risk-control"),
        "Lai/advance/liveness/lib/GuardianLivenessDetectionSDK;": ("ai.advance", "identity-verification"),
        "Lcom/bun/miitmdid/core/MdidSdkHelper;": ("com.bun.miitmdid", "identification"),
        "Lcom/igexin/sdk/PushManager;": ("com.igexin", "push"),
        "Lcn/jpush/android/api/JPushInterface;": ("cn.jpush.android", "push"),
        "Lcom/tencent/bugly/crashreport/CrashReport;": ("com.tencent.bugly", "crash-reporting"),
        "Lco/paystack/android/PaystackSdk;": ("co.paystack.android", "payment"),
    }
    got = {name: (APP.of(name).prefix, APP.of(name).category) for name in cases}
    assert got == cases
    assert all(APP.of(name).owner == THIRD and APP.of(name).sdk and APP.of(name).source for name in cases)


def test_the_sdk_fixture_is_attributed() -> None:
    result = audit(fixture("sdk_attributed.apk"))
    assert result.code is not None
    owners = {s.location.method: (s.attribution.owner, s.attribution.prefix) for s in result.code.sites}
    assert owners == {"collect": (THIRD, "cn.tongdun"), "read": (FIRST, "")}
    assert result.to_dict()["code"]["sites"][0]["attribution"]["owner"] in {"first-party", "third-party"}


# --- the shipped data -------------------------------------------------------------------------

IDENT = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def _rows(name: str) -> list[list[str]]:
    lines = DATA.joinpath(name).read_text(encoding="utf-8").split("\n")
    assert lines[0] == "prefix\tname\tcategory\tsource\tevidence" and lines[-1] == ""
    return [line.split("\t") for line in lines[1:-1]]


def test_tables_are_well_formed_and_keep_licences_apart() -> None:
    sources = json.loads(DATA.joinpath("library_sources.json").read_text(encoding="utf-8"))["sources"]
    assert set(sources) == {"curated", "permaudit", "libchecker", "libradar", "libscout", "androlibzoo", "exodus"}
    ours, exodus = _rows("libraries.tsv"), _rows("libraries-exodus.tsv")
    for table in (ours, exodus):
        prefixes = [row[0] for row in table]
        assert len(prefixes) == len(set(prefixes)) and prefixes == sorted(prefixes)
        for row in table:
            assert len(row) == 5 and IDENT.fullmatch(row[0]) and row[2], row
    # Apache-2.0/MIT rows never carry Exodus (ODbL) data; the ODbL file holds Exodus only
    assert all(set(row[3].split(",")) <= set(sources) - {"exodus"} for row in ours)
    assert {row[3] for row in exodus} == {"exodus"}
    assert all(row[4] for row in ours if row[3].split(",")[0] in {"curated", "permaudit"})
    spaces = gzip.decompress(DATA.joinpath("libraries-androlibzoo.txt.gz").read_bytes()).decode().split("\n")
    assert spaces[-1] == "" and all(IDENT.fullmatch(p) for p in spaces[:-1])
    assert spaces[:-1] == sorted(set(spaces[:-1])), "namespaces() looks names up by bisection: the file must stay sorted, one name per line"
    assert len(ours) > 1000 and len(exodus) > 500 and len(spaces) > 30000
    notice = DATA.joinpath("LIBRARIES-NOTICE.md").read_text(encoding="utf-8")
    for entry in sources.values():
        assert entry.get("commit", "") in notice and entry["licence"].split(",")[0] in notice
    assert "Copyright (c) 2023 Jordan Samhi" in notice and "Open Database License" in notice


def test_no_reference_only_dataset_is_shipped() -> None:
    shipped = "".join(DATA.joinpath(n).read_text(encoding="utf-8") for n in ("libraries.tsv", "libraries-exodus.tsv", "library_sources.json"))
    for forbidden in ("android-libraries", "fdroid-suss", "commonlibraries", "CommonLibraries"):
        assert forbidden not in shipped


def test_tables_load_lazily_and_once() -> None:
    """Building an Attributor reads no table; the first lookup reads each once (their cost is
    measured by benchmarks/bench_bytecode.py, never by a timed test)."""
    for cached in (attribution.libraries, attribution.namespaces, attribution.sources):
        cached.cache_clear()
    Attributor("com.x")  # building one reads nothing
    assert attribution.libraries.cache_info().currsize == 0
    assert attribution.namespaces.cache_info().currsize == 0
    attributor = Attributor("com.x")
    assert attributor.of("Lcom/zzz/Unlisted;").owner is Owner.UNKNOWN  # every table read once
    attributor.of("Lcom/zzz/Other;")
    assert attribution.libraries.cache_info().currsize == attribution.namespaces.cache_info().currsize == 1
    assert attribution.namespaces.cache_info().misses == 1


# --- the corpus ---------------------------------------------------------------------------------

NEVER_FIRST_PARTY = ("android.support", "androidx", "com.google", "com.bumptech.glide", "com.tencent")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith((prefix + ".", prefix + "$"))


@pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")
def test_corpus_library_reads_are_not_called_first_party() -> None:
    paths = sorted((CORPUS / "apk").glob("*.apk")) + sorted(p for p in (CORPUS / "dex").iterdir() if p.is_dir())
    owners: collections.Counter[str] = collections.Counter()
    outside = []
    for path in paths:
        result = audit(path)
        if result.code is None:
            continue
        package = result.manifest.package if result.manifest is not None else ""
        for site in result.code.sites:
            assert isinstance(site, AccessSite)
            owners[site.attribution.owner.value] += 1
            name = dotted(site.location.class_name)
            if site.attribution.owner == FIRST and not _under(name, package):
                outside.append((path.name, name, site.attribution.source))
            if not _under(name, package):  # GmsCore's own com.google.android.gms code is first-party
                assert not (site.attribution.owner == FIRST and name.startswith(tuple(p + "." for p in NEVER_FIRST_PARTY))), (path.name, name)
    total = sum(owners.values())
    share = owners["first-party"] / total
    print(f"corpus read sites: {dict(owners)}; first-party share {share:.1%}; first-party outside the manifest package: {outside}")
    assert total > 250 and share < 0.8
    # outside the manifest package, first-party is only ever earned by the application class's package
    assert all(source.startswith("package of application class ") for _, _, source in outside), outside


REFERENCE = CORPUS.parent / "reference" / "libraries"


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"library reference merge not present at {REFERENCE}")
def test_shipped_tables_are_what_the_refresh_script_builds(tmp_path) -> None:
    """The three tables can be rebuilt from the reference merge byte for byte (docs/attribution.md, Refresh)."""
    from permaudit.data.refresh_libraries import refresh

    shipped = resources.files("permaudit.data")
    (tmp_path / attribution.TABLE).write_bytes(shipped.joinpath(attribution.TABLE).read_bytes())  # its permaudit rows are kept
    counts = refresh(REFERENCE, tmp_path)
    assert counts["permaudit"] == sum(1 for row in attribution._read_tsv(attribution.TABLE) if row.source == "permaudit") > 0
    for name in (attribution.TABLE, attribution.EXODUS, attribution.NAMESPACES):
        assert (tmp_path / name).read_bytes() == shipped.joinpath(name).read_bytes(), name
