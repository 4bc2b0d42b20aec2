"""Does the package look like a lending app? The clues and their strength (docs/category.md).

Public entry: :func:`extract`. A signal with evidence, never a classification: every clue is
text the package carries and the term it matched. Sources, each cheap and bounded:

* identity: the manifest label and package name, and ``string/app_name`` when it differs;
* activity (and alias) class names from the manifest, the app's package cut off;
* ``resources.arsc``: the values of ``string``, ``string-array`` and ``plurals`` resources
  (the global string pool decoded once, searched as one text; names read only for hits);
* dex string tables (the dex files the code stage opened, or ``package.dex`` opened here):
  a few literal needles (``data/category.json`` ``needles.dex``), each hit checked against
  the terms; const-string uses located with ``DexFile.refs``; strings and classes used only
  by known libraries are not clues;
* text assets (JSON, JS bundles, HTML...), within a byte budget;
* SDKs: classes (or code read sites) of identity-verification, credit-scoring and
  risk-control SDKs (``data/libraries.tsv``, ``data/category.json``).

Text that merely repeats the label or the package name is cut out before content is
searched, so a package called ``com.quickloan`` does not make its own class names clues.
Never raises on package content: what cannot be read is said in ``note``.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import re
import struct
from collections.abc import Iterable, Sequence
from importlib import resources

from permaudit.data import load
from permaudit.dex import DexError, DexFile, Ref
from permaudit.errors import MemberError, one_line
from permaudit.facts.attribution import Attributor
from permaudit.facts.code.candidates import types_with_prefix
from permaudit.facts.endpoints import TEXT_ASSET
from permaudit.loading import LoadedPackage
from permaudit.loading.arsc import entry_names, global_pool, pool_strings
from permaudit.model import CodeFacts, ManifestFacts, Owner
from permaudit.model.category import (
    IDENTITY_SOURCES,
    CategoryClue,
    CategoryClueKind,
    CategoryClueSource,
    CategorySignal,
    CategoryStrength,
)
from permaudit.model.record import record

MAX_CLUES = 10
"""Clues kept in the signal; the rest are counted in ``more``."""
MAX_HITS = 400
"""Candidate texts checked per resource table or asset (a dex: ``MAX_PER_NEEDLE`` per needle)."""
MAX_PER_NEEDLE = 100
"""Candidate texts one needle may add (so a common one, ``lend`` in calendar, cannot crowd out the rest)."""
MAX_ASSET_BYTES = 4 << 20
"""Asset bytes read per package (largest assets last); the rest are named in ``note``."""
MAX_ASSET_MEMBER = 2 << 20
"""An asset larger than this is not read."""
MAX_TEXT = 120
"""Characters of a clue's text kept around the match."""
MIN_BRAND = 8
"""A package segment this long (``loanfixturedemo``) is cut from content texts as the app's brand."""
MAX_ALTERNATIVES = 8
"""A dex string with this many ``|`` is a word list (a regex of top-level domains: ``...|lixil|loan|loans|lol|...``), not text."""
TEXT_TYPES = ("string/", "array/", "plurals/")

_SOURCE_ORDER = list(CategoryClueSource)
_GROUP_ORDER = ["manifest activities", "string resources", "code", "assets"]
CONTENT_GROUPS = {
    CategoryClueSource.ACTIVITY: "manifest activities",
    CategoryClueSource.STRING_RESOURCE: "string resources",
    CategoryClueSource.CLASS_NAME: "code",
    CategoryClueSource.DEX_STRING: "code",
    CategoryClueSource.ASSET: "assets",
}
"""Content sources, grouped: class names and dex strings are one source (the code)."""
_KIND_ORDER = [CategoryClueKind.LENDING, CategoryClueKind.KYC, CategoryClueKind.SDK, CategoryClueKind.AMOUNT, CategoryClueKind.FINANCE]


# ---------------------------------------------------------------------------- vocabulary


@record
class _Term:
    term: str
    kind: CategoryClueKind
    match: str  # infix | prefix | word
    exact: bool
    low: str  # what is searched: the term lower-cased (not for exact-case terms), spaces as spaces


@functools.cache
def _vocabulary() -> tuple[tuple[_Term, ...], tuple[tuple[str, re.Pattern[str]], ...], tuple[str, ...]]:
    """(terms longest first, amount patterns, dex needles)."""
    data = load("category")
    terms = []
    for kind, entries in ((None, data["terms"]), (CategoryClueKind.KYC, data["kyc"])):
        for e in entries:
            exact = e.get("case") == "exact"
            k = kind or CategoryClueKind(e["kind"])
            text = e["term"]
            match = "infix" if not text.isascii() and not any(c.isalpha() and c.isascii() for c in text) else e["match"]
            terms.append(_Term(text, k, match, exact, text if exact else text.lower()))
    terms.sort(key=lambda t: (-len(t.term), t.term))
    amounts = tuple((p["currency"], re.compile(p["regex"])) for p in data["amounts"]["patterns"])
    return tuple(terms), amounts, tuple(data["needles"]["dex"])


@functools.cache
def _text_needles() -> tuple[str, ...]:
    """Lower-case needles for resources and assets: every lending and KYC term, amounts' symbols."""
    terms, _, _ = _vocabulary()
    needles = {t.term.lower() for t in terms if t.kind in (CategoryClueKind.LENDING, CategoryClueKind.KYC)}
    needles |= {"¥", "￥", "元", "₹", "₱", "₦"}  # $, Rp and KSh are too common as substrings: amounts
    # in those currencies are found in texts another needle found
    # a needle containing another is redundant: the shorter one finds it
    return tuple(sorted(n for n in needles if not any(o != n and o in n for o in needles)))


@functools.cache
def _sdks() -> tuple[tuple[str, str, str], ...]:
    """(dotted prefix, name, category) of the SDKs shown as clues."""
    data = load("category")["sdks"]
    shown = set(data["shown_categories"])
    credit = set(data["credit_scoring"])
    text = resources.files("permaudit.data").joinpath("libraries.tsv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(io.StringIO(text), delimiter="\t"):
        prefix, category = row.get("prefix") or "", row.get("category") or ""
        if prefix in credit:
            category = "credit-scoring"
        if prefix and category in shown:
            out[prefix] = (prefix, row.get("name") or prefix, category)
    return tuple(sorted(out.values()))


@functools.cache
def _supporting_sdk_categories() -> frozenset[str]:
    return frozenset(load("category")["sdks"]["supporting_categories"])


def _lower(text: str) -> str:
    """``text`` lower-cased, position for position (İ lower-cases to two characters: kept as is)."""
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _is_word_char(c: str) -> bool:
    return c.isalpha()


def _start_ok(text: str, i: int) -> bool:
    """A word starts at ``i``: after a non-letter, or a camelCase hump (``getLoan``)."""
    if i == 0:
        return True
    before, first = text[i - 1], text[i]
    return not _is_word_char(before) or (before.islower() and first.isupper())


def _end_ok(text: str, j: int, low: str) -> bool:
    """A word ends at ``j`` (a plural s/es allowed): before a non-letter or a camelCase hump."""
    for k in (j, j + 1 if low[j:j + 1] == "s" else -1, j + 2 if low[j:j + 2] == "es" else -1):
        if k < 0:
            continue
        if k >= len(text) or not _is_word_char(text[k]) or (text[k].isupper() and text[k - 1].islower()):
            return True
    return False


def _normalise(text: str) -> str:
    """``_``, ``-``, ``.``, ``/`` and ``$`` as spaces (same length), so identifiers split into words.
    One ``str.replace`` per separator: C speed for any text, where ``str.translate`` looks each
    character up in a dictionary once the text is not ASCII (16 times slower on Chinese strings)."""
    for separator in _SEPARATORS:
        text = text.replace(separator, " ")
    return text


_SEPARATORS = ("_", "-", ".", "/", "$", "\n", "\t")


def match_terms(text: str, kinds: Iterable[CategoryClueKind] | None = None) -> list[tuple[_Term, int]]:
    """Every term found in ``text`` (the longest at each place), with its position; for tests and docs."""
    wanted = None if kinds is None else set(kinds)
    terms, _, _ = _vocabulary()
    norm = _normalise(text)
    low = _lower(norm)
    if _not_terms().search(low):  # Đài Loan is Taiwan in Vietnamese: blanked, same length
        low = _not_terms().sub(lambda m: " " * len(m.group()), low)
        norm = "".join(c if low[i] != " " or c == " " else " " for i, c in enumerate(norm))
    taken: list[tuple[int, int]] = []
    found = []
    for t in terms:
        if wanted is not None and t.kind not in wanted:
            continue
        hay = norm if t.exact else low
        i = hay.find(t.low)
        while i >= 0:
            j = i + len(t.low)
            ok = t.match == "infix" or (_start_ok(norm, i) and (t.match == "prefix" or _end_ok(norm, j, low)))
            if ok and not any(a < j and i < b for a, b in taken):
                taken.append((i, j))
                found.append((t, i))
            i = hay.find(t.low, i + 1)
    found.sort(key=lambda f: f[1])
    return found


@functools.cache
def _not_terms() -> re.Pattern[str]:
    """Phrases that hold a term and mean something else (``data/category.json`` ``not_terms``)."""
    phrases = [e["phrase"].lower() for e in load("category")["not_terms"]]
    return re.compile("|".join(map(re.escape, phrases)) or "(?!)")


def _amount(text: str) -> tuple[str, int] | None:
    _, amounts, _ = _vocabulary()
    for _currency, rx in amounts:
        m = rx.search(text)
        if m:
            return m.group().strip(), m.start()
    return None


def _any_clue(text: str) -> bool:
    return bool(match_terms(text)) or _amount(text) is not None


def _excerpt(text: str, at: int) -> str:
    text = " ".join(text.split())  # one line
    if len(text) <= MAX_TEXT:
        return text
    start = max(0, min(at - MAX_TEXT // 3, len(text) - MAX_TEXT))
    return ("…" if start else "") + text[start:start + MAX_TEXT] + ("…" if start + MAX_TEXT < len(text) else "")


# ---------------------------------------------------------------------------- collecting


class _Clues:
    """Every clue found (each text once per source and kind), for the rule and the cap."""

    def __init__(self, label: str, package: str) -> None:
        self.found: list[CategoryClue] = []
        self.seen: set[tuple[CategoryClueSource, CategoryClueKind, str, str]] = set()
        self.notes: list[str] = []
        forms = set()
        for name in (label, package):
            norm = " ".join(_normalise(name).split())
            forms |= {norm, norm.replace(" ", "")}  # QuickCash Loan: also quickcash-loan, quickcash_loan, quickcashloan
        # a long package segment is a brand (loanfixturedemo in gateway.loanfixturedemo.com); a short one
        # (com.loan.x) is a plain word and is not cut, or no content could ever say loan
        forms |= {seg.lower() for seg in package.split(".") if len(seg) >= MIN_BRAND}
        cut = [r"\s+".join(map(re.escape, f.split(" "))) for f in sorted(forms, key=len, reverse=True) if len(f) >= 2]
        self._cut = re.compile("|".join(cut), re.IGNORECASE) if cut else None

    def independent(self, text: str) -> str:
        """``text`` with the label and package name (in any spelling: spaces, ``-``, ``_``, ``.``,
        ``/`` or nothing between their words) blanked out; same length, separators as spaces."""
        norm = _normalise(text)
        return self._cut.sub(lambda m: " " * len(m.group()), norm) if self._cut else norm

    def add(self, source: CategoryClueSource, kind: CategoryClueKind, text: str, term: str, where: str = "", at: int = 0) -> None:
        key = (source, kind, term, text)
        if key in self.seen:
            return
        self.seen.add(key)
        self.found.append(CategoryClue(source, kind, _excerpt(text, at), term, where))

    def scan(self, source: CategoryClueSource, text: str, where: str = "", *, cut: bool = True,
             kinds: Iterable[CategoryClueKind] | None = None, amounts: bool = True) -> bool:
        """Add a clue for the first term of each kind in ``text`` (and an amount); True if any."""
        hay = self.independent(text) if cut else text
        done: set[CategoryClueKind] = set()
        for t, at in match_terms(hay, kinds):
            if t.kind not in done:
                done.add(t.kind)
                self.add(source, t.kind, text, t.term, where, at)
        if amounts:
            amount = _amount(hay)
            if amount:
                done.add(CategoryClueKind.AMOUNT)
                self.add(source, CategoryClueKind.AMOUNT, text, amount[0], where, amount[1])
        return bool(done)


# ---------------------------------------------------------------------------- public entry


def extract(package: LoadedPackage | None, manifest: ManifestFacts | None, code: CodeFacts | None,
            dexes: Sequence[tuple[str, DexFile]] | None = None) -> CategorySignal:
    """The lending-app signal of ``package``: clues from its identity, resources, dex strings,
    activities, assets and SDKs, and the strength the rule gives them.

    ``dexes``: the dex files the code stage opened and validated, as ``(name, DexFile)``; when
    None, ``package.dex`` is opened here (inflated again); ``()`` reads no dex (``--manifest-only``:
    ``note`` says dex strings were not read). Never raises on package content: a member or
    table that cannot be read is skipped and named in ``note``.
    """
    label = manifest.label if manifest is not None else ""
    pkg_name = manifest.package if manifest is not None else ""
    if label == pkg_name:  # an unresolvable label reads as the package name: not a label
        label = ""
    clues = _Clues(label, pkg_name)
    if label:
        clues.scan(CategoryClueSource.LABEL, label, cut=False)
    if pkg_name:
        clues.scan(CategoryClueSource.PACKAGE, pkg_name, cut=False, amounts=False)
    if manifest is None:
        clues.notes.append("no manifest: no label, package or activity names")
    else:
        for c in manifest.components:
            if c.kind in ("activity", "activity-alias"):
                name = c.name[len(pkg_name):] if pkg_name and c.name.startswith(pkg_name + ".") else c.name
                clues.scan(CategoryClueSource.ACTIVITY, name, c.name, amounts=False)
    attributor = Attributor.from_manifest(package.manifest if package is not None else None)
    if package is not None:
        _resources(package, clues, label)
        _assets(package, clues)
        opened: Sequence[tuple[str, DexFile]]
        if dexes is None:
            opened = _open(package, clues)
        else:
            opened = dexes
            if not dexes and package.dex:
                clues.notes.append("dex strings and classes not read (code not analysed, or no dex could be opened)")
        names = {c.name for c in manifest.components} if manifest is not None else set()
        for name, dex in opened:
            _dex(name, dex, clues, attributor, pkg_name, names)
        _sdk_classes(opened, clues)
    if code is not None:
        _sdk_sites(code, clues)
    return _signal(clues)


# ---------------------------------------------------------------------------- resources


def _resources(package: LoadedPackage, clues: _Clues, label: str) -> None:
    base = package.base
    if base is None or base.archive.find("resources.arsc") is None:
        return
    try:
        data = base.read("resources.arsc")
    except MemberError as exc:
        clues.notes.append(f"resources.arsc not read ({one_line(exc)})")
        return
    try:
        hits = {i: t for i, t in _arsc_hits(data).items() if _any_clue(t)}
        names = entry_names(data, set(hits)) if hits else {}
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        clues.notes.append(f"resources.arsc unreadable for string resources ({exc})")
        return
    for index, text in sorted(hits.items()):
        text_names = sorted(n for n in names.get(index, ()) if n.startswith(TEXT_TYPES))
        if not text_names:
            continue  # a file path, a style value: not text the app shows
        where = ", ".join(text_names[:3]) + (f" (+{len(text_names) - 3})" if len(text_names) > 3 else "")
        if "string/app_name" in text_names and text.strip().lower() != label.strip().lower():
            clues.scan(CategoryClueSource.APP_NAME, text, "string/app_name", cut=False)
        clues.scan(CategoryClueSource.STRING_RESOURCE, text, where)


def _arsc_hits(data: bytes) -> dict[int, str]:
    """Global-pool strings holding a text needle: index -> text (at most ``MAX_HITS``).

    The needles are searched in the pool's bytes (ASCII lower-cased, needles encoded as the
    pool is: UTF-8 or UTF-16), each hit mapped to its string by bisection; only hits are decoded."""
    pool = global_pool(data)
    if not pool.starts:
        return {}
    raw = pool.data
    hay: bytes | str
    if pool.utf8:
        hay, width = raw.lower(), 1
    else:  # searched as text: byte offset = 2 x character index (length prefixes decode as odd characters)
        hay, width = _lower(raw[: len(raw) & ~1].decode("utf-16-le", "replace")), 2
    wanted: set[int] = set()
    for needle in _text_needles():
        pattern = needle.encode("utf-8").lower() if width == 1 else needle
        i, n = hay.find(pattern), 0  # type: ignore[arg-type]
        while i >= 0 and n < MAX_PER_NEEDLE and len(wanted) < MAX_HITS:
            k = pool.index_at(i * width)
            if k is not None and k not in wanted:
                wanted.add(k)
                n += 1
            i = hay.find(pattern, i + 1)  # type: ignore[arg-type]
    chosen = sorted(wanted)
    return dict(zip(chosen, pool_strings(data, pool.offset, chosen)))


# ---------------------------------------------------------------------------- assets


def _assets(package: LoadedPackage, clues: _Clues) -> None:
    members = []
    for loaded in package.apks:
        prefix = "" if loaded is package.base else f"{loaded.name}!"
        for entry in loaded.archive.entries:
            if TEXT_ASSET.fullmatch(entry.name):
                members.append((entry.size, prefix + entry.label, loaded, entry))
    budget, skipped = MAX_ASSET_BYTES, []
    for size, shown, loaded, entry in sorted(members, key=lambda m: (m[0], m[1])):
        if size > MAX_ASSET_MEMBER or size > budget:
            skipped.append(shown)
            continue
        try:
            data = loaded.archive.read(entry)
        except MemberError:
            continue  # the reader recorded why
        budget -= len(data)
        _asset(shown, data[:MAX_ASSET_MEMBER].decode("utf-8", "replace"), clues)  # a member whose size lied is cut
    if skipped:
        clues.notes.append(f"{len(skipped)} asset(s) over the {MAX_ASSET_BYTES >> 20} MiB asset budget not read: {', '.join(skipped[:3])}")


def _asset(member: str, text: str, clues: _Clues) -> None:
    low = _lower(text)
    spans: list[tuple[int, int]] = []
    for needle in _text_needles():
        i, n = low.find(needle), 0
        while i >= 0 and n < MAX_PER_NEEDLE and len(spans) < MAX_HITS:
            n += 1
            a = max(text.rfind("\n", 0, i), text.rfind('"', max(0, i - 200), i), i - 200) + 1
            b_candidates = [x for x in (text.find("\n", i), text.find('"', i + len(needle))) if x >= 0]
            b = min([i + 200, len(text), *b_candidates])
            spans.append((a, b))
            i = low.find(needle, b)
    if not spans:
        return
    newlines = [m.start() for m in re.finditer("\n", text)]
    for a, b in sorted(set(spans)):
        line = bisect.bisect_left(newlines, a) + 1
        clues.scan(CategoryClueSource.ASSET, text[a:b], f"{member} line {line}")


# ---------------------------------------------------------------------------- dex


def _open(package: LoadedPackage, clues: _Clues) -> list[tuple[str, DexFile]]:
    opened = []
    for source in package.dex:
        try:
            opened.append((source.name, DexFile(source.read(), source.name)))
        except (MemberError, DexError) as exc:
            clues.notes.append(f"{source.name} not read ({one_line(exc)})")
    return opened


_DESCRIPTOR = re.compile(r"\[*L[^;\s<>()]+;")
_SIGNATURE = re.compile(r"[\[(]*L[^\s;]+[<;].*;", re.DOTALL)


def _dex(name: str, dex: DexFile, clues: _Clues, attributor: Attributor, pkg_name: str, components: set[str]) -> None:
    _, _, needles = _vocabulary()
    try:
        texts: dict[int, str] = {}
        capped = []
        for needle in needles:
            hits = dex.strings_matching(re.escape(needle.encode("utf-8")))
            kept = 0
            for read, i in enumerate(hits):  # a string holding the needle only in the app's own package or label does not count
                if kept >= MAX_PER_NEEDLE or read >= 4 * MAX_PER_NEEDLE:
                    capped.append(f"{needle}: {len(hits)} strings")
                    break
                text = texts.get(i) or dex.string(i)
                if needle.lower() in _lower(clues.independent(text)):
                    texts[i] = text
                    kept += 1
        if capped:
            clues.notes.append(f"{name}: at most {MAX_PER_NEEDLE} strings read per needle ({', '.join(capped)})")
    except DexError as exc:
        clues.notes.append(f"{name}: string table not read ({one_line(exc)})")
        return
    strings: dict[int, str] = {}
    classes: set[str] = set()
    for i, text in texts.items():
        if _DESCRIPTOR.fullmatch(text):
            outer = text.lstrip("[").split("$", 1)[0].rstrip(";") + ";"  # inner classes are their outer class
            dotted = outer[1:-1].replace("/", ".")
            if outer in classes or dotted in components or attributor.of(outer).owner is Owner.THIRD_PARTY:
                continue  # once per class; an activity is a clue of its own; a library's class says nothing of the app
            classes.add(outer)
            shown = dotted[len(pkg_name) + 1:] if pkg_name and dotted.startswith(pkg_name + ".") else dotted
            clues.scan(CategoryClueSource.CLASS_NAME, shown, f"{name} {outer}", amounts=False)
        elif _SIGNATURE.fullmatch(text) or text.endswith((".java", ".kt")):
            continue  # a generic signature or a source file name: its classes are read as classes
        elif text.count("|") < MAX_ALTERNATIVES and match_terms(clues.independent(text)):
            strings[i] = text
    if not strings:
        return
    sites: dict[int, list[str]] = {}
    try:
        for ref in dex.refs(strings=strings):
            sites.setdefault(ref.index, []).append(_where(name, dex, ref, attributor))
    except DexError as exc:
        clues.notes.append(f"{name}: const-string uses not located ({one_line(exc)})")
        sites = {}
    for i, text in strings.items():
        uses = sites.get(i)
        if uses is not None and all(u == "" for u in uses):
            continue  # used only by known libraries
        where = next((u for u in uses or () if u), f"{name} string #{i}")
        clues.scan(CategoryClueSource.DEX_STRING, text, where)


def _where(name: str, dex: DexFile, ref: Ref, attributor: Attributor) -> str:
    """``classes.dex Lcom/x/A;->b()V @0x1c`` for a use in non-library code, else empty."""
    method = dex.method(ref.method_idx)
    if attributor.of(method.class_name).owner is Owner.THIRD_PARTY:
        return ""
    return f"{name} {method.class_name}->{method.name}{method.descriptor} @{ref.offset:#x}"


def _sdk_classes(dexes: Iterable[tuple[str, DexFile]], clues: _Clues) -> None:
    matched: list[str] = []
    for prefix, sdk, category in _sdks():  # sorted: a prefix comes before the longer ones under it
        if any(prefix.startswith(m + ".") for m in matched):
            continue
        descriptor = "L" + prefix.replace(".", "/") + "/"
        for name, dex in dexes:
            try:
                found = len(types_with_prefix(dex, descriptor))
            except DexError:
                continue
            if found:
                matched.append(prefix)
                clues.add(CategoryClueSource.SDK, CategoryClueKind.SDK, sdk, category, f"{prefix} ({name})")
                break


def _sdk_sites(code: CodeFacts, clues: _Clues) -> None:
    shown = set(load("category")["sdks"]["shown_categories"])
    have = {c.where.split(" ")[0] for c in clues.found if c.source is CategoryClueSource.SDK}
    for site in code.sites:
        a = site.attribution
        if a.owner is Owner.THIRD_PARTY and a.category in shown and a.prefix not in have:
            have.add(a.prefix)
            clues.add(CategoryClueSource.SDK, CategoryClueKind.SDK, a.sdk, a.category, f"{a.prefix} (read site)")


# ---------------------------------------------------------------------------- the rule


def _signal(clues: _Clues) -> CategorySignal:
    found = clues.found
    identity = {c.kind for c in found if c.source in IDENTITY_SOURCES}
    content_lending = {CONTENT_GROUPS[c.source] for c in found if c.source in CONTENT_GROUPS and c.kind is CategoryClueKind.LENDING}
    support = any(c.kind is CategoryClueKind.KYC for c in found) or any(
        c.kind is CategoryClueKind.SDK and c.term in _supporting_sdk_categories() for c in found)
    strength, reason = CategoryStrength.NONE, "no lending term found" + (" (finance terms only)" if CategoryClueKind.FINANCE in identity else "")
    if CategoryClueKind.LENDING in identity and content_lending:
        strength, reason = CategoryStrength.STRONG, "a lending term in the label or package, and in " + _list(content_lending)
    elif CategoryClueKind.LENDING in identity and support:
        strength, reason = CategoryStrength.STRONG, "a lending term in the label or package, and a KYC flow or KYC/credit-scoring SDK"
    elif CategoryClueKind.FINANCE in identity and len(content_lending) >= 2:
        strength, reason = CategoryStrength.STRONG, "a finance term in the label or package, and lending terms in " + _list(content_lending)
    elif CategoryClueKind.LENDING in identity:
        strength, reason = CategoryStrength.WEAK, "a lending term in the label or package only"
    elif len(content_lending) >= 2:
        strength, reason = CategoryStrength.WEAK, "lending terms in " + _list(content_lending) + ", none in the label or package"
    elif CategoryClueKind.FINANCE in identity and content_lending:
        strength, reason = CategoryStrength.WEAK, "a finance term in the label or package, and a lending term in " + _list(content_lending)
    elif content_lending:
        reason = "a lending term in " + _list(content_lending) + " only"
    kept = _keep(found)
    notes = list(clues.notes)
    return CategorySignal(
        looks_like=strength is not CategoryStrength.NONE,
        strength=strength,
        reason=reason,
        clues=kept,
        more=len(found) - len(kept),
        note="; ".join(notes),
    )


def _list(groups: set[str]) -> str:
    names = sorted(groups, key=_GROUP_ORDER.index)
    return " and ".join(names) if len(names) <= 2 else ", ".join(names[:-1]) + " and " + names[-1]


def _keep(found: list[CategoryClue]) -> tuple[CategoryClue, ...]:
    """At most ``MAX_CLUES``: one of each (kind, source) first, lending and identity first, then the
    rest in turn; within a (kind, source), each distinct term before a repeat."""
    groups: dict[tuple[int, int], list[CategoryClue]] = {}
    for c in found:
        groups.setdefault((_KIND_ORDER.index(c.kind), _SOURCE_ORDER.index(c.source)), []).append(c)
    for key, members in groups.items():  # within a group, each distinct term once before any repeat
        firsts: dict[str, CategoryClue] = {}
        for c in members:
            firsts.setdefault(c.term, c)
        groups[key] = list(firsts.values()) + [c for c in members if firsts[c.term] is not c]
    order = sorted(groups)
    kept: list[CategoryClue] = []
    depth = 0
    while len(kept) < MAX_CLUES and any(len(groups[g]) > depth for g in order):
        for g in order:
            if depth < len(groups[g]) and len(kept) < MAX_CLUES:
                kept.append(groups[g][depth])
        depth += 1
    return tuple(sorted(kept, key=lambda c: (_KIND_ORDER.index(c.kind), _SOURCE_ORDER.index(c.source))))


__all__ = ["MAX_CLUES", "extract", "match_terms"]
