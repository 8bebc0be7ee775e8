"""Throw-away X.509 material for the HTTPS WinRM tests, made at test time with ``cryptography``.

``make_pki(directory)`` writes PEM files into a directory the caller owns (pytest's tmp_path):
a test CA, a server certificate for ``win1.lab.test`` / 127.0.0.1 that it signed, a second,
unrelated CA with a server certificate of its own, a server certificate with another name, an
expired one, and client certificates for WinRM certificate authentication. No key is ever
written anywhere else, and none is kept in the repository.

What Windows wants of each (the source is named where the rule is applied):

* a WinRM HTTPS listener's certificate: Server Authentication EKU, the host's name in the
  subject alternative names (``winrm quickconfig -transport:https`` refuses others);
* a client certificate for certificate mapping: Client Authentication EKU and a subject
  alternative name of type otherName ``User Principal Name`` (1.3.6.1.4.1.311.20.2.3) holding
  ``user@localhost``; the WinRM service maps it with ``WSMan:\\localhost\\ClientCertificate``
  entries: Subject (that UPN), Issuer (the SHA-1 thumbprint of the CA that issued it) and the
  local account's credentials.

Keys are ECDSA P-256: fast to make (a whole set takes milliseconds), accepted by Windows'
Schannel and by OpenSSL alike.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = ['UPN_OID', 'Issued', 'TestPki', 'make_pki', 'make_ca', 'issue_server', 'issue_client',
           'thumbprint', 'upn_of']

# Microsoft's otherName for the User Principal Name (szOID_NT_PRINCIPAL_NAME).
UPN_OID = ObjectIdentifier('1.3.6.1.4.1.311.20.2.3')
SERVER_NAME = 'win1.lab.test'
SERVER_ADDRESS = '127.0.0.1'
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, in memory and as PEM files."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path
    key_path: Path

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.certificate)


@dataclass(frozen=True)
class TestPki:
    """Everything ``make_pki`` wrote; ``directory`` holds the files."""

    __test__ = False  # not a pytest test class, whatever its name

    directory: Path
    ca: Issued                 # the test CA (trust it with ca_trust_path=ca.cert_path)
    server: Issued             # win1.lab.test, 127.0.0.1; issued by ca
    other_ca: Issued           # a CA nobody trusts
    untrusted_server: Issued   # win1.lab.test, 127.0.0.1; issued by other_ca
    wrong_name_server: Issued  # elsewhere.lab.test, 127.0.0.2; issued by ca
    expired_server: Issued     # win1.lab.test, 127.0.0.1; issued by ca, expired yesterday
    client: Issued             # UPN admin@localhost, Client Authentication; issued by ca
    unmapped_client: Issued    # UPN mallory@localhost; issued by ca, mapped to nobody
    stranger_client: Issued    # UPN admin@localhost; issued by other_ca


def thumbprint(certificate: x509.Certificate) -> str:
    """Windows' certificate thumbprint: the SHA-1 of the DER, upper-case hex."""
    return certificate.fingerprint(hashes.SHA1()).hex().upper()


def upn_of(certificate: x509.Certificate) -> list[str]:
    """The User Principal Names in a certificate's subject alternative names."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [_der_utf8(name.value) for name in names.get_values_for_type(x509.OtherName) if name.type_id == UPN_OID]


def _utf8_der(text: str) -> bytes:
    """An ASN.1 UTF8String, DER-encoded (the otherName value)."""
    data = text.encode('utf-8')
    if len(data) < 0x80:
        return bytes([0x0C, len(data)]) + data
    length = len(data).to_bytes((len(data).bit_length() + 7) // 8, 'big')
    return bytes([0x0C, 0x80 | len(length)]) + length + data


def _der_utf8(value: bytes) -> str:
    if len(value) < 2 or value[0] != 0x0C:
        return ''
    if value[1] < 0x80:
        return value[2:2 + value[1]].decode('utf-8', 'replace')
    size = value[1] & 0x7F
    length = int.from_bytes(value[2:2 + size], 'big')
    return value[2 + size:2 + size + length].decode('utf-8', 'replace')


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(directory: Path, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path = directory / f'{name}.pem'
    key_path = directory / f'{name}.key'
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    with open(os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'wb') as handle:
        handle.write(data)
    return Issued(certificate, key, cert_path, key_path)


def _builder(subject: str, issuer: x509.Name | None, public_key: ec.EllipticCurvePublicKey,
             not_before: datetime.datetime, not_after: datetime.datetime) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def make_ca(directory: Path, name: str) -> Issued:
    """A self-signed root CA (valid from yesterday for ten days), written as ``<name>.pem/.key``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    certificate = (
        _builder(f'{name} (lanman.server tests)', None, key.public_key(), now - _DAY, now + 10 * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256()))
    return _write(directory, name, certificate, key)


def _leaf(ca: Issued, subject: str, usage: ObjectIdentifier, names: list[x509.GeneralName],
          not_before: datetime.datetime, not_after: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key_id = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        _builder(subject, ca.certificate.subject, key.public_key(), not_before, not_after)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca.key, hashes.SHA256()))
    return certificate, key


def issue_server(directory: Path, name: str, ca: Issued, dns_name: str, address: str, *,
                 expired: bool = False) -> Issued:
    """A WinRM HTTPS listener certificate (Server Authentication) for ``dns_name`` and ``address``."""
    now = _now()
    not_before, not_after = (now - 10 * _DAY, now - _DAY) if expired else (now - _DAY, now + 10 * _DAY)
    certificate, key = _leaf(ca, dns_name, ExtendedKeyUsageOID.SERVER_AUTH,
                             [x509.DNSName(dns_name), x509.IPAddress(ipaddress.ip_address(address))],
                             not_before, not_after)
    return _write(directory, name, certificate, key)


def issue_client(directory: Path, name: str, ca: Issued, upn: str) -> Issued:
    """A client certificate for WinRM certificate mapping: Client Authentication, UPN ``upn``."""
    now = _now()
    certificate, key = _leaf(ca, upn.partition('@')[0], ExtendedKeyUsageOID.CLIENT_AUTH,
                             [x509.OtherName(UPN_OID, _utf8_der(upn))], now - _DAY, now + 10 * _DAY)
    return _write(directory, name, certificate, key)


def make_pki(directory: Path, *, dns_name: str = SERVER_NAME, address: str = SERVER_ADDRESS,
             client_upn: str = 'admin@localhost') -> TestPki:
    """The whole set, written into ``directory`` (which must exist and be the caller's)."""
    directory = Path(directory)
    ca = make_ca(directory, 'test-ca')
    other_ca = make_ca(directory, 'other-ca')
    return TestPki(
        directory=directory, ca=ca,
        server=issue_server(directory, 'server', ca, dns_name, address),
        other_ca=other_ca,
        untrusted_server=issue_server(directory, 'untrusted-server', other_ca, dns_name, address),
        wrong_name_server=issue_server(directory, 'wrong-name-server', ca, 'elsewhere.lab.test', '127.0.0.2'),
        expired_server=issue_server(directory, 'expired-server', ca, dns_name, address, expired=True),
        client=issue_client(directory, 'client', ca, client_upn),
        unmapped_client=issue_client(directory, 'unmapped-client', ca, 'mallory@localhost'),
        stranger_client=issue_client(directory, 'stranger-client', other_ca, client_upn),
    )
