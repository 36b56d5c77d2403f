"""Secrets in data source URLs never reach a message."""

from __future__ import annotations


# Review regression: a secret in the user or database part of a URL was shown.
def test_every_url_secret_is_masked(monkeypatch):
    from metricsense.data.secrets import mask

    monkeypatch.setenv("DBUSER", "alice_secret_user")
    monkeypatch.setenv("DBNAME", "topsecretdb")
    monkeypatch.setenv("PGPASSWORD", "pw-123456")
    template = "postgresql://${DBUSER}:${PGPASSWORD}@h/${DBNAME}"
    url = "postgresql://alice_secret_user:pw-123456@h/topsecretdb"
    text = mask('FATAL: database "topsecretdb" role "alice_secret_user" password pw-123456', url, template)
    assert "topsecret" not in text and "alice_secret" not in text and "pw-123456" not in text


# Attack regression (A8): a parameter whose name ends in a secret word (libpq's sslpassword) was
# shown in quoted source lines.
def test_parameters_ending_in_a_secret_word_are_masked():
    from metricsense.data.secrets import display, mask_text

    line = 'data sql "x" from "postgresql://u:p@h/x?sslpassword=hunter3&sslmode=require&client_secret=zz"'
    masked = mask_text(line)
    assert "hunter3" not in masked and "zz" not in masked and "sslmode=require" in masked
    assert "hunter3" not in display("postgresql://h/x?sslpassword=hunter3")
