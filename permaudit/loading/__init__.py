"""Stage 1: turn a path into the bytes and parsed manifests of one Android package.

``walk`` expands folders into targets, ``package`` reads one target (APK, split bundle,
dex file or dex folder), ``manifest_xml`` parses manifests, ``arsc`` looks up resource
values and ``signing`` verifies signatures. Whatever cannot be read becomes a
``Problem`` on the package rather than an exception. This package and
``permaudit.facts.manifest`` are the only places that touch androguard.
"""

from permaudit.loading.package import DexSource, LoadedApk, LoadedPackage, hashes_of, load, one_line
from permaudit.loading.walk import discover, is_dex_folder

__all__ = ["DexSource", "LoadedApk", "LoadedPackage", "discover", "hashes_of", "is_dex_folder", "load", "one_line"]
