"""The TGS-REQ body checksum that the SMB transport adds to impacket's request (_smb_kerberos.py).

Samba's KDC refuses a TGS-REQ whose authenticator lacks the RFC 4120 5.5.1 checksum of the
request body (tests/e2e/test_domain.py shows the real refusal and the real success); Windows KDCs
accept it with the checksum as with any RFC-conforming client. These tests take the request
impacket builds (no network: its send function is replaced to capture the bytes) and check that
only the checksum is added, that it verifies with the TGS session key, and that a request
already carrying one is left alone.
"""

from __future__ import annotations

import os

import pytest
from impacket.krb5 import constants, kerberosv5
from impacket.krb5.asn1 import AP_REQ, AS_REP, TGS_REQ, Authenticator, seq_set
from impacket.krb5.crypto import Cksumtype, Enctype, Key, _enctype_table, verify_checksum
from impacket.krb5.types import Principal
from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from ansible_collections.lanman.server.plugins.module_utils._smb_kerberos import (
    KEY_USAGE_TGS_REQ_AUTH, KEY_USAGE_TGS_REQ_AUTH_CKSUM, _host_and_port, _kdc_in,
    add_body_checksum,
)

REALM = 'LAB.TEST'


class _Sent(Exception):
    def __init__(self, message: bytes) -> None:
        super().__init__('captured')
        self.message = message


def _tgt() -> bytes:
    """A TGT as impacket keeps one (an AS-REP whose ticket is opaque to the client)."""
    answer = AS_REP()
    answer['pvno'] = 5
    answer['msg-type'] = int(constants.ApplicationTagNumbers.AS_REP.value)
    answer['crealm'] = REALM
    seq_set(answer, 'cname', Principal('user1', type=constants.PrincipalNameType.NT_PRINCIPAL.value)
            .components_to_asn1)
    answer['ticket'] = noValue
    answer['ticket']['tkt-vno'] = 5
    answer['ticket']['realm'] = REALM
    seq_set(answer['ticket'], 'sname', Principal(f'krbtgt/{REALM}',
            type=constants.PrincipalNameType.NT_SRV_INST.value).components_to_asn1)
    answer['ticket']['enc-part'] = noValue
    answer['ticket']['enc-part']['etype'] = Enctype.AES256
    answer['ticket']['enc-part']['cipher'] = os.urandom(200)
    answer['enc-part'] = noValue
    answer['enc-part']['etype'] = Enctype.AES256
    answer['enc-part']['cipher'] = b''
    return encoder.encode(answer)


def impacket_tgs_request(monkeypatch, session_key: Key) -> bytes:
    """The TGS-REQ that impacket's getKerberosTGS sends for cifs/dc1.lab.test."""
    def capture(data, host, kdc_host, port=88):
        raise _Sent(data)

    monkeypatch.setattr(kerberosv5, 'sendReceive', capture)
    server = Principal('cifs/dc1.lab.test', type=constants.PrincipalNameType.NT_SRV_INST.value)
    with pytest.raises(_Sent) as sent:
        kerberosv5.getKerberosTGS(server, REALM, '127.0.0.1', _tgt(),
                                  _enctype_table[session_key.enctype], session_key)
    return sent.value.message


def _parts(message: bytes, session_key: Key):
    request = decoder.decode(message, asn1Spec=TGS_REQ())[0]
    ap_request = decoder.decode(request['padata'][0]['padata-value'], asn1Spec=AP_REQ())[0]
    cipher = _enctype_table[session_key.enctype]
    authenticator = decoder.decode(
        cipher.decrypt(session_key, KEY_USAGE_TGS_REQ_AUTH, ap_request['authenticator']['cipher']),
        asn1Spec=Authenticator())[0]
    return request, ap_request, authenticator


@pytest.mark.parametrize('enctype, size, checksum_type', [
    (Enctype.AES256, 32, Cksumtype.SHA1_AES256),
    (Enctype.AES128, 16, Cksumtype.SHA1_AES128),
    (Enctype.RC4, 16, Cksumtype.HMAC_MD5),
])
def test_the_checksum_of_the_body_is_added_and_nothing_else_changes(monkeypatch, enctype, size,
                                                                    checksum_type):
    key = Key(enctype, os.urandom(size))
    original = impacket_tgs_request(monkeypatch, key)
    before_request, before_ap, before_auth = _parts(original, key)
    assert not before_auth['cksum'].hasValue()  # what Samba's KDC refuses

    fixed = add_body_checksum(original, key)
    request, ap_request, authenticator = _parts(fixed, key)
    # The body, the ticket and the authenticator's other fields are what impacket sent.
    assert encoder.encode(request['req-body']) == encoder.encode(before_request['req-body'])
    assert encoder.encode(ap_request['ticket']) == encoder.encode(before_ap['ticket'])
    for field in ('authenticator-vno', 'crealm', 'cname', 'cusec', 'ctime'):
        assert encoder.encode(authenticator[field]) == encoder.encode(before_auth[field])
    # RFC 4120 5.5.1: a keyed checksum of the encoded KDC-REQ-BODY (untagged), key usage 6.
    assert int(authenticator['cksum']['cksumtype']) == checksum_type
    body = encoder.encode(request['req-body'])
    untagged = body[2:] if body[1] < 0x80 else body[2 + (body[1] & 0x7F):]
    verify_checksum(checksum_type, key, KEY_USAGE_TGS_REQ_AUTH_CKSUM, untagged,
                    authenticator['cksum']['checksum'].asOctets())


def test_a_request_with_a_checksum_and_other_messages_pass_unchanged(monkeypatch):
    key = Key(Enctype.AES256, os.urandom(32))
    fixed = add_body_checksum(impacket_tgs_request(monkeypatch, key), key)
    assert add_body_checksum(fixed, key) == fixed
    assert add_body_checksum(b'\x6a\x03\x02\x01\x05', key) == b'\x6a\x03\x02\x01\x05'


KRB5_CONF = """
[libdefaults]
    default_realm = LAB.TEST
[realms]
    OTHER.TEST = {
        kdc = kdc.other.test
    }
    LAB.TEST = {
        admin_server = dc1.lab.test
        kdc = 127.0.50.1:8888  # a comment
        kdc = dc2.lab.test
    }
"""


def test_the_kdc_is_read_from_krb5_conf():
    assert _kdc_in(KRB5_CONF, 'LAB.TEST') == ('127.0.50.1', 8888)
    assert _kdc_in(KRB5_CONF, 'OTHER.TEST') == ('kdc.other.test', 88)
    assert _kdc_in(KRB5_CONF, 'NONE.TEST') is None
    assert _host_and_port('[::1]:750') == ('::1', 750)
    assert _host_and_port('::1') == ('::1', 88)
