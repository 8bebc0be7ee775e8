#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: netfile_close
short_description: Close files held open on a Windows or Samba file server
version_added: 0.1.0
description:
  - Closes the open files selected by O(file_id), O(path), O(path_prefix) or O(username), as
    the "Close Open File" action of the Shared Folders console, C(Close-SmbOpenFile) or
    C(net file /close) do. It is the remote form of C(NetFileClose) (MS-SRVS C(NetrFileClose)).
  - The module lists the open files first (as M(lanman.server.netfile_info) does) and closes only
    files it listed that match every selector given; a second run with the same selectors finds
    nothing and reports no change.
  - B(The client loses what it had not yet written.) A forced close ends the client's handle, and
    data it had cached but not yet saved to the server is lost; the application that held
    the file may fail on its next use of it. Microsoft's tools warn the same.
  - Never closes more than O(max_files) files; more matches fail before anything is closed.
  - Never closes a file whose id the server lists for more than one open file (Samba reuses
    ids across its processes, and closing the id closes every file that carries it); the task
    fails before anything is closed and names the id.
  - Named pipes (C(\PIPE\...)) are never listed, so never closed.
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
    details: The files selected, before, and what is left of them after.
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
      - Close the file with this id (RV(lanman.server.netfile_info#module:files[].id)).
      - From 0 to 4294967295 (a 32-bit number). An id may name another file by the time it is
        closed if the first was closed and its id reused; combine it with O(path) to be sure.
    type: int
  path:
    description:
      - Close the files open with exactly this path, as the server reports it, compared without
        regard to case. On Samba two paths that differ only in case both match.
      - Refused, naming the option, when empty or blank, with white space around it, or with
        control, NUL or invisible characters.
    type: str
  path_prefix:
    description:
      - Close the files whose path begins with this text (compared without regard to case).
      - Refused as O(path) is.
    type: str
  username:
    description:
      - Close the files opened by this user - V(user), V(DOMAIN\\user) or V(user@dns.domain),
        matched and checked as the notes on user names say.
      - At least one of O(file_id), O(path), O(path_prefix) and O(username) is needed; given
        together, a file must match all of them.
    type: str
  max_files:
    description:
      - The most files one run may close. When more files match, the task fails before closing
        any, naming this option and the number that matched.
      - At least 1.
    type: int
    default: 1
notes:
  - Rights needed. Windows - membership of Administrators or Server Operators. Samba - listing
    needs C(BUILTIN\Administrators) in the account's token, closing needs root or
    C(SeDiskOperatorPrivilege). A standalone Samba server grants that privilege to
    C(BUILTIN\Administrators) by default; a Samba AD domain controller does not (a Domain Admin
    gets C(ERROR_ACCESS_DENIED) from C(NetrFileClose) until it is granted there).
  - After closing, the module lists the files again. A file the server accepted to close but
    still lists after about a second is reported in RV(not_closed), with a warning.
  - Over WinRM a run starts four PowerShell processes on the server, whatever the number of
    files - the files, the sessions (for each record's C(client)), the close of every selected
    file, and the listing that confirms it (repeated, up to four more times, only while the
    server still lists a closed file).
seealso:
  - module: lanman.server.netfile_info
  - module: lanman.server.netsession_delete
  - name: NetFileClose function (lmshare.h)
    description: The Win32 function this module runs remotely.
    link: https://learn.microsoft.com/en-us/windows/win32/api/lmshare/nf-lmshare-netfileclose
'''

EXAMPLES = r'''
- name: Free the budget workbook someone left open
  lanman.server.netfile_close:
    server: fs01.example.com
    connection_username: EXAMPLE\svc-sessions
    connection_password: "{{ vault_svc_sessions_password }}"
    path: D:\Shares\Finance\budget.xlsx
  delegate_to: localhost

- name: Preview closing everything a departed user holds under a share
  lanman.server.netfile_close:
    username: EXAMPLE\alice
    path_prefix: D:\Shares\Projects\
    max_files: 50
  check_mode: true
  diff: true
  register: preview

- name: Close one file by its id, as netfile_info listed it
  lanman.server.netfile_close:
    file_id: 1207
    path: D:\Shares\Finance\budget.xlsx
'''

RETURN = r'''
closed:
  description:
    - The files that were closed; in check mode, the ones that would be. Each is a record as
      in RV(lanman.server.netfile_info#module:files).
    - Will be an empty list if nothing matched. On a failure part-way, the ones closed before it.
  returned: success, and failure part-way through closing
  type: list
  elements: dict
  sample:
    - id: 1207
      path: D:\Shares\Finance\budget.xlsx
      username: alice
      domain: null
      permissions: 3
      permission_names: [read, write]
      locks: 0
      client: 192.0.2.15
already_gone:
  description: Matching files that had been closed by the time the module closed them.
  returned: success, and failure part-way through closing
  type: list
  elements: dict
  sample: []
not_closed:
  description:
    - Matching files not closed - after a failure part-way, the rest; after success, the files
      the server accepted to close but still lists.
  returned: success, and failure part-way through closing
  type: list
  elements: dict
  sample: []
backend:
  description: The backend that was used.
  returned: success
  type: str
  sample: smb
option:
  description: On a rejected argument or selection, the option concerned.
  returned: failure from a bad argument, too many files, or an id shared by several files
  type: str
  sample: max_files
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

from ansible_collections.lanman.server.plugins.module_utils._options import FILE_CLOSE_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._execute import run_module
from ansible_collections.lanman.server.plugins.module_utils._tasks import netfile_close


def main() -> None:
    run_module(FILE_CLOSE_ARGUMENT_SPEC, netfile_close)


if __name__ == '__main__':
    main()
