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
    type: str
    required: true
  port:
    description:
      - TCP port of the server's SMB service (C(backend=smb)).
      - The host's C(ansible_port) is never used here; it is usually a WinRM port.
    type: int
    default: 445
  backend:
    description:
      - How to reach the server's session API.
      - V(smb) calls the Server service over SMB, MS-SRVS on the C(\pipe\srvsvc) named pipe,
        with impacket. It needs TCP 445 (or O(port)) open from the controller.
      - V(auto) currently resolves to V(smb).
    type: str
    choices: [auto, smb]
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
      - Seconds to wait for the server to accept the connection and for each answer after that.
      - From 1 to 3600.
    type: int
    default: 10
notes:
  - The modules run on the Ansible controller (or the AWX execution environment) for every
    inventory host, whatever the host's C(ansible_connection); the file server needs nothing but
    its Server service reachable.
requirements:
  - impacket >= 0.12 on the controller (for C(backend=smb)).
'''
