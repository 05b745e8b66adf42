"""The API app for `uvicorn --factory devtools.serve:app_from_environment` (a server in its own
process, as make load and the browser tests run it): settings read from that environment."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from market_data.settings import Settings


def app_from_environment() -> FastAPI:
    return create_app(Settings())
