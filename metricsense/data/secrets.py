"""`${VAR}` references in connection URLs: expanded from the environment, masked in all output.

It imports no NumPy: the text and HTML reports mask the spec lines they quote with ``mask_text``.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(url: str) -> str:
    """The URL with every ``${VAR}`` replaced by the environment's value; a missing one is MS030."""
    from metricsense.data.table import DataError  # NOTE: here, so the reports can mask without NumPy

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise DataError("MS030", f"the connection URL needs the environment variable {name}, which is not set")
        return os.environ[name]

    return _REF.sub(sub, url)


def display(url: str) -> str:
    """The URL as shown to people: the password (and any `${VAR}` value) never appears."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = re.sub(r"(?i)((?:^|(?<=&))[\w.-]*(?:password|passwd|pwd|secret|token)=)[^&]*", r"\1***", parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    if not netloc and url.startswith(f"{parts.scheme}://"):  # NOTE: urlunsplit writes sqlite:///k.db as sqlite:/k.db
        shown = f"{parts.scheme}://{shown[len(parts.scheme) + 1:]}"
    return shown


def secrets_of(template: str) -> list[str]:
    """The values the template's ``${VAR}`` references expand to (to be masked wherever they show)."""
    values = [os.environ.get(name, "") for name in _REF.findall(template)]
    return [v for v in values if len(v) >= 3]


def mask(message: str, expanded_url: str, template: str | None = None) -> str:
    """``message`` with the URL's password and every secret value replaced by ***."""
    secrets = secrets_of(template or "")
    try:
        password = urlsplit(expanded_url).password
    except ValueError:
        password = None
    if password:
        secrets.append(password)
    for secret in sorted(set(secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


# A password written in a URL (`scheme://user:PASSWORD@host`; greedy to the last `@`, as
# urlsplit reads it) or as a query parameter (`?password=...`), wherever the URL stands in a text.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@\"'<>]*:)([^\s\"'<>/]*)(?=@)")
# NOTE: a parameter whose name ends in one of these words too (`sslpassword`, `client_secret`).
_PARAM_PASSWORD = re.compile(r"(?i)([?&][\w.-]*(?:password|passwd|pwd|secret|token)=)([^&#\s\"'<>]*)")


def mask_text(text: str) -> str:
    """``text`` (a line of a spec, say) with every password written in a URL replaced by ***.

    A `${VAR}` reference is kept as written: it names the secret, it is not one.
    """
    if "://" not in text and "=" not in text:
        return text

    def hide(match: re.Match) -> str:
        value = match.group(2)
        if not value or value == "***" or _REF.fullmatch(value):
            return match.group(0)
        return match.group(1) + "***"

    return _PARAM_PASSWORD.sub(hide, _URL_PASSWORD.sub(hide, text))
