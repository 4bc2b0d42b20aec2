"""Read-to-send paths (permaudit/facts/paths.py, docs/paths.md): the fixture's four cases
exactly, the sink table, the bounds, and the corpus (skipped without it)."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from functools import cache
from pathlib import Path

import pytest

import permaudit
from permaudit.data import load as load_data
from permaudit.dex import DexFile
from permaudit.facts import paths
from permaudit.loading import load
from permaudit.model.paths import Confidence, Edge, Outcome, PathFacts, SinkKind

from .conftest import CORPUS, corpus, fixture

PKG = "Lcom/example/fx/paths/"


@cache
def _run(path: str, **bounds: int) -> PathFacts:
    result = permaudit.audit(path)
    package = load(path)
    dexes = [(source.name, DexFile(source.read(), source.name)) for source in package.dex]
    return paths.extract(result.code, dexes, **bounds)


def _site(facts: PathFacts, signature: str):
    found = [s for s in facts.sites if s.site.signature == signature]
    assert len(found) == 1, [s.site.signature for s in facts.sites]
    return found[0]


def _steps(path) -> list[tuple[str, int | None, int, str]]:
    return [(s.signature, s.entry_offset, s.offset, s.edge.value) for s in path.steps]


@pytest.fixture(scope="module")
def flows() -> PathFacts:
    return _run(str(fixture("paths_flows.apk")))


def test_read_returned_to_an_uploader(flows: PathFacts) -> None:
    site = _site(flows, f"{PKG}Dao;->readAll(Landroid/content/Context;)Ljava/util/ArrayList;")
    assert site.outcome is Outcome.PATH and site.category == "contacts" and site.site.offset == 15
    best = site.paths[0]
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        (f"{PKG}Dao;->readAll(Landroid/content/Context;)Ljava/util/ArrayList;", 15, 42, "return"),
        (f"{PKG}Uploader;->sync(Landroid/content/Context;)V", 0, 26, "sink"),
    ]
    assert best.steps[0].instruction == "return-object v6"
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert (best.sink.kind, best.sink.role) == (SinkKind.NETWORK, "stream")
    assert best.sink.location.offset == 26 and best.sink.location.dex == "classes.dex"
    assert best.sink.evidence == "invoke-virtual {v3, v4}, Ljava/io/OutputStream;->write([B)V at 34"
    assert [e.value for e in best.endpoints] == ["https://upload.pathsfixturedemo.com/contacts"]
    assert best.serialised == ()


def test_read_handed_to_a_thread_posting_with_okhttp(flows: PathFacts) -> None:
    site = _site(flows, f"{PKG}Harvest;->start(Landroid/content/Context;)V")
    assert site.outcome is Outcome.PATH
    best = site.paths[0]
    assert best.confidence is Confidence.DIRECT_CALL
    assert _steps(best) == [
        (f"{PKG}Harvest;->start(Landroid/content/Context;)V", 15, 46, "async"),
        (f"{PKG}PostTask;->run()V", None, 49, "sink"),
    ]
    assert best.steps[0].instruction == "invoke-direct {v2, v1}, Ljava/lang/Thread;-><init>(Ljava/lang/Runnable;)V"
    assert best.sink.api == "Lokhttp3/Call;->execute()Lokhttp3/Response;" and best.sink.role == "send"
    assert [e.value for e in best.endpoints] == ["https://api.pathsfixturedemo.com/v1/numbers"]
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")
    # the same data also reaches the request body through the Runnable's field, one call longer
    second = site.paths[1]
    assert second.confidence is Confidence.WITHIN_CALLS and second.calls == 2
    assert [s.edge for s in second.steps] == [Edge.CALL, Edge.FIELD, Edge.SINK]
    assert second.steps[2].entry_offset == 2  # iget-object of PostTask.numbers
    assert second.sink.api == "Lokhttp3/RequestBody;->create(Lokhttp3/MediaType;Ljava/lang/String;)Lokhttp3/RequestBody;"
    assert second.sink.role == "body"


def test_decoy_that_sends_something_else_is_only_co_located(flows: PathFacts) -> None:
    site = _site(flows, f"{PKG}Decoy;->count(Landroid/content/Context;)I")
    assert site.outcome is Outcome.CO_LOCATED
    assert "no flow of the value read" in site.note
    assert all(p.confidence is Confidence.CO_LOCATED for p in site.paths)
    (only,) = site.paths
    assert _steps(only) == [
        (f"{PKG}Decoy;->count(Landroid/content/Context;)I", 10, 10, "co-located"),
        (f"{PKG}Decoy;->ping()V", None, 13, "sink"),
    ]
    assert only.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"


def test_contacts_texted_with_sms_manager(flows: PathFacts) -> None:
    site = _site(flows, f"{PKG}Texter;->spam(Landroid/content/Context;)V")
    assert site.outcome is Outcome.PATH
    (best,) = site.paths
    assert best.confidence is Confidence.SAME_METHOD and best.calls == 0
    assert _steps(best) == [(f"{PKG}Texter;->spam(Landroid/content/Context;)V", 10, 39, "sink")]
    assert best.sink.kind is SinkKind.SMS
    assert best.sink.api.startswith("Landroid/telephony/SmsManager;->sendTextMessage(")
    assert best.sink.location.instruction.startswith("invoke-virtual/range {v0, v1, v2, v3, v4, v5}, Landroid/telephony/SmsManager;->sendTextMessage")


def test_sites_contacts_first_and_every_site_answered(flows: PathFacts) -> None:
    assert [s.category for s in flows.sites] == ["contacts"] * 4
    assert all(s.outcome is Outcome.PATH or s.note for s in flows.sites)
    assert flows.limits and flows.cut == ()


def test_bounds_cut_and_say_so() -> None:
    facts = _run(str(fixture("paths_flows.apk")), max_depth=0)
    site = _site(facts, f"{PKG}Dao;->readAll(Landroid/content/Context;)Ljava/util/ArrayList;")
    assert site.outcome is Outcome.CUT and "longer than 0 calls" in site.note
    assert any("Dao;->readAll" in line for line in facts.cut)
    # the same-method path needs no call
    assert _site(facts, f"{PKG}Texter;->spam(Landroid/content/Context;)V").outcome is Outcome.PATH
    starved = _run(str(fixture("paths_flows.apk")), max_total=1)
    assert [s.outcome for s in starved.sites].count(Outcome.PATH) <= 1
    assert any(s.outcome in (Outcome.CUT, Outcome.NOT_SEARCHED) and "budget" in s.note for s in starved.sites)


def test_results_are_frozen(flows: PathFacts) -> None:
    path = flows.sites[0].paths[0]
    for obj in (flows, flows.sites[0], path, path.sink, path.steps[0]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.note = "x"  # type: ignore[misc]


def test_sink_table() -> None:
    table = load_data("sinks")
    kinds = {k.value for k in SinkKind}
    pairs = set()
    for entry in table["sinks"]:
        assert entry["kind"] in kinds and entry["role"] in ("send", "body", "stream") and entry["carries"]
        assert re.fullmatch(r"L[\w/$]+;", entry["class"]), entry
        pairs.add((entry["class"].rsplit("/", 1)[-1], entry["method"]))
    for wanted in [("HttpURLConnection;", "getOutputStream"), ("HttpURLConnection;", "connect"), ("Call;", "execute"),
                   ("Call;", "enqueue"), ("RequestBody;", "create"), ("FormBody$Builder;", "add"),
                   ("MultipartBody$Builder;", "addFormDataPart"), ("RequestQueue;", "add"), ("DefaultHttpClient;", "execute"),
                   ("AbstractHttpClient;", "execute"), ("HttpClient;", "execute"), ("Socket;", "getOutputStream"),
                   ("Socket;", "emit"), ("WebSocket;", "send"), ("WebView;", "loadUrl"), ("WebView;", "postUrl"),
                   ("WebView;", "evaluateJavascript"), ("SmsManager;", "sendTextMessage"), ("SmsManager;", "sendMultipartTextMessage"),
                   ("Transport;", "send"), ("DatabaseReference;", "setValue"), ("DocumentReference;", "set")]:
        assert wanted in pairs, wanted
    assert load_data("http_apis")["retrofit"]["packages"] == ["Lretrofit2/http/", "Lretrofit/http/"]  # one list for both stages
    assert {"doInBackground", "run", "handleMessage", "invokeSuspend"} <= {c for d in table["dispatchers"] for c in d["callbacks"]}


def test_paths_doc_lists_every_field_and_sink() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "paths.md").read_text(encoding="utf-8")
    from permaudit.model import paths as model

    for cls in (model.PathFacts, model.SitePaths, model.SendPath, model.PathStep, model.Sink):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc, (cls.__name__, f.name)
    for enum in (model.Confidence, model.Outcome, model.Edge, model.SinkKind):
        for member in enum:
            assert f"`{member.value}`" in doc, member
    for entry in load_data("sinks")["sinks"]:
        assert f"`{entry['method']}`" in doc, entry


# ---------------------------------------------------------------------------------- corpus

pytestmark_corpus = pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")


def _dotted(class_name: str) -> str:
    return class_name[1:-1].replace("/", ".").replace("$", ".")


def _taintbench_contacts_flows(folder: Path, facts: PathFacts) -> list[tuple[str, str, str]]:
    """(source class.method, sink class.method, sink API class) of each positive TaintBench flow
    whose source is a contacts read we report and whose sink API is in data/sinks.json."""
    sinks = {(e["class"], e["method"]) for e in load_data("sinks")["sinks"]}
    reads = {f"{_dotted(s.site.class_name)}.{s.site.method}" for s in facts.sites if s.category == "contacts"}
    out = []
    for finding in json.loads(next(folder.glob("*_findings.json")).read_text(encoding="utf-8"))["findings"]:
        if finding.get("isNegative"):
            continue
        source, sink = finding["source"], finding["sink"]
        src = f"{source['className']}.{source['methodName'].split('(')[0].split()[-1]}"
        if src not in reads:
            continue
        api = re.search(r"<([\w.$]+): [^ ]+ (\w+)\(", sink["IRs"][0]["IRstatement"])
        assert api, sink
        if ("L" + api.group(1).replace(".", "/") + ";", api.group(2)) not in sinks:
            continue  # a file or log write: not a send API
        out.append((src, f"{sink['className']}.{sink['methodName'].split('(')[0].split()[-1]}", api.group(1)))
    return out


@pytestmark_corpus
def test_every_taintbench_contacts_flow_is_found() -> None:
    checked = []
    for folder in sorted(corpus("dex").iterdir()):
        if not folder.is_dir():
            continue
        facts = _run(str(folder))
        for src, dst, api in _taintbench_contacts_flows(folder, facts):
            candidates = [p for s in facts.sites if s.category == "contacts" and f"{_dotted(s.site.class_name)}.{s.site.method}" == src
                          for p in s.paths if p.confidence is not Confidence.CO_LOCATED]
            assert any(f"{_dotted(p.steps[-1].class_name)}.{p.steps[-1].method}" == dst for p in candidates), (folder.name, src, dst)
            checked.append((folder.name, src, dst))
    assert {name for name, _, _ in checked} == {"exprespam", "beita_com_beita_contact"}


EXPECTED_FOUND = {"AhMyth RAT", "Dendroid RAT", "ProjectSpy", "Samsapo", "blackLoan com.loan.test1", "SpyPhone stalkerware"}


@pytestmark_corpus
def test_labelled_harvesters_report_a_path_or_why_not() -> None:
    with corpus("labels.tsv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["kind"] in ("tp", "tp-loan")]
    found = set()
    for row in rows:
        facts = _run(str(CORPUS / row["file"]))
        sites = [s for s in facts.sites if s.category == "contacts"]
        assert sites, row["name"]
        for s in sites:
            assert s.outcome is Outcome.PATH or s.note, (row["name"], s.site.signature)
        if any(s.outcome is Outcome.PATH for s in sites):
            found.add(row["name"])
    assert EXPECTED_FOUND <= found


@pytestmark_corpus
def test_loan_malware_uploads_the_contact_list_to_its_server() -> None:
    """com.loan.test1: the reading Runnable fills three fields of the service, a method builds a
    JSONObject field from them, the Runnable hands it to the upload helper, and the app's own
    (obfuscated) copy of Volley writes it to an HttpURLConnection: nine calls."""
    facts = _run(str(CORPUS / "apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk"))
    site = _site_at(facts, "Lcom/loan/test1/BgService$b;->run()V", 1778)
    assert site.outcome is Outcome.PATH
    best = site.paths[0]
    assert [(s.signature, s.edge.value) for s in best.steps] == [
        ("Lcom/loan/test1/BgService$b;->run()V", "field"),
        ("Lcom/loan/test1/BgService;->e()V", "field"),
        ("Lcom/loan/test1/BgService$b;->run()V", "call"),
        ("Lcom/loan/test1/BgService;->a(Ljava/lang/String;Lorg/json/JSONObject;)V", "call"),
        ("Lb/a/c/w/h;-><init>(ILjava/lang/String;Lorg/json/JSONObject;Lb/a/c/q$b;Lb/a/c/q$a;)V", "call"),
        ("Lb/a/c/w/i;-><init>(ILjava/lang/String;Ljava/lang/String;Lb/a/c/q$b;Lb/a/c/q$a;)V", "field"),
        ("Lb/a/c/w/i;->a()[B", "return"),
        ("Lb/a/c/w/g;->a(Ljava/net/HttpURLConnection;Lb/a/c/o;)V", "call"),
        ("Lb/a/c/w/g;->a(Ljava/net/HttpURLConnection;Lb/a/c/o;[B)V", "sink"),
    ]
    assert best.steps[2].instruction == "invoke-virtual {v0, v3, v2}, Lcom/loan/test1/BgService;->a(Ljava/lang/String;Lorg/json/JSONObject;)V"
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert [e.value for e in best.endpoints] == ["http://62.60.134.177:7702/app/input.php"]
    assert best.confidence is Confidence.WITHIN_CALLS and best.calls == 8


@pytestmark_corpus
def test_a_value_kept_in_a_local_database_says_so() -> None:
    """DroidJack files the numbers it looks up into SQLite; what later uploads the rows is not followed."""
    facts = _run(str(CORPUS / "apk/ec2654fcdaa602671c65fcd7df97643ddc73732e6291b08c5d2db03f667d6a9e.apk"))
    site = _site_at(facts, "Lnet/droidjack/server/q;->a()V", 19)
    assert site.outcome is Outcome.NO_SINK
    stored = site.stored[0]
    assert len(site.stored) <= 3
    assert (stored.signature, stored.offset) == ("Lnet/droidjack/server/t;->a(Ljava/lang/String;Ljava/lang/String;)V", 31)
    assert "SQLiteDatabase;->insert(" in stored.instruction
    assert "stored locally (Landroid/database/sqlite/SQLiteDatabase;->insert in Lnet/droidjack/server/t;->a(Ljava/lang/String;Ljava/lang/String;)V at 31, " in site.note
    assert site.note.endswith("later reads of that store are not followed")


def _site_at(facts: PathFacts, signature: str, offset: int):
    (site,) = [s for s in facts.sites if s.site.signature == signature and s.site.offset == offset and s.category == "contacts"]
    return site
