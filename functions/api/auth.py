"""Who may call what. The X-API-Key check lives here, in one dependency.

Admin routes depend on `AdminKey`; the key store that backs it is built in the
API-keys work and replaces `require_admin` without touching the routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from api.problems import ProblemError


def require_admin(x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise ProblemError(401, "X-API-Key header is required", slug="unauthorized")
    raise ProblemError(401, "API key is not valid", slug="unauthorized")


AdminKey = Annotated[str, Depends(require_admin)]
