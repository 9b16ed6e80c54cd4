"""Which group a coded fragment belongs to: its case, its interview, or its respondent's role.

A case is named by the first of the configured metadata fields that the fragment's interview has
(`profile.case_fields`: `municipality` in the synthetic corpus, `case` in the study's quotes; a `.qdpx`'s
REFI-QDA Cases arrive as `case`), a role likewise (`profile.role_fields`), an interview by its document id.
A predictions line may carry the field itself (the cross-validation's `case`). An interview without any of
the fields is bad input, named with the fields that were looked for and the ones it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.errors import InputError

GROUPINGS = ("case", "interview", "role")


def _label(field: str, value: Any) -> str:
    """A group's name: the value, with the field name before a bare number (`case 1`, not `1`)."""
    if isinstance(value, bool):
        return f"{field} {'yes' if value else 'no'}"
    if isinstance(value, (int, float)):
        return f"{field} {value:g}" if isinstance(value, float) else f"{field} {value}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    text = str(value).strip()
    return f"{field} {text}" if text.isdigit() else text


def group_of(record: Mapping[str, Any], metadata: Mapping[str, Any], *, by: str, fields: Sequence[str]) -> str | None:
    """The group of one fragment record (None when none of `fields` is set)."""
    if by == "interview":
        return str(record["document"])
    for name in fields:
        for source in (metadata, record.get("fields") or {}):
            value = source.get(name)
            if value not in (None, "", [], ()):
                return _label(name, value)
    return None


def assign_groups(
    records: Sequence[Mapping[str, Any]], documents: Mapping[str, Mapping[str, Any]], *, by: str,
    fields: Sequence[str], source: str,
) -> dict[str, str]:
    """{fragment id: group} for every record; an InputError naming the interviews that lack every field."""
    if by not in GROUPINGS:
        raise InputError("--by", f"unknown grouping '{by}'; expected one of {', '.join(GROUPINGS)}")
    groups: dict[str, str] = {}
    missing: dict[str, set[str]] = {}
    for record in records:
        metadata = documents.get(str(record["document"]), {})
        group = group_of(record, metadata, by=by, fields=fields)
        if group is None:
            missing.setdefault(str(record["document"]), set(metadata) | set(record.get("fields") or {}))
            continue
        groups[str(record["id"])] = group
    if missing:
        example, has = next(iter(sorted(missing.items())))
        raise InputError(source, f"{len(missing)} interview(s) have none of the metadata fields "
                         f"{', '.join(fields)} needed for --by {by} (e.g. '{example}', whose metadata has "
                         f"{', '.join(sorted(has)) or 'no fields'}); add the field, name another with --field, "
                         "or group --by interview")
    return groups
