"""Accept workflow spec documents as YAML as well as JSON."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from workflows.spec import SpecError, parse_document


class YAMLParser(BaseParser):
    media_type = "application/yaml"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        try:
            return parse_document(stream.read())
        except SpecError as error:
            raise ParseError(str(error)) from error


class TextYAMLParser(YAMLParser):
    media_type = "text/yaml"


class LegacyYAMLParser(YAMLParser):
    media_type = "application/x-yaml"
