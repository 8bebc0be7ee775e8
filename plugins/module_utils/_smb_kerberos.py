# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kerberos tickets for the SMB transport: from a password, an NT hash or a ticket cache.

Private to the lanman.server collection: not a public API. Imported by ``_smb`` only, and only
when impacket is installed; nothing here leaves the SMB transport.

impacket (0.12, 0.13) has two gaps that this file bridges, both confined to the ticket requests
of one logon:

* Its TGS-REQ carries an authenticator without the checksum of the request body that RFC 4120
  5.5.1 requires ("the checksum ... of the KDC-REQ-BODY ... key usage 6"). Windows KDCs let it
  pass; Samba's KDC refuses the request with KRB_AP_ERR_INAPP_CKSUM (50), so neither a password
  nor a ticket cache that holds only a TGT could reach a Samba AD server. ``add_body_checksum``
  adds the checksum to the request impacket built, just before it is sent. This stands in for
  the same change proposed upstream (impacket pull request 2211, "Fix Kerberos TGT/TGS
  interoperability issues with Samba AD DC"); with an impacket that sends the checksum itself,
  the request is passed on unchanged.
* Its socket to the KDC has no time-out: a KDC that accepts and never answers would hang the
  task. Every KDC exchange here is bounded by the task's ``connect_timeout``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from typing import Any, NamedTuple

try:
    from impacket.krb5 import constants, kerberosv5
    from impacket.krb5.asn1 import AP_REQ, TGS_REQ, Authenticator
    from impacket.krb5.ccache import CCache
    from impacket.krb5.crypto import _enctype_table, make_checksum
    from impacket.krb5.types import Principal
    from pyasn1.codec.der import decoder, encoder
    from pyasn1.error import PyAsn1Error
    from pyasn1.type.univ import noValue
except ImportError:  # _smb reports the missing library; nothing here runs without it
    pass

__all__ = ['KRB5_CCACHE_DEFAULT', 'Credentials', 'TicketCacheError', 'add_body_checksum',
           'ccache_path', 'configured_kdc', 'service_ticket']

# RFC 4120 7.5.1 key usage numbers.
KEY_USAGE_TGS_REQ_AUTH_CKSUM = 6
"""TGS-REQ PA-TGS-REQ padata AP-REQ Authenticator cksum, keyed with the TGS session key."""
KEY_USAGE_TGS_REQ_AUTH = 7
"""TGS-REQ PA-TGS-REQ padata AP-REQ Authenticator, encrypted with the TGS session key."""
# The keyed checksum that goes with each session key type: encryption type -> checksum type.
_CHECKSUM_FOR_ENCTYPE = {
    18: 16,  # aes256-cts-hmac-sha1-96 -> hmac-sha1-96-aes256 (RFC 3962 7)
    17: 15,  # aes128-cts-hmac-sha1-96 -> hmac-sha1-96-aes128 (RFC 3962 7)
    23: -138,  # rc4-hmac -> hmac-md5 (RFC 4757 4)
    16: 12,  # des3-cbc-sha1-kd -> hmac-sha1-des3-kd (RFC 3961 6.3)
}
KDC_PORT = 88  # RFC 4120 7.2.3.1
# MIT Kerberos' default ticket cache when KRB5CCNAME is not set (krb5.conf default_ccache_name).
KRB5_CCACHE_DEFAULT = '/tmp/krb5cc_{uid}'


class TicketCacheError(Exception):
    """No usable ticket cache; the message says what was looked for."""


class Credentials(NamedTuple):
    """A service ticket for impacket's ``kerberosLogin(TGS=...)`` and who it belongs to."""

    ticket: dict[str, Any]
    username: str
    realm: str


def add_body_checksum(message: bytes, session_key: Any) -> bytes:
    """A TGS-REQ with the RFC 4120 5.5.1 checksum of its body in the authenticator.

    ``message`` is a DER-encoded TGS-REQ whose PA-TGS-REQ authenticator is encrypted with
    ``session_key`` (the TGT's session key). Any other message, and a request that already
    carries a checksum, is returned unchanged.
    """
    try:
        request = decoder.decode(message, asn1Spec=TGS_REQ())[0]
    except PyAsn1Error:
        return message  # an AS-REQ: it has no authenticator
    padata = request['padata'][0]
    if int(padata['padata-type']) != constants.PreAuthenticationDataTypes.PA_TGS_REQ.value:
        return message
    ap_request = decoder.decode(padata['padata-value'], asn1Spec=AP_REQ())[0]
    cipher = _enctype_table[session_key.enctype]
    plain = cipher.decrypt(session_key, KEY_USAGE_TGS_REQ_AUTH, ap_request['authenticator']['cipher'])
    authenticator = decoder.decode(plain, asn1Spec=Authenticator())[0]
    if authenticator['cksum'].hasValue():
        return message
    checksum_type = _CHECKSUM_FOR_ENCTYPE[session_key.enctype]
    authenticator['cksum'] = noValue
    authenticator['cksum']['cksumtype'] = checksum_type
    authenticator['cksum']['checksum'] = make_checksum(
        checksum_type, session_key, KEY_USAGE_TGS_REQ_AUTH_CKSUM,
        _explicit_tag_contents(encoder.encode(request['req-body'])))
    ap_request['authenticator']['cipher'] = cipher.encrypt(
        session_key, KEY_USAGE_TGS_REQ_AUTH, encoder.encode(authenticator), None)
    padata['padata-value'] = encoder.encode(ap_request)
    return encoder.encode(request)


def _explicit_tag_contents(der: bytes) -> bytes:
    """What a DER explicit tag wraps: the checksum covers the KDC-REQ-BODY itself, without
    the ``[4]`` tag that it carries as a field of the KDC-REQ (X.690 8.14, 8.1.3)."""
    first = der[1]
    return der[2:] if first < 0x80 else der[2 + (first & 0x7F):]


def configured_kdc(realm: str) -> tuple[str, int] | None:
    """The first KDC that the controller's krb5.conf names for ``realm``, as (host, port).

    What kinit would ask: ``kdc = host[:port]`` in the realm's block of ``[realms]``, in the
    files of ``KRB5_CONFIG`` (colon-separated) or else ``/etc/krb5.conf``. None when no file
    names one (impacket then asks the realm's own DNS name, as an AD domain name resolves to
    its domain controllers).
    """
    for path in (os.environ.get('KRB5_CONFIG') or '/etc/krb5.conf').split(':'):
        try:
            with open(path, encoding='utf-8', errors='replace') as config:
                kdc = _kdc_in(config.read(), realm)
        except OSError:
            continue
        if kdc is not None:
            return kdc
    return None


def _kdc_in(text: str, realm: str) -> tuple[str, int] | None:
    section, block = '', None
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].split(';', 1)[0].strip()
        if line.startswith('[') and line.endswith(']'):
            section, block = line[1:-1].strip().lower(), None
        elif section == 'realms' and line.endswith('{'):
            block = line[:-1].strip().rstrip('=').strip()
        elif line == '}':
            block = None
        elif section == 'realms' and block == realm and '=' in line:
            key, value = (part.strip() for part in line.split('=', 1))
            if key == 'kdc' and value:
                return _host_and_port(value)
    return None


def _host_and_port(value: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[IPv6]`` or ``[IPv6]:port`` (krb5.conf(5), "kdc")."""
    if value.startswith('['):
        host, _bracket, rest = value[1:].partition(']')
        port = rest[1:] if rest.startswith(':') else ''
    elif value.count(':') == 1:
        host, _colon, port = value.partition(':')
    else:
        host, port = value, ''
    return host, int(port) if port.isdigit() else KDC_PORT


@contextlib.contextmanager
def _kdc_exchanges(timeout: int, tgt_session_key: Any | None = None,
                   port: int | None = None) -> Iterator[None]:
    """Bound impacket's KDC exchanges by ``timeout`` and, given the TGT's session key, add the
    body checksum to its TGS-REQs; ``port`` replaces the KDC port when krb5.conf names one.

    impacket looks its ``sendReceive`` up at every call, so replacing it for the duration of
    one logon reaches every request of that logon and nothing else.
    """
    original = kerberosv5.sendReceive

    def send_receive(data: bytes, host: str, kdc_host: str | None, kdc_port: int = KDC_PORT) -> bytes:
        if tgt_session_key is not None:
            data = add_body_checksum(data, tgt_session_key)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)  # impacket's socket is created with the default
        try:
            return original(data, host, kdc_host, port or kdc_port)
        finally:
            socket.setdefaulttimeout(previous)

    kerberosv5.sendReceive = send_receive
    try:
        yield
    finally:
        kerberosv5.sendReceive = original


def ccache_path() -> str:
    """The ticket cache file that ``KRB5CCNAME`` names (``FILE:`` stripped), else MIT's default."""
    name = os.environ.get('KRB5CCNAME') or KRB5_CCACHE_DEFAULT.format(uid=os.getuid())
    kind, colon, rest = name.partition(':')
    if not colon or kind.upper() == 'FILE':
        return rest if colon else name
    raise TicketCacheError(f"KRB5CCNAME={name!r} is a {kind} cache; only FILE ticket caches can "
                           "be read (for example KRB5CCNAME=FILE:/tmp/krb5cc_ansible)")


class _Cached(NamedTuple):
    """What the ticket cache gave: a service ticket or else a TGT, and whose they are."""

    service: dict[str, Any] | None
    tgt: dict[str, Any] | None
    username: str
    realm: str


def _from_cache(username: str | None, realm: str | None, spn: str) -> _Cached:
    """The cache's ticket for ``spn`` or else its TGT; TicketCacheError if it has neither."""
    path = ccache_path()
    if not os.path.isfile(path):
        raise TicketCacheError(f"no connection_password and no ticket cache at {path} (run kinit, "
                               "or set KRB5CCNAME)")
    try:
        cache = CCache.loadFile(path)
    except (OSError, ValueError, PyAsn1Error, IndexError) as error:
        raise TicketCacheError(f"the ticket cache {path} cannot be read ({type(error).__name__})") from None
    principal = cache.principal
    cached_user = principal.components[0]['data'].decode('utf-8') if principal.components else ''
    cached_realm = principal.realm['data'].decode('utf-8')
    if (username and cached_user.casefold() != username.casefold()) \
            or (realm and cached_realm.casefold() != realm.casefold()):
        raise TicketCacheError(f"the ticket cache {path} holds the tickets of "
                               f"{cached_user}@{cached_realm}, not of {username or cached_user}@"
                               f"{realm or cached_realm}")
    realm = cached_realm
    service = cache.getCredential(f'{spn}@{realm.upper()}')
    if service is not None:
        return _Cached(service.toTGS(f'{spn}@{realm.upper()}'), None, cached_user, realm)
    tgt = cache.getCredential(f'krbtgt/{realm.upper()}@{realm.upper()}')
    if tgt is None:
        raise TicketCacheError(f"the ticket cache {path} holds no ticket-granting ticket for "
                               f"{realm.upper()} (or it has expired: run kinit again)")
    return _Cached(None, tgt.toTGT(), cached_user, realm)


def service_ticket(*, host_name: str, username: str | None, realm: str | None,
                   password: str | None, nt_hash: str | None, kdc_host: str | None,
                   timeout: int) -> Credentials:
    """A ``cifs/<host_name>`` service ticket, from the password or NT hash when given, else
    from the ticket cache (a service ticket already there, or one asked for with its TGT).

    Raises TicketCacheError, or what impacket raises for the KDC (KerberosError, socket errors).
    """
    spn = f'cifs/{host_name}'
    if password or nt_hash:
        if not username:
            raise TicketCacheError('a password is given, but no connection_username to go with it')
        if not realm:
            raise TicketCacheError('no realm: give connection_username as user@REALM or set '
                                   'connection_domain')
        cached = _Cached(None, None, username, realm)
    else:
        cached = _from_cache(username, realm, spn)
    if cached.service is not None:
        return Credentials(cached.service, cached.username, cached.realm)
    port = None
    if kdc_host is None:
        kdc_host, port = configured_kdc(cached.realm.upper()) or (None, None)
    tgt = cached.tgt
    if tgt is None:
        client = Principal(cached.username, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
        with _kdc_exchanges(timeout, port=port):
            answer, cipher, _long_term_key, session_key = kerberosv5.getKerberosTGT(
                client, password or '', cached.realm, '', nt_hash or '', '', kdc_host)
        tgt = {'KDC_REP': answer, 'cipher': cipher, 'sessionKey': session_key}
    server = Principal(spn, type=constants.PrincipalNameType.NT_SRV_INST.value)
    with _kdc_exchanges(timeout, tgt['sessionKey'], port):
        answer, cipher, _tgt_key, session_key = kerberosv5.getKerberosTGS(
            server, cached.realm, kdc_host, tgt['KDC_REP'], tgt['cipher'], tgt['sessionKey'])
    return Credentials({'KDC_REP': answer, 'cipher': cipher, 'sessionKey': session_key},
                       cached.username, cached.realm)
