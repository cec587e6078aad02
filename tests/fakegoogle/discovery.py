"""Request validation against the discovery documents google-api-python-client ships.

The fake answers a request only when the real API would accept its shape: the method exists,
every query parameter is one the method (or the API) declares, enum values are allowed,
booleans and integers parse and respect their bounds, required parameters are present, and a
JSON body only names fields of its schema. Otherwise it answers 400, so a bad request fails
the test instead of passing against a lenient fake.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import googleapiclient


@functools.cache
def load_document(api: str, version: str) -> dict[str, Any]:
    """The discovery document for `api` `version`, as the client library ships it."""
    folder = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    doc: dict[str, Any] = json.loads((folder / f"{api}.{version}.json").read_text(encoding="utf-8"))
    return doc


@dataclass(frozen=True)
class MethodSpec:
    """One API method: its id (`calendar.events.list`), HTTP verb, path template and parameters."""

    id: str
    http_method: str
    path: str
    parameters: dict[str, dict[str, Any]]
    global_parameters: dict[str, dict[str, Any]]
    request_schema: dict[str, Any] | None
    scopes: frozenset[str] = frozenset()  # any one of them lets a token call the method

    def path_regex(self, prefix: str = "/") -> re.Pattern[str]:
        """A regex matching this method's URL path, one named group per path parameter."""
        pattern, last = "", 0
        for match in re.finditer(r"\{(\+?)(\w+)\}", self.path):
            pattern += re.escape(self.path[last : match.start()])
            # `{+name}` may span slashes (reserved expansion); `{name}` is one segment.
            pattern += f"(?P<{match[2]}>{'.+' if match[1] else '[^/]+'})"
            last = match.end()
        pattern += re.escape(self.path[last:])
        return re.compile("^" + re.escape(prefix) + pattern + "$")


def methods(api: str, version: str) -> dict[str, MethodSpec]:
    """Every method of the API, keyed by its id."""
    doc = load_document(api, version)
    found: dict[str, MethodSpec] = {}
    _collect(doc, doc.get("resources", {}), found)
    return found


def _collect(doc: dict[str, Any], resources: dict[str, Any], found: dict[str, MethodSpec]) -> None:
    for resource in resources.values():
        for method in resource.get("methods", {}).values():
            ref = (method.get("request") or {}).get("$ref")
            found[method["id"]] = MethodSpec(
                id=method["id"],
                http_method=method["httpMethod"],
                path=method.get("flatPath") or method["path"],
                parameters=method.get("parameters", {}),
                global_parameters=doc.get("parameters", {}),
                request_schema=doc["schemas"].get(ref) if ref else None,
                scopes=frozenset(method.get("scopes", ())),
            )
        _collect(doc, resource.get("resources", {}), found)


def validate_query(spec: MethodSpec, query: dict[str, list[str]]) -> str | None:
    """Why the real API would refuse `query` for `spec`, or None when it is acceptable."""
    for name, values in query.items():
        param = spec.parameters.get(name) or spec.global_parameters.get(name)
        if param is None or param.get("location") != "query":
            return f"Unknown parameter {name!r} for {spec.id}"
        if len(values) > 1 and not param.get("repeated"):
            return f"Parameter {name!r} given {len(values)} times"
        for value in values:
            problem = _check_value(name, value, param)
            if problem:
                return problem
    for name, param in spec.parameters.items():
        if param.get("required") and param.get("location") == "query" and name not in query:
            return f"Required parameter {name!r} is missing"
    return None


def validate_body(spec: MethodSpec, body: Any) -> str | None:
    """Why the top level of a JSON request body is wrong for `spec`, or None."""
    if spec.request_schema is None:
        return None
    if not isinstance(body, dict):
        return f"{spec.id} needs a JSON object body"
    known = spec.request_schema.get("properties", {})
    unknown = sorted(set(body) - set(known))
    if unknown:
        return f"Invalid JSON payload received. Unknown name {unknown[0]!r}"
    return None


def _check_value(name: str, value: str, param: dict[str, Any]) -> str | None:
    enum = param.get("enum")
    if enum and value not in enum:
        return f"Invalid value {value!r} for parameter {name!r} (allowed: {', '.join(enum)})"
    kind = param.get("type")
    if kind == "boolean" and value not in ("true", "false"):
        return f"Invalid boolean value {value!r} for parameter {name!r}"
    if kind == "integer":
        return _check_integer(name, value, param)
    return None


def _check_integer(name: str, value: str, param: dict[str, Any]) -> str | None:
    try:
        number = int(value)
    except ValueError:
        return f"Invalid integer value {value!r} for parameter {name!r}"
    low, high = param.get("minimum"), param.get("maximum")
    if low is not None and number < int(low):
        return f"Parameter {name!r} must be at least {low}"
    if high is not None and number > int(high):
        return f"Parameter {name!r} must be at most {high}"
    return None
