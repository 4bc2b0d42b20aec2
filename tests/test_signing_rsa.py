"""RSA PKCS #1 v1.5 signatures are checked without ``cryptography`` (``signing._pkcs1``), with
OpenSSL's verdict: the same answer on valid, tampered, mis-sized and out-of-range signatures for
every digest and several key sizes and exponents; every other key (not canonical DER, odd
sizes, too short for the digest) is still OpenSSL's to judge."""

from __future__ import annotations

import hashlib
import itertools
import random
import subprocess
import sys

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from permaudit.loading import signing

from .conftest import fixture

DIGESTS = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]


def _spki(public: rsa.RSAPublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _openssl(spki: bytes, digest: str, signature: bytes, message: bytes) -> bool | str:
    try:
        return signing._verify(serialization.load_der_public_key(spki), "rsa", "pkcs1", digest, signature, message)  # type: ignore[arg-type]
    except signing._Fail as exc:
        return f"fail: {exc}"


def _ours(spki: bytes, digest: str, signature: bytes, message: bytes) -> bool | str:
    try:
        return signing._verify(signing._load_key(spki), "rsa", "pkcs1", digest, signature, message)
    except signing._Fail as exc:
        return f"fail: {exc}"


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    head = bytes([size]) if size < 0x80 else bytes([0x80 | (size.bit_length() + 7) // 8]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag]) + head + body


def _prime(bits: int, rng: random.Random) -> int:
    """A probable prime (Miller-Rabin, 40 rounds), for keys shorter than ``cryptography`` makes."""
    while True:
        candidate = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        d, r = candidate - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):
            x = pow(rng.randrange(2, candidate - 1), d, candidate)
            if x in (1, candidate - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, candidate)
                if x == candidate - 1:
                    break
            else:
                break
        else:
            return candidate


def _key(bits: int, exponent: int) -> rsa.RSAPrivateKey:
    if bits >= 1024:
        return rsa.generate_private_key(exponent, bits)
    rng = random.Random(bits)
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and (p * q).bit_length() == bits and phi % exponent:
            break
    d = pow(exponent, -1, phi)
    public = rsa.RSAPublicNumbers(exponent, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public).private_key(unsafe_skip_rsa_key_validation=True)


@pytest.mark.parametrize(("bits", "exponent"), [(512, 3), (704, 65537), (1024, 3), (1024, 65537), (2048, 65537)])
def test_the_verdict_is_openssls_on_every_digest_and_tampering(bits: int, exponent: int) -> None:
    private = _key(bits, exponent)
    spki = _spki(private.public_key())
    assert isinstance(signing._load_key(spki), signing._RsaKey)
    n = private.public_key().public_numbers().n
    rng = random.Random(bits * exponent)
    checked = 0
    for digest in DIGESTS:
        message = rng.randbytes(rng.randrange(0, 300))
        try:
            signature = private.sign(message, padding.PKCS1v15(), getattr(hashes, digest.upper())())
        except ValueError:  # the key is too short for this digest's encoding
            signature = rng.randbytes(bits // 8)
        flipped = bytearray(signature)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        cases = [signature, bytes(flipped), signature[1:], b"\0" + signature, n.to_bytes(bits // 8, "big"), bytes(bits // 8)]
        for sig, msg in itertools.product(cases, [message, message + b"x"]):
            assert _ours(spki, digest, sig, msg) == _openssl(spki, digest, sig, msg), (digest, sig.hex()[:16])
            checked += 1
        if digest in ("sha1", "sha256"):  # every key here is long enough for these: a real signature passes
            assert _ours(spki, digest, signature, message) is True and _ours(spki, digest, signature, message + b"x") is False
    assert checked == len(DIGESTS) * 12


def test_keys_that_are_not_plain_rsa_in_canonical_der_are_left_to_openssl() -> None:
    private = rsa.generate_private_key(65537, 1024)
    numbers = private.public_key().public_numbers()
    inner = asn1_keys.RSAPublicKey({"modulus": numbers.n, "public_exponent": numbers.e}).dump()
    no_params = _der(0x30, _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101"))) + _der(0x03, b"\0" + inner))
    canonical = _spki(private.public_key())
    assert no_params != canonical and signing._plain_rsa(no_params) is None and signing._plain_rsa(canonical) is not None
    assert signing._plain_rsa(canonical + b"\0") is None and signing._plain_rsa(canonical[:-1]) is None
    even = asn1_keys.PublicKeyInfo.wrap(asn1_keys.RSAPublicKey({"modulus": numbers.n, "public_exponent": 65536}), "rsa").dump()
    huge = asn1_keys.PublicKeyInfo.wrap(asn1_keys.RSAPublicKey({"modulus": (1 << 16400) + 1, "public_exponent": 65537}), "rsa").dump()
    assert signing._plain_rsa(even) is None and signing._plain_rsa(huge) is None
    message = b"signed"
    signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    assert _ours(no_params, "sha256", signature, message) == _openssl(no_params, "sha256", signature, message)


def test_a_signed_apk_is_verified_without_importing_cryptography() -> None:
    """The fixtures' and corpus's keys are ordinary RSA keys: their audit never imports it."""
    script = "import sys, permaudit; r = permaudit.audit(sys.argv[1]); print([s.verified for s in r.signing.schemes][:3], 'cryptography' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", script, str(fixture("clean_app.apk"))], capture_output=True, text=True, check=True)
    assert proc.stdout == "[True, True, True] False\n"


def _raw(private: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """``block`` raised to the private exponent: a signature of whatever encoding it holds."""
    numbers = private.private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(block, "big"), numbers.d, n).to_bytes((n.bit_length() + 7) // 8, "big")


def test_forged_and_malformed_encodings_get_openssls_verdict() -> None:
    """Hand-built blocks, signed with the private exponent: the wrong block type, too little or
    wrong padding, no separator, a DigestInfo without its NULL, bytes after the digest, another
    digest's DigestInfo, and a valid signature plus the modulus, all judged as OpenSSL judges them."""
    private = rsa.generate_private_key(3, 1024)
    spki = _spki(private.public_key())
    n = private.public_key().public_numbers().n
    k = 128
    message = b"the signed data"
    digest = hashlib.sha256(message).digest()
    info = signing._DIGEST_INFO["sha256"] + digest
    no_null = bytes.fromhex("302f300b0609608648016503040201") + b"\x04\x20" + digest

    def padded(t: bytes, head: bytes = b"\x00\x01", fill: int = 0xFF, separator: bytes = b"\x00", short: int = 0) -> bytes:
        pad = bytes([fill]) * (k - len(t) - len(head) - len(separator) - short)
        return (head + pad + separator + t).rjust(k, b"\x00")

    blocks = {
        "valid": padded(info),
        "type 02": padded(info, head=b"\x00\x02"),
        "short padding": b"\x00\x01" + b"\xff" * 7 + b"\x00" + info + bytes(k - len(info) - 10),
        "non-FF padding": padded(info)[:5] + b"\xfe" + padded(info)[6:],
        "no separator": padded(info, separator=b"\xff"),
        "DigestInfo without NULL": padded(no_null),
        "bytes after the digest": padded(info + b"\x00\x00"),
        "sha1's DigestInfo": padded(signing._DIGEST_INFO["sha1"] + hashlib.sha1(message).digest()),
    }
    verdicts = {}
    for name, block in blocks.items():
        signature = _raw(private, block)
        verdicts[name] = _ours(spki, "sha256", signature, message)
        assert verdicts[name] == _openssl(spki, "sha256", signature, message), name
    assert verdicts == {name: name == "valid" for name in blocks}
    # a valid signature plus the modulus still fits k bytes for some message: out of range, refused
    for number in range(200):
        text = b"message %d" % number
        plus_n = int.from_bytes(private.sign(text, padding.PKCS1v15(), hashes.SHA256()), "big") + n
        if plus_n < 1 << (8 * k):
            break
    else:
        pytest.fail("no signature small enough to add the modulus to")
    assert pow(plus_n, 3, n) == pow(plus_n - n, 3, n)  # the same block once reduced: only the range check refuses it
    assert _ours(spki, "sha256", plus_n.to_bytes(k, "big"), text) is False
    assert _openssl(spki, "sha256", plus_n.to_bytes(k, "big"), text) is False


def test_an_even_modulus_is_left_to_openssl() -> None:
    """``pow`` works modulo an even number and OpenSSL refuses it: a signature made for 2N by the
    Chinese remainder theorem must not verify here where OpenSSL says no."""
    private = rsa.generate_private_key(65537, 1024)
    numbers = private.private_numbers()
    big_n, d = numbers.public_numbers.n, numbers.d
    n = 2 * big_n
    spki = asn1_keys.PublicKeyInfo.wrap(asn1_keys.RSAPublicKey({"modulus": n, "public_exponent": 65537}), "rsa").dump()
    k = (n.bit_length() + 7) // 8
    message = b"forged"
    info = signing._DIGEST_INFO["sha256"] + hashlib.sha256(message).digest()
    em = int.from_bytes(b"\x00\x01" + b"\xff" * (k - len(info) - 3) + b"\x00" + info, "big")
    s = pow(em % big_n, d, big_n)
    if s % 2 != em % 2:
        s += big_n
    assert pow(s, 65537, n) == em  # the forgery works modulo 2N
    assert signing._plain_rsa(spki) is None
    assert _ours(spki, "sha256", s.to_bytes(k, "big"), message) == _openssl(spki, "sha256", s.to_bytes(k, "big"), message) is not True
