"""Maintenance, not run time: rebuild the Android platform tables of this folder from the installed androguard.

``python -m permaudit.data.refresh_android`` after upgrading androguard (a test rebuilds
both files and compares them byte for byte). androguard stays the reference: its bundled
``public.xml`` names the android attributes (``android_attrs.json``, used by our binary XML
reader, ``permaudit/loading/axml.py``) and its AOSP permission tables, one per API level,
give each platform permission's protection level (``aosp_permissions.json``, used by
``permaudit/facts/manifest.py``). Only the files are read; androguard is not imported.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ATTRS = "android_attrs.json"
PERMISSIONS = "aosp_permissions.json"
ANDROID_ATTR_IDS = range(0x01010000, 0x01020000)


def androguard_core() -> Path:
    """``androguard/core`` of the installed androguard, found without importing it."""
    spec = importlib.util.find_spec("androguard")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("androguard is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "core"


def refresh(data: Path, core: Path | None = None) -> dict[str, int]:
    """Rewrite both tables in ``data`` from androguard's files; the counts written."""
    core = core or androguard_core()
    names = attribute_names(core / "resources" / "public.xml")
    first = min(names)
    table = [names.get(res_id, "") for res_id in range(first, max(names) + 1)]
    attrs = {
        "_comment": "android attribute resource IDs (attr, 0x0101xxxx) -> name, from androguard's bundled public.xml: "
                    "names[i] is ID first + i, '' where no attribute has that ID. Rebuilt by python -m permaudit.data.refresh_android.",
        "first": first,
        "names": table,
    }
    (data / ATTRS).write_text(json.dumps(attrs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    levels, history = permission_history(core / "api_specific_resources" / "aosp_permissions")
    rows = ",\n".join(f"  {json.dumps(name)}: {json.dumps(changes, separators=(',', ':'))}" for name, changes in sorted(history.items()))
    comment = ("AOSP's platform permissions with their android:protectionLevel as written in each API level's table androguard ships "
               "(api_levels): name -> [[first API level, level], ...], a new pair where the level changes, null where the table no "
               "longer has the permission. Rebuilt by python -m permaudit.data.refresh_android.")
    text = f'{{\n "_comment": {json.dumps(comment)},\n "api_levels": {json.dumps(levels)},\n "permissions": {{\n{rows}\n }}\n}}\n'
    (data / PERMISSIONS).write_text(text, encoding="utf-8")
    return {"attributes": len(names), "api_levels": len(levels), "permissions": len(history)}


def attribute_names(public_xml: Path) -> dict[int, str]:
    """Attribute ID -> name, a later declaration of a name or ID winning (as androguard reads the file)."""
    ids: dict[str, int] = {}
    for element in ET.parse(public_xml).getroot().iter("public"):
        if element.get("type") == "attr":
            ids[element.get("name", "")] = int(element.get("id", ""), 16)
    names = {res_id: name for name, res_id in ids.items()}
    outside = [hex(res_id) for res_id in names if res_id not in ANDROID_ATTR_IDS]
    if outside:
        raise SystemExit(f"attribute IDs outside 0x0101xxxx in {public_xml}: {outside[:5]}")
    return names


def permission_history(folder: Path) -> tuple[list[int], dict[str, list[list[int | str | None]]]]:
    """The API levels with a table, and each permission's protection level where it changes."""
    files = {int(m[1]): path for path in folder.iterdir() if (m := re.fullmatch(r"permissions_(\d+)\.json", path.name))}
    history: dict[str, list[list[int | str | None]]] = {}
    for api in sorted(files):
        table = json.loads(files[api].read_text(encoding="utf-8"))["permissions"]
        for name in history.keys() | table.keys():
            level = str(table[name].get("protectionLevel", "")) if name in table else None
            changes = history.setdefault(name, [])
            if (changes[-1][1] if changes else None) != level:
                changes.append([api, level])
    return sorted(files), history


if __name__ == "__main__":
    print(refresh(Path(__file__).resolve().parent, Path(sys.argv[1]) if len(sys.argv) > 1 else None))
