"""Our own lean reader of dex files: tables, decoding, references, validation.

Pure standard library; see ``reader`` for why androguard's ``DEX()`` is not used.
"""

from permaudit.dex.reader import DexFile, Insn, MethodRef
from permaudit.errors import DexError

__all__ = ["DexError", "DexFile", "Insn", "MethodRef"]
