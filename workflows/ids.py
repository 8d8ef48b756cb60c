"""Ids from URLs and forms: ASCII digits within what a bigint column holds.

Every table's key is a BigAutoField. A larger number, or digits int() cannot
read ("²" passes str.isdigit()), never reaches the database, where SQLite
raises on it and PostgreSQL runs a query that can only find nothing.
"""

from __future__ import annotations

MAX_ID = 2**63 - 1


def is_digits(text: str) -> bool:
    """Whether `text` is ASCII digits, so an id rather than a name."""
    return text.isascii() and text.isdigit()


def parse_id(text: str) -> int | None:
    """`text` as an id from 1 to MAX_ID; None when it is not one."""
    if not is_digits(text):
        return None
    digits = text.lstrip("0")
    if not digits or len(digits) > len(str(MAX_ID)):
        return None
    value = int(digits)
    return value if value <= MAX_ID else None


def id_range_message(what: str = "an id") -> str:
    return f"must be {what} from 1 to {MAX_ID}"
