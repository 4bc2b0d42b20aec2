"""Whose code a class is: first-party, or a named SDK from data/sdk_prefixes.json."""

from __future__ import annotations

import re

import pytest

from permaudit.facts.attribution import attribute
from permaudit.data import load
from permaudit.model import Attribution


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
    found = attribute(name)
    assert (found.owner, found.prefix, found.category) == ("third-party", "cn.tongdun", "risk-control")
    assert found.sdk.startswith("TongDun") and found.source


def test_prefixes_match_whole_package_segments() -> None:
    assert attribute("Lcom/facebook/ads/AdView;").prefix == "com.facebook.ads"
    assert attribute("Lcom/facebookx/ads/AdView;").owner == "first-party"
    assert attribute("Lcom/facebook/adsx/AdView;").owner == "first-party"
    assert attribute("Lcom/appsflyerx/A;").owner == "first-party"
    assert attribute("com.appsflyer").prefix == "com.appsflyer"  # the prefix itself, e.g. a class named like it


def test_longest_prefix_wins() -> None:
    analytics, push = attribute("Lcom/umeng/analytics/MobclickAgent;"), attribute("Lcom/umeng/message/PushAgent;")
    assert (analytics.prefix, analytics.category) == ("com.umeng", "analytics")
    assert (push.prefix, push.category) == ("com.umeng.message", "push")
    assert attribute("Lcom/umeng/socialize/UMShareAPI;").category == "social/login"


def test_unknown_code_is_first_party() -> None:
    assert attribute("Lcom/example/fx/sdkattributed/Own;") == Attribution("first-party")
    assert attribute("LMainActivity;") == Attribution("first-party")
    assert attribute("") == Attribution("first-party")


def test_lending_sdks_are_named() -> None:
    cases = {
        "Lcom/ishumei/smantifraud/SmAntiFraud;": "risk-control",
        "Lcom/moxie/client/manager/MoxieSDK;": "credit/KYC",
        "Lai/advance/liveness/lib/GuardianLivenessDetectionSDK;": "credit/KYC",
        "Lin/finbox/mobileriskmanager/FinBox;": "credit/KYC",
        "Lcom/igexin/sdk/PushManager;": "push",
        "Lcom/tencent/bugly/crashreport/CrashReport;": "crash",
        "Lco/paystack/android/PaystackSdk;": "payments",
    }
    assert {name: attribute(name).category for name in cases} == cases


CATEGORIES = {"risk-control", "credit/KYC", "analytics", "push", "ads", "attribution", "crash", "maps/location", "payments", "social/login"}


def test_sdk_table_is_well_formed() -> None:
    table = load("sdk_prefixes")
    assert set(table["categories"]) == CATEGORIES
    prefixes = [entry["prefix"] for entry in table["sdks"]]
    assert len(prefixes) == len(set(prefixes)), "duplicate prefixes"
    for entry in table["sdks"]:
        assert set(entry) == {"prefix", "sdk", "category", "source"}, entry
        assert re.fullmatch(r"[a-z][\w$]*(\.[\w$]+)*", entry["prefix"]), entry["prefix"]
        assert entry["sdk"].strip() and entry["source"].strip(), entry["prefix"]
        assert entry["category"] in CATEGORIES, entry["prefix"]
