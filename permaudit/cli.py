"""Stage 5: the command line, a thin layer over ``permaudit.audit_all``.

Exit codes: 0 every package audited, 1 a finding at or above ``--fail-on``, 2 a package
could not be audited (in whole or in part; what was read is still reported). Problems go
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
from permaudit.formats import FORMATS, render
from permaudit.model import AuditResult, Level, Status, visible
from permaudit.version import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT


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
    audit.add_argument("--format", choices=sorted(FORMATS), default="table", help="table for people (default), json for machines")
    audit.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    audit.add_argument(
        "--fail-on",
        choices=[lv.value for lv in Level],
        metavar="LEVEL",
        help="exit 1 when a finding is at or above LEVEL (info, low, medium, high)",
    )
    audit.add_argument("--manifest-only", action="store_true", help="skip the bytecode stage")
    audit.add_argument("--timestamp", action="store_true", help="record the time of the run in JSON output")
    audit.add_argument("--verbose", "-v", action="store_true", help="let androguard log to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        # the application, not the library, decides what reaches stderr: one line per
        # package. androguard logs through loguru, whose documented switch this is.
        logger.disable("androguard")
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("permaudit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug outside any one package: still one line, never a traceback
        print(f"permaudit: internal error {type(exc).__name__}: {visible(one_line(exc))} (please report)", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    results: list[AuditResult] = []
    for result in audit_all(args.paths, code=not args.manifest_only):
        results.append(result)
        if result.problems:
            print(f"permaudit: {visible(result.error_line())}", file=sys.stderr)
    timestamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds") if args.timestamp else ""
    report = render(results, args.format, timestamp=timestamp)
    if any(r.status is not Status.FAILED for r in results) or args.format == "json":
        if not _write(report, args.output):
            return EXIT_ERROR
    return exit_code(results, Level(args.fail_on) if args.fail_on else None)


def exit_code(results: Sequence[AuditResult], fail_on: Level | None) -> int:
    """2 beats 1 beats 0: an incomplete audit must never pass a CI gate silently (notes alone do not count)."""
    if any(r.status is not Status.COMPLETE for r in results):
        return EXIT_ERROR
    if fail_on is not None:
        for result in results:
            level = result.highest_level()
            if level is not None and level.rank >= fail_on.rank:
                return EXIT_FINDINGS
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
