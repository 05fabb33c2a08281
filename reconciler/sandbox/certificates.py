"""Certificate-key pairs the sandbox makes itself: `POST …/generate/` (apps 24-30, 42, 43) builds
a self-signed certificate like authentik's CertificateBuilder (subject `OU=Self-signed,
O=authentik,CN=<common_name>`, RSA or, in 2026, ECDSA), and the PEM views (apps 38-41)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .applications import parsed_certificate

KEY_PAIRS = "/crypto/certificatekeypairs/"
RSA_BITS = 2048
REQUIRED = "This field is required."
NOT_AN_INTEGER = "A valid integer is required."
NOT_A_CHOICE = '"{value}" is not a valid choice.'
PEM = serialization.Encoding.PEM


def generate(common_name: str, subject_alt_names: list[str], validity_days: int, alg: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a new self-signed key pair."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if alg == "ecdsa" else
        rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "authentik"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Self-signed")])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + timedelta(days=validity_days)))
    names = [x509.DNSName(alt) for alt in [common_name, *subject_alt_names] if alt]
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    private = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(PEM).decode(), private.decode()


def generate_errors(body: dict[str, object], algs: tuple[str, ...]) -> dict[str, list[str]]:
    """The field errors of a generate request (apps 24, 30): `common_name` and `validity_days`
    required, `alg` one of the version's choices (2023 has none and ignores it, 2023 apps 30)."""
    errors: dict[str, list[str]] = {}
    if not str(body.get("common_name") or "").strip():
        errors["common_name"] = [REQUIRED]
    days = body.get("validity_days")
    if days is None:
        errors["validity_days"] = [REQUIRED]
    elif isinstance(days, bool) or not str(days).strip().lstrip("-").isdigit():
        errors["validity_days"] = [NOT_AN_INTEGER]
    if algs and "alg" in body and body["alg"] not in algs:
        errors["alg"] = [NOT_A_CHOICE.format(value=body["alg"])]
    return errors


def pem_error(certificate: object, key: object) -> dict[str, list[str]]:
    """The import errors of a key pair's PEMs (apps 51, 52, 66): unreadable values only."""
    errors: dict[str, list[str]] = {}
    if isinstance(certificate, str) and parsed_certificate(certificate) is None:
        errors["certificate_data"] = ["Unable to load certificate."]
    if isinstance(key, str) and key:
        try:
            serialization.load_pem_private_key(key.encode(), password=None)
        except (ValueError, TypeError):
            errors["key_data"] = ["Unable to load private key (possibly encrypted?)."]
    return errors
