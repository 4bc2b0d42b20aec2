"""Signature verification, checked against apksigner on real APKs and on APKs built here.

Real APKs are read in place from ``../shared/corpus/apk`` (malware among them: static
reads only, nothing is copied into the repo); tampered and freshly signed APKs are built
in ``tmp_path``. Tests that need the corpus or apksigner skip, saying so, when absent.

How apksigner is asked (``apksigner_verdict``): ``inspect_signing`` judges each scheme on
its own, whatever Android version; apksigner judges an API range and checks only what
Android checks there. So it is asked twice, one range per scheme family:

* v2/v3 with ``--min-sdk-version 24``: every v2/v3 block present is verified (v1 only
  when there is none);
* v1 with ``--min-sdk-version 23 --max-sdk-version 23`` (Android 6.0, the newest release
  that knows only JAR signing: modern digests allowed, no v2-stripping check), skipped
  when the first run already reported v1 verified.

A run that rejects the APK as a whole names no scheme, so its schemes count as not
verified. This apksigner (31.x) predates v3.1, so v3.1 is compared only through tests
that build it here.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import random
import re
import shutil
import struct
import subprocess
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from permaudit.loading.signing import inspect_signing
from permaudit.model import SchemeCheck, Signing

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "apk"
CORPUS_APKS = sorted(CORPUS.glob("*.apk")) if CORPUS.is_dir() else []
FIXTURES = ROOT / "fixtures" / "apk"
APKSIGNER = shutil.which("apksigner")
SCHEMES = ("v1", "v2", "v3", "v3.1")

needs_corpus = pytest.mark.skipif(not CORPUS_APKS, reason=f"real APK corpus not found at {CORPUS}")
needs_apksigner = pytest.mark.skipif(
    APKSIGNER is None, reason="apksigner not installed (Debian package 'apksigner'); comparison skipped"
)

# Verified schemes per corpus APK (first 8 hex digits of its SHA-256), as apksigner 31.0.2
# reports them under the rule above. Kept here so the corpus still checks something where
# apksigner is missing.
EXPECTED = {
    "099a5732": {"v1"},
    "0f5f1409": {"v1", "v2"},
    "1249d370": {"v1"},
    "1e332dc0": set(),  # v2-only, central directory overlaps the EOCD: apksigner rejects it
    "2228c2f4": set(),  # unsigned
    "24be606a": {"v1", "v2"},
    "25dd032e": {"v1"},
    "29b0d86a": {"v1", "v2"},
    "2d258710": {"v1"},
    "40438054": {"v1"},
    "44e880a1": {"v1"},
    "6e6b6754": {"v1"},
    "7a9f0af7": {"v1"},
    "7d2a2656": {"v1"},
    "8739c76e": set(),  # 22-byte empty zip
    "88b5f808": {"v1"},
    "9b70f0b6": set(),
    "a46949d4": {"v1"},
    "b57cb8ab": set(),
    "b91263e9": set(),  # MANIFEST.MF but no signature
    "c685d369": {"v1", "v2"},
    "c809bdff": {"v1"},
    "d5dc7755": {"v1", "v2"},
    "d5e26acc": {"v1", "v2"},
    "e92381ca": {"v2"},  # v2 only
    "ec2654fc": {"v1"},
    "f39b1a25": set(),
    "f427a0eb": {"v1", "v2"},
    "fb913ccc": {"v1"},
}


# ---------------------------------------------------------------------------------------
# helpers


def verified(result: Signing) -> set[str]:
    return {c.scheme for c in result.schemes if c.verified}


def verified_certs(result: Signing) -> set[str]:
    return {c.sha256 for c in result.certificates if c.schemes}


def check(result: Signing, scheme: str) -> SchemeCheck:
    return next(c for c in result.schemes if c.scheme == scheme)


def assert_well_formed(result: Signing) -> None:
    """The shape every result must have, whatever the input."""
    assert tuple(c.scheme for c in result.schemes) == SCHEMES
    for c in result.schemes:
        assert not c.detail.startswith("internal error"), c.detail  # a bug, not bad input
        assert "\n" not in c.detail and "\r" not in c.detail and len(c.detail) <= 300
        assert not (c.verified and not c.present)
        assert not (c.verified and c.detail)
    shas = [c.sha256 for c in result.certificates]
    assert shas == sorted(set(shas))
    for cert in result.certificates:
        assert set(cert.schemes) <= verified(result)


def _run_apksigner(path: Path, *args: str) -> tuple[dict[str, bool], set[str]]:
    assert APKSIGNER is not None
    proc = subprocess.run(
        [APKSIGNER, "verify", "--verbose", "--print-certs", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout
    if proc.returncode != 0 or not out.startswith("Verifies"):
        return {}, set()
    schemes = {
        f"v{m.group(1)}": m.group(2) == "true"
        for m in re.finditer(r"^Verified using v(\d) scheme \(.*\): (true|false)$", out, re.M)
    }
    certs = set(re.findall(r"^Signer #\d+ certificate SHA-256 digest: ([0-9a-f]{64})$", out, re.M))
    return schemes, certs


Verdict = tuple[frozenset[str], frozenset[str]]
SignedApks = dict[str, tuple[Path, set[str]]]


@functools.lru_cache(maxsize=None)
def apksigner_verdict(path: Path) -> Verdict:
    """Schemes apksigner verifies and its signer certificates' SHA-256 (rule: module docstring)."""
    newer, newer_certs = _run_apksigner(path, "--min-sdk-version", "24")
    found = {s for s in ("v2", "v3") if newer.get(s)}
    certs = set(newer_certs) if found else set()
    if newer.get("v1"):
        found.add("v1")
        certs |= newer_certs
    else:
        older, older_certs = _run_apksigner(path, "--min-sdk-version", "23", "--max-sdk-version", "23")
        if older.get("v1"):
            found.add("v1")
            certs |= older_certs
    return frozenset(found), frozenset(certs)


@pytest.fixture(scope="module")
def corpus_verdicts() -> dict[Path, Verdict]:
    """apksigner's answers for the whole corpus, two at a time (it is a JVM start each)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CORPUS_APKS, pool.map(apksigner_verdict, CORPUS_APKS)))


def corpus_apk(prefix: str) -> bytes:
    found = [p for p in CORPUS_APKS if p.name.startswith(prefix)]
    if not found:
        pytest.skip(f"corpus APK {prefix}... not found in {CORPUS}")
    return found[0].read_bytes()


def _zip_layout(data: bytes) -> tuple[int, int]:
    """(EOCD offset, central directory offset)."""
    eocd = data.rfind(b"PK\x05\x06")
    return eocd, struct.unpack_from("<I", data, eocd + 16)[0]


def _block_pairs(data: bytes) -> tuple[int, dict[int, tuple[int, int]]]:
    """APK Signing Block start and its pairs' value ranges, parsed independently here."""
    _, cd = _zip_layout(data)
    assert data[cd - 16 : cd] == b"APK Sig Block 42"
    size = struct.unpack_from("<Q", data, cd - 24)[0]
    start = cd - size - 8
    pairs, pos = {}, start + 8
    while pos < cd - 24:
        length = struct.unpack_from("<Q", data, pos)[0]
        pairs[struct.unpack_from("<I", data, pos + 8)[0]] = (pos + 12, pos + 8 + length)
        pos += 8 + length
    return start, pairs


def _first_signer(data: bytes, value_start: int) -> int:
    """Offset of the first signer's body inside a v2/v3 block value."""
    return value_start + 4 + 4  # signers sequence length, first signer length


def _lp(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the uint32-length-prefixed value at ``pos``."""
    n = struct.unpack_from("<I", data, pos)[0]
    return pos + 4, pos + 4 + n


def _stored_entry(data: bytes) -> tuple[str, int, int]:
    """A stored (uncompressed) entry outside META-INF: name, data offset, size."""
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            stored = info.compress_type == zipfile.ZIP_STORED and info.file_size >= 64
            if stored and not info.filename.startswith("META-INF/"):
                nlen, xlen = struct.unpack_from("<HH", data, info.header_offset + 26)
                return info.filename, info.header_offset + 30 + nlen + xlen, info.file_size
    pytest.skip("no stored entry to tamper with")


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def _rebuild(
    data: bytes,
    path: Path,
    edit: Callable[[str, bytes], bytes] | None = None,
    extra: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """Rewrite a zip with Python's zipfile (drops any APK Signing Block), editing entries."""
    import io
    import warnings

    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if edit is not None:
                content = edit(info.filename, content)
            dst.writestr(info, content, compress_type=info.compress_type)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are the point of some tests
            for name, content in extra:
                dst.writestr(name, content)
    return path.read_bytes()


# ---------------------------------------------------------------------------------------
# the real corpus


@needs_corpus
@pytest.mark.parametrize("apk", CORPUS_APKS, ids=lambda p: p.name[:8])
def test_corpus_expected_schemes(apk: Path) -> None:
    result = inspect_signing(apk.read_bytes())
    assert_well_formed(result)
    assert verified(result) == EXPECTED[apk.name[:8]], result.schemes


@needs_corpus
@needs_apksigner
@pytest.mark.parametrize("apk", CORPUS_APKS, ids=lambda p: p.name[:8])
def test_corpus_agrees_with_apksigner(apk: Path, corpus_verdicts: dict[Path, Verdict]) -> None:
    schemes, certs = corpus_verdicts[apk]
    result = inspect_signing(apk.read_bytes())
    assert verified(result) == schemes, result.schemes
    assert verified_certs(result) == certs


@needs_corpus
def test_truncated_central_directory_is_rejected() -> None:
    result = inspect_signing(corpus_apk("1e332dc0"))
    v2 = check(result, "v2")
    assert v2.present and not v2.verified
    assert "overlaps the End of Central Directory" in v2.detail
    assert verified(result) == set()


@needs_corpus
def test_empty_zip_has_no_signature() -> None:
    data = corpus_apk("8739c76e")
    assert len(data) == 22
    result = inspect_signing(data)
    assert [(c.present, c.verified, c.detail) for c in result.schemes] == [(False, False, "")] * 4
    assert result.certificates == ()


@needs_corpus
def test_certificate_fields() -> None:
    result = inspect_signing(corpus_apk("f427a0eb"))
    (cert,) = result.certificates
    assert cert.subject == "CN=Robert Habermann,OU=KeyStore,O=RHAB,L=Frankfurt,ST=Hessen,C=DE"
    assert cert.issuer == cert.subject
    assert cert.public_key == "RSA 2048"
    assert cert.not_before == "2016-12-29T13:16:54Z"
    assert cert.sha256 == "6e566427da36dd913639b1112f747b77408851b4857a1d63ebf91e02b06f2088"
    assert len(cert.sha1) == 40 and cert.schemes == ("v1", "v2")
    assert re.fullmatch(r"[0-9a-f]+", cert.serial)


@needs_corpus
@pytest.mark.filterwarnings("ignore:Attribute's length")  # a 3-letter C= in one corpus certificate
def test_subjects_match_cryptography_rfc4514() -> None:
    """Our own DN formatting (lenient with hostile certificates) matches the library's."""
    from cryptography import x509

    seen = 0
    for apk in CORPUS_APKS:
        data = apk.read_bytes()
        for cert in inspect_signing(data).certificates:
            der = _cert_der_by_sha256(data, cert.sha256)
            if der is None:
                continue
            parsed = x509.load_der_x509_certificate(der)
            assert cert.subject == parsed.subject.rfc4514_string()
            assert cert.issuer == parsed.issuer.rfc4514_string()
            assert cert.serial == format(parsed.serial_number, "x")
            seen += 1
    assert seen >= 10


def _cert_der_by_sha256(data: bytes, sha256: str) -> bytes | None:
    """Find certificate bytes by brute force over DER SEQUENCE starts, in the raw APK
    (v2/v3 blocks) and in the inflated META-INF signature blocks (v1)."""
    import io

    haystacks = [data]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            blocks = [n for n in zf.namelist() if n.startswith("META-INF/") and n.endswith((".RSA", ".DSA", ".EC"))]
            haystacks += [zf.read(n) for n in blocks]
    except Exception:  # noqa: BLE001 - odd archives: raw bytes only
        pass
    for hay in haystacks:
        for m in re.finditer(rb"\x30\x82", hay):
            start = m.start()
            length = struct.unpack_from(">H", hay, start + 2)[0] + 4
            if hashlib.sha256(hay[start : start + length]).hexdigest() == sha256:
                return hay[start : start + length]
    return None


# ---------------------------------------------------------------------------------------
# tampering with real APKs


@needs_corpus
def test_flipped_byte_in_stored_entry_breaks_v1_and_v2(tmp_path: Path) -> None:
    data = corpus_apk("f427a0eb")
    assert verified(inspect_signing(data)) == {"v1", "v2"}
    name, offset, size = _stored_entry(data)
    bad = _flip(data, offset + size // 2)
    result = inspect_signing(bad)
    assert_well_formed(result)
    v1, v2 = check(result, "v1"), check(result, "v2")
    assert v1.present and not v1.verified and name in v1.detail and "digest" in v1.detail
    assert v2.present and not v2.verified and "content digest" in v2.detail
    assert all(c.schemes == () for c in result.certificates) and result.certificates
    if APKSIGNER:
        path = tmp_path / "tampered.apk"
        path.write_bytes(bad)
        assert apksigner_verdict(path)[0] == frozenset()


@needs_corpus
def test_flipped_byte_in_v2_signature(tmp_path: Path) -> None:
    data = corpus_apk("f427a0eb")
    _, pairs = _block_pairs(data)
    signer = _first_signer(data, pairs[0x7109871A][0])
    _, signed_end = _lp(data, signer)
    sigs_start, _ = _lp(data, signed_end)
    sig_start, sig_end = _lp(data, sigs_start + 4 + 4)  # first signature: length, algorithm id
    bad = _flip(data, (sig_start + sig_end) // 2)
    result = inspect_signing(bad)
    assert_well_formed(result)
    v2 = check(result, "v2")
    assert v2.present and not v2.verified and "does not verify" in v2.detail
    assert verified(result) == {"v1"}
    assert [c.schemes for c in result.certificates] == [("v1",)]
    if APKSIGNER:
        path = tmp_path / "bad-v2-signature.apk"
        path.write_bytes(bad)
        assert apksigner_verdict(path)[0] == frozenset({"v1"})


@needs_corpus
def test_flipped_byte_in_v1_signature(tmp_path: Path) -> None:
    data = corpus_apk("c809bdff")
    same = _rebuild(data, tmp_path / "same.apk")
    assert verified(inspect_signing(same)) == {"v1"}

    def flip_last(name: str, content: bytes) -> bytes:
        return content[:-1] + bytes([content[-1] ^ 1]) if name.endswith(".RSA") else content

    bad = _rebuild(data, tmp_path / "bad.apk", flip_last)
    result = inspect_signing(bad)
    v1 = check(result, "v1")
    assert v1.present and not v1.verified
    assert v1.detail == "META-INF/RELEASE.RSA: signature does not verify against META-INF/RELEASE.SF"
    assert len(result.certificates) == 1 and result.certificates[0].schemes == ()
    if APKSIGNER:
        assert apksigner_verdict(tmp_path / "bad.apk")[0] == frozenset()


@needs_corpus
def test_edited_manifest_section(tmp_path: Path) -> None:
    data = corpus_apk("c809bdff")

    def edit(name: str, content: bytes) -> bytes:
        if name != "META-INF/MANIFEST.MF":
            return content
        return content.replace(b"Name: classes.dex", b"Name: classes.dex\r\nX-Extra: 1", 1)

    result = inspect_signing(_rebuild(data, tmp_path / "bad.apk", edit))
    assert "MANIFEST.MF section for classes.dex does not match" in check(result, "v1").detail
    if APKSIGNER:
        assert apksigner_verdict(tmp_path / "bad.apk")[0] == frozenset()


@needs_corpus
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ((("assets/added.txt", b"new"),), "ZIP entry assets/added.txt has no digest in MANIFEST.MF"),
        ((("classes.dex", b"dex\n035\0"),), "duplicate ZIP entry classes.dex"),
    ],
    ids=["unsigned-entry", "duplicate-entry"],
)
def test_added_entries_break_v1(tmp_path: Path, extra: tuple[tuple[str, bytes], ...], expected: str) -> None:
    bad = _rebuild(corpus_apk("c809bdff"), tmp_path / "bad.apk", extra=extra)
    assert check(inspect_signing(bad), "v1").detail == expected
    if APKSIGNER:
        assert apksigner_verdict(tmp_path / "bad.apk")[0] == frozenset()


@needs_corpus
def test_stripped_v2_block_is_flagged(tmp_path: Path) -> None:
    data = corpus_apk("f427a0eb")  # its CERT.SF says X-Android-APK-Signed: 2
    block_start, _ = _block_pairs(data)
    eocd, cd = _zip_layout(data)
    stripped = bytearray(data[:block_start] + data[cd:])
    struct.pack_into("<I", stripped, eocd - (cd - block_start) + 16, block_start)
    result = inspect_signing(bytes(stripped))
    v2 = check(result, "v2")
    assert verified(result) == {"v1"}
    assert not v2.present and "X-Android-APK-Signed: 2" in v2.detail
    if APKSIGNER:
        path = tmp_path / "stripped.apk"
        path.write_bytes(bytes(stripped))
        assert apksigner_verdict(path)[0] == frozenset({"v1"})


@needs_corpus
def test_random_corruption_never_raises() -> None:
    data = corpus_apk("c809bdff")
    rng = random.Random(20240601)
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        assert_well_formed(inspect_signing(bytes(bad)))
    for cut in (0, 1, 21, 22, 100, len(data) // 2, len(data) - 23, len(data) - 1):
        assert_well_formed(inspect_signing(data[:cut]))


# ---------------------------------------------------------------------------------------
# inputs that are not APKs


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"PK",
        b"not a zip at all" * 100,
        bytes(random.Random(7).randrange(256) for _ in range(4096)),
        b"PK\x05\x06" + b"\0" * 6 + struct.pack("<HII", 1, 0xFFFFFFFF, 0xFFFFFFF0) + b"\0\0",
        b"x" * 40 + b"APK Sig Block 42" + b"PK\x05\x06" + b"\0" * 8 + struct.pack("<IIH", 0, 56, 0),
    ],
    ids=["empty", "pk", "text", "random", "eocd-past-end", "bare-magic"],
)
def test_garbage_never_raises(blob: bytes) -> None:
    result = inspect_signing(blob)
    assert_well_formed(result)
    assert verified(result) == set() and result.certificates == ()


def test_unsigned_zip(tmp_path: Path) -> None:
    path = tmp_path / "plain.apk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("classes.dex", b"dex\n035\0")
        zf.writestr("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n")
    result = inspect_signing(path.read_bytes())
    assert [(c.present, c.verified, c.detail) for c in result.schemes] == [(False, False, "")] * 4


# ---------------------------------------------------------------------------------------
# APKs signed here by apksigner, with RSA, EC and DSA keys


def _key_and_cert(kind: str, directory: Path) -> tuple[Path, Path, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
    from cryptography.x509.oid import NameOID

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(65537, 2048)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = dsa.generate_private_key(2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "permaudit"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"permaudit test {kind}"),
        ]
    )
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x3039)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{kind}.pk8", directory / f"{kind}.der"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    cert_path.write_bytes(der)
    return key_path, cert_path, hashlib.sha256(der).hexdigest()


@pytest.fixture(scope="module")
def signed_apks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, set[str]]]:
    """name -> (APK, SHA-256 of the certificates it was signed with)."""
    if APKSIGNER is None:
        pytest.skip("apksigner not installed (Debian package 'apksigner'); cannot sign test APKs")
    directory = tmp_path_factory.mktemp("signed")
    unsigned = directory / "unsigned.apk"
    with zipfile.ZipFile(unsigned, "w") as zf:
        zf.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00" + bytes(100))
        zf.writestr(zipfile.ZipInfo("res/raw/stored.bin"), b"A" * 5000)
        zf.writestr("classes.dex", b"dex\n035\0" + b"x" * 3000, compress_type=zipfile.ZIP_DEFLATED)
    keys = {kind: _key_and_cert(kind, directory) for kind in ("rsa", "ec", "dsa")}
    jobs = {
        "rsa": (["rsa"], []),
        "ec": (["ec"], []),
        "dsa": (["dsa"], []),
        "rsa-verity": (["rsa"], ["--verity-enabled", "true"]),
        "two-signers": (["rsa", "ec"], ["--v3-signing-enabled", "false"]),
    }

    def sign(item: tuple[str, tuple[list[str], list[str]]]) -> tuple[str, tuple[Path, set[str]]]:
        name, (kinds, options) = item
        args = [APKSIGNER, "sign"]
        for i, kind in enumerate(kinds):
            key_path, cert_path, _ = keys[kind]
            args += (["--next-signer"] if i else []) + ["--key", str(key_path), "--cert", str(cert_path)]
        out = directory / f"{name}.apk"
        args += ["--min-sdk-version", "21", *options, "--in", str(unsigned), "--out", str(out)]
        subprocess.run(args, check=True, capture_output=True, timeout=180)
        return name, (out, {keys[k][2] for k in kinds})

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(sign, jobs.items()))


@needs_apksigner
@pytest.mark.parametrize("name", ["rsa", "ec", "dsa", "rsa-verity", "two-signers"])
def test_signed_here_agrees_with_apksigner(signed_apks: SignedApks, name: str) -> None:
    path, certs = signed_apks[name]
    result = inspect_signing(path.read_bytes())
    assert_well_formed(result)
    expected = {"v1", "v2"} if name == "two-signers" else {"v1", "v2", "v3"}
    assert verified(result) == expected
    assert verified_certs(result) == certs
    schemes, apksigner_certs = apksigner_verdict(path)
    assert verified(result) == schemes
    assert verified_certs(result) == apksigner_certs


@needs_apksigner
@pytest.mark.parametrize(
    ("name", "label"), [("rsa", "RSA 2048"), ("ec", "EC secp256r1"), ("dsa", "DSA 2048")]
)
def test_signed_here_certificate_fields(signed_apks: SignedApks, name: str, label: str) -> None:
    (cert,) = inspect_signing(signed_apks[name][0].read_bytes()).certificates
    assert cert.subject == f"CN=permaudit test {name},O=permaudit,C=CN"
    assert cert.serial == "3039"
    assert (cert.not_before, cert.not_after) == ("2024-01-01T00:00:00Z", "2033-12-29T00:00:00Z")
    assert cert.public_key == label
    assert cert.schemes == ("v1", "v2", "v3")


def _with_pair(data: bytes, ident: int, value: bytes) -> bytes:
    """Append one ID-value pair to the APK Signing Block, keeping its start offset."""
    start, _ = _block_pairs(data)
    eocd, cd = _zip_layout(data)
    size = struct.unpack_from("<Q", data, cd - 24)[0]
    pair = struct.pack("<QI", len(value) + 4, ident) + value
    new_size = size + len(pair)
    block = (
        struct.pack("<Q", new_size)
        + data[start + 8 : cd - 24]
        + pair
        + struct.pack("<Q", new_size)
        + b"APK Sig Block 42"
    )
    out = bytearray(data[:start] + block + data[cd:])
    struct.pack_into("<I", out, eocd + len(pair) + 16, cd + len(pair))
    return bytes(out)


@needs_apksigner
def test_v31_block_is_verified(signed_apks: SignedApks) -> None:
    """A v3.1 block has v3's format; a copy of the v3 value under the v3.1 ID verifies."""
    data = signed_apks["rsa"][0].read_bytes()
    _, pairs = _block_pairs(data)
    v3_start, v3_end = pairs[0xF05368C0]
    result = inspect_signing(_with_pair(data, 0x1B93AD61, data[v3_start:v3_end]))
    assert verified(result) == {"v1", "v2", "v3", "v3.1"}
    assert result.certificates[0].schemes == ("v1", "v2", "v3", "v3.1")


@needs_apksigner
def test_v3_sdk_range_is_parsed(signed_apks: SignedApks, tmp_path: Path) -> None:
    """The signer's unsigned maxSdk must equal the signed one; apksigner agrees."""
    data = signed_apks["rsa"][0].read_bytes()
    _, pairs = _block_pairs(data)
    signer = _first_signer(data, pairs[0xF05368C0][0])
    _, signed_end = _lp(data, signer)
    min_sdk, max_sdk = struct.unpack_from("<II", data, signed_end)
    assert 24 <= min_sdk <= 28 and max_sdk == 0x7FFFFFFF
    bad = bytearray(data)
    struct.pack_into("<I", bad, signed_end + 4, 40)
    result = inspect_signing(bytes(bad))
    v3 = check(result, "v3")
    assert not v3.verified
    assert f"SDK range {min_sdk}-40 differs from signed data's {min_sdk}-2147483647" in v3.detail
    assert verified(result) == {"v1", "v2"}
    path = tmp_path / "bad-sdk.apk"
    path.write_bytes(bytes(bad))
    assert "v3" not in apksigner_verdict(path)[0]


@needs_apksigner
def test_bad_pair_length_reads_as_absent(signed_apks: SignedApks) -> None:
    data = signed_apks["rsa"][0].read_bytes()
    start, _ = _block_pairs(data)
    bad = bytearray(data)
    struct.pack_into("<Q", bad, start + 8, 1 << 40)  # first pair's length
    result = inspect_signing(bytes(bad))
    for scheme in ("v2", "v3"):
        c = check(result, scheme)
        assert not c.present and "APK Signing Block is malformed" in c.detail
    assert verified(result) == {"v1"}


# ---------------------------------------------------------------------------------------
# the project's own fixtures (built by the fixture helper; may not exist yet)


def test_clean_app_fixture_is_signed_with_the_project_key() -> None:
    path, pem = FIXTURES / "clean_app.apk", ROOT / "fixtures" / "keys" / "test-cert.x509.pem"
    if not (path.is_file() and pem.is_file()):
        pytest.skip(f"{path} or {pem} not built yet")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    result = inspect_signing(path.read_bytes())
    assert verified(result) == {"v1", "v2", "v3"}
    (cert,) = result.certificates
    assert cert.sha256 == hashlib.sha256(der).hexdigest()
    assert cert.subject == "CN=permaudit test fixtures,O=permaudit,C=CN"
    assert cert.schemes == ("v1", "v2", "v3")


@needs_apksigner
def test_clean_app_fixture_agrees_with_apksigner() -> None:
    path = FIXTURES / "clean_app.apk"
    if not path.is_file():
        pytest.skip(f"{path} not built yet")
    result = inspect_signing(path.read_bytes())
    schemes, certs = apksigner_verdict(path)
    assert schemes and verified(result) == schemes
    assert verified_certs(result) == certs
