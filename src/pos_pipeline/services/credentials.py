"""Generated credentials kept under ``$POS_HOME/secrets``, readable by their owner only."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from pos_pipeline.errors import ServiceError

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# PostgreSQL's own default (scram_iterations).
SCRAM_ITERATIONS = 4096


def secrets_dir(home: Path) -> Path:
    """Return the folder holding the generated credentials."""
    return home / "secrets"


def new_password() -> str:
    """Return a fresh random password: 256 bits, URL-safe characters only."""
    return secrets.token_urlsafe(32)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    # mkdir leaves an existing folder as it was, and the mode above is subject to the umask.
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to ``path`` atomically, as a file only its owner (uid, gid if given) can read.

    The file is created with mode 0600 (mkstemp), so no other user can open it at any moment.
    """
    _private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
            if owner is not None:
                os.fchown(fh.fileno(), *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_password(path: Path) -> str | None:
    """Return the password kept in ``path`` (None if there is no such file); ServiceError if unusable."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceError(f"cannot read {path}: {exc}") from exc
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o): setting it to 0600", path, mode)
        path.chmod(PRIVATE_FILE)
    password = text.rstrip("\n")
    # SCRAM normalises passwords with SASLprep, which leaves printable ASCII as it is: our
    # verifier and libpq's then agree.
    if not password or not all(" " < ch <= "~" for ch in password):
        raise ServiceError(f"{path} must hold one line of printable ASCII without spaces")
    return password


def scram_sha256_verifier(password: str, iterations: int = SCRAM_ITERATIONS) -> str:
    """Return PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677), with a random salt.

    Handing PostgreSQL the verifier rather than the password keeps the password itself out of
    SQL text, and so out of any server log line that quotes a statement.
    """
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
