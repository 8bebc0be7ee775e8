#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: netsession_info
short_description: Gather information about the SMB sessions on a Windows or Samba file server
version_added: 0.1.0
description:
  - Lists who is connected to a file server, from which client, for how long, and with how many
    open files. It is the remote form of C(NetSessionEnum) and C(NetSessionGetInfo) (MS-SRVS
    C(NetrSessionEnum)).
  - The session of the module's own connection is not listed. It is recognised by the client
    names the server may give it (the source address; on port 139 the NetBIOS name); behind
    NAT the server reports an address the module cannot know, and the session is listed.
  - Filters give the same results on Windows, which applies them itself, and on Samba, which
    ignores them; the module filters every answer again.
author:
  - lanman.server contributors (@lanman)
extends_documentation_fragment:
  - lanman.server.connection
  - lanman.server.user_names
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: The module changes nothing; it runs normally in check mode.
  diff_mode:
    support: none
  platform:
    platforms: windows, posix
    details: Windows and Samba servers, reached from the controller.
  action:
    support: full
    details: The action plugin runs the module on the controller for every inventory host.
  async:
    support: none
  bypass_host_loop:
    support: none
options:
  level:
    description:
      - Information level to request (MS-SRVS C(SESSION_INFO_<level>)); it decides which keys of
        each record are filled in. Keys a level does not carry are C(null).
      - V(0) client only; V(1) adds user, open files, times and flags; V(2) adds the client type;
        V(10) client, user and times only; V(502) adds the transport to level 2.
      - Levels 1, 2 and 502 need administrator rights; 0 and 10 need less on Windows.
      - V(auto) tries 502, 2, 1, 10 and 0 in that order, skipping levels that need a right the
        server already refused, and returns the first one the server answers; RV(level) says
        which. An explicit level is not retried at another one.
      - Samba serves only levels 0 and 1.
      - Level 0 cannot be combined with O(username), which it cannot show.
    type: str
    choices: ['auto', '0', '1', '2', '10', '502']
    default: auto
  client:
    description:
      - Only sessions from this client (an IP address or computer name as the server reports it,
        compared without regard to case).
      - An IPv4 or IPv6 address, or a NetBIOS or DNS name of ASCII letters, digits, C(-), C(_) and
        C($) (at most 253 characters in dot-separated labels of at most 63; RFC 1035, RFC 1123).
        A non-ASCII name must be given in its IDNA (C(xn--)) form.
      - Normalised - one leading C(\\) is removed (V(\\\\192.0.2.15) is V(192.0.2.15)); IPv6
        brackets are optional (V([::1]) and V(::1) match the same sessions).
      - Refused with an error naming the option - an empty or blank value, white space around
        the name, control, NUL or invisible (zero-width, bidirectional) characters, wildcards
        (C(*), C(?)), C(//) or more than one leading C(\\), a port or a URL, a list or mapping.
    type: str
notes:
  - Rights needed. Windows - levels 1, 2 and 502 need membership of Administrators or Server
    Operators; levels 0 and 10 are also refused to ordinary users since Windows 10 1607 / Server
    2016. Samba - C(BUILTIN\Administrators) in the caller's token for every level.
  - Samba reports the client as its IP address, always reports C(idle_seconds) as 0 and only
    serves levels 0 and 1.
seealso:
  - module: lanman.server.netsession_delete
  - name: NetSessionEnum function (lmshare.h)
    description: The Win32 function this module runs remotely.
    link: https://learn.microsoft.com/en-us/windows/win32/api/lmshare/nf-lmshare-netsessionenum
'''

EXAMPLES = r'''
- name: List every session on each file server of the inventory
  lanman.server.netsession_info:
  register: sessions

- name: List the sessions of one user on a named server
  lanman.server.netsession_info:
    server: fs01.example.com
    connection_username: svc-sessions
    connection_password: "{{ vault_svc_sessions_password }}"
    username: alice
  delegate_to: localhost

- name: Ask for level 10, which a non-administrator may be allowed to read
  lanman.server.netsession_info:
    level: 10

- name: Set the credentials once for every lanman.server module of a play
  hosts: fileservers
  gather_facts: false
  module_defaults:
    group/lanman.server.netsession:
      connection_username: svc-sessions
      connection_password: "{{ vault_svc_sessions_password }}"
  tasks:
    - name: Sessions from one client
      lanman.server.netsession_info:
        client: 192.0.2.15
'''

RETURN = r'''
sessions:
  description:
    - The sessions on the server that match the filters, without the module's own.
    - Will be an empty list if nobody (else) is connected or nothing matches.
  returned: success
  type: list
  elements: dict
  contains:
    client:
      description: The client's IP address (C([IPv6]) in brackets) or computer name, without C(\\).
      type: str
      sample: 192.0.2.15
    username:
      description:
        - The account the session is logged on as, without its domain; C(null) at level 0.
      type: str
      sample: alice
    domain:
      description:
        - The account's domain when the server reports one (a Samba AD domain controller
          reports V(LAB\\alice), split into RV(sessions[].username=alice) and
          RV(sessions[].domain=LAB)); C(null) when it reports the bare name (Windows, standalone
          Samba) and at level 0.
      type: str
      sample: LAB
    open_files:
      description: Files, devices and pipes the session has open; C(null) at levels 0 and 10.
      type: int
      sample: 2
    active_seconds:
      description: Seconds since the session was set up; C(null) at level 0.
      type: int
      sample: 3600
    idle_seconds:
      description: Seconds since the session was last used (always 0 on Samba); C(null) at level 0.
      type: int
      sample: 120
    guest:
      description: Whether the session is logged on as guest; C(null) at levels 0 and 10.
      type: bool
      sample: false
    password_encrypted:
      description:
        - Whether the client's password was sent encrypted (challenge/response) when the session
          was set up, rather than in plain text; C(null) at levels 0 and 10.
        - It is the negation of C(SESS_NOENCRYPTION) in C(sesi1_user_flags) ([MS-SRVS] 2.2.2.3,
          "established the session without using password encryption").
        - It says nothing about SMB encryption or signing of the session's traffic, which
          C(NetSessionEnum) does not report at any level (Samba's C(smbstatus) or Windows'
          C(Get-SmbSession) show them). Samba never sets the flag, so it is always V(true) there.
      type: bool
      sample: true
    client_type:
      description: The client's type as it announced it; only at levels 2 and 502.
      type: str
      sample: Windows 10 Enterprise 19045
    transport:
      description: The transport the client connected over; only at level 502.
      type: str
      sample: \Device\NetbiosSmb
level:
  description: The information level that was used (see O(level)).
  returned: success
  type: int
  sample: 1
backend:
  description: The backend that was used.
  returned: success
  type: str
  sample: smb
option:
  description: On a rejected argument, the option that was wrong.
  returned: failure from a bad argument
  type: str
  sample: client
server:
  description: The server that was queried.
  returned: success and failures after the arguments were accepted
  type: str
  sample: fs01.example.com
code:
  description: On failure, the Windows or NT status code the server or transport returned.
  returned: failure from the server
  type: int
  sample: 5
code_name:
  description: The name of RV(code).
  returned: failure from the server
  type: str
  sample: ERROR_ACCESS_DENIED
'''

from ansible_collections.lanman.server.plugins.module_utils._options import INFO_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._execute import run_module
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_info


def main() -> None:
    run_module(INFO_ARGUMENT_SPEC, netsession_info)


if __name__ == '__main__':
    main()
