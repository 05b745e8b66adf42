"""Admin: API keys (issue, list, rename, revoke/restore, delete) and their audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from api.audit import set_audit_target
from api.auth import ADMIN_RESPONSES, AdminKey, KeyServicesDep, require_admin
from api.problems import problem_doc
from market_data.errors import InvalidRequestError, KeyNotFound
from market_data.keys.audit import MAX_OFFSET, MAX_PAGE, UNKNOWN_KEY, page_at_offset
from market_data.keys.models import ApiKeyRecord, Scope

router = APIRouter(
    prefix="/api/v1/admin/api-keys",
    tags=["admin: api keys"],
    dependencies=[Depends(require_admin)],
    responses=ADMIN_RESPONSES,
)

# No control characters: names end up in logs, CSV exports and the dashboard.
KeyName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
KeyId = Annotated[str, Path(min_length=1, max_length=64, description="The key's id")]


def _as_utc(value: datetime | None) -> datetime | None:
    # A time without an offset is taken as UTC rather than refused.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    scopes: list[Scope] = Field(default=[Scope.READ], min_length=1, max_length=10)
    expires_at: Annotated[datetime | None, AfterValidator(_as_utc)] = None
    # Strict: JSON true is not a rate of 1, nor "no" a revocation.
    rate_limit_per_minute: StrictInt | None = Field(default=None, ge=1, le=1_000_000)


class ApiKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: StrictBool | None = Field(default=None, description="false revokes, true restores")
    name: KeyName | None = None


class ApiKeyPublic(BaseModel):
    """A key as admins see it: never the key itself, only a preview."""

    id: str
    name: str
    key_preview: str
    scopes: list[Scope]
    active: bool
    status: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_limit_per_minute: int | None

    @classmethod
    def of(cls, record: ApiKeyRecord, now: datetime) -> ApiKeyPublic:
        return cls(
            id=record.key_id,
            name=record.name,
            key_preview=record.preview,
            scopes=list(record.scopes),
            active=record.is_active(now),
            status=record.state(now).value,
            created_at=record.created_at,
            created_by=record.created_by,
            expires_at=record.expires_at,
            revoked_at=record.revoked_at,
            last_used_at=record.last_used_at,
            rate_limit_per_minute=record.rate_limit_per_minute,
        )


class ApiKeyCreated(ApiKeyPublic):
    api_key: str = Field(description="The key itself. Shown only in this response: store it now.")


class ApiKeyList(BaseModel):
    count: int
    api_keys: list[ApiKeyPublic]


class AuditEventPublic(BaseModel):
    time: datetime
    key_id: str
    action: str
    method: str
    path: str
    target: str | None
    outcome: int | None = Field(
        description="The response status; null while a change is under way, or if its "
        "result was lost (the change may have been made)"
    )
    request_id: str
    source_ip: str | None
    user_agent: str | None
    detail: str | None


class AuditPagePublic(BaseModel):
    key_id: str
    count: int
    events: list[AuditEventPublic]
    next_cursor: str | None


@router.post(
    "",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Issue a key (the key is in this response only)",
)
def create_api_key(
    body: ApiKeyCreate, admin: AdminKey, keys: KeyServicesDep, request: Request
) -> ApiKeyCreated:
    issued = keys.admin.create(
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
        rate_limit_per_minute=body.rate_limit_per_minute,
        created_by=f"key:{admin.key_id}",
    )
    set_audit_target(request, issued.record.key_id)
    public = ApiKeyPublic.of(issued.record, keys.clock())
    return ApiKeyCreated(**public.model_dump(), api_key=issued.api_key)


@router.get("", response_model=ApiKeyList, summary="Keys, newest first (no secrets)")
def list_api_keys(
    keys: KeyServicesDep,
    active_only: Annotated[bool, Query(description="Only keys that work now")] = False,
) -> ApiKeyList:
    now = keys.clock()
    records = keys.admin.list(active_only=active_only)
    return ApiKeyList(count=len(records), api_keys=[ApiKeyPublic.of(r, now) for r in records])


@router.get("/{key_id}", response_model=ApiKeyPublic, summary="One key (no secret)")
def get_api_key(key_id: KeyId, keys: KeyServicesDep) -> ApiKeyPublic:
    return ApiKeyPublic.of(keys.admin.get(key_id), keys.clock())


@router.put(
    "/{key_id}",
    response_model=ApiKeyPublic,
    summary="Rename, revoke (active=false) or restore (active=true)",
    responses={409: problem_doc("Revoking the calling key, or restoring an expired key")},
)
def update_api_key(
    key_id: KeyId, body: ApiKeyUpdate, admin: AdminKey, keys: KeyServicesDep
) -> ApiKeyPublic:
    if body.active is None and body.name is None:
        raise InvalidRequestError("Give at least one of: active, name.")
    record = keys.admin.update(
        key_id, active=body.active, name=body.name, acting_key_id=admin.key_id
    )
    return ApiKeyPublic.of(record, keys.clock())


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Delete a key for good (its audit trail is kept until it expires)",
    responses={409: problem_doc("Deleting the calling key")},
)
def delete_api_key(key_id: KeyId, admin: AdminKey, keys: KeyServicesDep) -> Response:
    keys.admin.delete(key_id, acting_key_id=admin.key_id)
    return Response(status_code=204)


@router.get(
    "/{key_id}/audit",
    response_model=AuditPagePublic,
    summary="What a key did (admin calls, failed authentications), newest first",
    description=f"Use the id `{UNKNOWN_KEY}` for failures where no key could be identified. "
    "Events outlive a deleted key.",
    responses={400: problem_doc("Malformed cursor")},
)
def api_key_audit(
    key_id: KeyId,
    keys: KeyServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor")] = None,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description="Events to skip, as the replaced API paged; cursors are cheaper "
            "(the skipped events are read) and go any depth",
        ),
    ] = 0,
) -> AuditPagePublic:
    if offset and cursor is not None:
        raise InvalidRequestError("Give cursor or offset, not both.")
    if offset:
        page = page_at_offset(keys.audit, key_id, limit=limit, offset=offset)
    else:
        page = keys.audit.page(key_id, limit=limit, cursor=cursor)
    # An empty trail of a key that never existed is a typo; a deleted key's trail is kept.
    first_page_empty = not page.events and cursor is None
    if first_page_empty and key_id != UNKNOWN_KEY and not keys.admin.exists(key_id):
        raise KeyNotFound(key_id)
    events = [AuditEventPublic(time=e.at, **e.model_dump(exclude={"at"})) for e in page.events]
    return AuditPagePublic(
        key_id=key_id, count=len(events), events=events, next_cursor=page.next_cursor
    )
