"""Read-to-send paths, issue #7 section 5 ("Accuracy"): the paths_more fixture, case by case.

fixtures/src/paths_more holds one multidex APK whose read sites each hand the contact list to a
send API in a different way (cross-dex return, Retrofit, OkHttp enqueue + form body, AsyncTask,
Executor and Handler.post Runnables, a Kotlin coroutine, an SDK's own read, a Message), plus a
decoy. Its expected.json is the ground truth, offsets checked with ``dexdump -d``. Each test
asserts the best path exactly as a reader re-checking it with baksmali would expect it.
"""

from __future__ import annotations

from functools import cache

import pytest

import permaudit
from permaudit.facts import paths
from permaudit.model import AuditResult, Status
from permaudit.model.code import Owner
from permaudit.model.paths import (
    Confidence,
    Edge,
    Outcome,
    PathFacts,
    SendPath,
    SinkKind,
    SitePaths,
)

from .conftest import expected, fixture

PKG = "Lcom/example/fx/pathsmore/"
BQS = "Lcom/bqs/risk/df/android/"
CTX = "(Landroid/content/Context;)V"


@cache
def _audit() -> AuditResult:
    result = permaudit.audit(fixture("paths_more.apk"))
    assert result.status is Status.COMPLETE, result.problems
    assert result.code is not None and result.code.paths is not None
    return result


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return _audit()


@pytest.fixture(scope="module")
def facts(result: AuditResult) -> PathFacts:
    assert result.code is not None and result.code.paths is not None
    return result.code.paths


def _site(facts: PathFacts, signature: str) -> SitePaths:
    found = [s for s in facts.sites if s.site.signature == signature]
    assert len(found) == 1, [s.site.signature for s in facts.sites]
    return found[0]


def _steps(path: SendPath) -> list[tuple[str, str, int | None, int, str]]:
    return [(s.dex, s.signature, s.entry_offset, s.offset, s.edge.value) for s in path.steps]


def _endpoints(path: SendPath) -> list[str]:
    return [e.value for e in path.endpoints]


def _best(site: SitePaths) -> SendPath:
    assert site.outcome is Outcome.PATH, (site.outcome, site.note, site.paths)
    assert site.category == "contacts" and site.note == ""
    return site.paths[0]


# ------------------------------------------------------------------ the read sites themselves


def test_read_sites_are_the_ground_truth(result: AuditResult) -> None:
    assert result.code is not None
    truth = expected("paths_more")["sites"]
    got = {(s.category, s.kind, s.location.dex, s.location.class_name, s.location.method, s.location.descriptor, s.location.offset, s.api, s.source)
           for s in result.code.sites}
    want = {(t["category"], t["kind"], t["dex"], t["class"], t["method"], t["descriptor"], t["offset"], t["api"], t["uri"]) for t in truth}
    assert got == want
    assert {s.category for s in result.code.sites} == {"contacts"}


def test_every_read_is_searched_and_answered(facts: PathFacts) -> None:
    truth = expected("paths_more")["sites"]
    assert sorted(s.site.signature for s in facts.sites) == sorted(f"{t['class']}->{t['method']}{t['descriptor']}" for t in truth)
    assert [s.category for s in facts.sites] == ["contacts"] * len(truth)
    assert all(s.outcome is Outcome.PATH or s.note for s in facts.sites)
    assert facts.cut == ()
    for t in truth:
        site = _site(facts, f"{t['class']}->{t['method']}{t['descriptor']}")
        assert site.site.offset == t["offset"] and site.site.dex == t["dex"]


# ------------------------------------------------------------------ 1: across dex files


ONE = f"{PKG}store/PhoneBook;->numbers(Landroid/content/Context;)Ljava/util/List;"


def test_1_read_in_one_dex_uploaded_in_another(facts: PathFacts) -> None:
    best = _best(_site(facts, ONE))
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        ("classes.dex", ONE, 15, 42, "return"),
        ("classes2.dex", f"{PKG}sync/BookSync;->push{CTX}", 0, 54, "sink"),
    ]
    assert best.steps[0].instruction == "return-object v6"
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert (best.sink.kind, best.sink.role) == (SinkKind.NETWORK, "stream")
    loc = best.sink.location
    assert (loc.dex, loc.class_name, loc.method, loc.offset) == ("classes2.dex", f"{PKG}sync/BookSync;", "push", 54)
    assert best.sink.evidence == "invoke-virtual {v5, v1}, Ljava/io/OutputStream;->write([B)V at 62"
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")


def test_1_endpoint_is_the_joined_url(facts: PathFacts) -> None:
    # new URL(base + path): the request goes to the joined URL; the bare base is only a piece of it
    best = _best(_site(facts, ONE))
    assert _endpoints(best) == ["https://book.pathsmoredemo.com/v2/phonebook"]


# ------------------------------------------------------------------ 2: Retrofit


TWO = f"{PKG}net/RetrofitSync;->sync{CTX}"
RETROFIT_UPLOAD = f"{PKG}net/ContactsApi;->upload(Ljava/util/List;)Lretrofit2/Call;"


def test_2_retrofit_interface_call_is_the_send(facts: PathFacts) -> None:
    best = _best(_site(facts, TWO))
    assert best.confidence is Confidence.SAME_METHOD and best.calls == 0
    assert _steps(best) == [("classes.dex", TWO, 15, 73, "sink")]
    assert best.sink.api == RETROFIT_UPLOAD
    assert (best.sink.kind, best.sink.role) == (SinkKind.NETWORK, "send")
    assert best.sink.location.offset == 73
    assert best.sink.location.instruction == f"invoke-interface {{v0, v6}}, {RETROFIT_UPLOAD}"
    assert best.sink.evidence == ""
    assert best.serialised == ()


def test_2_retrofit_path_names_the_full_url(facts: PathFacts) -> None:
    # the list is the @Body of @POST("v1/contacts") on baseUrl("https://api.pathsmoredemo.com/"):
    # the server that receives it is the joined URL, not the bare base
    best = _best(_site(facts, TWO))
    assert _endpoints(best) == ["https://api.pathsmoredemo.com/v1/contacts"]


# ------------------------------------------------------------------ 3: OkHttp enqueue, form body


THREE = f"{PKG}net/FormPoster;->post{CTX}"


def test_3_okhttp_enqueue_with_a_form_body(facts: PathFacts) -> None:
    site = _site(facts, THREE)
    best = _best(site)
    assert best.confidence is Confidence.SAME_METHOD and best.calls == 0
    assert _steps(best) == [("classes.dex", THREE, 10, 94, "sink")]
    assert best.sink.api == "Lokhttp3/Call;->enqueue(Lokhttp3/Callback;)V"
    assert (best.sink.kind, best.sink.role) == (SinkKind.NETWORK, "send")
    assert best.sink.location.instruction == "invoke-interface {v1, v2}, Lokhttp3/Call;->enqueue(Lokhttp3/Callback;)V"
    assert _endpoints(best) == ["https://form.pathsmoredemo.com/collect"]
    assert best.serialised == ("Lorg/json/JSONArray;->put", "Lorg/json/JSONArray;->toString", "Lokhttp3/FormBody$Builder;->add")
    # the callback only closes the response: nothing of it is a step
    assert all("FormPoster$1" not in s.class_name for p in site.paths for s in p.steps)


# ------------------------------------------------------------------ 4: AsyncTask through the bridge


FOUR = f"{PKG}task/TaskStarter;->start{CTX}"


def test_4_asynctask_runs_the_bridge_which_calls_the_typed_doinbackground(facts: PathFacts) -> None:
    best = _best(_site(facts, FOUR))
    assert best.confidence is Confidence.WITHIN_CALLS and best.calls == 2
    assert _steps(best) == [
        ("classes.dex", FOUR, 15, 53, "async"),
        ("classes.dex", f"{PKG}task/UploadTask;->doInBackground([Ljava/lang/Object;)Ljava/lang/Object;", None, 2, "call"),
        ("classes.dex", f"{PKG}task/UploadTask;->doInBackground([Ljava/util/List;)Ljava/lang/Integer;", None, 38, "sink"),
    ]
    assert best.steps[0].instruction == (
        f"invoke-virtual {{v0, v1}}, {PKG}task/UploadTask;->execute([Ljava/lang/Object;)Landroid/os/AsyncTask;")
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert best.sink.evidence == "invoke-virtual {v2, v0}, Ljava/io/BufferedWriter;->write(Ljava/lang/String;)V at 50"
    assert _endpoints(best) == ["https://task.pathsmoredemo.com/upload"]
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")


# ------------------------------------------------------------------ 5: Runnable hand-offs


FIVE_A = f"{PKG}exec/ExecSync;->start{CTX}"
FIVE_B = f"{PKG}exec/PostSync;->start{CTX}"


def test_5a_runnable_run_by_an_executor(facts: PathFacts) -> None:
    site = _site(facts, FIVE_A)
    best = _best(site)
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        ("classes.dex", FIVE_A, 15, 51, "async"),
        ("classes.dex", f"{PKG}exec/ExecSync$1;->run()V", None, 49, "sink"),
    ]
    assert best.steps[0].instruction == "invoke-interface {v0, v1}, Ljava/util/concurrent/Executor;->execute(Ljava/lang/Runnable;)V"
    assert best.sink.api == "Lokhttp3/Call;->execute()Lokhttp3/Response;" and best.sink.role == "send"
    assert best.sink.location.offset == 49
    assert _endpoints(best) == ["https://exec.pathsmoredemo.com/v1/phones"]
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")
    # as in paths_flows: the same data also reaches the body through the captured field, one call longer
    second = site.paths[1]
    assert second.confidence is Confidence.WITHIN_CALLS and second.calls == 2
    assert [s.edge for s in second.steps] == [Edge.CALL, Edge.FIELD, Edge.SINK]
    assert second.steps[0].offset == 48  # ExecSync$1.<init>(List)
    assert second.steps[1].instruction.startswith("iput-object") and second.steps[1].instruction.endswith("ExecSync$1;->val$phones:Ljava/util/List;")
    assert second.steps[2].entry_offset == 2  # iget-object val$phones
    assert second.sink.api == "Lokhttp3/RequestBody;->create(Lokhttp3/MediaType;Ljava/lang/String;)Lokhttp3/RequestBody;"
    assert second.sink.role == "body"


def test_5b_runnable_posted_to_a_handler(facts: PathFacts) -> None:
    best = _best(_site(facts, FIVE_B))
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        ("classes.dex", FIVE_B, 15, 66, "async"),
        ("classes.dex", f"{PKG}exec/PhoneUploadRunnable;->run()V", None, 47, "sink"),
    ]
    assert best.steps[0].instruction == "invoke-virtual {v1, v0}, Landroid/os/Handler;->post(Ljava/lang/Runnable;)Z"
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getResponseCode()I"
    assert (best.sink.kind, best.sink.role, best.sink.evidence) == (SinkKind.NETWORK, "send", "")
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString", "Ljava/net/URLEncoder;->encode")


def test_5b_endpoint_is_the_url_with_the_data_in_its_query(facts: PathFacts) -> None:
    # new URL("https://post.pathsmoredemo.com/p?d=" + encoded): the constant prefix alone is only a piece
    best = _best(_site(facts, FIVE_B))
    assert _endpoints(best) == ["https://post.pathsmoredemo.com/p?d={?}"]


# ------------------------------------------------------------------ 6: Kotlin coroutine


SIX = f"{PKG}co/CoroutineSync;->upload{CTX}"
SIX_BODY = f"{PKG}co/CoroutineSync$upload$1;->invokeSuspend(Ljava/lang/Object;)Ljava/lang/Object;"


def test_6_coroutine_launch_runs_invoke_suspend(facts: PathFacts) -> None:
    best = _best(_site(facts, SIX))
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        ("classes.dex", SIX, 20, 68, "async"),
        ("classes.dex", SIX_BODY, None, 70, "sink"),
    ]
    assert best.steps[0].instruction.startswith(
        "invoke-static/range {v0, v1, v2, v3, v4, v5}, Lkotlinx/coroutines/BuildersKt;->launch$default(")
    assert best.sink.api == "Lokhttp3/Call;->execute()Lokhttp3/Response;" and best.sink.role == "send"
    assert best.sink.location.offset == 70
    assert _endpoints(best) == ["https://co.pathsmoredemo.com/v1/sync"]
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")


# ------------------------------------------------------------------ 7: an SDK's own read


SEVEN = f"{BQS}collect/ContactsCollector;->collect(Landroid/content/Context;)Lorg/json/JSONArray;"


def test_7_library_read_is_attributed_to_its_sdk(result: AuditResult) -> None:
    assert result.code is not None
    (read,) = [s for s in result.code.sites if s.location.signature == SEVEN]
    assert read.category == "contacts" and read.location.offset == 15
    assert read.attribution.owner is Owner.THIRD_PARTY
    assert read.attribution.prefix == "com.bqs.risk"
    assert read.attribution.sdk == "BaiQiShi (白骑士) BqsDF device-fingerprint SDK"
    assert read.attribution.category == "risk-control" and read.attribution.source
    others = [s for s in result.code.sites if s is not read]
    assert others and all(s.attribution.owner is Owner.FIRST_PARTY for s in others)


def test_7_sdk_path_stays_inside_the_sdk(facts: PathFacts) -> None:
    best = _best(_site(facts, SEVEN))
    assert best.confidence is Confidence.WITHIN_CALLS and best.calls == 2
    assert _steps(best) == [
        ("classes.dex", SEVEN, 15, 42, "return"),
        ("classes.dex", f"{BQS}BqsDF;->initialize{CTX}", 0, 8, "call"),
        ("classes.dex", f"{BQS}net/Reporter;->report(Ljava/lang/String;)V", None, 22, "sink"),
    ]
    assert all(s.class_name.startswith("Lcom/bqs/risk/") for s in best.steps)
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert best.sink.location.class_name == f"{BQS}net/Reporter;"
    assert best.sink.evidence == "invoke-virtual {v1, v2}, Ljava/io/OutputStream;->write([B)V at 30"
    assert _endpoints(best) == ["https://risk.pathsmoredemo.com/df/v3/contacts"]
    (source,) = best.endpoints[0].sources
    assert source.code_owner is not None and (source.code_owner.owner, source.code_owner.prefix) == (Owner.THIRD_PARTY, "com.bqs.risk")
    assert best.serialised == ("Lorg/json/JSONArray;->put", "Lorg/json/JSONArray;->toString")


# ------------------------------------------------------------------ 8: a Message to the app's Handler


EIGHT = f"{PKG}msg/MsgSync;->start{CTX}"


def test_8_message_obj_handed_to_handle_message(facts: PathFacts) -> None:
    best = _best(_site(facts, EIGHT))
    assert best.confidence is Confidence.DIRECT_CALL and best.calls == 1
    assert _steps(best) == [
        ("classes.dex", EIGHT, 15, 70, "async"),
        ("classes.dex", f"{PKG}msg/UploadHandler;->handleMessage(Landroid/os/Message;)V", None, 42, "sink"),
    ]
    assert best.steps[0].instruction == "invoke-virtual {v1, v0}, Landroid/os/Handler;->sendMessage(Landroid/os/Message;)Z"
    assert best.sink.api == "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;"
    assert best.sink.evidence == "invoke-virtual {v2, v0}, Ljava/io/DataOutputStream;->writeBytes(Ljava/lang/String;)V at 49"
    assert _endpoints(best) == ["https://msg.pathsmoredemo.com/v1/book"]
    assert best.serialised == ("Lorg/json/JSONArray;-><init>", "Lorg/json/JSONArray;->toString")


# ------------------------------------------------------------------ decoy


def test_decoy_counting_then_handing_off_something_else_has_no_path(facts: PathFacts) -> None:
    site = _site(facts, f"{PKG}decoy/CountThenPing;->run{CTX}")
    assert site.category == "contacts" and site.site.offset == 10
    assert site.outcome is Outcome.NO_SINK, (site.outcome, site.paths)
    assert site.paths == ()
    assert site.note.startswith(f"no send API reached within {paths.MAX_DEPTH} calls")


# ------------------------------------------------------------------ the ground truth file


@pytest.mark.parametrize("case", [t["case"] for t in expected("paths_more")["sites"]], ids=lambda c: c.split()[0])
def test_best_path_matches_expected_json(facts: PathFacts, case: str) -> None:
    (truth,) = [t for t in expected("paths_more")["sites"] if t["case"] == case]
    site = _site(facts, f"{truth['class']}->{truth['method']}{truth['descriptor']}")
    want = truth["path"]
    if want is None:
        assert site.outcome is Outcome.NO_SINK and site.paths == ()
        return
    best = _best(site)
    assert (best.confidence.value, best.calls) == (want["confidence"], want["calls"])
    assert [(s.dex, s.signature, s.entry_offset, s.offset, s.edge.value) for s in best.steps] == [
        (s["dex"], s["method"], s["entry_offset"], s["offset"], s["edge"]) for s in want["steps"]]
    loc = best.sink.location
    assert (best.sink.api, best.sink.role, best.sink.evidence) == (want["sink_api"], want["sink_role"], want["sink_evidence"])
    assert (loc.dex, f"{loc.class_name}->{loc.method}{loc.descriptor}", loc.offset) == (
        want["sink_location"]["dex"], want["sink_location"]["method"], want["sink_location"]["offset"])
    assert _endpoints(best) == want["endpoints"]
    assert list(best.serialised) == want["serialised"]


# ------------------------------------------------------------------ endpoints of the fixture


def _endpoint(result: AuditResult, value: str):
    assert result.code is not None
    found = [e for e in result.code.endpoints.endpoints if e.value == value]
    assert len(found) == 1, [e.value for e in result.code.endpoints.endpoints]
    return found[0]


def test_endpoints_joined_url_built_in_classes2(result: AuditResult) -> None:
    ep = _endpoint(result, "https://book.pathsmoredemo.com/v2/phonebook")
    assert (ep.kind, ep.scheme, ep.host, ep.path, ep.registrable_domain, ep.owner.value) == (
        "url", "https", "book.pathsmoredemo.com", "/v2/phonebook", "pathsmoredemo.com", "unknown")
    (source,) = ep.sources
    assert (source.kind.value, source.member, source.construction.value) == ("dex", "classes2.dex", "concatenated")
    assert source.pieces == ("https://book.pathsmoredemo.com", "/v2/phonebook")
    assert (source.location.class_name, source.location.method, source.location.offset) == (f"{PKG}sync/BookSync;", "push", 32)
    assert source.location.instruction == "invoke-virtual {v5}, Ljava/lang/StringBuilder;->toString()Ljava/lang/String;"
    assert source.api == "java.net.URL.openConnection"
    assert source.api_location is not None and source.api_location.offset == 39


def test_endpoints_retrofit_full_url(result: AuditResult) -> None:
    ep = _endpoint(result, "https://api.pathsmoredemo.com/v1/contacts")
    assert (ep.host, ep.path, ep.owner.value) == ("api.pathsmoredemo.com", "/v1/contacts", "unknown")
    (source,) = ep.sources
    assert (source.construction.value, source.api, source.http_method) == ("retrofit", "retrofit2.http.POST", "POST")
    assert source.pieces == ("https://api.pathsmoredemo.com/", "v1/contacts")
    assert source.detail == "base URL https://api.pathsmoredemo.com/"
    assert (source.location.class_name, source.location.method, source.location.descriptor, source.location.offset) == (
        f"{PKG}net/ContactsApi;", "upload", "(Ljava/util/List;)Lretrofit2/Call;", 0)
    assert source.location.instruction == '.annotation runtime Lretrofit2/http/POST; @POST("v1/contacts")'
    assert source.api_location is not None
    assert (source.api_location.class_name, source.api_location.method, source.api_location.offset) == (f"{PKG}net/RetrofitSync;", "sync", 49)


def test_endpoints_every_upload_host_is_named(result: AuditResult) -> None:
    assert result.code is not None
    values = {e.value for e in result.code.endpoints.endpoints}
    assert values == {
        "https://api.pathsmoredemo.com/", "https://api.pathsmoredemo.com/v1/contacts",
        "https://book.pathsmoredemo.com", "https://book.pathsmoredemo.com/v2/phonebook",
        "https://co.pathsmoredemo.com/v1/sync", "https://exec.pathsmoredemo.com/v1/phones",
        "https://form.pathsmoredemo.com/collect", "https://msg.pathsmoredemo.com/v1/book",
        "https://ping.pathsmoredemo.com/v1/device", "https://post.pathsmoredemo.com/p?d=",
        "https://post.pathsmoredemo.com/p?d={?}", "https://risk.pathsmoredemo.com/df/v3/contacts",
        "https://task.pathsmoredemo.com/upload",
    }
    assert all(e.registrable_domain == "pathsmoredemo.com" and e.owner.value == "unknown" for e in result.code.endpoints.endpoints)
    assert result.code.endpoints.capped == ()
    risk = _endpoint(result, "https://risk.pathsmoredemo.com/df/v3/contacts")
    assert risk.sources[0].code_owner is not None and risk.sources[0].code_owner.prefix == "com.bqs.risk"
