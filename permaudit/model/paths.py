"""Read-to-send paths: from a place the code reads personal data to a call that sends data out.

Facts only, found statically (docs/paths.md): a path says the code *can* carry the value a
read returns to a send API along these calls; it does not prove what happens at run time.
"""

from __future__ import annotations

import enum

from permaudit.model.code import CodeLocation
from permaudit.model.endpoints import Endpoint
from permaudit.model.record import record


class SinkKind(enum.StrEnum):
    """What kind of channel the send API is (``data/sinks.json``)."""

    NETWORK = "network"
    SMS = "sms"
    MAIL = "mail"
    FIREBASE = "firebase"
    WEBSOCKET = "websocket"
    WEBVIEW = "webview"
    SOCKET = "socket"


class Confidence(enum.StrEnum):
    """How close the read and the send are, best first."""

    SAME_METHOD = "same-method"
    """The value read reaches the send API in the method that reads it."""
    DIRECT_CALL = "direct-call"
    """One call (either way: to a callee, back to a caller, to a thread/callback body, through a field) joins them."""
    WITHIN_CALLS = "within-calls"
    """Two or more calls join them (``SendPath.calls`` says how many)."""
    CO_LOCATED = "co-located"
    """No path: the read and a send API only sit in the same class. Never evidence of sending."""


class Edge(enum.StrEnum):
    """How the value goes from one step of a path to the next."""

    CALL = "call"
    """Passed as an argument to a method of the app (also through virtual or interface dispatch)."""
    RETURN = "return"
    """Returned to a caller, which goes on with it."""
    ASYNC = "async"
    """Handed to a thread, task or callback body (``AsyncTask.execute`` -> ``doInBackground``, ``Thread.start`` / ``Handler.post`` / ``Executor.execute`` -> ``run``, ``sendMessage`` -> ``handleMessage``, coroutines ``invokeSuspend``, RxJava)."""
    FIELD = "field"
    """Stored in a field that another method reads."""
    CO_LOCATED = "co-located"
    """No flow: the next step only sits in the same class."""
    SINK = "sink"
    """The last step: the send call itself."""


class Outcome(enum.StrEnum):
    """What the search found for one read site."""

    PATH = "path"
    """At least one path to a send API."""
    CO_LOCATED = "co-located"
    """No path; a send API is called in the same class (listed, labelled ``co-located``)."""
    NO_SINK = "no-sink-reached"
    """The search ended within its bounds and reached no send API."""
    CUT = "cut"
    """The search hit a bound (depth, methods per site or for the package) before finishing; a path may exist beyond it."""
    NOT_SEARCHED = "not-searched"
    """The read's method could not be found or decoded, or the package budget was spent."""


@record
class PathStep:
    """One method on a path, in the order the data goes."""

    dex: str
    class_name: str
    method: str
    descriptor: str
    entry_offset: int | None
    """Where the value enters this method (code units): the read for the first step, the call
    whose result it is for a caller reached by ``return``, the field read for ``field``; None
    when it arrives as a parameter."""
    offset: int
    """Where it leaves: the call to the next step's method (``call``/``async``), the ``return``
    (``return``), the field write (``field``), or the send call in the last step."""
    instruction: str
    """The instruction at ``offset`` as smali writes it."""
    edge: Edge
    """How the value goes on to the next step (``sink`` for the last one)."""

    @property
    def signature(self) -> str:
        return f"{self.class_name}->{self.method}{self.descriptor}"


@record
class Sink:
    """The send API a path ends at."""

    api: str
    """The invoked method as the code names it, ``Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;``."""
    kind: SinkKind
    role: str
    """``send`` (the call that sends), ``body`` (builds the request body: OkHttp ``RequestBody.create``, ``FormBody$Builder.add``, multipart), ``stream`` (opens a stream the data is written to)."""
    carries: str
    """What the arguments carry, from ``data/sinks.json``."""
    location: CodeLocation
    evidence: str = ""
    """For a stream: the write that puts the data into it (``invoke-virtual {v1, v2}, Ljava/io/OutputStream;->write([B)V`` at 0x2a)."""


@record
class SendPath:
    """One path from a read to a send API."""

    confidence: Confidence
    calls: int
    """Edges between methods (0 in the same method)."""
    steps: tuple[PathStep, ...]
    sink: Sink
    endpoints: tuple[Endpoint, ...] = ()
    """Endpoints (``CodeFacts.endpoints``) named in a method on the path: the servers the request may use."""
    serialised: tuple[str, ...] = ()
    """Serialising calls the value goes through on the way (``Lorg/json/JSONObject;->put``, Gson ``toJson``, ``FormBody$Builder.add``...)."""


@record
class SitePaths:
    """The search from one read site."""

    category: str
    site: CodeLocation
    """The read (``AccessSite.location``)."""
    outcome: Outcome
    paths: tuple[SendPath, ...] = ()
    """Shortest first; co-located ones only when there is no path."""
    note: str = ""
    """Why no path (what bound was hit, what could not be read)."""
    methods_visited: int = 0
    stored: tuple[CodeLocation, ...] = ()
    """When there is no path: local stores the value reaches (SQLite ``insert``/``update``/``execSQL``,
    ``SharedPreferences.Editor.putString``, ``ContentResolver.insert``), at most 3. What later reads
    the store, and whether that is sent, is not followed."""


@record
class PathFacts:
    """Read-to-send paths for every read site, contacts first."""

    sites: tuple[SitePaths, ...]
    limits: tuple[str, ...] = ()
    """The bounds in force (depth, methods per site, methods per package)."""
    cut: tuple[str, ...] = ()
    """One line per bound reached."""


__all__ = ["Confidence", "Edge", "Outcome", "PathFacts", "PathStep", "SendPath", "Sink", "SinkKind", "SitePaths"]
