"""Our own lean reader of dex files: tables, decoding, references, validation.

Pure standard library; see ``reader`` for why androguard's ``DEX()`` is not used.
"""

from permaudit.dex.index import Ref
from permaudit.dex.opcodes import Insn
from permaudit.dex.reader import DexFile, MethodRef, split_params
from permaudit.dex.validate import DexDamage, validate
from permaudit.errors import DexError

__all__ = ["DexDamage", "DexError", "DexFile", "Insn", "MethodRef", "Ref", "split_params", "validate"]
