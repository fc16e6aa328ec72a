"""What the service lets a client reach: the roots, the token, the uploads.

- Only files under the configured roots (and the service's own data directory) are
  readable. A client path is resolved, symlinks included, before it is checked, so that
  ``..``, absolute paths and links out of a root are all refused the same way.
- Binding to anything but the loopback interface needs a token; when a token is set it
  is checked on every request (``Authorization: Bearer``, the ``X-Qualitylab-Token``
  header, a ``token`` query parameter or the cookie the pages set from it).
- Stored uploads get generated names; the client's file name only lends its extension.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path

TOKEN_COOKIE = "qualitylab_token"
LOOPBACK_NAMES = {"localhost"}


class AccessError(PermissionError):
    """A path outside every allowed root, or a request without the right token."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface only."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """ValueError when ``host`` is reachable from other machines and no token is set."""
    if not is_loopback(host) and not token:
        raise ValueError(
            f"binding to {host} makes the service reachable from other machines: set a token "
            "with --token or QUALITYLAB_TOKEN"
        )


def token_matches(expected: str, offered: str | None) -> bool:
    """Constant-time comparison of the offered token with the expected one."""
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


class Roots:
    """The directories whose files the service may read, each resolved once."""

    def __init__(self, roots: list[Path]) -> None:
        self.paths = [Path(root).resolve() for root in roots]
        missing = [str(root) for root in self.paths if not root.is_dir()]
        if missing:
            raise ValueError(f"--root: not a directory: {', '.join(missing)}")

    def allows(self, path: Path) -> bool:
        """Whether the resolved ``path`` lies inside one of the roots."""
        resolved = path.resolve()
        return any(resolved == root or resolved.is_relative_to(root) for root in self.paths)

    def resolve(self, client_path: str) -> Path:
        """The real path of ``client_path`` (relative to the first root that holds it,
        or absolute), AccessError when it leads outside every root or does not exist."""
        if not client_path or "\x00" in client_path:
            raise AccessError("empty or malformed path")
        candidates = (
            [Path(client_path)]
            if Path(client_path).is_absolute()
            else [root / client_path for root in self.paths]
        )
        for candidate in candidates:
            resolved = candidate.resolve()
            if self.allows(resolved) and resolved.exists():
                return resolved
        raise AccessError(
            f"{client_path}: not a file or directory under the service's roots "
            f"({', '.join(str(root) for root in self.paths) or 'none configured'})"
        )


def random_name() -> str:
    """A fresh random name for a stored file or folder (16 hex digits)."""
    return secrets.token_hex(8)


def stored_name(client_name: str | None, allowed_suffixes: tuple[str, ...]) -> str:
    """A generated file name keeping the client's extension when it is an allowed one;
    ValueError otherwise."""
    suffix = Path(client_name or "").suffix.lower()
    if suffix not in allowed_suffixes:
        raise ValueError(
            f"{client_name!r}: not a video file name (expected one of {', '.join(allowed_suffixes)})"
        )
    return f"{random_name()}{suffix}"
