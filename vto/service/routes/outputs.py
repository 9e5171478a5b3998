"""Serving a stored output: a redirect to a presigned URL (S3; the store answers ranges itself),
or the bytes, with the validators and byte ranges of RFC 9110.

* ``ETag`` (strong: a digest of the bytes; outputs never change) and ``Accept-Ranges: bytes``
  on every answer; ``If-None-Match`` naming it → 304.
* ``Range: bytes=a-b`` / ``a-`` / ``-n`` → 206 with ``Content-Range``; a range starting past the
  end → 416 (problem+json, ``Content-Range: bytes */length``). Several ranges, another unit or a
  malformed header are ignored (200 with the whole image), as RFC 9110 allows; so is a Range
  whose ``If-Range`` does not name the current ETag.
* HEAD answers the same status and headers without the body.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from vto.service.problems import PROBLEM_MEDIA_TYPE, http_problem_type, problem_response

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

# OpenAPI ``responses=`` of the routes that serve outputs.
OUTPUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the image (also HEAD)"},
    206: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "description": "the byte range asked for (Range: bytes=a-b)",
          "headers": {"Content-Range": {"schema": {"type": "string"}}}},
    304: {"description": "not modified (If-None-Match)"},
    307: {"description": "redirect to a presigned storage URL"},
    416: {"description": "Range Not Satisfiable",
          "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
          "headers": {"Content-Range": {"schema": {"type": "string"}}}},
}


def byte_range(header: str | None, length: int) -> tuple[int, int] | None | bool:
    """The inclusive (first, last) byte a Range header asks for; None to ignore it (absent,
    malformed, several ranges); False when it cannot be satisfied."""
    if not header:
        return None
    match = _SINGLE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first_text, last_text = match.groups()
    if not first_text:  # the last n bytes
        suffix = int(last_text)
        if suffix == 0 or length == 0:
            return False
        return max(0, length - suffix), length - 1
    first = int(first_text)
    last = int(last_text) if last_text else length - 1
    if last_text and last < first:
        return None  # invalid: ignore (RFC 9110 14.1.1)
    if first >= length:
        return False
    return first, min(last, length - 1)


def output_response(output: Any, request: Request) -> Response:
    """A presigned redirect, or the bytes with ETag and Range support (HEAD: headers only)."""
    if output.url:
        return RedirectResponse(output.url, status_code=307)
    data: bytes = output.data
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "private, max-age=3600", "ETag": etag, "Accept-Ranges": "bytes"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if_range = request.headers.get("if-range")
    wanted = byte_range(request.headers.get("range"), len(data))
    if if_range is not None and if_range.strip() != etag:
        wanted = None
    head = request.method == "HEAD"
    if wanted is False:
        return problem_response(416, "Range Not Satisfiable",
                                f"the output has {len(data)} bytes",
                                type_=http_problem_type(416), instance=request.url.path,
                                headers={**headers, "Content-Range": f"bytes */{len(data)}"})
    if wanted is None:
        headers["Content-Length"] = str(len(data))
        return Response(b"" if head else data, media_type=output.content_type,
                        headers=headers)
    first, last = wanted
    headers.update({"Content-Range": f"bytes {first}-{last}/{len(data)}",
                    "Content-Length": str(last - first + 1)})
    return Response(b"" if head else data[first:last + 1], status_code=206,
                    media_type=output.content_type, headers=headers)
