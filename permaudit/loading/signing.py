"""Which APK signature schemes verify, and with which signer certificates.

An audit report is evidence: anyone must be able to re-check that the APK it describes is
the one that was analysed and who signed it. This module therefore verifies each signature
scheme itself, rather than only reading certificates out of the archive:

* **v1** (JAR signing), following apksig's ``V1SchemeVerifier`` as it judges Android 6.0
  (API 23, the newest release where JAR signing is the only scheme): PKCS#7 over each
  ``.SF`` (signed attributes included; the first SignerInfo that verifies wins; keyUsage
  must allow signing); the ``.SF`` digest of the whole ``MANIFEST.MF`` or else of each
  section it names (and of the main attributes when given); the strongest digest
  (SHA-512 > SHA-384 > SHA-256 > SHA-1) of every entry in ``MANIFEST.MF`` against the
  entry's uncompressed bytes; every entry outside ``META-INF/`` covered by the same
  signers; no duplicate entry names; nothing named in ``MANIFEST.MF`` missing.
* **v2, v3, v3.1** (blocks in the APK Signing Block before the central directory): every
  signer, and every signature of a supported algorithm it carries, over its signed data;
  the public key against the first certificate; the algorithm lists of signatures and
  digests; v3 minSdk/maxSdk against the signed copies; the v2 stripping-protection
  attribute; and the 1 MiB chunked SHA-256/SHA-512 content digest of entries, central
  directory and End of Central Directory (CD offset patched to the block's offset).

Not verified, by design: certificate chains or trust (Android checks neither), v3
signing-certificate lineage (proof-of-rotation records are ignored), the fs-verity
content digest of algorithms 0x0421/0x0423/0x0425 (their signature over the signed data
is checked; a signer with only those fails), v4 and source stamps (they live outside the
APK), and which Android versions accept an algorithm. Each scheme is judged on its own: a
v1 signer that differs from the v2 signer shows up as two certificates with different
``schemes``, and certificates named by signatures that do not verify are listed with
``schemes=()``. A v2/v3 signature that a JAR ``.SF`` declares (``X-Android-APK-Signed``)
but that is absent is reported as absent with a "stripped?" detail.

Nothing here raises on bad input: a malformed archive or block becomes a
:class:`~permaudit.model.SchemeCheck` with ``verified=False`` and a one-line ``detail``.

asn1crypto and cryptography are imported where a signature is first read, not with this
module: they take about 30 ms to import, which ``import permaudit`` and an unsigned package
need not pay, and which the loader overlaps with inflating the first dex files. An RSA
PKCS #1 v1.5 signature by an ordinary RSA key (canonical DER, an odd modulus of 512 to 16384
bits, an odd exponent of at most 32 bits), what JAR signing and most v2/v3 signers use, is checked here
(:func:`_pkcs1`: the signature raised to the exponent compared byte for byte with the encoded
digest, RFC 8017 section 8.2.2), so cryptography (10 ms of the import) loads only for other
keys and schemes (EC, DSA, RSA-PSS) and for every key that is not ordinary; ``tests/
test_signing_rsa.py`` checks the verdicts are OpenSSL's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, NamedTuple

from permaudit.errors import MemberError
from permaudit.model import Certificate, SchemeCheck, Signing

from .members import Ahead, Archive, Budget, Entry, Limits, open_archive

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = ["Certificate", "SchemeCheck", "Signing", "ahead_digest", "inspect_signing"]

_SCHEMES = ("v1", "v2", "v3", "v3.1")
_BLOCK_IDS = {"v2": 0x7109871A, "v3": 0xF05368C0, "v3.1": 0x1B93AD61}
_BLOCK_MAGIC = b"APK Sig Block 42"
_STRIPPING_PROTECTION_ATTR = 0xBEEFF00D  # v2 signed-data attribute: "also signed with scheme N"
_CHUNK = 1 << 20
_MAX_DETAIL = 300


class _Fail(Exception):
    """A reason, in one line, why a check failed."""


def _q(text: str) -> str:
    """Quote an attacker-controlled string so a detail stays on one short line."""
    quoted = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:200])
    return quoted + ("..." if len(text) > 200 else "")


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


# --------------------------------------------------------------------------------------
# ZIP entries, through the project's one capped reader, judged as apksig judges them.


def _entry_content(zf: Archive, entry: Entry) -> tuple[Iterable[bytes | memoryview], Ahead | None]:
    """An entry's uncompressed bytes, as chunks, and what a read-ahead gave when it was read
    ahead cleanly (its bytes, and the (algorithm, digest) computed there if one was asked for);
    apksig rejects a local header naming another entry."""
    try:
        if zf.local(entry).raw_name != entry.raw_name:
            raise _Fail(f"ZIP entry {_q(entry.name)}: name in local file header differs from central directory")
        ahead = zf.take_ahead(entry)
    except MemberError as exc:
        raise _Fail(f"ZIP entry {_q(entry.name)}: {exc}") from None
    if ahead is not None:
        return (ahead[0],), ahead
    return _streamed(zf, entry), None


def _streamed(zf: Archive, entry: Entry) -> Iterator[bytes | memoryview]:
    try:
        yield from zf.chunks(entry)
    except MemberError as exc:
        raise _Fail(f"ZIP entry {_q(entry.name)}: {exc}") from None


def _entry_bytes(zf: Archive, entry: Entry) -> bytes:
    return b"".join(_entry_content(zf, entry)[0])


# --------------------------------------------------------------------------------------
# Certificates and public-key signatures.


_RDN_SHORT = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


def _escape_dn(value: str) -> str:
    """RFC 4514 escaping (as ``cryptography`` does it), plus control characters."""
    if not value:
        return ""
    out = []
    for c in value:
        if c in '\\"+,;<>':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\{ord(c):02x}")
        else:
            out.append(c)
    text = "".join(out)
    if text[0] in "# ":
        text = "\\" + text
    if text.endswith(" "):
        text = text[:-1] + "\\ "
    return text


def _rfc4514(name: asn1_x509.Name) -> str:
    """RFC 4514 text, written here rather than by ``cryptography``'s ``Name.rfc4514_string()``:
    on real certificates (a three-letter country in the corpus) that one emits a UserWarning,
    and silencing it takes ``warnings.catch_warnings``, process-wide and not thread-safe."""
    parts = []
    for rdn in reversed(list(name.chosen)):
        attrs = []
        for atv in rdn:
            oid = atv["type"].dotted
            key = _RDN_SHORT.get(oid, oid)
            try:
                value = atv["value"].native
            except Exception:  # noqa: BLE001 - undecodable value: show it as DER
                value = None
            if isinstance(value, str):
                attrs.append(f"{key}={_escape_dn(value)}")
            else:
                attrs.append(f"{key}=#{atv['value'].dump().hex()}")
        parts.append("+".join(attrs))
    return ",".join(parts)


def _public_key_label(info: asn1_x509.PublicKeyInfo) -> str:
    algo = str(info.algorithm)
    try:
        if algo == "ec":
            kind, curve = info.curve
            return f"EC {curve}" if kind == "named" else "EC explicit-parameters"
        return f"{algo.upper()} {info.bit_size}"
    except Exception:  # noqa: BLE001 - unusual key: name the algorithm only
        return algo.upper()


def _certificate(der: bytes, schemes: tuple[str, ...]) -> Certificate:
    """Describe a DER certificate; fields it cannot decode are left empty."""

    def safe(fn: Callable[[], str]) -> str:
        try:
            return fn()
        except Exception:  # noqa: BLE001 - malformed field in a hostile certificate
            return ""

    def when(key: str) -> str:
        dt = tbs["validity"][key].native
        return str(dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def serial() -> str:
        value = int(tbs["serial_number"].native)
        return format(value, "x") if value >= 0 else "-" + format(-value, "x")

    from asn1crypto import x509 as asn1_x509

    try:
        cert = asn1_x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
    except Exception:  # noqa: BLE001
        cert = tbs = None
    return Certificate(
        subject=safe(lambda: _rfc4514(tbs["subject"])) if tbs is not None else "",
        issuer=safe(lambda: _rfc4514(tbs["issuer"])) if tbs is not None else "",
        serial=safe(serial) if tbs is not None else "",
        not_before=safe(lambda: when("not_before")) if tbs is not None else "",
        not_after=safe(lambda: when("not_after")) if tbs is not None else "",
        sha256=hashlib.sha256(der).hexdigest(),
        sha1=hashlib.sha1(der).hexdigest(),
        public_key=safe(lambda: _public_key_label(cert.public_key)) if cert is not None else "",
        schemes=schemes,
    )


_DIGESTS = frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512"})
"""Digests a signature may use: cryptography's hash classes of the same names, upper-cased."""


class _RsaKey(NamedTuple):
    """An ordinary RSA public key, whose PKCS #1 v1.5 signatures are checked here (see :func:`_pkcs1`)."""

    n: int
    e: int

    def public_key(self) -> PublicKeyTypes:
        from cryptography.hazmat.primitives.asymmetric import rsa

        return rsa.RSAPublicNumbers(self.e, self.n).public_key()


_DIGEST_INFO = {
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
"""The DER of each digest's DigestInfo up to the digest itself (RFC 8017 section 9.2, note 1)."""


def _load_key(spki_der: bytes) -> PublicKeyTypes | _RsaKey:
    plain = _plain_rsa(spki_der)
    if plain is not None:
        return plain
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(spki_der)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise _Fail(f"cannot load public key ({_one_line(str(exc))[:80]})") from None


def _plain_rsa(spki_der: bytes) -> _RsaKey | None:
    """The key when it is an ordinary RSA key in canonical DER (rsaEncryption with NULL
    parameters, an odd modulus of 512 to 16384 bits, an odd exponent from 3 to 32 bits below
    it), else None: any other key, damaged or odd, is left to OpenSSL through ``cryptography``
    (an even modulus, which ``pow`` would accept and OpenSSL refuses, above all)."""
    from asn1crypto import keys as asn1_keys

    try:
        info = asn1_keys.PublicKeyInfo.load(spki_der, strict=True)
        if info["algorithm"]["algorithm"].dotted != "1.2.840.113549.1.1.1":
            return None
        numbers = info["public_key"].parsed
        n, e = numbers["modulus"].native, numbers["public_exponent"].native
        canonical = asn1_keys.PublicKeyInfo.wrap(asn1_keys.RSAPublicKey({"modulus": n, "public_exponent": e}), "rsa").dump()
    except Exception:  # noqa: BLE001 - asn1crypto raises many types on garbage: OpenSSL then judges it
        return None
    if canonical != spki_der or not (512 <= n.bit_length() <= 16384 and n % 2 and 3 <= e < n and e % 2 and e.bit_length() <= 32):
        return None
    return _RsaKey(n, e)


def _pkcs1(key: _RsaKey, hash_name: str, signature: bytes, message: bytes) -> bool | None:
    """RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 section 8.2.2): the signature raised to the exponent
    must equal, byte for byte, the encoding of the message's digest. None when the key is too
    short for that encoding or the digest is not one of the six: left to OpenSSL. Checked here,
    not by ``cryptography``, because importing it cost about 10 ms of every signed APK's audit
    and most APK signatures are of this kind."""
    if hash_name not in _DIGEST_INFO:
        return None
    k = (key.n.bit_length() + 7) // 8
    digest_info = _DIGEST_INFO[hash_name] + hashlib.new(hash_name, message).digest()
    if k < len(digest_info) + 11:
        return None
    s = int.from_bytes(signature, "big")
    if len(signature) != k or s >= key.n:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
    return pow(s, key.e, key.n).to_bytes(k, "big") == expected


def _verify(
    key: PublicKeyTypes | _RsaKey, family: str, pad: str, hash_name: str, signature: bytes, message: bytes
) -> bool:
    """Check one signature; ``False`` when it does not verify, ``_Fail`` when it cannot be checked."""
    if isinstance(key, _RsaKey):
        checked = _pkcs1(key, hash_name, signature, message) if family == "rsa" and pad == "pkcs1" else None
        if checked is not None:
            return checked
        key = key.public_key()
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

    algo: hashes.HashAlgorithm = getattr(hashes, hash_name.upper())()
    try:
        if family == "rsa" and isinstance(key, rsa.RSAPublicKey):
            if pad == "pss":
                pss = padding.PSS(mgf=padding.MGF1(algo), salt_length=algo.digest_size)
                key.verify(signature, message, pss, algo)
            else:
                key.verify(signature, message, padding.PKCS1v15(), algo)
        elif family == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algo))
        elif family == "dsa" and isinstance(key, dsa.DSAPublicKey):
            key.verify(signature, message, algo)
        else:
            raise _Fail(f"{family.upper()} signature but the key is {type(key).__name__}")
    except InvalidSignature:
        return False
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise _Fail(f"cannot check {family.upper()} signature ({_one_line(str(exc))[:80]})") from None
    return True


# --------------------------------------------------------------------------------------
# v1: JAR signing.


@dataclass
class _Section:
    start: int
    size: int
    attrs: list[tuple[str, str]]
    _first: dict[str, str] | None = field(default=None, repr=False, compare=False)
    """Lower-cased name -> first value, made on the first :meth:`get` (a v1 check asks each of
    hundreds of sections for up to four digests)."""

    def get(self, name: str) -> str | None:
        """First value of an attribute, names compared without case (as apksig does)."""
        first = self._first
        if first is None:
            first = self._first = {}
            for key, value in self.attrs:
                first.setdefault(key.lower(), value)
        return first.get(name.lower())

    @property
    def name(self) -> str | None:
        return self.get("Name")


def _parse_manifest(raw: bytes) -> tuple[_Section | None, list[_Section]]:
    """Split a manifest or .SF into sections, keeping byte ranges (apksig's ManifestParser)."""
    sections: list[_Section] = []
    current: _Section | None = None
    pending: tuple[int, int, bytes] | None = None  # an attribute line and its continuations

    def flush() -> None:
        nonlocal current, pending
        if pending is None:
            return
        start, stop, text = pending
        pending = None
        key, sep, value = text.decode("utf-8", "replace").partition(": ")
        if current is None:
            current = _Section(start, 0, [])
        current.attrs.append((key, value if sep else ""))
        current.size = stop - current.start

    pos = 0
    for line in raw.splitlines(keepends=True):  # \r\n, \r and \n, as the JAR spec says
        start, pos = pos, pos + len(line)
        text = line.rstrip(b"\r\n")
        if text[:1] == b" " and pending is not None:
            pending = (pending[0], pos, pending[2] + text[1:])
            continue
        flush()
        if text:
            pending = (start, pos, text)
        elif current is not None:
            current.size = pos - current.start
            sections.append(current)
            current = None
    flush()
    if current is not None:
        sections.append(current)
    if not sections:
        return None, []
    return sections[0], sections[1:]


_STRONGEST_FIRST = (("SHA-512", "sha512"), ("SHA-384", "sha384"), ("SHA-256", "sha256"), ("SHA1", "sha1"))


def _strongest_digest(section: _Section, suffix: str) -> tuple[str, bytes] | None:
    """The digest Android 4.3+ checks: the strongest of SHA-512, SHA-384, SHA-256, SHA-1."""
    for attr, hname in _STRONGEST_FIRST:
        value = section.get(attr + suffix)
        if value is not None:
            try:
                return hname, base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise _Fail(f"malformed base64 in {attr}{suffix}") from None
    return None


@dataclass
class _V1Signer:
    block: str
    sf: str
    cert: bytes | None = None  # the signer certificate it names, verified or not
    entries: set[str] = field(default_factory=set)
    declared_schemes: set[int] = field(default_factory=set)


# SignerInfo.signatureAlgorithm OIDs Android accepts, by key family. The digest comes from
# SignerInfo.digestAlgorithm, as in apksig.
_SIG_FAMILY = {
    "1.2.840.113549.1.1.1": "rsa",  # rsaEncryption
    "1.2.840.113549.1.1.4": "rsa",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "rsa",  # sha1WithRSAEncryption
    "1.2.840.113549.1.1.11": "rsa",
    "1.2.840.113549.1.1.12": "rsa",
    "1.2.840.113549.1.1.13": "rsa",
    "1.2.840.113549.1.1.14": "rsa",
    "1.2.840.10040.4.1": "dsa",  # dsa
    "1.2.840.10040.4.3": "dsa",  # dsaWithSHA1
    "2.16.840.1.101.3.4.3.1": "dsa",
    "2.16.840.1.101.3.4.3.2": "dsa",
    "1.2.840.10045.2.1": "ec",  # id-ecPublicKey, what apksigner writes
    "1.2.840.10045.4.1": "ec",  # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "ec",
    "1.2.840.10045.4.3.2": "ec",
    "1.2.840.10045.4.3.3": "ec",
    "1.2.840.10045.4.3.4": "ec",
}


def _find_cert(certs: list[Any], sid: Any) -> Any:
    for choice in certs:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        tbs = cert["tbs_certificate"]
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if tbs["issuer"] == wanted["issuer"] and tbs["serial_number"].native == wanted["serial_number"].native:
                return cert
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return cert
    return None


def _verify_signer_info(signed: Any, certs: list[Any], si: Any, sf: bytes) -> tuple[Any, bool]:
    """Return (certificate named by the SignerInfo, whether its signature over the .SF verifies)."""
    from asn1crypto import core as asn1_core

    digest = si["digest_algorithm"]["algorithm"].native
    sig_alg = si["signature_algorithm"]["algorithm"].dotted
    family = _SIG_FAMILY.get(sig_alg)
    if digest not in _DIGESTS or family is None:
        raise _Fail(f"unsupported digest/signature algorithm {digest}/{sig_alg}")
    cert = _find_cert(certs, si["sid"])
    if cert is None:
        raise _Fail("signing certificate referenced in SignerInfo not found in SignedData")
    key_usage = cert.key_usage_value
    if key_usage is not None and not ({"digital_signature", "non_repudiation"} & set(key_usage.native)):
        raise _Fail("signing certificate's keyUsage allows neither digitalSignature nor nonRepudiation")
    attrs = si["signed_attrs"]
    if isinstance(attrs, asn1_core.Void):
        message = sf
    else:
        seen: dict[str, Any] = {}
        for attr in attrs:
            kind = attr["type"].dotted
            if kind in seen:
                raise _Fail(f"duplicate signed attribute {kind}")
            values = attr["values"]
            if len(values) > 1:
                raise _Fail(f"signed attribute {kind} has several values")
            seen[kind] = values[0] if len(values) else None
        content_type = seen.get("1.2.840.113549.1.9.3")
        if content_type is None:
            raise _Fail("no content type in signed attributes")
        if content_type.native != signed["encap_content_info"]["content_type"].native:
            return cert, False
        expected = seen.get("1.2.840.113549.1.9.4")
        if expected is None:
            raise _Fail("no message digest in signed attributes")
        if hashlib.new(digest, sf).digest() != expected.native:
            return cert, False
        message = b"\x31" + attrs.dump()[1:]  # signed over as a SET, as Android does
    key = _load_key(cert.public_key.dump())
    return cert, _verify(key, family, "pkcs1", digest, si["signature"].native, message)


def _verify_sig_block(block: bytes, sf: bytes, signer: _V1Signer) -> None:
    """PKCS#7 over the .SF: the first SignerInfo that verifies wins (Android 7+ behaviour)."""
    from asn1crypto import cms as asn1_cms
    from asn1crypto import core as asn1_core

    try:
        info = asn1_cms.ContentInfo.load(block)
        if info["content_type"].native != "signed_data":
            raise _Fail(f"{signer.block}: not PKCS#7 SignedData")
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        certs = list(signed["certificates"]) if not isinstance(signed["certificates"], asn1_core.Void) else []
        if not signer_infos:
            raise _Fail(f"{signer.block}: no SignerInfo")
        for si in signer_infos:
            cert, ok = _verify_signer_info(signed, certs, si, sf)
            if signer.cert is None and cert is not None:
                signer.cert = cert.dump()
            if ok:
                signer.cert = cert.dump()
                return
    except _Fail as exc:
        msg = str(exc)
        raise _Fail(msg if msg.startswith(signer.block) else f"{signer.block}: {msg}") from None
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types on garbage
        why = f"{type(exc).__name__}: {_one_line(str(exc))[:100]}"
        raise _Fail(f"{signer.block}: malformed PKCS#7 ({why})") from None
    raise _Fail(f"{signer.block}: signature does not verify against {signer.sf}")


def _verify_sf(
    sf_raw: bytes, manifest_raw: bytes, main: _Section, sections: dict[str, _Section], signer: _V1Signer
) -> bool:
    """Check the .SF against MANIFEST.MF; ``False`` when Android would ignore this signer."""
    sf_main, sf_sections = _parse_manifest(sf_raw)
    if sf_main is None or sf_main.get("Signature-Version") is None:
        return False
    declared = sf_main.get("X-Android-APK-Signed") or ""
    signer.declared_schemes = {int(t) for t in declared.replace(",", " ").split() if t.strip().isdigit()}
    signtool = "signtool" in (sf_main.get("Created-By") or "")
    whole = _strongest_digest(sf_main, "-Digest" if signtool else "-Digest-Manifest")
    whole_ok = whole is not None and hashlib.new(whole[0], manifest_raw).digest() == whole[1]
    if not signtool:
        main_digest = _strongest_digest(sf_main, "-Digest-Manifest-Main-Attributes")
        if main_digest is not None:
            got = hashlib.new(main_digest[0], manifest_raw[main.start : main.start + main.size]).digest()
            if got != main_digest[1]:
                raise _Fail(f"{signer.sf}: digest of MANIFEST.MF main attributes does not match")
    names: set[str] = set()
    for sf_section in sf_sections:
        name = sf_section.name
        if name is None or name in names:
            return False
        names.add(name)
        if whole_ok:
            continue
        section = sections.get(name)
        if section is None:
            return False
        expected = _strongest_digest(sf_section, "-Digest")
        if expected is None:
            raise _Fail(f"{signer.sf}: no digest for {_q(name)}")
        size = section.size
        if signtool and manifest_raw[section.start + size - 2 : section.start + size] == b"\n\n":
            size -= 1
        got = hashlib.new(expected[0], manifest_raw[section.start : section.start + size]).digest()
        if got != expected[1]:
            raise _Fail(f"{signer.sf}: digest of the MANIFEST.MF section for {_q(name)} does not match")
    signer.entries = names
    return True


def ahead_digest(archive: Archive) -> str:
    """What to hash a dex with where it is read ahead, for the v1 check to compare: SHA-256 (what
    MANIFEST.MF most often names) when the APK has a JAR signature file, else nothing."""
    return "sha256" if any(e.name.startswith("META-INF/") and e.name.endswith(".SF") for e in archive.central) else ""


class _InFileOrder(Exception):
    """Reading on past the entries inflating ahead would record something unlike a read in file order."""


def _check_entries(zf: Archive, sections: dict[str, _Section], active: list[_V1Signer], *,
                   ahead_last: bool) -> tuple[str, list[str]] | None:
    """Check every entry's digest, in file order, or (``ahead_last``) with the entries still
    inflating in threads checked after the others, so the check does not wait for them while it
    could hash the rest. That order may record only what file order records: when an entry read
    ahead did not read cleanly (its notes would come later), fails (file order reads nothing
    after it) or the budget ran out (charged in another order), ``_InFileOrder`` asks the caller
    to undo and check again in file order. Returns the first covered entry and its signers."""
    first: tuple[str, list[str]] | None = None
    later: list[tuple[Entry, tuple[str, bytes]]] = []
    try:
        for entry in sorted(zf.central, key=lambda e: e.header_offset):
            name = entry.name
            if name.startswith("META-INF/") or name.endswith("/"):
                continue
            section = sections.get(name)
            if section is None:
                raise _Fail(f"ZIP entry {_q(name)} has no digest in MANIFEST.MF")
            entry_signers = [s.block for s in active if name in s.entries]
            if not entry_signers:
                raise _Fail(f"ZIP entry {_q(name)} is not signed by any .SF")
            if first is None:
                first = (name, entry_signers)
            elif entry_signers != first[1]:
                raise _Fail(f"ZIP entries {_q(first[0])} and {_q(name)} are signed by different signers")
            expected = _strongest_digest(section, "-Digest")
            if expected is None:
                raise _Fail(f"ZIP entry {_q(name)} has no supported digest in MANIFEST.MF")
            if ahead_last and zf.reading_ahead(entry):
                later.append((entry, expected))
            else:
                _check_digest(zf, entry, expected)
    except _Fail:
        _check_later(zf, later)  # every one before the failure: clean and matching, or read again in order
        raise
    _check_later(zf, later)
    return first


def _check_later(zf: Archive, entries: list[tuple[Entry, tuple[str, bytes]]]) -> None:
    for entry, expected in entries:
        try:
            clean = _check_digest(zf, entry, expected)
        except _Fail:
            raise _InFileOrder from None
        if not clean:
            raise _InFileOrder
    if entries and zf.budget.remaining < 0:
        raise _InFileOrder


def _check_digest(zf: Archive, entry: Entry, expected: tuple[str, bytes]) -> bool:
    """Raise ``_Fail`` unless the entry's content has the digest MANIFEST.MF gives it (``(algorithm,
    digest)``); a dex the code stage reads next is kept, so it is not inflated twice. True when
    the bytes came cleanly from a read-ahead (read without recording anything)."""
    chunks, ahead = _entry_content(zf, entry)
    computed = ahead[1] if ahead is not None else None
    known = computed[1] if computed is not None and computed[0] == expected[0] else None  # hashed where read ahead
    h = hashlib.new(expected[0])
    kept: list[bytes | memoryview] | None = [] if zf.wants(entry) else None
    for chunk in chunks:
        if known is None:
            h.update(chunk)
        if kept is not None:
            kept.append(chunk)
    if kept is not None:
        zf.keep(entry, b"".join(kept))
    if (known or h.digest()) != expected[1]:
        raise _Fail(f"ZIP entry {_q(entry.name)}: content does not match its {expected[0].upper()} digest in MANIFEST.MF")
    return ahead is not None


def _check_v1(
    zf: Archive, signers: list[_V1Signer]
) -> tuple[SchemeCheck, list[tuple[bytes, bool]]]:
    """Verify the JAR signature; return it with (certificate, verified) per signer.

    ``signers`` is filled in as they are found, so the caller can read what each .SF
    declares even when verification fails.
    """
    names = [e.name for e in zf.central]
    meta = [n for n in names if n.startswith("META-INF/")]
    present = any(n.endswith((".SF", ".RSA", ".DSA", ".EC")) for n in meta)
    if not present:
        return SchemeCheck("v1", False, False, zf.error), []
    try:
        if zf.error:
            raise _Fail(zf.error)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise _Fail(f"duplicate ZIP entry {_q(name)}")
            seen.add(name)
        by_name = {e.name: e for e in zf.central}
        if "META-INF/MANIFEST.MF" not in by_name:
            raise _Fail("META-INF/MANIFEST.MF is missing")
        manifest_raw = _entry_bytes(zf, by_name["META-INF/MANIFEST.MF"])
        main, individual = _parse_manifest(manifest_raw)
        sections: dict[str, _Section] = {}
        for number, part in enumerate(individual, 1):
            part_name = part.name
            if part_name is None:
                raise _Fail(f"MANIFEST.MF section #{number} has no Name")
            if part_name in sections:
                raise _Fail(f"duplicate section in MANIFEST.MF: {_q(part_name)}")
            if part_name not in by_name:
                raise _Fail(f"MANIFEST.MF names {_q(part_name)}, which is not in the APK")
            sections[part_name] = part
        for name in meta:
            if name.endswith((".RSA", ".DSA", ".EC")):
                sf = name.rsplit(".", 1)[0] + ".SF"
                if sf in by_name:
                    signers.append(_V1Signer(name, sf))
        if not signers:
            raise _Fail("no JAR signature: no .RSA/.DSA/.EC file with a matching .SF")
        sf_raw: dict[str, bytes] = {}
        for signer in signers:
            sf_raw[signer.sf] = _entry_bytes(zf, by_name[signer.sf])
            block = _entry_bytes(zf, by_name[signer.block])
            _verify_sig_block(block, sf_raw[signer.sf], signer)
        main = main or _Section(0, 0, [])
        active = [s for s in signers if _verify_sf(sf_raw[s.sf], manifest_raw, main, sections, s)]
        if not active:
            raise _Fail("no usable JAR signer: every .SF lacks Signature-Version or is malformed")
        undo = zf.checkpoint()
        try:
            first = _check_entries(zf, sections, active, ahead_last=True)
        except _InFileOrder:
            undo()
            first = _check_entries(zf, sections, active, ahead_last=False)
        if first is None:
            raise _Fail("no ZIP entry is covered by the JAR signature")
    except _Fail as exc:
        claimed = [(s.cert, False) for s in signers if s.cert]
        return SchemeCheck("v1", True, False, _one_line(str(exc))), claimed
    # Signers that cover no entry are ignored by Android: listed, but not as verifying.
    used = set(first[1])
    return SchemeCheck("v1", True, True, ""), [(s.cert, s.block in used) for s in signers if s.cert]


# --------------------------------------------------------------------------------------
# v2 / v3 / v3.1: APK Signing Block.


class _Reader:
    """Little-endian cursor over a slice, raising ``_Fail`` on truncation."""

    def __init__(self, buf: bytes, what: str, start: int = 0, end: int | None = None) -> None:
        self.buf, self.what, self.pos = buf, what, start
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def u32(self) -> int:
        if self.remaining < 4:
            raise _Fail(f"truncated {self.what}")
        value = int(struct.unpack_from("<I", self.buf, self.pos)[0])
        self.pos += 4
        return value

    def prefixed(self, what: str) -> _Reader:
        size = self.u32()
        if size > self.remaining:
            raise _Fail(f"{what}: length {size} exceeds the {self.remaining} bytes left in {self.what}")
        sub = _Reader(self.buf, what, self.pos, self.pos + size)
        self.pos += size
        return sub

    def bytes(self) -> bytes:
        return bytes(self.buf[self.pos : self.end])


@dataclass
class _Block:
    offset: int  # where the APK Signing Block starts
    pairs: dict[int, tuple[int, int]]  # first value of each ID: (start, end) in the file
    error: str  # why scanning stopped early, or ""


def _find_block(data: bytes, zf: Archive) -> _Block | None:
    """The APK Signing Block right before the central directory, as apksig finds it."""
    cd = zf.cd_offset
    if cd > zf.eocd or cd < 32 or data[cd - 16 : cd] != _BLOCK_MAGIC:
        return None
    (size,) = struct.unpack_from("<Q", data, cd - 24)
    if size < 24 or size > 0x7FFFFFFF - 8 or size + 8 > cd:
        return _Block(0, {}, f"APK Signing Block size {size} out of range")
    offset = cd - size - 8
    if struct.unpack_from("<Q", data, offset)[0] != size:
        return _Block(offset, {}, "APK Signing Block sizes in header and footer differ")
    pairs: dict[int, tuple[int, int]] = {}
    pos, end, number = offset + 8, cd - 24, 0
    while pos < end:
        number += 1
        if end - pos < 8:
            return _Block(offset, pairs, f"APK Signing Block entry #{number} is truncated")
        (length,) = struct.unpack_from("<Q", data, pos)
        if length < 4 or length > end - pos - 8:
            return _Block(offset, pairs, f"APK Signing Block entry #{number} has bad length {length}")
        (ident,) = struct.unpack_from("<I", data, pos + 8)
        pairs.setdefault(ident, (pos + 12, pos + 8 + length))
        pos += 8 + length
    return _Block(offset, pairs, "")


_V2_ALGS: dict[int, tuple[str, str, str, str]] = {
    # id: (family, padding, signature hash, content digest)
    0x0101: ("rsa", "pss", "sha256", "sha256"),
    0x0102: ("rsa", "pss", "sha512", "sha512"),
    0x0103: ("rsa", "pkcs1", "sha256", "sha256"),
    0x0104: ("rsa", "pkcs1", "sha512", "sha512"),
    0x0201: ("ec", "", "sha256", "sha256"),
    0x0202: ("ec", "", "sha512", "sha512"),
    0x0301: ("dsa", "", "sha256", "sha256"),
    0x0421: ("rsa", "pkcs1", "sha256", "verity"),
    0x0423: ("ec", "", "sha256", "verity"),
    0x0425: ("dsa", "", "sha256", "verity"),
}


def _chunked_digest(data: bytes, zf: Archive, block_offset: int, hash_name: str) -> bytes:
    """APK Signature Scheme v2 content digest: entries, central directory, patched EOCD."""
    eocd = bytearray(data[zf.eocd :])
    struct.pack_into("<I", eocd, 16, block_offset)
    view = memoryview(data)
    new = hashlib.sha256 if hash_name == "sha256" else hashlib.sha512
    digests = []
    for section in (view[:block_offset], view[zf.cd_offset : zf.eocd], memoryview(eocd)):
        for off in range(0, len(section), _CHUNK):
            chunk = section[off : off + _CHUNK]
            h = new(b"\xa5" + struct.pack("<I", len(chunk)))
            h.update(chunk)
            digests.append(h.digest())
    return new(b"\x5a" + struct.pack("<I", len(digests)) + b"".join(digests)).digest()


def _same_key(spki: bytes, cert_spki: bytes) -> bool:
    if spki == cert_spki:
        return True
    from cryptography.hazmat.primitives import serialization

    try:  # equal keys, different encodings (Java compares re-encoded keys)
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ours = serialization.load_der_public_key(spki).public_bytes(*fmt)
        return ours == serialization.load_der_public_key(cert_spki).public_bytes(*fmt)
    except Exception:  # noqa: BLE001
        return False


@dataclass
class _BlockSigner:
    cert: bytes | None = None
    digests: dict[int, bytes] = field(default_factory=dict)
    algs: list[int] = field(default_factory=list)


def _check_signer(raw: _Reader, scheme: str, present_ids: set[int]) -> _BlockSigner:
    """Parse and verify one signer; its content digests are compared by the caller."""
    v3 = scheme != "v2"
    out = _BlockSigner()
    signed = raw.prefixed("signed data").bytes()
    if v3:
        min_sdk, max_sdk = raw.u32(), raw.u32()
    sigs_reader = raw.prefixed("signatures")
    spki = raw.prefixed("public key").bytes()
    signatures: list[tuple[int, bytes]] = []
    while sigs_reader.remaining:
        record = sigs_reader.prefixed("signature")
        alg = record.u32()
        signatures.append((alg, record.prefixed("signature bytes").bytes()))
    sd = _Reader(signed, "signed data")
    digests_reader = sd.prefixed("digests")
    certs_reader = sd.prefixed("certificates")
    certs = []
    while certs_reader.remaining:
        certs.append(certs_reader.prefixed("certificate").bytes())
    out.cert = certs[0] if certs else None
    if v3:
        sd_min, sd_max = sd.u32(), sd.u32()
    attrs_reader = sd.prefixed("additional attributes")
    supported = [(a, s) for a, s in signatures if a in _V2_ALGS]
    if not signatures:
        raise _Fail("no signatures")
    if not supported:
        raise _Fail(f"no supported signature algorithm (found {', '.join(hex(a) for a, _ in signatures)})")
    key = _load_key(spki)
    for alg, sig in supported:
        family, pad, hash_name, _content = _V2_ALGS[alg]
        if not _verify(key, family, pad, hash_name, sig, signed):
            raise _Fail(f"signature 0x{alg:04x} over signed data does not verify")
    if not certs:
        raise _Fail("no certificates")
    from asn1crypto import x509 as asn1_x509

    try:
        cert_spki = asn1_x509.Certificate.load(certs[0]).public_key.dump()
    except Exception:  # noqa: BLE001
        raise _Fail("first certificate is malformed") from None
    if not _same_key(spki, cert_spki):
        raise _Fail("public key does not match the first certificate")
    while digests_reader.remaining:
        d = digests_reader.prefixed("digest")
        alg = d.u32()
        out.digests.setdefault(alg, d.prefixed("digest bytes").bytes())
        out.algs.append(alg)
    if out.algs != [a for a, _ in signatures]:
        raise _Fail("signature algorithms differ between the signatures and digests records")
    if v3:
        if (sd_min, sd_max) != (min_sdk, max_sdk):
            raise _Fail(f"SDK range {min_sdk}-{max_sdk} differs from signed data's {sd_min}-{sd_max}")
        if min_sdk > max_sdk:
            raise _Fail(f"SDK range {min_sdk}-{max_sdk} is empty")
    while attrs_reader.remaining:
        attr = attrs_reader.prefixed("additional attribute")
        ident = attr.u32()
        if not v3 and ident == _STRIPPING_PROTECTION_ATTR:
            value = attr.u32() if attr.remaining >= 4 else 0
            if value == 3 and _BLOCK_IDS["v3"] not in present_ids:
                raise _Fail("v2 signer says the APK was also signed with v3, but there is no v3 (stripped?)")
        # v3 proof-of-rotation lineage (0x3ba06f8c) and rotation attributes are not checked.
    out.algs = [a for a, _ in supported]
    return out


def _check_block_scheme(
    data: bytes, zf: Archive, block: _Block | None, scheme: str
) -> tuple[SchemeCheck, list[tuple[bytes, bool]]]:
    """Verify the v2/v3/v3.1 signature; return it with (certificate, verified) per signer."""
    ident = _BLOCK_IDS[scheme]
    if block is None:
        return SchemeCheck(scheme, False, False, zf.error), []
    if ident not in block.pairs:
        detail = f"APK Signing Block is malformed: {block.error}" if block.error else ""
        return SchemeCheck(scheme, False, False, detail), []
    start, end = block.pairs[ident]
    signers: list[_BlockSigner] = []
    claimed: list[bytes] = []
    try:
        if zf.error:
            raise _Fail(zf.error)
        seq = _Reader(data, f"{scheme} block", start, end).prefixed("signers")
        if not seq.remaining:
            raise _Fail("no signers")
        number = 0
        while seq.remaining:
            number += 1
            raw = seq.prefixed(f"signer #{number}")
            first_byte = raw.pos
            try:
                signer = _check_signer(raw, scheme, set(block.pairs))
            except _Fail as exc:
                cert = _peek_cert(data, first_byte, raw.end)
                if cert is not None:
                    claimed.append(cert)
                raise _Fail(f"signer #{number}: {exc}") from None
            signers.append(signer)
        wanted = {_V2_ALGS[a][3] for s in signers for a in s.algs}
        if wanted == {"verity"}:
            raise _Fail("only fs-verity signature algorithms, whose content digest is not checked here")
        for hash_name in sorted(wanted - {"verity"}):
            actual = _chunked_digest(data, zf, block.offset, hash_name)
            for number, signer in enumerate(signers, 1):
                for alg in signer.algs:
                    if _V2_ALGS[alg][3] == hash_name and signer.digests.get(alg) != actual:
                        what = f"{hash_name.upper()}, 0x{alg:04x}"
                        raise _Fail(f"signer #{number}: APK content digest ({what}) does not match")
    except _Fail as exc:
        claimed += [s.cert for s in signers if s.cert is not None]
        return SchemeCheck(scheme, True, False, _one_line(str(exc))), [(c, False) for c in claimed]
    return SchemeCheck(scheme, True, True, ""), [(s.cert, True) for s in signers if s.cert is not None]


def _peek_cert(data: bytes, start: int, end: int) -> bytes | None:
    """Best-effort first certificate of a signer that failed, so the report can name it."""
    try:
        signed = _Reader(data, "signer", start, end).prefixed("signed data")
        signed.prefixed("digests")
        certs = signed.prefixed("certificates")
        return certs.prefixed("certificate").bytes() or None
    except _Fail:
        return None


# --------------------------------------------------------------------------------------


def inspect_signing(data: bytes, archive: Archive | None = None) -> Signing:
    """Verify every APK signature scheme of ``data`` and list the signer certificates.

    ``archive`` is ``data`` already opened by the loader, so that entries are inflated
    within the package's caps and what is refused or read through is recorded once;
    without it the default ``Limits`` apply. Never raises: unreadable input gives
    ``verified=False`` checks with a one-line reason.
    """
    try:
        return _inspect(bytes(data), archive)
    except Exception as exc:  # noqa: BLE001 - last resort; a bug must not stop an audit
        detail = _one_line(f"internal error while verifying signatures: {type(exc).__name__}: {exc}")
        return Signing(tuple(SchemeCheck(s, False, False, detail) for s in _SCHEMES), ())


def _inspect(data: bytes, archive: Archive | None) -> Signing:
    zf = archive or open_archive(data, Limits(), Budget(Limits().package_bytes))
    if zf.eocd < 0:
        return Signing(tuple(SchemeCheck(s, False, False, zf.error) for s in _SCHEMES), ())
    certs: dict[bytes, set[str]] = {}
    checks: dict[str, SchemeCheck] = {}

    v1_signers: list[_V1Signer] = []
    checks["v1"], found = _check_v1(zf, v1_signers)
    for der, ok in found:
        certs.setdefault(der, set()).update({"v1"} if ok else set())

    block = _find_block(data, zf)
    for scheme in ("v2", "v3", "v3.1"):
        check, found = _check_block_scheme(data, zf, block, scheme)
        for der, ok in found:
            certs.setdefault(der, set()).update({scheme} if ok else set())
        checks[scheme] = check

    # Stripping protection: a JAR signature that declares newer schemes which are absent.
    declared = set().union(*(s.declared_schemes for s in v1_signers)) if v1_signers else set()
    for number, scheme in ((2, "v2"), (3, "v3")):
        check = checks[scheme]
        if number in declared and not check.present and not check.detail:
            why = f"absent, but the JAR .SF says X-Android-APK-Signed: {number} (stripped?)"
            checks[scheme] = SchemeCheck(scheme, False, False, why)

    certificates = sorted(
        (_certificate(der, tuple(s for s in _SCHEMES if s in schemes)) for der, schemes in certs.items()),
        key=lambda c: c.sha256,
    )
    return Signing(tuple(checks[s] for s in _SCHEMES), tuple(certificates))
