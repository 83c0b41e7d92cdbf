"""Event semantics materialisation and payload validation (deployment-stores §1.8).

Contract:
- :func:`select_value` evaluates a selector over a payload (RFC 6901 pointers as upstream resolves
  them, constants, templates, presence tests); a pointer that does not resolve raises
  :class:`ProcessRegistryError` ``payload pointer `<p>` did not match``.
- :func:`materialize_semantics` turns a declared event type plus a payload into the stored
  :class:`EventSemantics` (terminal await output, wake input and dedupe key).
- :func:`validate_payload` checks a payload against upstream's JSON-schema subset and returns
  upstream's message for the first violation, or None; checks run in upstream's order and object
  properties are visited in sorted order, so the same violation is reported.
"""

from __future__ import annotations

from typing import Any

from lashdb.engine.base.canonical import dumps, json_equal, rust_debug_str, sorted_json, string_form
from lashdb.engine.base.errors import ProcessRegistryError
from .process_model import (
    EVENT_IDENTITY,
    EventSemantics,
    ProcessAwaitOutput,
    ProcessEventType,
    TerminalSemantics,
    WakeSemantics,
)

__all__ = ["materialize_semantics", "resolve_pointer", "select_value", "truthy", "validate_payload"]

_MISSING = object()


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at an RFC 6901 pointer, or the module's missing marker (use :func:`pointer_matches`)."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return _MISSING
    target = document
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict):
            if token not in target:
                return _MISSING
            target = target[token]
        elif isinstance(target, list):
            # Upstream accepts plain decimal indices only: no sign, no leading zero.
            if not token.isascii() or not token.isdigit() or (token.startswith("0") and len(token) != 1):
                return _MISSING
            index = int(token)
            if index >= len(target):
                return _MISSING
            target = target[index]
        else:
            return _MISSING
    return target


def pointer_matches(document: Any, pointer: str) -> bool:
    """True when ``pointer`` resolves inside ``document``."""
    return resolve_pointer(document, pointer) is not _MISSING


def select_value(payload: Any, selector: Any) -> Any:
    """The value a (normalised) selector picks from ``payload``."""
    if selector == "payload":
        return payload
    (tag, inner), = selector.items()
    if tag == "pointer":
        found = resolve_pointer(payload, inner)
        if found is _MISSING:
            raise ProcessRegistryError(f"payload pointer `{inner}` did not match")
        return found
    if tag == "const":
        return inner
    if tag == "present":
        return pointer_matches(payload, inner)
    rendered = inner["template"]
    fields = inner.get("fields") or {}
    for name in sorted(fields):
        rendered = rendered.replace("{" + name + "}", string_form(select_value(payload, fields[name])))
    return rendered


def truthy(value: Any) -> bool:
    """Upstream's truthiness for ``when``: null false, bools as is, every number true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True
    return len(value) > 0


def _terminal(payload: Any, event_type: ProcessEventType) -> TerminalSemantics:
    spec = event_type.terminal
    if spec.await_output is None:
        if spec.state != "completed":
            raise ProcessRegistryError("failed or cancelled terminal events must declare await output")
        return TerminalSemantics(spec.state, ProcessAwaitOutput.success(payload))
    selected = select_value(payload, spec.await_output)
    parsed = ProcessAwaitOutput.parse(selected)
    if parsed is None:
        if spec.state == "completed":
            parsed = ProcessAwaitOutput.success(selected)
        elif spec.state == "failed":
            parsed = ProcessAwaitOutput.failure("execution", "process_failed", string_form(selected), selected)
        else:
            parsed = ProcessAwaitOutput.cancelled(string_form(selected), selected)
    return TerminalSemantics(spec.state, parsed)


def _wake(process_id: str, sequence: int, payload: Any, event_type: ProcessEventType) -> WakeSemantics | None:
    spec = event_type.wake
    if spec.when is not None and not truthy(select_value(payload, spec.when)):
        return None
    wake_input = string_form(select_value(payload, spec.input))
    dedupe = spec.dedupe_key
    if dedupe == EVENT_IDENTITY:
        key = f"{process_id}:{sequence}"
    elif "selector" in dedupe:
        key = string_form(select_value(payload, dedupe["selector"]))
    else:
        key = dedupe["const"]
    return WakeSemantics(wake_input, key)


def materialize_semantics(process_id: str, sequence: int, payload: Any,
                          event_type: ProcessEventType) -> EventSemantics:
    """Stored semantics of an event of ``event_type`` carrying ``payload`` at ``sequence``."""
    terminal = _terminal(payload, event_type) if event_type.terminal is not None else None
    wake = _wake(process_id, sequence, payload, event_type) if event_type.wake is not None else None
    return EventSemantics(terminal, wake)


# --- payload schema ---------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_u64(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    return None


def _as_f64(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _display(value: Any) -> str:
    if isinstance(value, str):
        return rust_debug_str(value)
    return dumps(sorted_json(value))


def _path(path: str) -> str:
    return path if path else "arguments"


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _matches_single(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**64
    if kind == "number":
        return _is_number(value)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _matches_type(type_value: Any, value: Any) -> bool:
    if isinstance(type_value, str):
        return _matches_single(type_value, value)
    if isinstance(type_value, list):
        return any(_matches_single(t, value) for t in type_value if isinstance(t, str))
    return True


def _describe(schema: dict) -> str:
    parts: list[str] = []
    if "type" in schema:
        type_value = schema["type"]
        if isinstance(type_value, str):
            parts.append(type_value)
        elif isinstance(type_value, list):
            parts.append(" or ".join(t for t in type_value if isinstance(t, str)))
        else:
            parts.append("valid value")
    elif "anyOf" in schema or "oneOf" in schema:
        parts.append("matching schema")
    for key, label in (("minimum", ">= "), ("maximum", "<= "), ("minLength", "length >= "),
                       ("maxLength", "length <= "), ("minItems", "items >= "), ("maxItems", "items <= ")):
        if key in schema:
            parts.append(label + _display(schema[key]))
    return " ".join(parts) if parts else "valid value"


def _expected(path: str, schema: dict, value: Any) -> str:
    return f"{_path(path)}: expected {_describe(schema)}, got {_display(value)}"


def _validate(path: str, schema: Any, value: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    alternatives = schema["anyOf"] if "anyOf" in schema else schema.get("oneOf")
    if isinstance(alternatives, list):
        if any(_validate(path, sub, value) is None for sub in alternatives):
            return None
        return _expected(path, schema, value)

    choices = schema.get("enum")
    if isinstance(choices, list) and not any(json_equal(c, value) for c in choices):
        listed = ", ".join(_display(c) for c in choices)
        return f"{_path(path)}: expected one of {listed}, got {_display(value)}"

    if "type" in schema and not _matches_type(schema["type"], value):
        return _expected(path, schema, value)

    maximum = _as_f64(schema.get("maximum"))
    if maximum is not None and _is_number(value) and float(value) > maximum:
        return _expected(path, schema, value)
    minimum = _as_f64(schema.get("minimum"))
    if minimum is not None and _is_number(value) and float(value) < minimum:
        return _expected(path, schema, value)

    max_length = _as_u64(schema.get("maxLength"))
    if max_length is not None and isinstance(value, str) and len(value) > max_length:
        return _expected(path, schema, value)
    min_length = _as_u64(schema.get("minLength"))
    if min_length is not None and isinstance(value, str) and len(value) < min_length:
        return _expected(path, schema, value)

    if isinstance(value, list):
        max_items = _as_u64(schema.get("maxItems"))
        if max_items is not None and len(value) > max_items:
            return f"{_path(path)}: expected {_describe(schema)}, got {len(value)} items"
        min_items = _as_u64(schema.get("minItems"))
        if min_items is not None and len(value) < min_items:
            return f"{_path(path)}: expected {_describe(schema)}, got {len(value)} items"
        if "items" in schema:
            for index, item in enumerate(value):
                failure = _validate(f"{path}[{index}]", schema["items"], item)
                if failure is not None:
                    return failure

    if isinstance(value, dict):
        required = schema.get("required")
        if isinstance(required, list):
            for name in required:
                if isinstance(name, str) and name not in value:
                    return f"{_join(path, name)}: required property missing"
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name in sorted(properties):
                if name in value:
                    failure = _validate(_join(path, name), properties[name], value[name])
                    if failure is not None:
                        return failure
            additional = schema.get("additionalProperties")
            if additional is True:
                pass
            elif isinstance(additional, dict):
                for name in sorted(value):
                    if name == "__session_id__" or name in properties:
                        continue
                    failure = _validate(_join(path, name), additional, value[name])
                    if failure is not None:
                        return failure
            else:
                for name in sorted(value):
                    if name != "__session_id__" and name not in properties:
                        return f"{_join(path, name)}: unexpected property"
    return None


def validate_payload(schema: Any, payload: Any) -> str | None:
    """Upstream's message for the first way ``payload`` violates ``schema``, or None if valid."""
    return _validate("", schema, payload)
