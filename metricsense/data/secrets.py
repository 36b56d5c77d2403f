"""`${VAR}` references in connection URLs: expanded from the environment, masked in all output."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

from metricsense.data.table import DataError

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand(url: str) -> str:
    """The URL with every ``${VAR}`` replaced by the environment's value; a missing one is MS030."""

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
    query = re.sub(r"(?i)(password|passwd|pwd|secret|token)=[^&]*", r"\1=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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
