"""hpsearch.database: storage URLs, their passwords masked whatever form they take."""

import pytest

from hpsearch.database import redact


@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:hunter2@db.example:5432/hp", "postgresql://me:***@db.example:5432/hp"),
    ("postgresql+psycopg://u:hun@ter2@host/db", "postgresql+psycopg://u:***@host/db"),  # an unencoded @
    ("postgresql://u:hun%40ter2@host/db", "postgresql://u:***@host/db"),
    ("mysql+pymysql://u:hun/ter?2@host/db", "mysql+pymysql://u:***@host/db"),
    ("postgresql://u:hunter2@host/db?application_name=me@work", "postgresql://u:***@host/db?application_name=me@work"),
    ("postgresql://admin@server:hunter2@server.example/db", "postgresql://admin@server:***@server.example/db"),
    ("postgresql://u:hun ter2@host/db", "postgresql://u:***@host/db"),
    ("postgresql://u@host/db?password=hunter2", "postgresql://u@host/db?password=***"),
    ("postgresql://host/db?sslmode=require&password=hunter2&x=1", "postgresql://host/db?sslmode=require&password=***&x=1"),
    ("postgresql://host/db?PASSWORD=hun@ter2", "postgresql://host/db?PASSWORD=***"),
    ("postgresql://u:hunter2@", "postgresql://u:***@"),  # not even a URL SQLAlchemy parses
    ("postgresql://u:hunter2@:not a port/", "postgresql://u:***@:not a port/"),
    ("postgresql://u@host:5432/db", "postgresql://u@host:5432/db"),
    ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),
    ("sqlite:///studies/hpsearch.db", "sqlite:///studies/hpsearch.db"),
])
def test_a_password_is_masked_whatever_form_the_url_takes(url, shown):
    assert redact(url) == shown
    assert redact(shown) == shown


def test_passwords_in_text_are_masked_where_they_stand():
    text = ("cannot open storage 'postgresql://u:hunter2@h/db': refused; also postgresql://v:x@y@h2/db\n"
            "study:\n  storage: \"mysql://w:hunter3@h3/db?ssl=1&passwd=hunter4\"\n")
    shown = redact(text)
    assert not any(secret in shown for secret in ("hunter2", "x@y", "hunter3", "hunter4")), shown
    assert "'postgresql://u:***@h/db'" in shown and "postgresql://v:***@h2/db" in shown
    assert "mysql://w:***@h3/db?ssl=1&passwd=***\"" in shown
