"""What real Notion accepts, checked the way it checks: a body Notion would refuse fails here
with its 400 `validation_error`, so a test cannot pass on a request production would reject.

Covered: rich_text (pieces of at most 2,000 UTF-16 units, at most 100 pieces, links noted),
the block types syncd writes and their fields, 100 blocks a request, property values by the
data source's schema (a date with `time_zone` takes no UTC offset; a status must be one of its
options; an email of at most 200 characters), and filters on text properties.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .server import invalid

MAX_TEXT = 2000
MAX_ARRAY = 100
BLOCK_TYPES = {
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "quote",
    "callout",
    "toggle",
    "divider",
}
BLOCK_FIELDS = {"rich_text", "color", "children", "checked", "icon", "is_toggleable"}
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def rich_text(value: Any, where: str) -> list[dict[str, Any]]:
    """Checked rich_text, as stored (with `plain_text` and default annotations)."""
    if not isinstance(value, list):
        raise invalid(f"body failed validation: {where} should be an array, instead was `{value!r}`.")
    if len(value) > MAX_ARRAY:
        raise invalid(
            f"body failed validation: {where}.length should be ≤ `100`, instead was `{len(value)}`."
        )
    stored = []
    for i, piece in enumerate(value):
        text = (piece or {}).get("text") if isinstance(piece, dict) else None
        if not isinstance(text, dict) or not isinstance(text.get("content"), str):
            raise invalid(f"body failed validation: {where}[{i}].text should be defined.")
        length = utf16(text["content"])
        if length > MAX_TEXT:
            raise invalid(
                f"body failed validation: {where}[{i}].text.content.length should be ≤ `2000`, instead was `{length}`."
            )
        link = text.get("link")
        stored.append(
            {
                "type": "text",
                "text": {"content": text["content"], "link": link},
                "annotations": {"bold": False, "italic": False, "code": False, "color": "default"},
                "plain_text": text["content"],
                "href": (link or {}).get("url") if isinstance(link, dict) else None,
            }
        )
    return stored


def block(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    """A checked block to create: (type, its content as stored)."""
    if not isinstance(value, dict):
        raise invalid(f"body failed validation: {where} should be an object.")
    kind = value.get("type") or next((k for k in value if k in BLOCK_TYPES), None)
    if kind not in BLOCK_TYPES or not isinstance(value.get(kind), dict):
        raise invalid(
            f"body failed validation: {where} should have a known block type, instead was `{kind}`."
        )
    content = dict(value[kind])
    unknown = set(content) - BLOCK_FIELDS
    if unknown:
        raise invalid(f"body failed validation: {where}.{kind}.{sorted(unknown)[0]} should be not present.")
    if kind != "divider":
        content["rich_text"] = rich_text(content.get("rich_text"), f"{where}.{kind}.rich_text")
    if "checked" in content and (kind != "to_do" or not isinstance(content["checked"], bool)):
        raise invalid(f"body failed validation: {where}.{kind}.checked should be a boolean on a to_do.")
    if kind == "to_do":
        content.setdefault("checked", False)
    icon = content.get("icon")
    if icon is not None and (
        kind != "callout"
        or not isinstance(icon, dict)
        or icon.get("type") != "emoji"
        or not icon.get("emoji")
    ):
        raise invalid(f"body failed validation: {where}.{kind}.icon should be an emoji object on a callout.")
    if "children" in content:
        raise invalid(f"body failed validation: {where}.{kind}.children: the fake takes no nested children.")
    return kind, content


def blocks(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, list):
        raise invalid(f"body failed validation: {where} should be an array.")
    if len(value) > MAX_ARRAY:
        raise invalid(
            f"body failed validation: {where}.length should be ≤ `100`, instead was `{len(value)}`."
        )
    return [block(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _date(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("start"), str):
        raise invalid(f"body failed validation: {where}.date.start should be defined.")
    zone = value.get("time_zone")
    for key in ("start", "end"):
        moment = value.get(key)
        if moment is None:
            continue
        if not isinstance(moment, str) or not _DATE_TIME.match(moment):
            raise invalid(
                f"body failed validation: {where}.date.{key} should be an ISO 8601 date, not `{moment}`."
            )
        if zone is not None and (_OFFSET.search(moment) or "T" not in moment):
            raise invalid(
                f"{where}.date.{key}: when time_zone is given, start and end must be date-times without a UTC offset."
            )
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(f"{where}.date.time_zone: unknown time zone `{zone}`.") from None
    return {"start": value["start"], "end": value.get("end"), "time_zone": zone}


def property_value(name: str, schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """A checked property value for the property `schema` (type and options): as stored.
    A select option that does not exist yet is added to the schema, as Notion does."""
    kind = schema["type"]
    where = f"body.properties.{name}"
    if not isinstance(value, dict) or kind not in value:
        raise invalid(f"{name} is expected to be {kind}.")
    raw = value[kind]
    if kind in ("title", "rich_text"):
        stored: Any = rich_text(raw, f"{where}.{kind}")
    elif kind == "date":
        stored = _date(raw, where)
    elif kind == "email":
        if raw is not None and (not isinstance(raw, str) or len(raw) > 200):
            raise invalid(f"body failed validation: {where}.email.length should be ≤ `200`.")
        stored = raw
    elif kind in ("select", "status"):
        stored = _option(name, schema, kind, raw)
    else:
        raise invalid(f"the fake does not write {kind} properties")
    return {"id": schema["id"], "type": kind, kind: stored}


def _option(name: str, schema: dict[str, Any], kind: str, raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or "," in raw["name"]:
        raise invalid(
            f"body failed validation: body.properties.{name}.{kind}.name should be a string without commas."
        )
    options = schema[kind].setdefault("options", [])
    found = next((o for o in options if o["name"] == raw["name"]), None)
    if found is None and kind == "status":
        raise invalid(f'Invalid status option. Status option "{raw["name"]}" does not exist for "{name}".')
    if found is None:
        found = {"id": f"opt{len(options) + 1}", "name": raw["name"], "color": "default"}
        options.append(found)
    return dict(found)


def text_filter(value: Any, properties: dict[str, Any]) -> tuple[str, str, str]:
    """(property name, condition, value) of a `{"property": ..., "rich_text": {"equals": ...}}`
    filter; the property must exist and be of the type the filter names."""
    if not isinstance(value, dict) or "property" not in value:
        raise invalid("body failed validation: body.filter should be a property filter.")
    name = value["property"]
    prop = properties.get(name)
    if prop is None:
        raise invalid(f"Could not find property with name or id: {name}")
    kind = prop["type"]
    condition = value.get(kind)
    if not isinstance(condition, dict) or len(condition) != 1:
        raise invalid(
            f"body failed validation: body.filter.{kind} should be defined, the filter's type is {kind}."
        )
    ((op, operand),) = condition.items()
    if op not in ("equals", "contains") or not isinstance(operand, str):
        raise invalid(
            f"body failed validation: body.filter.{kind}.{op} is not a text condition the fake knows."
        )
    return name, op, operand
