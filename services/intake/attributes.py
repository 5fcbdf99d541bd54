"""Answers to a menu item's questions (Open311 service-definition attributes), checked and typed.

Pure: takes the item's attribute definitions and the caller's answers, returns the cleaned answers
or the list of fields that are wrong. Answers may be JSON values (native API) or strings (Open311 forms).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from shared.text_hygiene import offending

MAX_STRING = 500
MAX_TEXT = 2000
# Answers are stored under their code as a field name: no `.` (a path), no leading `$` (an operator).
ATTRIBUTE_CODE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"
_ATTRIBUTE_CODE = re.compile(ATTRIBUTE_CODE_PATTERN)
# Numbers are stored as they are: keep them exact in a double and within BSON's integers.
MAX_ABS_NUMBER = 2**53
# For menu definitions (services/intake/reference_models.py): an attribute code that can be stored.
AttributeCode = Annotated[str, Field(pattern=ATTRIBUTE_CODE_PATTERN, examples=["medicine_name"])]


def storable_code(code: str) -> bool:
    return bool(_ATTRIBUTE_CODE.match(code))


@dataclass(frozen=True)
class AnswerError:
    code: str
    message: str


def _number(value: Any) -> float | int | None:
    number = _parse_number(value)
    return number if number is not None and abs(number) <= MAX_ABS_NUMBER else None


def _parse_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            return None
        if not math.isfinite(parsed):
            return None
        return int(parsed) if parsed.is_integer() and "." not in value else parsed
    return None


def _datetime(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.isoformat()


def _check(definition: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    datatype = definition.get("datatype", "string")
    keys = [str(option.get("key")) for option in definition.get("values", [])]
    if datatype in ("string", "text"):
        limit = MAX_STRING if datatype == "string" else MAX_TEXT
        if not isinstance(value, str):
            return None, f"expected {datatype}"
        if len(value) > limit:
            return None, f"at most {limit} characters"
        char = offending(value, allow_line_breaks=datatype == "text")
        if char is not None:
            return None, f"contains a control or bidirectional character (U+{ord(char):04X})"
        return value, None
    if datatype == "number":
        number = _number(value)
        return (number, None) if number is not None else (None, f"expected a number of at most {MAX_ABS_NUMBER}")
    if datatype == "datetime":
        parsed = _datetime(value)
        return (parsed, None) if parsed is not None else (None, "expected an ISO 8601 date and time")
    if datatype == "singlevaluelist":
        if not isinstance(value, str | int) or isinstance(value, bool) or str(value) not in keys:
            return None, f"expected one of {keys}"
        return str(value), None
    if datatype == "multivaluelist":
        chosen = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
        if not isinstance(chosen, list) or not chosen or any(str(v) not in keys for v in chosen):
            return None, f"expected a list of values among {keys}"
        if any(isinstance(v, bool) or not isinstance(v, str | int) for v in chosen):
            return None, f"expected a list of values among {keys}"
        return sorted({str(v) for v in chosen}), None
    return None, f"unsupported datatype {datatype!r}"


def validate_answers(
    definitions: list[dict[str, Any]], answers: dict[str, Any]
) -> tuple[dict[str, Any], list[AnswerError]]:
    """Return (clean answers, errors); unknown codes, missing required ones and wrong types are errors."""
    by_code = {str(d["code"]): d for d in definitions if d.get("code")}
    errors = [AnswerError(code, "not a question of this menu item") for code in answers if code not in by_code]
    clean: dict[str, Any] = {}
    for code, definition in by_code.items():
        value = answers.get(code)
        if value is None or value == "" or value == []:
            if definition.get("required"):
                errors.append(AnswerError(code, "required"))
            continue
        if not storable_code(code):
            # A definition from before codes were checked: accepting the answer would let the request be
            # acknowledged and then never stored. Refuse it now, visibly, until the menu is fixed.
            errors.append(AnswerError(code, "this question's code cannot be stored; the menu item must be fixed"))
            continue
        checked, problem = _check(definition, value)
        if problem is not None:
            errors.append(AnswerError(code, problem))
        else:
            clean[code] = checked
    return clean, errors
