#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: netsession_delete
short_description: Close SMB sessions on a Windows or Samba file server
version_added: 0.1.0
description:
  - Closes the sessions that match the filters, for instance before maintenance, for a user who
    left, or for a stuck client. It is the remote form of C(NetSessionDel) (MS-SRVS C(NetrSessionDel)).
    The client loses its open files and must reconnect.
  - The module lists the sessions first, closes the ones that match, and reports exactly those
    in RV(closed). Nothing matched means nothing is closed and C(changed=false); a second
    identical run therefore reports C(changed=false).
  - C(NetSessionDel) closes every session of one client and user at once, so a client and user
    pair is closed only when all of its sessions match the filters (O(min_idle_seconds) may
    match some and not others); the others are left open with a warning.
  - The module's own connection is never closed, nor any other session of the same client and
    user, since closing those would cut the module's own connection. When the server does not
    list the module's session under a client name the module knows (NAT, a proxy), every
    session of the connection's own user is left open, with a warning.
  - What matches is decided from the listing taken just before closing; a session of a matching
    client and user opened between that listing and the close is closed with its pair.
  - When the task names only O(username) (no O(client), no O(min_idle_seconds)), the module's
    own connection logs on as another user and none of the user's sessions is to stay open, the
    user's sessions on every client are closed with one C(NetSessionDel) that names the user
    and no client, instead of one call per client. A session of that user opened between the
    listing and the close is then closed too, and a session that left in that moment is
    reported in RV(closed) rather than RV(already_gone).
  - A session that disappears before it is closed is reported in RV(already_gone), not as a
    failure.
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
    details: Nothing is closed; RV(closed) lists what would be.
  diff_mode:
    support: full
    details: The sessions selected by O(client) and O(username) (every session with
      O(all_sessions)) before, and what is left of them after.
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
  client:
    description:
      - Close sessions from this client (an IP address or computer name as the server reports
        it, compared without regard to case).
      - An IPv4 or IPv6 address, or a NetBIOS or DNS name of ASCII letters, digits, C(-), C(_) and
        C($) (at most 253 characters in dot-separated labels of at most 63; RFC 1035, RFC 1123).
        A non-ASCII name must be given in its IDNA (C(xn--)) form.
      - Normalised - one leading C(\\) is removed (V(\\\\192.0.2.15) is V(192.0.2.15)); IPv6
        brackets are optional (V([::1]) and V(::1) match the same sessions).
      - Refused with an error naming the option - an empty or blank value, white space around
        the name, control, NUL or invisible (zero-width, bidirectional) characters, wildcards
        (C(*), C(?)), C(//) or more than one leading C(\\), a port or a URL, a list or mapping.
      - At least one of O(client) and O(username) is needed unless O(all_sessions=true).
    type: str
  min_idle_seconds:
    description:
      - Close only sessions idle for at least this many seconds.
      - Samba always reports sessions as idle for 0 seconds, so any value above 0 matches no
        Samba session.
      - From 0 to 4294967295 (the server counts idle time in a 32-bit number of seconds).
    type: int
  exclude_usernames:
    description:
      - Never close sessions of these users, even when the other filters match them.
      - Each name is given, matched and refused like O(username). A string is split at commas (V(alice,bob) is
        V([alice, bob])), as Ansible does for every list option.
    type: list
    elements: str
    default: []
  all_sessions:
    description:
      - Close every session on the server (except the module's own and those of
        O(exclude_usernames), and only the ones idle for O(min_idle_seconds) if given).
      - The only way to close sessions without O(client) or O(username); cannot be combined
        with them.
    type: bool
    default: false
notes:
  - Rights needed. Windows - membership of Administrators or Server Operators. Samba - root
    or a member of Domain Admins (to close), and C(BUILTIN\Administrators) (to list first).
  - On Samba, a client and user pair that is gone by the time it is closed answers
    C(ERROR_ACCESS_DENIED); the module lists the sessions again to tell that apart from a real
    denial.
  - The module never sends C(NetrSessionDel) without both a client and a user name; Samba would
    close every session, the caller's own included.
seealso:
  - module: lanman.server.netsession_info
  - name: NetSessionDel function (lmshare.h)
    description: The Win32 function this module runs remotely.
    link: https://learn.microsoft.com/en-us/windows/win32/api/lmshare/nf-lmshare-netsessiondel
'''

EXAMPLES = r'''
- name: Close every session of a user who left
  lanman.server.netsession_delete:
    username: alice

- name: Close the sessions of a stuck client on one server
  lanman.server.netsession_delete:
    server: fs01.example.com
    connection_username: svc-sessions
    connection_password: "{{ vault_svc_sessions_password }}"
    client: 192.0.2.15
  delegate_to: localhost

- name: Preview what closing every idle session would do
  lanman.server.netsession_delete:
    all_sessions: true
    min_idle_seconds: 3600
    exclude_usernames:
      - backup-svc
  check_mode: true
  diff: true
  register: preview

- name: Show what would be closed
  ansible.builtin.debug:
    msg: "{{ preview.closed | map(attribute='username') | list }}"
'''

RETURN = r'''
closed:
  description:
    - The sessions that were closed; in check mode, the ones that would be. Each is a record
      as in RV(lanman.server.netsession_info#module:sessions).
    - Will be an empty list if nothing matched. On a failure part-way, the ones closed before it.
  returned: success, and failure part-way through closing
  type: list
  elements: dict
  sample:
    - client: 192.0.2.15
      username: alice
      domain: null
      open_files: 2
      active_seconds: 3600
      idle_seconds: 120
      guest: false
      password_encrypted: true
      client_type: null
      transport: null
already_gone:
  description: Matching sessions that had been closed by the time the module closed them.
  returned: success, and failure part-way through closing
  type: list
  elements: dict
  sample: []
not_closed:
  description: On a failure part-way through closing, the matching sessions not closed.
  returned: failure part-way through closing
  type: list
  elements: dict
  sample: []
level:
  description: The information level of the listing that selected the sessions (as in M(lanman.server.netsession_info)).
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
  description: The server that was acted on.
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

from ansible_collections.lanman.server.plugins.module_utils._options import DELETE_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._execute import run_module
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete


def main() -> None:
    run_module(DELETE_ARGUMENT_SPEC, netsession_delete)


if __name__ == '__main__':
    main()
