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
      - User to log on to the server as (not a session filter). C(DOMAIN\\user) is split into
        domain and user when O(connection_domain) is not set.
      - Defaults to the user the host's connection plugin would use (C(ansible_user),
        C(ansible_winrm_user), C(ansible_ssh_user), C(remote_user), C(-u) ...).
      - Required with O(auth=ntlm).
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
      - V(kerberos) uses the ticket cache named by C(KRB5CCNAME) when it holds a ticket, else
        obtains one with the given credentials. O(server) must then be the name the server's
        C(cifs/) principal is registered under, not an IP address.
    type: str
    choices: [ntlm, kerberos]
    default: ntlm
  kdc_host:
    description:
      - Host name or address of the Kerberos KDC (domain controller) to ask for tickets.
      - Without it the KDC is found from O(connection_domain) through DNS.
      - Only with O(auth=kerberos).
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
