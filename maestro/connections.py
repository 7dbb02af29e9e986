"""Named connections: a name in a workflow (``sql.connection: warehouse``) → a SQLAlchemy URL.

A workflow names a connection; the worker's configuration says where it points, so the same
definition runs against a laptop's DuckDB file and the production Trino. Looked up in order,
the first that defines the name wins:

1. the environment variable ``MAESTRO_CONN_<NAME>`` of the worker process. ``<NAME>`` is the
   name upper-cased with every character other than a letter or digit turned into ``_``
   (``warehouse`` → ``MAESTRO_CONN_WAREHOUSE``, ``dw-eu`` → ``MAESTRO_CONN_DW_EU``). A step's own
   ``env`` does not count: connections are configuration of the worker, not of a workflow;
2. the YAML file named by the setting ``connections_file`` (``MAESTRO_CONNECTIONS_FILE``);
   a configured file that does not exist is an error;
3. ``.maestro/connections.yaml`` in the project folder (the workflow file's folder under
   ``maestro run``), when there is one: a repository (or ``examples/``) carries its local
   connections next to its workflows.

A connections file maps names to URLs, either as a string or as a map with a ``url`` key::

    warehouse: duckdb:////tmp/maestro-examples/warehouse.duckdb
    trino: {url: "trino://etl@trino.internal:8080/hive"}
    pg: postgresql+psycopg://etl:${PG_PASSWORD}@db.internal/analytics

Names match case-insensitively. ``${VAR}`` in a file's URL is replaced by the worker's
environment variable ``VAR`` (an unset variable is an error), so that passwords need not be
written in the file.

Secrets never leave this module in clear: ``redact`` renders a URL with its password hidden,
and ``secrets_of`` lists the strings (the password, and query values such as ``access_token``)
that ``scrub`` removes from driver messages before they reach a log, an event or the API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "MAESTRO_CONN_"
PROJECT_FILE = Path(".maestro") / "connections.yaml"
MASK = "***"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_KEY = re.compile(r"pass|secret|token|credential|key", re.IGNORECASE)


class ConnectionLookupError(ValueError):
    """A connection cannot be resolved; the message names it but never holds a secret."""


@dataclass(frozen=True)
class NamedConnection:
    """A resolved connection: its URL (with secrets) and where it was found."""

    name: str
    url: str
    source: str

    @property
    def redacted(self) -> str:
        return redact(self.url)

    @property
    def secrets(self) -> list[str]:
        return secrets_of(self.url)


def env_var_name(name: str) -> str:
    """``MAESTRO_CONN_<NAME>`` for a connection name."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def resolve(
    name: str,
    *,
    connections_file: Path | None = None,
    project_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> NamedConnection:
    """The connection called ``name``; raises ``ConnectionLookupError`` saying where it looked."""
    env = os.environ if environ is None else environ
    found = _from_environment(name, env)
    if found is not None:
        return found
    looked = [env_var_name(name)]
    for path, required in _files(connections_file, project_dir):
        if not path.exists():
            if required:
                raise ConnectionLookupError(f"the connections file {path} does not exist")
            continue
        looked.append(str(path))
        url = _from_file(name, path)
        if url is not None:
            return NamedConnection(name, _expand(url, name, path, env), str(path))
    raise ConnectionLookupError(f"unknown connection {name!r}: looked in {', '.join(looked)}")


def _from_environment(name: str, env: Mapping[str, str]) -> NamedConnection | None:
    wanted = env_var_name(name)
    for key, value in env.items():
        if key.upper() == wanted and value.strip():
            return NamedConnection(name, value.strip(), f"${key}")
    return None


def _files(connections_file: Path | None, project_dir: Path | None) -> list[tuple[Path, bool]]:
    files: list[tuple[Path, bool]] = []
    if connections_file is not None:
        files.append((Path(connections_file).expanduser(), True))
    if project_dir is not None:
        files.append((Path(project_dir) / PROJECT_FILE, False))
    return files


def _from_file(name: str, path: Path) -> str | None:
    entries = _load(path)
    for key, value in entries.items():
        if str(key).lower() != name.lower():
            continue
        url = value.get("url") if isinstance(value, Mapping) else value
        if not isinstance(url, str) or not url.strip():
            raise ConnectionLookupError(
                f"connection {name!r} in {path} must be a URL or a map with a 'url' key"
            )
        return url.strip()
    return None


def _load(path: Path) -> Mapping[Any, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        # the parser's message may quote a line of the file, hence a password: keep only the type
        problem = type(exc).__name__
        raise ConnectionLookupError(f"cannot read the connections file {path}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConnectionLookupError(f"the connections file {path} must map names to URLs")
    return data


def _expand(url: str, name: str, path: Path, env: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in env:
            raise ConnectionLookupError(
                f"connection {name!r} in {path} uses ${{{var}}}, which is not set"
            )
        return env[var]

    return _VAR.sub(value, url)


# -- keeping secrets out of messages ---------------------------------------------------------


def parse(url: str) -> URL:
    """The SQLAlchemy URL; raises ``ConnectionLookupError`` without quoting the URL."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise ConnectionLookupError("the connection URL cannot be parsed") from None


def redact(url: str) -> str:
    """``url`` with its password (and secret-looking query values) replaced by ``***``."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"
    query = {
        key: (MASK if _SECRET_KEY.search(key) else value) for key, value in parsed.query.items()
    }
    return parsed.set(query=query).render_as_string(hide_password=True)


def secrets_of(url: str) -> list[str]:
    """The secret strings inside ``url``: its password and secret-looking query values, each
    also as it is written in the URL (percent-encoded), since a step may print the URL itself."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return [url]
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if _SECRET_KEY.search(key):
            found.extend([value] if isinstance(value, str) else list(value))
    secrets = [str(secret) for secret in found if secret]
    return secrets + [quoted for s in secrets if (quoted := quote(s, safe="")) != s]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none leaks in part)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class ScrubbingStream:
    """Masks secrets in output that arrives in chunks (a step's stdout) before it is logged.

    A secret may be cut in two by a chunk boundary, so text after the last newline is held back
    (at most 64 KiB of it, then all but the last ``len(longest secret) - 1`` bytes are let go)
    until more arrives or ``flush`` is called at the end of the output.
    """

    _HOLD = 65536

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        self._keep = max((len(s) for s in self._secrets), default=1) - 1
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """What of the output so far can be logged now, masked."""
        data = self._mask(self._pending + chunk)
        cut = data.rfind(b"\n") + 1
        if len(data) - cut > self._HOLD:
            cut = len(data) - self._keep
        self._pending = data[cut:]
        return data[:cut]

    def flush(self) -> bytes:
        """The rest of the output, masked."""
        data, self._pending = self._mask(self._pending), b""
        return data

    def _mask(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, MASK.encode())
        return data
