import pytest
from pydantic import ValidationError

from market_data.settings import Settings


def test_settings_name_the_variable_that_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/db")
    monkeypatch.setenv("MARKET_DATA_PROVIDER", "yahoo")
    with pytest.raises(ValidationError, match="market_data_provider"):
        Settings()


def test_settings_require_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings()


def test_cors_origins_are_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/db")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_allow_origins == ["https://a.example", "https://b.example"]


def test_aws_connection_settings_are_enough_without_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DB_HOST", "cluster.example")
    monkeypatch.setenv("DB_IAM_USER", "mdw_app")
    assert Settings().db_iam_user == "mdw_app"
