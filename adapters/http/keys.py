"""Where the webhook adapter finds each binding's HMAC secret, by ``secret_id``.

A binding stores only the secret's id: the binding's settings are persisted in the
database and shown through the API, so the secret itself never enters them. The
secrets live in the adapter's configuration (``secrets``, e.g. read from a secret
manager at start-up) or in a directory with one file per id (``secrets_dir``, the way
Docker and Kubernetes mount secrets), read on each use so a rotation takes effect at
once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from adapters.http.signing import is_secret_id, secret_bytes


class SecretStore(Protocol):
    """Looks a secret up by id; ``None`` if there is none."""

    def get(self, secret_id: str) -> bytes | None: ...


class MappingSecretStore:
    """Secrets held in memory (from configuration or tests); never shown by ``repr``."""

    def __init__(self, secrets: Mapping[str, str | bytes]) -> None:
        for secret_id in secrets:
            if not is_secret_id(secret_id):
                raise ValueError(f"invalid secret id {secret_id!r}")
        self._secrets = {secret_id: secret_bytes(s) for secret_id, s in secrets.items()}

    def get(self, secret_id: str) -> bytes | None:
        return self._secrets.get(secret_id)

    def __repr__(self) -> str:
        return f"MappingSecretStore(<{len(self._secrets)} secrets>)"


class DirectorySecretStore:
    """One file per secret id in ``directory``; the file holds the secret (trailing
    whitespace ignored). Ids are checked against ``SECRET_ID_PATTERN``, so an id can
    never name a file outside the directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, secret_id: str) -> bytes | None:
        if not is_secret_id(secret_id):
            return None
        try:
            text = (self.directory / secret_id).read_bytes().rstrip()
        except (FileNotFoundError, IsADirectoryError):
            return None
        return secret_bytes(text)

    def __repr__(self) -> str:
        return f"DirectorySecretStore({str(self.directory)!r})"
