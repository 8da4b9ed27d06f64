"""The TLS context of SIP over TLS: the administrator's certificate, or a self-signed one.

A real installation sets `VPBX_SIP_TLS_CERT`/`VPBX_SIP_TLS_KEY` (e.g. from Let's Encrypt). The
demo has none: a self-signed certificate is generated once into the data directory with the
`openssl` command (Debian's `openssl`), so `make run` offers TLS without any step; phones then
have to be told to accept it (most softphones ask, or have "verify server certificate" off).
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import ssl
import subprocess
from pathlib import Path

log = logging.getLogger("vpbx.sip.transport")


class CertificateError(Exception):
    """No usable certificate: the files are missing or unreadable, or openssl failed."""


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """`directory`/sip-tls.crt and .key, generated on first use (EC P-256, 10 years)."""
    cert, key = directory / "sip-tls.crt", directory / "sip-tls.key"
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError("openssl is not installed: set VPBX_SIP_TLS_CERT and _KEY")
    directory.mkdir(parents=True, exist_ok=True)
    name = host if host not in ("0.0.0.0", "::", "") else "localhost"
    alt = f"IP:{name}" if _is_ip(name) else f"DNS:{name}"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "3650", "-subj", f"/CN={name}", "-addext", f"subjectAltName={alt}",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise CertificateError(f"openssl failed: {result.stderr.strip()[-500:]}")
    key.chmod(0o600)
    log.info("self-signed sip tls certificate generated", extra={"path": str(cert)})
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context of TLS 1.2 or newer; phones are not asked for a certificate (they are
    authenticated by digest, RFC 3261 §26.3.2.2 leaves client certificates optional)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise CertificateError(f"cannot load {cert} / {key}: {error}") from error
    return context


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
