"""`make admin-key NAME=...`: create an admin API key and print it, once.

Works against whatever the environment points at: the emulated tables of
`make dev` (AWS_ENDPOINT_URL, API_KEY_PEPPER) or the real ones in AWS
(API_KEYS_TABLE, API_KEY_PEPPER_SECRET_ARN, the usual AWS credentials and
region). The key is written to stdout only; keep it somewhere safe.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence

from market_data.errors import KeyStoreUnavailable
from market_data.keys.models import Scope
from market_data.keys.services import dynamo_services
from market_data.settings import Settings

# Settings insists on a database for the API; the key store needs none.
_NO_DATABASE = "postgresql://unused.invalid/keys-only"


def create_admin_key(settings: Settings, name: str, created_by: str | None = None) -> str:
    """Issue an admin (and read) key in the configured key table; returns the key."""
    services = dynamo_services(settings)
    issued = services.admin.create(
        name=name,
        scopes=(Scope.READ, Scope.ADMIN),
        created_by=created_by or f"cli:{getpass.getuser()}",
    )
    return issued.api_key


def bootstrap_local_keys(settings: Settings, name: str = "make dev") -> str:
    """For `make dev`: the key tables in the emulated DynamoDB and a fresh admin key."""
    from devtools.local_aws import create_key_tables  # here: moto is a dev-only import

    create_key_tables(settings)
    return create_admin_key(settings, name, created_by="make dev")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="who or what the key is for")
    args = parser.parse_args(argv)
    name = args.name.strip()
    if not name or len(name) > 100:
        parser.error("--name must be 1-100 characters (make admin-key NAME=...)")
    os.environ.setdefault("DATABASE_URL", _NO_DATABASE)
    settings = Settings()
    try:
        api_key = create_admin_key(settings, name)
    except KeyStoreUnavailable as exc:
        print(f"error: cannot create the key in {settings.api_keys_table}: {exc}", file=sys.stderr)
        return 1
    print(f"Admin API key for {name!r} (shown once, send it as the X-API-Key header):")
    print(api_key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
