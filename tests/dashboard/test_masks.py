"""What the Settings page shows of URLs: webhooks as host and digest (the same form as the
logs and the notification key), API bases without credentials or query, database URLs with
the password hidden by SQLAlchemy."""

from __future__ import annotations

import pytest

from carewatch.settings import NotifyConfig
from dashboard.safe import mask_url, mask_webhook
from storage.db import DatabaseError, create_db_engine, redact_url

SLACK = "https://hooks.slack.com/services/T0AAA/B0BBB/s3cr3tXXXXXXXXXXXXXXXX"


def test_webhook_shown_as_host_and_digest() -> None:
    shown = mask_webhook(SLACK)
    assert shown.startswith("hooks.slack.com:")
    assert "services" not in shown
    assert "s3cr3t" not in shown
    assert "T0AAA" not in shown
    assert NotifyConfig(kind="webhook", url=SLACK).key == f"webhook:{shown}"
    assert mask_webhook(None) == ""


def test_api_base_without_credentials_or_query() -> None:
    assert mask_url("https://user:pw-123@api.example:8443/base?access_token=abc") == \
        "https://api.example:8443/base?***"
    assert mask_url("https://graph.facebook.com") == "https://graph.facebook.com"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://cw:hunter2@db.example:5432/cw",
     "postgresql+psycopg://cw:***@db.example:5432/cw"),
    ("postgresql+psycopg://cw:p%40ss%3Aw%2Frd@db/cw", "postgresql+psycopg://cw:***@db/cw"),
    ("sqlite:///carewatch.db", "sqlite:///carewatch.db"),
])
def test_database_url_password_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_database_errors_never_show_the_password() -> None:
    with pytest.raises(DatabaseError) as info:
        create_db_engine("nosuchdb://cw:hunter2@db/cw")
    assert "hunter2" not in str(info.value)
    assert "nosuchdb://cw:***@db/cw" in str(info.value)
