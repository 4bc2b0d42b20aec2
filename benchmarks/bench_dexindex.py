"""Micro-benchmark of permaudit.dex on one APK (a script, not a test).

Compares the hot path of the audit (open every dex, look up ~200 realistic targets,
find every instruction that uses them, decode every method found) against the floor
any reader must pay: inflating the dex entries from the zip and scanning their bytes
once with a regular expression.

    python benchmarks/bench_dexindex.py [APK] [--repeat N]

Default APK: ../shared/bench/mega-multidex.apk next to the repository.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from permaudit.dex import DexError, DexFile, validate

DEFAULT_APK = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "mega-multidex.apk"
DEX_NAME = re.compile(r"classes\d*\.dex")

# (class, member names): every overload / field of that name is a target.
METHODS: dict[str, tuple[str, ...]] = {
    "Landroid/content/ContentResolver;": (
        "query", "insert", "update", "delete", "bulkInsert", "registerContentObserver",
        "acquireContentProviderClient", "acquireUnstableContentProviderClient", "openInputStream",
        "call", "applyBatch",
    ),
    "Landroid/content/ContentProviderClient;": ("query", "insert", "update", "delete", "call"),
    "Landroid/content/Context;": ("getContentResolver", "getSystemService", "checkSelfPermission",
                                  "checkCallingOrSelfPermission", "getPackageManager"),
    "Landroid/content/ContextWrapper;": ("getContentResolver", "getSystemService", "getPackageManager"),
    "Landroid/app/Activity;": ("managedQuery", "requestPermissions", "getContentResolver"),
    "Landroid/content/CursorLoader;": ("<init>", "loadInBackground"),
    "Landroidx/loader/content/CursorLoader;": ("<init>",),
    "Landroid/database/Cursor;": ("moveToFirst", "moveToNext", "getString", "getColumnIndex",
                                  "getColumnIndexOrThrow", "getCount", "close"),
    "Landroid/telephony/TelephonyManager;": (
        "getDeviceId", "getImei", "getMeid", "getLine1Number", "getSubscriberId",
        "getSimSerialNumber", "getNetworkOperator", "getNetworkOperatorName", "getSimOperator",
        "getSimCountryIso", "getCellLocation", "getAllCellInfo", "getVoiceMailNumber",
    ),
    "Landroid/telephony/SmsManager;": ("getDefault", "sendTextMessage", "sendMultipartTextMessage",
                                       "divideMessage", "sendDataMessage"),
    "Landroid/content/pm/PackageManager;": ("getInstalledPackages", "getInstalledApplications",
                                            "queryIntentActivities", "getPackageInfo",
                                            "getApplicationInfo", "checkPermission"),
    "Landroid/location/LocationManager;": ("getLastKnownLocation", "requestLocationUpdates",
                                           "requestSingleUpdate", "getBestProvider", "isProviderEnabled"),
    "Landroid/location/Location;": ("getLatitude", "getLongitude"),
    "Landroid/accounts/AccountManager;": ("get", "getAccounts", "getAccountsByType", "getAuthToken"),
    "Landroid/net/Uri;": ("parse", "withAppendedPath", "fromFile", "fromParts"),
    "Ljava/net/URL;": ("<init>", "openConnection", "openStream"),
    "Ljava/net/HttpURLConnection;": ("connect", "setRequestMethod", "getResponseCode", "setDoOutput",
                                     "getOutputStream", "getInputStream", "disconnect"),
    "Ljava/net/URLConnection;": ("connect", "getOutputStream", "getInputStream", "setDoOutput"),
    "Ljavax/net/ssl/HttpsURLConnection;": ("connect", "getOutputStream", "getInputStream"),
    "Lokhttp3/OkHttpClient;": ("newCall", "<init>"),
    "Lokhttp3/Call;": ("execute", "enqueue"),
    "Lokhttp3/Request$Builder;": ("url", "post", "build", "<init>"),
    "Lokhttp3/RequestBody;": ("create",),
    "Lokhttp3/FormBody$Builder;": ("add", "build"),
    "Lcom/squareup/okhttp/OkHttpClient;": ("newCall",),
    "Lorg/apache/http/impl/client/DefaultHttpClient;": ("execute", "<init>"),
    "Lorg/apache/http/client/HttpClient;": ("execute",),
    "Lorg/apache/http/client/methods/HttpPost;": ("<init>", "setEntity"),
    "Landroid/provider/Settings$Secure;": ("getString",),
    "Landroid/webkit/WebView;": ("addJavascriptInterface", "loadUrl", "evaluateJavascript"),
    "Ljava/lang/Runtime;": ("exec",),
    "Ldalvik/system/DexClassLoader;": ("<init>",),
    "Ljava/lang/Class;": ("forName",),
    "Ljava/lang/reflect/Method;": ("invoke",),
    "Landroid/net/wifi/WifiManager;": ("getConnectionInfo", "getScanResults"),
    "Landroid/net/wifi/WifiInfo;": ("getMacAddress", "getSSID"),
    "Landroid/bluetooth/BluetoothAdapter;": ("getAddress", "getBondedDevices"),
    "Landroid/content/ClipboardManager;": ("getPrimaryClip",),
    "Landroid/app/ActivityManager;": ("getRunningAppProcesses", "getRunningTasks"),
    "Landroid/media/AudioRecord;": ("startRecording",),
    "Landroid/media/MediaRecorder;": ("setAudioSource", "start"),
    "Landroid/hardware/Camera;": ("open", "takePicture"),
    "Landroid/provider/MediaStore$Images$Media;": ("query", "insertImage"),
    "Landroid/provider/MediaStore$Files;": ("getContentUri",),
    "Landroid/provider/ContactsContract$Contacts;": ("openContactPhotoInputStream", "getLookupUri"),
}
FIELDS: dict[str, tuple[str, ...]] = {
    "Landroid/provider/ContactsContract$Contacts;": ("CONTENT_URI", "CONTENT_FILTER_URI", "CONTENT_LOOKUP_URI",
                                                    "CONTENT_VCARD_URI", "CONTENT_STREQUENT_URI"),
    "Landroid/provider/ContactsContract$CommonDataKinds$Phone;": ("CONTENT_URI", "CONTENT_FILTER_URI"),
    "Landroid/provider/ContactsContract$CommonDataKinds$Email;": ("CONTENT_URI", "CONTENT_FILTER_URI",
                                                                 "CONTENT_LOOKUP_URI"),
    "Landroid/provider/ContactsContract$CommonDataKinds$StructuredPostal;": ("CONTENT_URI",),
    "Landroid/provider/ContactsContract$Data;": ("CONTENT_URI",),
    "Landroid/provider/ContactsContract$RawContacts;": ("CONTENT_URI",),
    "Landroid/provider/ContactsContract$PhoneLookup;": ("CONTENT_FILTER_URI",),
    "Landroid/provider/ContactsContract$Groups;": ("CONTENT_URI",),
    "Landroid/provider/ContactsContract$Profile;": ("CONTENT_URI",),
    "Landroid/provider/ContactsContract;": ("AUTHORITY_URI",),
    "Landroid/provider/Contacts$People;": ("CONTENT_URI",),
    "Landroid/provider/Contacts$Phones;": ("CONTENT_URI",),
    "Landroid/provider/CallLog$Calls;": ("CONTENT_URI", "CONTENT_FILTER_URI"),
    "Landroid/provider/CallLog;": ("CONTENT_URI",),
    "Landroid/provider/Telephony$Sms;": ("CONTENT_URI",),
    "Landroid/provider/Telephony$Sms$Inbox;": ("CONTENT_URI",),
    "Landroid/provider/Telephony$Sms$Sent;": ("CONTENT_URI",),
    "Landroid/provider/Telephony$Mms;": ("CONTENT_URI",),
    "Landroid/provider/Telephony$Threads;": ("CONTENT_URI",),
    "Landroid/provider/MediaStore$Images$Media;": ("EXTERNAL_CONTENT_URI", "INTERNAL_CONTENT_URI"),
    "Landroid/provider/MediaStore$Video$Media;": ("EXTERNAL_CONTENT_URI",),
    "Landroid/provider/MediaStore$Audio$Media;": ("EXTERNAL_CONTENT_URI",),
    "Landroid/provider/CalendarContract$Events;": ("CONTENT_URI",),
    "Landroid/provider/CalendarContract$Calendars;": ("CONTENT_URI",),
    "Landroid/provider/Browser;": ("BOOKMARKS_URI",),
    "Landroid/os/Build;": ("SERIAL", "MODEL", "MANUFACTURER"),
}
TYPES = (
    "Landroid/content/ContentResolver;", "Landroid/provider/ContactsContract$Contacts;",
    "Landroid/provider/ContactsContract$CommonDataKinds$Phone;", "Ljava/net/HttpURLConnection;",
    "Lokhttp3/OkHttpClient;", "Lorg/json/JSONObject;", "Lorg/json/JSONArray;", "Landroid/content/CursorLoader;",
    "Landroidx/loader/content/CursorLoader;", "Landroid/telephony/SmsManager;", "Ldalvik/system/DexClassLoader;",
    "Landroid/webkit/WebView;",
)
STRINGS = (
    "content://com.android.contacts", "content://com.android.contacts/contacts", "content://contacts/people",
    "content://sms", "content://sms/inbox", "content://call_log/calls", "android.permission.READ_CONTACTS",
    "display_name", "data1", "has_phone_number", "number", "contact_id", "vnd.android.cursor.item/phone_v2",
)
STRING_PATTERNS = (rb"content://(com\.android\.)?contacts", rb"content://(sms|mms|call_log)", rb"READ_CONTACTS")


def inflate(apk: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(apk) as z:
        return [(n, z.read(n)) for n in z.namelist() if DEX_NAME.fullmatch(n)]


def baseline(apk: Path) -> tuple[float, int]:
    t = time.perf_counter()
    dexes = inflate(apk)
    rx = re.compile(rb"content://com\.android\.contacts")
    hits = sum(1 for _, d in dexes if rx.search(d))
    return time.perf_counter() - t, hits


def targets(dex: DexFile) -> dict[str, list[int]]:
    methods: list[int] = []
    for cls, names in METHODS.items():
        for name in names:
            methods.extend(dex.find_methods(cls, name))
    fields: list[int] = []
    for cls, names in FIELDS.items():
        for name in names:
            fields.extend(dex.find_fields(cls, name))
    types = [t for t in (dex._find_type(d) for d in TYPES) if t is not None]
    strings = {s for s in (dex.find_string(x) for x in STRINGS) if s is not None}
    for pat in STRING_PATTERNS:
        strings.update(dex.strings_matching(pat))
    return {"methods": methods, "fields": fields, "types": types, "strings": sorted(strings)}


def hot_path(apk: Path) -> dict[str, float | int]:
    out: dict[str, float | int] = {"targets": 0, "present": 0, "refs": 0, "methods": 0, "insns": 0}
    t0 = time.perf_counter()
    dexes = inflate(apk)
    t1 = time.perf_counter()
    t_open = t_look = t_refs = t_code = t_valid = 0.0
    for name, data in dexes:
        a = time.perf_counter()
        try:
            dex = DexFile(data, name)
        except DexError as exc:
            print(f"  skipped {exc}")
            continue
        b = time.perf_counter()
        tg = targets(dex)
        c = time.perf_counter()
        refs = dex.refs(**tg)
        e = time.perf_counter()
        found = sorted({r.method_idx for r in refs})
        for m in found:
            out["insns"] += len(dex.code(m) or ())
        f = time.perf_counter()
        damage = validate(dex)  # after refs(): the code index is built, as in the audit
        assert not damage, damage[0].message
        t_valid += time.perf_counter() - f
        t_open += b - a
        t_look += c - b
        t_refs += e - c
        t_code += f - e
        out["present"] += sum(map(len, tg.values()))
        out["refs"] += len(refs)
        out["methods"] += len(found)
    out["targets"] = (sum(map(len, METHODS.values())) + sum(map(len, FIELDS.values())) + len(TYPES)
                      + len(STRINGS) + len(STRING_PATTERNS))
    out.update(inflate=t1 - t0, open=t_open, lookup=t_look, refs_time=t_refs, code=t_code, validate=t_valid,
               total=time.perf_counter() - t0 - t_valid)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("apk", nargs="?", type=Path, default=DEFAULT_APK)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each measurement; the best is shown")
    args = ap.parse_args(argv)
    if not args.apk.is_file():
        print(f"no such APK: {args.apk}", file=sys.stderr)
        return 2
    size = sum(len(d) for _, d in inflate(args.apk))
    bases, runs = [], []
    rss_base = 0
    for _ in range(args.repeat):  # interleaved, so a busy machine slows both alike
        bases.append(baseline(args.apk)[0])
        rss_base = rss_base or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        runs.append(hot_path(args.apk))
    base = min(bases)
    best = min(runs, key=lambda r: r["total"])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{args.apk.name}: {size / 1e6:.1f} MB of dex, best of {args.repeat}")
    rows = [
        ("baseline: inflate + one regex scan", base),
        ("inflate dex entries", best["inflate"]),
        ("DexFile() for every dex", best["open"]),
        (f"look up {best['targets']} targets ({best['present']} ids present)", best["lookup"]),
        (f"refs(): {best['refs']} instructions in {best['methods']} methods", best["refs_time"]),
        (f"code() of those methods ({best['insns']} insns)", best["code"]),
        ("hot path total (inflate included)", best["total"]),
        ("validate() of every dex, after refs() (not in the total)", best["validate"]),
    ]
    for label, secs in rows:
        print(f"  {label:<52} {secs * 1000:9.1f} ms")
    print(f"  {'ratio hot path / baseline':<52} {best['total'] / base:9.2f} x")
    print(f"  {'ratio excluding inflate':<52} {(best['total'] - best['inflate']) / base:9.2f} x")
    print(f"  {'peak RSS (baseline only / whole run)':<52} {rss_base / 1024:6.0f} / {rss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
