"""Inputs found by ``benchmarks/fuzz.py``, rebuilt from a fixture and the mutation.

Each test names the fuzz run that found it (``--seed S --only INDEX`` reproduces the
original input) and asserts what ``audit()`` should do: return a result, with a problem
of the right code and a one-line message, never an ``internal-error`` (a bug caught by
the safety net in ``permaudit.audit``).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

import permaudit
from permaudit.model import AuditResult, Status

from .conftest import corpus, fixture, rezip, zip_members

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")




def with_member(apk: str, name: str, edit) -> bytes:  # type: ignore[no-untyped-def]
    """The fixture re-zipped with ``edit(bytes) -> bytes`` applied to one member."""
    return rezip([(n, edit(b) if n == name else b) for n, b in zip_members(fixture(apk).read_bytes())])


def fixture_member(apk: str, name: str) -> bytes:
    return dict(zip_members(fixture(apk).read_bytes()))[name]


def audit_bytes(tmp_path: Path, data: bytes, name: str = "in.apk") -> AuditResult:
    path = tmp_path / name
    path.write_bytes(data)
    result = permaudit.audit(path)
    assert isinstance(result.status, Status)
    for problem in result.problems:
        assert problem.code != "internal-error", problem.message
        assert problem.message and "\n" not in problem.message and "\r" not in problem.message, problem
    if result.status is not Status.COMPLETE:
        assert result.problems
    json.dumps(result.to_dict())
    return result


def codes(result: AuditResult) -> set[str]:
    return {p.code for p in result.problems}


# ---------------------------------------------------------------------- binary manifest


def test_manifest_string_pool_with_huge_style_count(tmp_path: Path) -> None:
    """fuzz --seed 0 --only 359 (also seed 1 #210, #217): styleCount 0xa6517d0b in the
    manifest's string pool. androguard fails, the lenient retry rebuilds the pool and
    ``struct.pack`` overflows (``_terminate_utf16_strings``): an internal error in the
    load stage, so the whole APK came back FAILED and its dex was never read."""
    def edit(raw: bytes) -> bytes:
        d = bytearray(raw)
        struct.pack_into("<I", d, 8 + 12, 0xA6517D0B)  # string pool header: styleCount
        return bytes(d)

    result = audit_bytes(tmp_path, with_member("clean_app.apk", "AndroidManifest.xml", edit))
    assert codes(result) & {"bad-manifest", "malformed-manifest"}
    assert result.status is Status.PARTIAL  # the dex is intact and still audited
    assert result.code is not None


# ---------------------------------------------------------------------- dex


# The 256 bytes the fuzzer inserted (seed 0, index 51); they put control characters
# (\r among them) into the string a method's return type is read from.
INSERTED_51 = bytes.fromhex(
    "bc366a790175c8f6ad0032fc91b80542ce165446232e54d610b3cc733f67ae21895b08957111a89ba84c11c2524ab1cd739892fd20bc"
    "2fdc9c4ee6a470ded5ccc11b1067d251a94f5de41cee5793d7aaadd4af5c14ca1c016c6c90ef608857a10d6a63e810640b2529c32cfa"
    "7c89ab58d18b829ee61c36a010effe229bd3e3724a790f72f5fb560e4aa347b3ff6e5c17e9fb5fdd58faee44729ea3d7b49dcf56bf23"
    "612bc400e9ded3dc8e7a0adb73c701b9b959d18384255b31154af85b372b25531454a6cb8d11b24840c52a4350752f551534dd58828a"
    "a05a800fc87d2a74bdbb5c110246e15cc7862760d2199b3e38c8af9b8f0df71f7541fc0412920bad"
)


def test_bad_method_message_with_control_characters_is_one_line(tmp_path: Path) -> None:
    """fuzz --seed 0 --only 51: hybrid_rn.apk's classes.dex as a bare .dex, the first code
    unit of the code item at 0x6a4 turned into a sparse-switch payload header, and 256
    bytes inserted at 1358. A method's descriptor now reads through raw bytes holding
    ``\\r``; the ``bad-method`` problem quotes it as is, so its message spans lines (and
    runs to ~600 characters)."""
    d = bytearray(fixture_member("hybrid_rn.apk", "classes.dex"))
    at = 0x6A4 + 16  # first code unit of the code item
    struct.pack_into("<HHI", d, at, 0x0200, 0x0007, 0x00000004)
    d[1358:1358] = INSERTED_51
    result = audit_bytes(tmp_path, bytes(d), "x.dex")
    assert "bad-method" in codes(result) or "bad-dex" in codes(result)
    for problem in result.problems:  # no control characters at all, not only no line breaks
        assert not any(unicodedata.category(c) == "Cc" for c in problem.message), repr(problem.message)


def test_dex_with_its_tables_zeroed_is_not_failed_without_a_problem(tmp_path: Path) -> None:
    """fuzz --seed 2 --only 1309: multidex_app.apk's classes.dex as a bare .dex with 597
    bytes zeroed from offset 85 (the id-table sizes and offsets from ``string_ids_off``
    on, and the start of the tables). The header still checks out, so the dex opens with
    no classes and no methods; ``audit()`` then calls it unreadable and returns FAILED
    with no problem at all, so the CLI has nothing to print for it."""
    d = bytearray(fixture_member("multidex_app.apk", "classes.dex"))
    d[85:85 + 597] = bytes(597)
    result = audit_bytes(tmp_path, bytes(d), "x.dex")
    if result.status is not Status.COMPLETE:
        assert result.problems, f"{result.status.value} with no problem"
        assert result.error_line()


def test_class_data_section_claimed_past_the_end_of_a_truncated_dex(tmp_path: Path) -> None:
    """fuzz --seed 7 --only 841: exprespam's classes.dex (corpus) cut at 3176 bytes, with
    ``file_size`` patched to match. Its map list still claims a class_data section running
    past the new end, and the code index indexed past the bytes it had (IndexError in
    ``dex/index.py``), an internal error that cost the whole code stage."""
    d = bytearray(corpus("dex", "exprespam", "classes.dex").read_bytes()[:3176])
    struct.pack_into("<I", d, 32, len(d))
    result = audit_bytes(tmp_path, bytes(d), "x.dex")
    assert "internal-error" not in codes(result)
    assert result.status is Status.FAILED and "bad-dex" in codes(result)  # a bare dex with damaged tables: nothing usable


@pytest.mark.parametrize("index", [2407])
def test_try_items_of_overlapping_code_items_are_read_once(index: int) -> None:
    """fuzz --seed 7 --only 2407: cajino_baidu's dex (corpus) with 16 bytes inserted and
    method ids flipped, so thousands of code_items overlap and each claims up to 65,535
    try items. validate() gathered every claimant's try items: 4.9 GB and 24 s before,
    under 100 MB now. Runs the fuzz script's own reproducer under a 600 MB cap."""
    corpus("dex", "cajino_baidu", "classes.dex")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
    proc = subprocess.run([sys.executable, str(script), "--seed", "7", "--only", str(index), "--max-memory", "600"], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_a_string_index_out_of_range_in_one_method_costs_its_endpoints_only() -> None:
    """fuzz --seed 7 --only 4095: beita's dex dump (corpus) with code units changed so a
    const-string names string 9945 of 5619. The endpoint pass let the DexError out, and the
    whole endpoint extraction became an internal error; now that method is a bad-method."""
    corpus("dex", "beita_com_beita_contact", "classes.dex")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
    proc = subprocess.run([sys.executable, str(script), "--seed", "7", "--only", "4095"], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "[4095] partial" in proc.stdout and "'bad-method'" in proc.stdout


def test_a_type_descriptor_without_its_semicolon_costs_no_endpoints(tmp_path: Path) -> None:
    """fuzz --seed 11 --only 382: ``Ljava/lang/String;`` rewritten to ``Ljava/lang/String[`` in the
    type strings of http_apis.apk made the endpoint stage's own descriptor parser raise (an
    internal error that cost every endpoint); the shared ``split_params`` reads it as far as it goes."""
    dex = fixture_member("http_apis.apk", "classes.dex")
    assert dex.count(b"Ljava/lang/String;\x00") == 1
    broken = with_member("http_apis.apk", "classes.dex", lambda b: b.replace(b"Ljava/lang/String;\x00", b"Ljava/lang/String[\x00"))
    result = audit_bytes(tmp_path, broken)
    assert result.code is not None and result.code.endpoints is not None
    assert result.code.endpoints.endpoints  # the URLs are still found
