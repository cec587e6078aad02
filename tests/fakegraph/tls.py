"""A throw-away self-signed certificate for 127.0.0.1, made with `cryptography` (msal needs it)."""

from __future__ import annotations

import atexit
import functools
import ipaddress
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@functools.cache
def shared_certificate() -> tuple[Path, Path]:
    """One certificate for every fake in this process: `REQUESTS_CA_BUNDLE` is process-wide,
    and tests of two modules (two fakes) may take turns in one pytest worker."""
    folder = Path(tempfile.mkdtemp(prefix="fakegraph-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return make_certificate(folder)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files in `folder`: a CA-flagged self-signed certificate for
    127.0.0.1 and localhost, valid for a day, that a client can trust as its own anchor."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakegraph test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
