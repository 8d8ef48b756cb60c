"""Parse request bodies (JSON, and workflow documents as YAML) within limits
that every endpoint shares: at most MAX_DEPTH levels of nesting, no key twice
in one object, finite numbers only, and at most DATA_UPLOAD_MAX_MEMORY_SIZE
bytes. A body outside them is a 400 (413 for the size) saying which limit,
never a 500 from whatever would trip over it later.

A NUL character in a string is left to the fields that hold it, which name
it (DRF's CharField, the spec's and the parameters' validation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from flowcore.spec import SpecError, parse_document

# Deep enough for any document people write (a workflow spec nests about ten
# levels), far from what would exhaust Python's stack in the json module, the
# serializers or the database driver, which all recurse.
MAX_DEPTH = 100

# A JSON string (possessive: linear even on an unterminated one).
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def too_large() -> BodyTooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return BodyTooLarge(
        f"the request body is larger than {limit} bytes (FLOWDECK_MAX_BODY_BYTES)"
    )


def too_deep() -> ParseError:
    return ParseError(f"the body is nested more than {MAX_DEPTH} levels deep")


def json_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of JSON `text` nest more than `limit`
    deep, counted without parsing it (so without recursion)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if brackets.count("[") + brackets.count("{") <= limit:
        return False
    return max(accumulate(map(_STEP.__getitem__, brackets))) > limit


def _children(value: Any) -> Iterator[Any]:
    return iter(value.values() if isinstance(value, dict) else value)


def _containers(values: Iterator[Any]) -> Iterator[dict[Any, Any] | list[Any]]:
    return (value for value in values if isinstance(value, dict | list))


def loaded_too_deep(document: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a loaded document nests more than `limit` deep, without
    recursion. YAML aliases share containers: each is measured once (so an
    alias bomb costs what its text does), and one that contains itself counts
    as too deep."""
    if not isinstance(document, dict | list):
        return False
    heights: dict[int, int] = {}  # id -> levels from this container down
    path: list[tuple[Any, Iterator[Any], int]] = [
        (document, _containers(_children(document)), 0)
    ]
    on_path = {id(document)}
    while path:
        node, children, below = path[-1]
        for child in children:
            known = heights.get(id(child))
            if known is not None:
                below = max(below, known)
                if len(path) + known > limit:
                    return True
                continue
            if id(child) in on_path or len(path) >= limit:
                return True
            path[-1] = (node, children, below)
            path.append((child, _containers(_children(child)), 0))
            on_path.add(id(child))
            break
        else:
            path.pop()
            on_path.discard(id(node))
            heights[id(node)] = below + 1
            if path:
                parent, siblings, parent_below = path[-1]
                path[-1] = (parent, siblings, max(parent_below, below + 1))
    return False


class DuplicateKey(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"duplicate key {key!r} in an object")
            seen.add(key)
    return result


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def read_body(stream: Any) -> bytes:
    """The whole body, refused past the size limit. DRF hands JSON parsers a
    body Django already checked, but other parsers the raw request stream."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return bytes(stream.read())
    body = bytes(stream.read(limit + 1))
    if len(body) > limit:
        raise too_large()
    return body


def load_json(text: str) -> Any:
    """JSON text within the limits; ParseError saying what is wrong."""
    if json_too_deep(text):
        raise too_deep()
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
        )
    except ValueError as error:
        raise ParseError(f"JSON parse error - {error}") from None


class JSONParser(BaseParser):
    """DRF's JSON parser, with the limits above."""

    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = read_body(stream).decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(
                f"JSON parse error - the body is not valid {encoding} "
                f"(byte {error.start})"
            ) from None
        return load_json(text)


class YAMLParser(BaseParser):
    """A workflow document (or any mapping) as YAML 1.2, duplicate keys refused
    with their line (flowcore.spec.parse_document), within the limits above."""

    media_type = "application/yaml"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        text = read_body(stream)
        # parse_document tries JSON first, which recurses: count first.
        if text.lstrip()[:1] in (b"{", b"[") and json_too_deep(
            text.decode("utf-8", errors="replace")
        ):
            raise too_deep()
        try:
            document = parse_document(text)
        except SpecError as error:
            raise ParseError(str(error)) from error
        if loaded_too_deep(document):
            raise too_deep()
        return document


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class LegacyYAMLParser(YAMLParser):
    media_type = "application/x-yaml"
