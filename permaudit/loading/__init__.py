"""Stage 1: turn a path into the bytes and parsed manifests of one Android package.

``walk`` expands folders into targets, ``package`` reads one target (APK, split bundle,
dex file or dex folder), ``manifest_xml`` parses manifests, ``arsc`` looks up resource
values and ``signing`` verifies signatures. Whatever cannot be read becomes a
``Problem`` on the package rather than an exception. Nothing here imports androguard at
run time: binary XML is read by ``axml`` (checked against androguard's reader in tests).
"""

from permaudit.loading.members import Limits, member_name
from permaudit.loading.package import (
    DEFAULT_LIMITS,
    DexSource,
    LoadedApk,
    LoadedPackage,
    hashes_later,
    hashes_of,
    load,
    one_line,
)
from permaudit.loading.walk import Refused, discover, is_dex_folder

__all__ = ["DEFAULT_LIMITS", "DexSource", "Limits", "LoadedApk", "LoadedPackage", "Refused", "discover", "hashes_later", "hashes_of", "is_dex_folder", "load", "member_name", "one_line"]
