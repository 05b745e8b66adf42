"""The settings the local tools run with: the environment's, pointed at the local services."""

from __future__ import annotations

import os
from typing import Any

from market_data.settings import Settings

# The local key tables' pepper, so `make admin-key` in another shell can add keys too.
LOCAL_PEPPER = "local-development-pepper-not-a-secret"


def local_settings(database_url: str, aws_endpoint_url: str, **overrides: Any) -> Settings:
    """Polygon when POLYGON_API_KEY is set (unless MARKET_DATA_PROVIDER says otherwise),
    and the local pepper unless one is configured."""
    if not {"API_KEY_PEPPER", "API_KEY_PEPPER_SECRET_ARN"} & os.environ.keys():
        overrides.setdefault("api_key_pepper", LOCAL_PEPPER)
    if "MARKET_DATA_PROVIDER" not in os.environ:
        keyed = bool(os.environ.get("POLYGON_API_KEY"))
        overrides.setdefault("market_data_provider", "polygon" if keyed else "synthetic")
    return Settings(database_url=database_url, aws_endpoint_url=aws_endpoint_url, **overrides)
