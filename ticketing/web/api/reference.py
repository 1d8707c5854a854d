"""Turn the OpenAPI document into what the HTML reference page shows."""

from __future__ import annotations

import json
import re
from typing import Any

from markupsafe import Markup, escape

_METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def inline(text: str | None) -> Markup:
    """Escape text, then render `code` and **bold** (the only markup our descriptions use)."""
    html = str(escape(text or ""))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return Markup(html)  # noqa: S704 - built from escaped text only


def paragraphs(text: str | None) -> list[Markup]:
    """Split a description into paragraphs; lines starting with "* " become list items."""
    blocks = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and lines[0].startswith("* "):
            items, current = [], ""
            for line in lines:
                if line.startswith("* "):
                    if current:
                        items.append(current)
                    current = line[2:]
                else:
                    current += " " + line
            items.append(current)
            blocks.append(
                Markup("<ul>{}</ul>").format(
                    Markup("").join(Markup("<li>{}</li>").format(inline(i)) for i in items)
                )
            )
        elif lines:
            blocks.append(Markup("<p>{}</p>").format(inline(" ".join(lines))))
    return blocks


def anchor(name: str) -> str:
    return "schema-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def type_of(schema: dict[str, Any] | None) -> Markup:
    """Describe a JSON schema in a few words, linking named schemas."""
    if not schema:
        return Markup("any")
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return Markup('<a href="#{}">{}</a>').format(anchor(name), name)
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in schema:
            parts = [type_of(part) for part in schema[combinator]]
            joined = Markup(" or ").join(parts)
            return joined + (Markup(" or null") if schema.get("nullable") else Markup(""))
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        text = Markup("array of ") + type_of(schema.get("items"))
    elif schema.get("format"):
        text = Markup("{} ({})").format(kind, schema["format"])
    else:
        text = Markup("{}").format(kind)
    if schema.get("nullable"):
        text += Markup(" or null")
    return text


def constraints(schema: dict[str, Any] | None) -> list[str]:
    """Limits worth telling a reader: enums, ranges, lengths, patterns, defaults."""
    if not schema:
        return []
    notes = []
    items = schema.get("items") if schema.get("type") == "array" else None
    enum = schema.get("enum") or (items or {}).get("enum")
    if enum:
        notes.append("one of: " + ", ".join(str(value) for value in enum if value is not None))
    for key, label in (("minimum", "min"), ("maximum", "max"), ("minLength", "min length"),
                       ("maxLength", "max length"), ("maxItems", "max items")):
        if key in schema:
            notes.append(f"{label} {schema[key]}")
    if "pattern" in schema:
        notes.append(f"pattern {schema['pattern']}")
    if "default" in schema and schema["default"] is not None:
        notes.append(f"default {json.dumps(schema['default'])}")
    return notes


def _properties(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        rows.append(
            {
                "name": name,
                "type": type_of(prop),
                "required": name in required,
                "description": inline(prop.get("description")),
                "notes": constraints(prop),
            }
        )
    return rows


def _body_schema(content: dict[str, Any] | None) -> tuple[str | None, Markup | None]:
    for media_type, media in (content or {}).items():
        return media_type, type_of(media.get("schema"))
    return None, None


def reference_context(document: dict[str, Any]) -> dict[str, Any]:
    """Everything the reference template needs, in display order."""
    components = document.get("components", {})
    shared_responses = components.get("responses", {})
    tags = [tag["name"] for tag in document.get("tags", [])]
    by_tag: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    for path, operations in document.get("paths", {}).items():
        for method, operation in sorted(
            operations.items(), key=lambda item: _METHOD_ORDER.get(item[0], 9)
        ):
            parameters = [
                {
                    "name": parameter["name"],
                    "location": parameter["in"],
                    "required": parameter.get("required", False),
                    "type": type_of(parameter.get("schema")),
                    "description": inline(parameter.get("description")),
                    "notes": constraints(parameter.get("schema")),
                }
                for parameter in operation.get("parameters", [])
            ]
            responses = []
            for status, response in operation.get("responses", {}).items():
                if "$ref" in response:
                    response = shared_responses.get(response["$ref"].rsplit("/", 1)[-1], {})
                media_type, body = _body_schema(response.get("content"))
                responses.append(
                    {
                        "status": status,
                        "description": inline(response.get("description")),
                        "media_type": media_type,
                        "type": body,
                    }
                )
            body_type = None
            if "requestBody" in operation:
                _media, body_type = _body_schema(operation["requestBody"].get("content"))
            entry = {
                "id": operation.get("operationId", f"{method}-{path}"),
                "method": method.upper(),
                "path": path,
                "summary": operation.get("summary", ""),
                "description": paragraphs(operation.get("description")),
                "parameters": parameters,
                "body": body_type,
                "responses": responses,
            }
            for tag in operation.get("tags", ["Other"]):
                by_tag.setdefault(tag, []).append(entry)
    schemas = [
        {
            "name": name,
            "anchor": anchor(name),
            "description": paragraphs(schema.get("description")),
            "properties": _properties(schema),
            "open": schema.get("additionalProperties") is not False,
        }
        for name, schema in sorted(components.get("schemas", {}).items())
    ]
    info = document.get("info", {})
    return {
        "title": info.get("title", "API"),
        "version": info.get("version", ""),
        "intro": paragraphs(info.get("description")),
        "groups": [(tag, entries) for tag, entries in by_tag.items() if entries],
        "schemas": schemas,
    }
