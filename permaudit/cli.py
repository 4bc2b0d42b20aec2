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
import contextlib
import datetime
import gc
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from permaudit.audit import audit_all
from permaudit.batch.jobs import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT
from permaudit.batch.tally import Tally
from permaudit.errors import PermauditError, one_line
from permaudit.findings import finding_types
from permaudit.formats import FORMATS, render
from permaudit.formats.answer import QUERY_FORMATS
from permaudit.formats.corpus import CORPUS_FORMATS
from permaudit.model import AuditResult, PolicySeverity, Status, visible
from permaudit.policy import matches, profiles
from permaudit.version import __version__

if TYPE_CHECKING:  # scan, query and report load their machinery when run, not for every `audit`
    from permaudit.batch.scan import Executor, ScanSummary
    from permaudit.batch.sinks import Sink

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
DEFAULT_DB = "permaudit.db"
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
    audit.add_argument("--format", choices=FORMATS, default="table", help="table for people (default), json or sarif for machines")
    audit.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    _judging(audit)
    audit.add_argument("--lang", choices=["en", "zh"], default="en", help="language of verdict messages and rule titles where a format shows them (default en)")
    audit.add_argument("--timestamp", action="store_true", help="record the time of the run in JSON and SARIF output")
    _scan_parser(commands)
    query = commands.add_parser("query", help="ask a results store a cross-app question (no QUESTION: list them)")
    query.add_argument("question", nargs="?", metavar="QUESTION", help="a question id, see `permaudit query --db FILE`")
    query.add_argument("--db", required=True, metavar="FILE", help="the store a scan wrote")
    query.add_argument("--format", choices=QUERY_FORMATS, default="table", help="table (default), json or csv")
    query.add_argument("--min-apps", type=_positive(int), metavar="N", help="only answers shared by at least N apps (default 2)")
    query.add_argument("--output", "-o", metavar="FILE", help="write the answer here instead of stdout")
    report = commands.add_parser("report", help="a report over every app in a results store")
    report.add_argument("--db", required=True, metavar="FILE", help="the store a scan wrote")
    report.add_argument("--format", choices=CORPUS_FORMATS, default="html", help="html (default), markdown or csv")
    report.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the report (default en)")
    report.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    commands.add_parser("policies", help="list the policy profiles")
    commands.add_parser("rules", help="list the finding types")
    explain = commands.add_parser("explain", help="what a finding type detects and how each profile judges it")
    explain.add_argument("rule", metavar="RULE", help="a finding type (bulk-read) or id (contacts.bulk-read)")
    return parser


def _judging(parser: argparse.ArgumentParser) -> None:
    """The options of ``audit`` and ``scan`` that say how packages are audited and judged."""
    parser.add_argument("--fail-on", choices=[s.value for s in PolicySeverity], metavar="LEVEL",
                        help="exit 1 when a finding under any profile is at or above LEVEL (info, warning, violation)")
    parser.add_argument("--policy", action="append", choices=sorted(profiles()), metavar="PROFILE",
                        help="judge under this profile (repeat for more; default: every profile, see `permaudit policies`)")
    parser.add_argument("--category", choices=["lending", "auto"],
                        help="lending: the app is a lending app, the lending-only verdicts apply; auto: apply them when the lending signal is strong")
    parser.add_argument("--manifest-only", action="store_true", help="skip the bytecode stage")


def _scan_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    scan = commands.add_parser("scan", help="audit many inputs with worker processes, writing each result as it is known")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="files and folders, searched recursively for every input `audit` takes")
    scan.add_argument("--jobs", "-j", type=_positive(int), metavar="N", help=f"worker processes (default: every core, {_cores()} here)")
    scan.add_argument("--db", metavar="FILE", help=f"the SQLite results store to write (default {DEFAULT_DB} when no --jsonl is given)")
    scan.add_argument("--jsonl", metavar="FILE", help="also (or instead) write one JSON result per line here, flushed as each arrives")
    scan.add_argument("--resume", action="store_true", help="skip inputs the store and log already hold (by SHA-256); append to them")
    _judging(scan)
    scan.add_argument("--timeout", type=_positive(float), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                      help=f"stop one input's audit after this long and record it as failed (default {DEFAULT_TIMEOUT:g})")
    scan.add_argument("--max-memory", type=_positive(int), default=DEFAULT_MAX_MEMORY, metavar="MB",
                      help=f"stop one input's audit when its worker grows by this much and record it as failed (default {DEFAULT_MAX_MEMORY})")
    where = scan.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="send audits to this Dask scheduler (tcp://host:8786); needs permaudit[dask]")
    where.add_argument("--dask-local", type=_positive(int), metavar="N", help="start a local Dask cluster of N workers; needs permaudit[dask]")
    scan.add_argument("--dask-send-bytes", action="store_true", help="ship each input's bytes to the Dask workers (no shared filesystem needed)")
    scan.add_argument("--verbose", "-v", action="store_true", help="let Dask log its warnings to stderr")


def _positive(kind: type[int | float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value

    return parse


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def entry() -> NoReturn:
    """The program (``permaudit``, ``python -m permaudit``): ``main``, then exit with its code.

    Every object is frozen first, so the interpreter's last garbage collection does not walk them
    all: it cost 0.08-0.14 s of every run, a fifth of a small audit's whole process. When the run
    left nothing for the interpreter's teardown to stop, close or flush (no other thread, none
    of the modules a ``scan`` brings: worker processes, the SQLite store, log handlers; no
    profiler, tracer or ``python -i`` waiting for ``SystemExit``), the process ends as soon as
    its streams are flushed: tearing down every module cost another 5 ms, over 1% of a small
    audit's process."""
    code = main()
    gc.freeze()
    if _nothing_to_tear_down() and _flushed(sys.stdout, sys.stderr):
        os._exit(code)
    sys.exit(code)


def _nothing_to_tear_down() -> bool:
    return (threading.active_count() == 1 and not _TORN_DOWN.intersection(sys.modules)
            and sys.getprofile() is None and sys.gettrace() is None and not sys.flags.inspect)


def _flushed(*streams: TextIO | None) -> bool:
    """Every open stream flushed; False when one cannot be (a closed pipe or stream: the
    interpreter's own exit then deals with it, as it always has)."""
    try:
        for stream in streams:
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


_TORN_DOWN = frozenset({"multiprocessing", "sqlite3", "logging", "distributed"})
"""Modules whose objects the interpreter's exit stops, closes or flushes (at exit or as they are freed)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("permaudit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("permaudit: out of memory; `permaudit scan --max-memory MB` audits each input in a worker under a limit", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 -- a bug outside any one package: still one line, never a traceback
        print(f"permaudit: internal error {type(exc).__name__}: {visible(one_line(exc))} (please report)", file=sys.stderr)
        return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    if args.command == "scan":
        return _scan(args)
    if args.command == "query":
        return _query(args)
    if args.command == "report":
        return _report(args)
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
    return exit_code(Tally.of(results), _level(args.fail_on))


def _scan(args: argparse.Namespace) -> int:
    """``scan``: every input under the paths, on worker processes or a Dask cluster, each result
    written to the store and/or log as it arrives; a summary line at the end."""
    from permaudit.batch.jobs import AuditOptions
    from permaudit.batch.progress import Progress
    from permaudit.batch.scan import scan
    from permaudit.batch.sinks import JsonlLog, StoreSink

    if args.dask_send_bytes and not (args.scheduler or args.dask_local):
        print("permaudit: error: --dask-send-bytes needs --scheduler or --dask-local", file=sys.stderr)
        return EXIT_ERROR
    db = args.db or (None if args.jsonl else DEFAULT_DB)
    if db and args.jsonl and Path(db).resolve() == Path(args.jsonl).resolve():
        print("permaudit: error: --db and --jsonl name the same file", file=sys.stderr)
        return EXIT_ERROR
    # a worker inflates and hashes beside its analysis only where the pool leaves cores idle:
    # with every core running a worker the extra threads only contend (docs/batch.md#throughput)
    spare_cores = not (args.scheduler or args.dask_local) and args.jobs is not None and args.jobs < _cores()
    options = AuditOptions(code=not args.manifest_only, policies=tuple(args.policy) if args.policy else None,
                           category=args.category, timeout=args.timeout, max_memory=args.max_memory, threads=spare_cores)
    progress = Progress(sys.stderr)
    sinks: list[Sink] = []
    try:
        if db:
            sinks.append(StoreSink(db))
        if args.jsonl:
            sinks.append(JsonlLog(args.jsonl, resume=args.resume))
        with _executor(args) as executor:
            summary = scan(args.paths, executor, sinks, options=options, resume=args.resume, observer=progress)
    except PermauditError as exc:  # a store, log or cluster that cannot be used: the run cannot keep results
        progress.finish()
        return _refused(exc)
    finally:
        for sink in sinks:
            sink.close()
    progress.finish()
    print(f"permaudit: {_summary_line(summary)}; results in {visible(', '.join(filter(None, [db, args.jsonl])))}", file=sys.stderr)
    if summary.interrupted:
        print("permaudit: interrupted; run the same command with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    return exit_code(summary.tally, _level(args.fail_on))


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Executor]:
    if not (args.scheduler or args.dask_local):
        from permaudit.batch.local import LocalPool

        yield LocalPool(args.jobs or _cores())
        return
    from permaudit.batch.cluster import (
        DaskPool,  # the dask extra, imported only when asked for
    )

    with DaskPool(args.scheduler, local_workers=args.dask_local or 0, send_bytes=args.dask_send_bytes, quiet=not args.verbose) as pool:
        yield pool


def _summary_line(summary: ScanSummary) -> str:
    tally = summary.tally
    statuses = ", ".join(f"{tally.statuses[s]} {s.value}" for s in Status)
    levels = ", ".join(f"{tally.findings[s]} {s.value}" for s in reversed(PolicySeverity))
    return (f"{summary.inputs} inputs, {summary.audited} audited in {summary.seconds:.2f} s "
            f"({summary.files_per_second:.1f} files/s): {statuses}; "
            f"{sum(tally.findings.values())} findings ({levels}) in {tally.apps_with_findings} apps; "
            f"{summary.duplicates} duplicates, {summary.recorded} already recorded")


def _query(args: argparse.Namespace) -> int:
    """``query``: one cross-app question over a store, or the list of questions."""
    from permaudit.formats.answer import render_answer
    from permaudit.store import Store, questions

    try:
        with Store.open(args.db, create=False) as store:
            if args.question is None:
                for q in questions().values():
                    print(f"{q.id:<22} {q.title.en}")
                return EXIT_OK
            params = {"min_apps": args.min_apps} if args.min_apps else {}
            answer = store.ask(args.question, **params)
    except PermauditError as exc:
        return _refused(exc)
    return EXIT_OK if _write(render_answer(answer, args.format), args.output) else EXIT_ERROR


def _report(args: argparse.Namespace) -> int:
    """``report``: every app in a store, as one document."""
    from permaudit.formats.corpus import render_corpus
    from permaudit.store import Store

    try:
        with Store.open(args.db, create=False) as store:
            text = render_corpus(store, args.format, lang=args.lang)
    except PermauditError as exc:
        return _refused(exc)
    return EXIT_OK if _write(text, args.output) else EXIT_ERROR


def _refused(exc: PermauditError) -> int:
    """A store, log or cluster that cannot be used: one line, exit 2."""
    print(f"permaudit: {visible(one_line(exc))}", file=sys.stderr)
    return EXIT_ERROR


def _level(name: str | None) -> PolicySeverity | None:
    return PolicySeverity(name) if name else None


def exit_code(tally: Tally, fail_on: PolicySeverity | None) -> int:
    """A package not read at all: 2. Else a finding at ``fail_on`` or above: 1, even on a package
    read in part (what was read already fails). Else a package read in part: 2, since an
    incomplete audit must never pass a gate silently. Else 0 (notes alone do not count)."""
    if tally.statuses[Status.FAILED]:
        return EXIT_ERROR
    if fail_on is not None and tally.worst is not None and tally.worst.rank >= fail_on.rank:
        return EXIT_FINDINGS
    if tally.statuses[Status.PARTIAL]:
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
