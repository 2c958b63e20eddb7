"""Rows to records, shared by the async store and the admin page's read-only connections."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from panic_edge.core.invocation import Invocation, InvocationState, Run
from panic_edge.core.media import Content, MediaType

Row = Mapping[str, Any]


def _content(type_: str, text: str | None, file: str | None, mime: str | None,
             flags: str = "[]") -> Content:
    return Content(MediaType(type_), text=text, file=file, mime=mime, flags=tuple(json.loads(flags)))


def row_to_invocation(row: Row) -> Invocation:
    output = None
    if row["output_text"] is not None or row["output_file"] is not None:
        output = _content(row["output_type"], row["output_text"], row["output_file"],
                          row["output_mime"], row["output_flags"])
    return Invocation(
        id=row["id"], run_id=row["run_id"], network=row["network"], sequence=row["sequence"],
        model=row["model"], state=InvocationState(row["state"]),
        input=_content(row["input_type"], row["input_text"], row["input_file"], row["input_mime"]),
        output_type=MediaType(row["output_type"]), output=output, error=row["error"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        meta=json.loads(row["meta"]),
    )


def row_to_run(row: Row) -> Run:
    return Run(id=row["id"], network=row["network"], prompt=row["prompt"], started_at=row["started_at"],
               ended_at=row["ended_at"], end_reason=row["end_reason"])
