"""Reachability from entry points: can a read run when the app starts, before a consent screen?

Facts only, found statically (docs/reach.md). A path says the framework *can* run the read
from this entry point along these calls; static analysis cannot prove when, or whether, it
runs, nor that the user had not agreed to a policy by then.
"""

from __future__ import annotations

import enum

from permaudit.model.code import CodeLocation
from permaudit.model.record import record

TIMING_CAVEAT = ("Static analysis cannot prove timing: a path shows the code can run the read from this entry "
                 "point, not that it runs, nor when relative to the user's consent.")


class EntryKind(enum.StrEnum):
    """Which kind of manifest component the framework runs the path from."""

    APPLICATION = "application"
    """The ``<application android:name>`` class: ``onCreate``/``attachBaseContext`` run when the process starts."""
    PROVIDER = "provider"
    """A content provider's ``onCreate``: runs when the process starts, before ``Application.onCreate``."""
    LAUNCHER = "launcher"
    """The MAIN/LAUNCHER activity: the first screen the user sees."""
    BOOT_RECEIVER = "boot-receiver"
    """A receiver of ``BOOT_COMPLETED`` (or a sibling action): runs after the phone starts, no screen shown."""
    ACTIVITY = "activity"
    """Another activity: runs once something starts it."""
    SERVICE = "service"
    """A service: runs once something starts or binds it."""
    RECEIVER = "receiver"
    """Another broadcast receiver: runs when its broadcast arrives."""
    CONSENT_SCREEN = "consent-screen"
    """An activity that looks like a consent or privacy-policy screen (``ConsentScreen``)."""

    @property
    def at_start(self) -> bool:
        """Runs without the user passing any screen: process start, the first screen, a boot."""
        return self in (EntryKind.APPLICATION, EntryKind.PROVIDER, EntryKind.LAUNCHER, EntryKind.BOOT_RECEIVER)


class ReachOutcome(enum.StrEnum):
    """What the backward search from one read site found."""

    BEFORE_CONSENT = "before-consent"
    """A path from an entry point run at start (application, provider, launcher, boot receiver) passes no consent screen."""
    AFTER_CONSENT = "after-consent"
    """Every start-up path found passes a consent screen (or an activity it starts); none avoids it."""
    REACHABLE = "reachable"
    """An entry point reaches the read, but the search cannot order it against consent: the app has no consent
    screen, or the entry point is a component no start-up path or consent screen was found to start."""
    NOT_REACHED = "not-reached"
    """No entry point within the bounds: dead code, or called in a way the search does not see."""
    CUT = "cut"
    """A bound was hit before any entry point was found; one may lie beyond it."""
    NOT_SEARCHED = "not-searched"
    """The reading method cannot be found, its dex was not given, or the package budget was spent."""


class ReachEdge(enum.StrEnum):
    """How one step of a path leads to the next (towards the read)."""

    CALL = "call"
    """Invokes the next method (also through the app superclass or interface method it overrides)."""
    CALLBACK = "callback"
    """Constructs the class whose callback body (``run``, ``doInBackground``, ``onClick``...) is the next step."""
    START = "start"
    """Names the next component's class (``const-class``, as ``new Intent(ctx, X.class)`` does) to start it."""
    READ = "read"
    """The last step: ``offset`` is the read."""


class ClueSource(enum.StrEnum):
    """Where a consent-screen clue was seen."""

    NAME = "name"
    """The activity's class name."""
    LABEL = "label"
    """The activity's ``android:label`` (resolved through resources.arsc)."""
    STRING = "string"
    """A string constant in the activity's code (``const-string``)."""
    RESOURCE = "resource"
    """A string resource the activity's code names by id (``const v0, 0x7f...``)."""
    LAYOUT = "layout"
    """A layout the activity's code names by id holds a ``WebView``."""


@record
class ConsentClue:
    """One reason an activity looks like a consent screen."""

    source: ClueSource
    text: str
    """The name, label, string or layout path that matched."""
    keyword: str
    """The keyword found in it (``data/reach.json``); ``WebView`` for a layout."""


@record
class ConsentScreen:
    """An activity that looks like a consent or privacy-policy screen."""

    component: str
    """Its manifest name, ``com.x.PrivacyActivity``."""
    class_name: str
    """Dalvik descriptor; its inner classes (listeners) count as part of it."""
    clues: tuple[ConsentClue, ...]


@record
class EntryPoint:
    """A method the framework runs for a manifest component."""

    kind: EntryKind
    component: str
    """The manifest name of the component (the application class for ``application``)."""
    class_name: str
    method: str
    descriptor: str

    @property
    def signature(self) -> str:
        return f"{self.class_name}->{self.method}{self.descriptor}"


@record
class ReachStep:
    """One method on a path, from the entry point to the read."""

    location: CodeLocation
    """Where this method leads to the next step (the invoke, ``new-instance`` or ``const-class``), or the read in the last step."""
    edge: ReachEdge
    """How it leads to the next step (``read`` for the last)."""

    @property
    def dex(self) -> str:
        return self.location.dex

    @property
    def class_name(self) -> str:
        return self.location.class_name

    @property
    def method(self) -> str:
        return self.location.method

    @property
    def offset(self) -> int:
        return self.location.offset

    @property
    def instruction(self) -> str:
        return self.location.instruction

    @property
    def signature(self) -> str:
        return self.location.signature


@record
class SiteReach:
    """The backward search from one read site to the entry points."""

    category: str
    site: CodeLocation
    """The read (``AccessSite.location``)."""
    outcome: ReachOutcome
    entry: EntryPoint | None = None
    """Where the path in ``steps`` starts: a start-up entry point for ``before-consent``, the consent screen for
    ``after-consent``; None when not reached."""
    steps: tuple[ReachStep, ...] = ()
    """The shortest path found, entry point first, the read last."""
    consent: ConsentScreen | None = None
    """The consent screen the path passes (``after-consent``)."""
    other_entries: tuple[EntryPoint, ...] = ()
    """Further entry points the search reached (at most 5), for the record."""
    note: str = ""
    """Why this outcome, in a sentence: no consent screen found, the bound hit, the entry that cannot be ordered."""
    methods_visited: int = 0


@record
class ReachFacts:
    """Reachability from entry points for every read site, contacts first."""

    sites: tuple[SiteReach, ...]
    consent_screens: tuple[ConsentScreen, ...] = ()
    """Every activity that looks like a consent screen; empty: none found (no read is then called before-consent)."""
    entry_points: int = 0
    """How many entry-point methods the manifest and the code give."""
    limits: tuple[str, ...] = ()
    cut: tuple[str, ...] = ()
    caveat: str = TIMING_CAVEAT


__all__ = ["TIMING_CAVEAT", "ClueSource", "ConsentClue", "ConsentScreen", "EntryKind", "EntryPoint", "ReachEdge", "ReachFacts", "ReachOutcome", "ReachStep", "SiteReach"]
