"""Open311 answers as JSON or XML, and errors as the spec's `[{code, description}]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import JSONResponse, Response

XML = "text/xml; charset=utf-8"
# Root and item element names per kind of answer, as in the spec's examples.
ROOTS = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "errors": ("errors", "error"),
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _append(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _append(element, key, inner)
    elif isinstance(value, list):
        singular = {"attributes": "attribute", "values": "value"}.get(name, "item")
        for inner in value:
            _append(element, singular, inner)
    else:
        element.text = _text(value)


def to_xml(kind: str, payload: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    if isinstance(payload, dict):  # a service definition
        root = ET.Element("service_definition")
        for key, value in payload.items():
            _append(root, key, value)
    else:
        root_name, item_name = ROOTS[kind]
        root = ET.Element(root_name)
        for item in payload:
            _append(root, item_name, item)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode").encode()


def render(fmt: str, kind: str, payload: list[dict[str, Any]] | dict[str, Any], status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(kind, payload), status_code=status, media_type=XML)
    return JSONResponse(payload, status_code=status)


def error_response(path: str, status: int, description: str, headers: Mapping[str, str] | None = None) -> Response:
    fmt = "xml" if path.endswith(".xml") else "json"
    response = render(fmt, "errors", [{"code": status, "description": description}], status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
