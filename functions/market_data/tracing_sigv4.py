"""A requests session that signs each request with AWS Signature V4 (X-Ray's OTLP endpoint).

X-Ray takes OTLP traces at https://xray.<region>.amazonaws.com/v1/traces from
callers signed for the `xray` service; the function's own credentials (the
execution role, allowed xray:PutTraceSegments by active tracing) sign them.
Imported only when traces are exported there.
"""

from __future__ import annotations

import os
from typing import Any

import requests


class SigV4Session(requests.Session):
    def __init__(self, service: str, region: str | None = None) -> None:
        super().__init__()
        self._service = service
        self._region = region or os.environ.get("AWS_REGION") or "us-east-1"
        self._credentials: Any = None

    def _signed_headers(self, method: str, url: str, data: Any, headers: Any) -> dict[str, str]:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        if self._credentials is None:
            self._credentials = botocore.session.Session().get_credentials()
        request = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
        SigV4Auth(self._credentials.get_frozen_credentials(), self._service, self._region).add_auth(
            request
        )
        return dict(request.headers.items())

    def forget_credentials(self) -> None:
        """After a SnapStart restore: credentials are read again, never reused."""
        self._credentials = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        data = kwargs.get("data")
        kwargs["headers"] = self._signed_headers(method, url, data, kwargs.get("headers"))
        return super().request(method, url, *args, **kwargs)
