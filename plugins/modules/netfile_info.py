#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: netfile_info
short_description: Gather information about the files open on a Windows or Samba file server
version_added: 0.1.0
description:
  - Lists which files are open on a file server, by whom, with what permissions and how many
    locks - the "Open Files" view of the Shared Folders console. It is the remote form of
    C(NetFileEnum) (MS-SRVS C(NetrFileEnum), information level 3).
  - Every record has the same keys on Windows and Samba, over SMB and over WinRM.
  - Named pipes (C(\PIPE\...), which Windows lists among the open files) are not files and are
    never listed.
  - Filters give the same results on every server; the module applies each of them to the
    server's answer, since Samba ignores the path filter and reads user names as Unix names.
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
  file_id:
    description:
      - Only the file with this id (RV(files[].id)), as the server numbers its open files.
      - From 0 to 4294967295 (a 32-bit number).
    type: int
  path:
    description:
      - Only files with exactly this path, as the server reports it (RV(files[].path), a local
        path such as V(D:\\Shares\\Finance\\budget.xlsx) on Windows, V(C:\\srv\\data\\budget.xlsx)
        on Samba, which puts C(C:) in front of the Unix path), compared without regard to case.
      - Refused, naming the option, when empty or blank, with white space around it, or with
        control, NUL or invisible characters.
    type: str
  path_prefix:
    description:
      - Only files whose path begins with this text (compared without regard to case), for
        example V(D:\\Shares\\Finance\\) for every file under that folder.
      - Refused as O(path) is.
    type: str
  username:
    description:
      - Only the files opened by this user - V(user), V(DOMAIN\\user) or V(user@dns.domain),
        matched and checked as the notes on user names say. On Samba the user is the Unix
        account that opened the file (with C(force user), that account, not the client's).
    type: str
notes:
  - Rights needed. Windows - membership of Administrators or Server Operators. Samba -
    C(BUILTIN\Administrators) in the account's token (root alone, or an account holding only
    C(SeDiskOperatorPrivilege), is refused with C(ERROR_ACCESS_DENIED)).
  - RV(files[].client) comes from the sessions the server lists (one more call, with the rights
    of M(lanman.server.netsession_info)), since the server does not say which session holds a
    file. It is set only when the file's user has sessions from exactly one client; otherwise,
    and for a file held through a durable handle whose session is gone, it is V(null).
  - On Samba, file ids are not unique - two files can carry the same id. M(lanman.server.netfile_close)
    refuses to close such an id.
  - Over WinRM a run starts two PowerShell processes on the server (the files, then the
    sessions for RV(files[].client)); the second is skipped when no file matches.
seealso:
  - module: lanman.server.netfile_close
  - module: lanman.server.netsession_info
  - name: NetFileEnum function (lmshare.h)
    description: The Win32 function this module runs remotely.
    link: https://learn.microsoft.com/en-us/windows/win32/api/lmshare/nf-lmshare-netfileenum
'''

EXAMPLES = r'''
- name: List the files open on a file server
  lanman.server.netfile_info:
  register: open_files

- name: Who has the budget open?
  lanman.server.netfile_info:
    server: fs01.example.com
    connection_username: EXAMPLE\svc-sessions
    connection_password: "{{ vault_svc_sessions_password }}"
    path: D:\Shares\Finance\budget.xlsx
  delegate_to: localhost
  register: budget

- name: Show them
  ansible.builtin.debug:
    msg: "{{ budget.files | map(attribute='username') | list }}"

- name: Everything open under a folder by one user
  lanman.server.netfile_info:
    path_prefix: D:\Shares\Projects\
    username: EXAMPLE\alice
'''

RETURN = r'''
files:
  description:
    - The open files that match, in the server's order. Every key is present in every record.
    - Will be an empty list if nothing matched.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The server's id of the open file, which M(lanman.server.netfile_close) takes.
      type: int
      sample: 1207
    path:
      description: The file's path as the server reports it (a local path on the server).
      type: str
      sample: D:\Shares\Finance\budget.xlsx
    username:
      description: The account that opened the file, without its domain.
      type: str
      sample: alice
    domain:
      description: The account's domain when the server reports one (Samba AD), else null.
      type: str
      sample: null
    permissions:
      description: The permissions the file was opened with, as the server's bit mask
        (1 read, 2 write, 4 create; MS-SRVS 2.2.4.3). Samba reports 1 and 2 only, and 0 for an
        open of the attributes alone.
      type: int
      sample: 3
    permission_names:
      description: RV(files[].permissions) decoded - V(read), V(write), V(create).
      type: list
      elements: str
      sample: [read, write]
    locks:
      description: The number of byte-range locks held on the file.
      type: int
      sample: 0
    client:
      description: The client (address or computer name) of the session that holds the file,
        when the file's user has sessions from exactly one client; otherwise null.
      type: str
      sample: 192.0.2.15
  sample:
    - id: 1207
      path: D:\Shares\Finance\budget.xlsx
      username: alice
      domain: null
      permissions: 3
      permission_names: [read, write]
      locks: 0
      client: 192.0.2.15
backend:
  description: The backend that was used.
  returned: success
  type: str
  sample: smb
option:
  description: On a rejected argument, the option that was wrong.
  returned: failure from a bad argument
  type: str
  sample: path
server:
  description: The server that was asked.
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

from ansible_collections.lanman.server.plugins.module_utils._options import FILE_INFO_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._execute import run_module
from ansible_collections.lanman.server.plugins.module_utils._tasks import netfile_info


def main() -> None:
    run_module(FILE_INFO_ARGUMENT_SPEC, netfile_info)


if __name__ == '__main__':
    main()
