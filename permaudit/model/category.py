"""The app-category signal: does the package *look like* a lending app, and why.

A signal with its evidence, not a classification. Each clue is a piece of text the package
itself carries (its label, package name, a string resource, a dex string, an activity name,
an asset, a KYC or credit-scoring SDK) and the term that matched it, so a reader can check
every one. Banks, loan calculators, shops with instalments and KYC-only apps carry some of
the same words: the strength says how much the clues agree, never that the app lends.
``--category lending`` states the category instead; the signal is then still reported, so a
disagreement stays visible. Vocabulary, rule and known errors: ``data/category.json`` and
``docs/category.md``.
"""

from __future__ import annotations

import enum

from permaudit.model.common import visible
from permaudit.model.record import record


class CategoryStrength(enum.StrEnum):
    """How much the clues agree (the rule is in ``data/category.json`` and ``docs/category.md``)."""

    STRONG = "strong"
    """A lending term in the app's identity (label, package, app name) confirmed by a second,
    independent source (a lending term in its content, a KYC flow or a KYC/credit-scoring SDK)."""
    WEAK = "weak"
    """Lending terms in one kind of source only (the identity alone, or content alone in two
    sources): worth a look, not enough to act on."""
    NONE = "none"
    """No lending evidence, or only words shared with banks, shops and wallets."""


class CategoryClueSource(enum.StrEnum):
    """Where in the package a clue was seen."""

    LABEL = "label"
    """The application label (resolved through resources.arsc)."""
    PACKAGE = "package"
    """The manifest package name."""
    APP_NAME = "app-name"
    """The ``string/app_name`` resource, when it differs from the label."""
    ACTIVITY = "activity"
    """An activity (or alias) class name in the manifest, the app's package cut off."""
    STRING_RESOURCE = "string-resource"
    """A value of a ``string``, ``string-array`` or ``plurals`` resource (any configuration)."""
    CLASS_NAME = "class"
    """A class name in a dex file (not a known library's), the app's package cut off."""
    DEX_STRING = "dex-string"
    """A string in a dex string table: a ``const-string`` (``where`` names the method and offset)
    or a member name, annotation value or unused string (``where`` names the string id)."""
    ASSET = "asset"
    """A text asset (JSON, JS bundle, HTML, ...): ``where`` is the member and line."""
    SDK = "sdk"
    """Code of an identity-verification, credit-scoring or risk-control SDK: ``where`` is the prefix."""


class CategoryClueKind(enum.StrEnum):
    """What the clue is evidence of."""

    LENDING = "lending"
    """A term specific to borrowing money (贷款, loan, pinjaman, préstamo...)."""
    FINANCE = "finance"
    """A money term shared with banks, shops, wallets and games (credit, cash, 分期, kredit...)."""
    KYC = "kyc"
    """An identity-check flow (身份证, KTP, Aadhaar, BVN, selfie, liveness...)."""
    AMOUNT = "amount"
    """A currency amount (¥500, Rp 1.000.000, ₹5000, KSh 500...)."""
    SDK = "sdk"
    """An SDK's code; ``term`` is its category (``identity-verification``, ``credit-scoring``, ``risk-control``)."""


IDENTITY_SOURCES = frozenset({CategoryClueSource.LABEL, CategoryClueSource.PACKAGE, CategoryClueSource.APP_NAME})
"""The developer chose these together: together they count as one source."""


@record
class CategoryClue:
    """One piece of text that makes the package look like a lending app."""

    source: CategoryClueSource
    kind: CategoryClueKind
    text: str
    """The text that matched (at most about 120 characters around the match), shown with
    :func:`~permaudit.model.common.visible`; for an SDK its name."""
    term: str
    """The term or pattern that matched (``贷款``, ``loan``, ``KTP``, ``₹``); an SDK's category."""
    where: str = ""
    """``string/loan_hint`` for a resource, ``classes.dex Lcom/x/A;->b()V @0x1c`` for a
    const-string, ``classes.dex string #123`` for another dex string, ``assets/www/app.js line 3``,
    the SDK prefix; empty for the label and package."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", visible(self.text))
        object.__setattr__(self, "where", visible(self.where))


@record
class CategorySignal:
    """Whether the package looks like an app of ``category``, with the clues: a signal with
    evidence, not a classification (see the module docstring)."""

    category: str = "lending"
    looks_like: bool = False
    """``strength`` is strong or weak."""
    strength: CategoryStrength = CategoryStrength.NONE
    reason: str = ""
    """The clause of the rule that set the strength, in words."""
    clues: tuple[CategoryClue, ...] = ()
    """The clues kept: at most ``MAX_CLUES``, at least one of each source and kind found,
    the app's identity and lending terms first. The strength is decided on every clue found."""
    more: int = 0
    """Clues found beyond those kept."""
    note: str = ""
    """What could not be read or was not searched (a damaged resource table, dex strings not
    read because the code stage was skipped, a cap reached); empty when everything was read."""


__all__ = ["IDENTITY_SOURCES", "CategoryClue", "CategoryClueKind", "CategoryClueSource", "CategorySignal", "CategoryStrength"]
