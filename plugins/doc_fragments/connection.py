# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options shared by every lanman.server module (argument spec: module_utils/_options.py)."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r'''
options:
  server:
    description:
      - Host name or IP address of the Windows or Samba file server to query.
      - When the task runs for an inventory host, defaults to the address its connection plugin
        would use (C(ansible_host), or the plugin's own variable such as C(ansible_winrm_host)
        or C(ansible_ssh_host)), else its inventory name. With C(delegate_to) it is still the
        inventory host's address, never the delegate's.
      - An IPv4 or IPv6 address (brackets optional, and removed) or a host name of ASCII
        letters, digits, C(-), C(_) and C($), at most 253 characters in labels of at most 63;
        not a UNC path (C(\\server)), a URL or C(host:port). Anything else is refused before
        connecting, with an error naming the option.
    type: str
    required: true
  port:
    description:
      - TCP port of the server's SMB service (C(backend=smb)).
      - The host's C(ansible_port) is never used here; it is usually a WinRM port.
      - From 1 to 65535.
    type: int
    default: 445
  backend:
    description:
      - How to reach the server's session API.
      - V(smb) calls the Server service over SMB, MS-SRVS on the C(\pipe\srvsvc) named pipe,
        with impacket. It needs TCP 445 (or O(port)) open from the controller.
      - V(winrm) runs a fixed PowerShell script on the server over WinRM, with pywinrm, that
        calls C(NetSessionEnum), C(NetSessionGetInfo) and C(NetSessionDel) in netapi32 there.
        It needs WinRM (O(winrm_port)) open from the controller, and Windows.
      - V(auto) is V(winrm) when the inventory host's C(ansible_connection) is C(winrm) or
        C(psrp) (a Windows host managed over WinRM), else V(smb). Without an inventory host
        (the module run by itself) it is V(smb).
      - Both return the same records and the same errors.
    type: str
    choices: [auto, smb, winrm]
    default: auto
  connection_username:
    description:
      - User to log on to the server as (not a session filter), as V(user), V(DOMAIN\\user) or
        V(user@dns.domain). The domain part is used when O(connection_domain) is not set.
      - With O(auth=kerberos), V(user@REALM) names the realm (upper-cased, as Active Directory
        realms are); for V(user) and V(DOMAIN\\user) the realm is the DNS domain of the
        server's host name (V(fs1.lab.example.com) gives V(LAB.EXAMPLE.COM)), or that of the ticket
        cache. Without a password it may be left out; the ticket cache then says who logs on.
      - Defaults to the user the host's connection plugin would use (C(ansible_user),
        C(ansible_winrm_user), C(ansible_ssh_user), C(remote_user), C(-u) ...).
      - Required with O(auth=ntlm).
      - Refused before connecting - a name with both a C(\\) and an C(@) part, or with an empty
        domain or user part (V(\\user), V(user@)).
    type: str
  connection_password:
    description:
      - Password of O(connection_username).
      - Defaults to the password the host's connection plugin would use (C(ansible_password),
        C(ansible_winrm_password), C(ansible_ssh_pass) ...), unless the task gives
        O(connection_nt_hash).
      - Mutually exclusive with O(connection_nt_hash).
    type: str
  connection_domain:
    description:
      - Domain (or, for a local account, the server's name) of O(connection_username).
      - Empty means the account is looked up as the server decides (usually its own domain).
      - With O(auth=kerberos), a DNS domain here (V(lab.example.com)) is the realm.
    type: str
  connection_nt_hash:
    description:
      - NT hash of the password (32 hexadecimal digits), used instead of O(connection_password)
        for NTLM or to obtain a Kerberos ticket.
    type: str
  auth:
    description:
      - Authentication protocol for the SMB logon.
      - V(ntlm) uses O(connection_username) with O(connection_password) or O(connection_nt_hash).
      - V(kerberos) asks the KDC for a ticket for C(cifs/<host name>) with
        O(connection_password) or O(connection_nt_hash) when one is given. Without either it uses
        the controller's ticket cache, C(KRB5CCNAME) (a C(FILE:) cache; by default
        C(/tmp/krb5cc_<uid>)), such as C(kinit) or an AWX Kerberos credential leaves it; a cache
        that holds only the ticket-granting ticket is enough.
      - The host name is O(kerberos_hostname), else O(server) when that is a name. A failure of
        the KDC is reported with its Kerberos code and name (for example
        C(KDC_ERR_PREAUTH_FAILED) for a wrong password, C(KDC_ERR_C_PRINCIPAL_UNKNOWN) for an
        unknown user); no password and no usable ticket cache with C(SEC_E_NO_CREDENTIALS).
      - Works against Windows and Samba AD domain controllers (Samba's KDC needs the request
        checksum that RFC 4120 requires, which the collection adds to impacket's requests).
    type: str
    choices: [ntlm, kerberos]
    default: ntlm
  kdc_host:
    description:
      - Host name or address of the Kerberos KDC (domain controller) to ask for tickets.
      - Without it, the first C(kdc) of the realm in the controller's krb5.conf (C(KRB5_CONFIG),
        else C(/etc/krb5.conf)) is asked, else the realm's DNS name (an Active Directory domain
        name resolves to its domain controllers).
      - Each exchange with the KDC is bounded by O(connect_timeout); a KDC that does not answer
        fails the task with C(ERROR_SEM_TIMEOUT).
      - Only with O(auth=kerberos). An IPv4 or IPv6 address or a host name, without a port.
    type: str
  kerberos_hostname:
    description:
      - The server's host name for its Kerberos service principal name (C(cifs/<name>) over SMB,
        C(HTTP/<name>) over WinRM), when O(server) is an IP address.
      - For an inventory host whose task does not set O(server), defaults to the host's
        C(ansible_winrm_kerberos_hostname_override), else to its inventory name when
        C(ansible_host) is an IP address, so that C(fs1.example.com ansible_host=192.0.2.10)
        works with Kerberos as it is.
      - Used with O(auth=kerberos) (C(backend=smb)) and O(winrm_transport=kerberos); Kerberos
        with an address for O(server) and no name here fails before connecting, naming this
        option.
      - A DNS name of ASCII letters, digits, C(-), C(_) and C($); an IP address, an empty or
        blank value, or control characters are refused.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for the server to accept the connection and for each answer after that
        (C(backend=smb)). A server that stops answering in the middle of a call, after the
        connection was set up, fails the task with C(ERROR_SEM_TIMEOUT) after this long; one
        that drops the connection fails it with C(ERROR_NETNAME_DELETED) at once.
      - From 1 to 3600.
    type: int
    default: 10
  smb_encrypt:
    description:
      - Require SMB 3 encryption of the session (C(backend=smb)). The task fails with
        C(STATUS_ACCESS_DENIED) (operation C(require encryption (smb_encrypt))), before any request is sent
        over the pipe, when the server did not agree to encrypt it (SMB 2.x only, or encryption
        turned off on the server, for example Samba's C(server smb encrypt = off)).
      - With V(false), the session is still encrypted whenever the server offers SMB 3
        encryption (impacket's behaviour), and signed when the server requires signing; it is
        sent in the clear otherwise.
      - Not used with C(backend=winrm) (refused when V(true)); WinRM is protected by
        O(winrm_scheme=https) or O(winrm_message_encryption).
    type: bool
    default: false
  winrm_transport:
    description:
      - Authentication of the WinRM connection (C(backend=winrm)).
      - For a host managed over WinRM, defaults to the host's C(ansible_winrm_transport) (the
        first of its list) or C(ansible_psrp_auth), C(negotiate) being taken as V(ntlm).
      - V(certificate) needs O(winrm_cert_pem) and O(winrm_cert_key_pem).
      - V(basic) and V(certificate) need O(winrm_scheme=https); over V(http) they are refused
        before anything is sent (Basic would send the password unprotected).
    type: str
    choices: [ntlm, kerberos, credssp, basic, certificate]
    default: ntlm
  winrm_scheme:
    description:
      - V(https) or V(http) (C(backend=winrm)). Over V(http), V(ntlm), V(kerberos) and V(credssp)
        encrypt the messages themselves (O(winrm_message_encryption)).
      - For a host managed over WinRM, defaults to its C(ansible_winrm_scheme).
    type: str
    choices: [https, http]
    default: https
  winrm_port:
    description:
      - WinRM port (C(backend=winrm)); 5986 for V(https), 5985 for V(http) when not set.
        From 1 to 65535.
      - For a host managed over WinRM, defaults to its C(ansible_port).
    type: int
  winrm_server_cert_validation:
    description:
      - Whether to check the server's TLS certificate (C(backend=winrm), V(https)).
      - V(ignore) turns the check off; it is never off unless asked for.
      - Defaults to the host's C(ansible_winrm_server_cert_validation).
    type: str
    choices: [validate, ignore]
    default: validate
  winrm_ca_trust_path:
    description:
      - File or directory of CA certificates to validate the server's certificate with, instead
        of the controller's (C(backend=winrm)). Defaults to the host's C(ansible_winrm_ca_trust_path).
    type: path
  winrm_cert_pem:
    description:
      - Client certificate for O(winrm_transport=certificate).
    type: path
  winrm_cert_key_pem:
    description:
      - Private key of O(winrm_cert_pem).
    type: path
  winrm_message_encryption:
    description:
      - Message encryption of the WinRM protocol itself (C(backend=winrm)) with V(ntlm),
        V(kerberos) and V(credssp). V(auto) encrypts over V(http) only, V(always) also inside
        HTTPS, V(never) never (the server must then allow unencrypted traffic).
    type: str
    choices: [auto, always, never]
    default: auto
  winrm_operation_timeout:
    description:
      - Seconds the WinRM service may take for one operation (C(backend=winrm)); from 1 to 3600.
    type: int
    default: 20
  winrm_read_timeout:
    description:
      - Seconds to wait for an HTTP answer (C(backend=winrm)); must exceed
        O(winrm_operation_timeout); at most 3600.
    type: int
    default: 30
notes:
  - A list or mapping given for a string option, or a boolean for a number, is refused rather
    than converted to text or to 0/1.
  - The modules run on the Ansible controller (or the AWX execution environment) for every
    inventory host, whatever the host's C(ansible_connection); the file server needs nothing but
    its Server service reachable.
requirements:
  - impacket >= 0.12 on the controller (for C(backend=smb)).
  - pywinrm >= 0.5 on the controller (for C(backend=winrm)).
'''
