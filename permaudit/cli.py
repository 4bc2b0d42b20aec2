"""Stage 5: the command line, a thin layer over ``permaudit.audit_all``.

Exit codes: 0 every package audited, 1 a finding at or above ``--fail-on`` (also on a package
read in part: what was read already fails the gate), 2 a package could not be audited (in
whole, or in part with no finding at the level: a partial read never passes a gate). Problems go
to stderr as one line per package (notes too, which leave the exit code alone); the
report goes to stdout or ``--output``. Text from a package reaches the terminal only
through ``model.visible``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from loguru import logger

from permaudit.audit import audit_all
from permaudit.errors import one_line
from permaudit.findings import finding_types
from permaudit.formats import FORMATS, render
from permaudit.model import AuditResult, PolicySeverity, Status, visible
from permaudit.policy import matches, profiles
from permaudit.version import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
MACHINE_FORMATS = ("json", "sarif")
"""Written even when every package failed: the document itself says what could not be read."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors are bad input too: one line, exit 2."""
        self.exit(EXIT_ERROR, f"permaudit: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="permaudit", description="Audit Android apps for contact-list harvesting.")
    parser.add_argument("--version", action="version", version=f"permaudit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    audit = commands.add_parser("audit", help="audit APKs, split bundles, dex files or folders of them")
    audit.add_argument("paths", nargs="+", metavar="PATH", help="APK, .xapk/.apks/.apkm bundle, .dex, dex-dump folder, or a folder of these")
    audit.add_argument("--format", choices=sorted(FORMATS), default="table", help="table for people (default), json or sarif for machines")
    audit.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    audit.add_argument(
        "--fail-on",
        choices=[s.value for s in PolicySeverity],
        metavar="LEVEL",
        help="exit 1 when a finding under any profile is at or above LEVEL (info, warning, violation)",
    )
    audit.add_argument("--policy", action="append", choices=sorted(profiles()), metavar="PROFILE",
                       help="judge under this profile (repeat for more; default: every profile, see `permaudit policies`)")
    audit.add_argument("--category", choices=["lending", "auto"],
                       help="lending: the app is a lending app, the lending-only verdicts apply; auto: apply them when the lending signal is strong")
    audit.add_argument("--manifest-only", action="store_true", help="skip the bytecode stage")
    audit.add_argument("--lang", choices=["en", "zh"], default="en", help="language of verdict messages and rule titles where a format shows them (default en)")
    audit.add_argument("--timestamp", action="store_true", help="record the time of the run in JSON and SARIF output")
    audit.add_argument("--verbose", "-v", action="store_true", help="let androguard log to stderr")
    commands.add_parser("policies", help="list the policy profiles")
    commands.add_parser("rules", help="list the finding types")
    explain = commands.add_parser("explain", help="what a finding type detects and how each profile judges it")
    explain.add_argument("rule", metavar="RULE", help="a finding type (bulk-read) or id (contacts.bulk-read)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "verbose", False):
        # the application, not the library, decides what reaches stderr: one line per
        # package. androguard logs through loguru, whose documented switch this is.
        logger.disable("androguard")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("permaudit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 -- a bug outside any one package: still one line, never a traceback
        print(f"permaudit: internal error {type(exc).__name__}: {visible(one_line(exc))} (please report)", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    if args.command != "audit":
        return _describe(args)
    results: list[AuditResult] = []
    for result in audit_all(args.paths, code=not args.manifest_only, policies=args.policy, category=args.category):
        results.append(result)
        if result.problems:
            print(f"permaudit: {visible(result.error_line())}", file=sys.stderr)
    timestamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds") if args.timestamp else ""
    report = render(results, args.format, timestamp=timestamp, lang=args.lang)
    wanted = any(r.status is not Status.FAILED for r in results) or args.format in MACHINE_FORMATS
    if wanted and not _write(report, args.output):
        return EXIT_ERROR
    return exit_code(results, PolicySeverity(args.fail_on) if args.fail_on else None)


def exit_code(results: Sequence[AuditResult], fail_on: PolicySeverity | None) -> int:
    """A package not read at all: 2. Else a finding at ``fail_on`` or above: 1, even on a package
    read in part (what was read already fails). Else a package read in part: 2, since an
    incomplete audit must never pass a gate silently. Else 0 (notes alone do not count)."""
    if any(r.status is Status.FAILED for r in results):
        return EXIT_ERROR
    if fail_on is not None:
        for result in results:
            worst = result.highest_severity()
            if worst is not None and worst.rank >= fail_on.rank:
                return EXIT_FINDINGS
    if any(r.status is not Status.COMPLETE for r in results):
        return EXIT_ERROR
    return EXIT_OK


def _describe(args: argparse.Namespace) -> int:
    """``policies``, ``rules`` and ``explain``: the data behind the verdicts, from the shipped files."""
    types = finding_types()
    if args.command == "policies":
        for p in profiles().values():
            levels = "/".join(str(sum(c.level.value == v for c in p.clauses)) for v in "PSU")
            print(f"{p.id:<28} {p.applies_to.value:<8} {len(p.clauses):>2} clauses (P/S/U {levels}), {len(p.verdicts):>2} verdicts  {p.title.en}")
        return EXIT_OK
    if args.command == "rules":
        for name, entry in types.items():
            print(f"{name:<22} {entry['title']['en']}")  # type: ignore[index]
        return EXIT_OK
    kind = args.rule.split(".", 1)[-1]
    if kind not in types:
        print(f"permaudit: error: unknown rule {visible(args.rule)!r}; see `permaudit rules`", file=sys.stderr)
        return EXIT_ERROR
    entry = types[kind]
    category = args.rule.split(".", 1)[0] if "." in args.rule else "contacts"
    print(f"{category}.{kind}: {entry['title']['en']} / {entry['title']['zh']}")  # type: ignore[index]
    print(f"detects: {entry['detects']}")
    print(f"docs: docs/rules/{kind}.md")
    for p in profiles().values():
        for v in p.verdicts:
            if matches(v.finding, category, kind):
                when = " (lending apps)" if v.applies_to.value == "lending" else ""
                if v.when.target_sdk_min is not None or v.when.target_sdk_max is not None:
                    when += f" (target API {v.when.target_sdk_min or ''}-{v.when.target_sdk_max or ''})"
                print(f"  {p.id}: {v.severity.value}{when}: {', '.join(v.clauses)}")
    return EXIT_OK


def _write(report: str, output: str | None) -> bool:
    """Open the output file only now, after the audit, so a failed run leaves no empty file."""
    if output is None:
        sys.stdout.write(report)
        return True
    try:
        Path(output).write_text(report, encoding="utf-8")
    except OSError as exc:
        print(f"permaudit: cannot write {visible(output)}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True
