"""A model of how a Windows server answers the Server service's session and open-file calls.

Pure Python, no network. ``WindowsSessionModel`` holds the server's sessions, its open files
(FileList) and the accounts that may call it, and answers

* ``enum``     -- NetrSessionEnum (opnum 12) [MS-SRVS 3.1.4.5], what NetSessionEnum sends;
* ``get_info`` -- NetSessionGetInfo, which has no opnum of its own (netapi32 sends a
  NetrSessionEnum with both filters) but has its own argument rules, for the WinRM shim;
* ``delete``   -- NetrSessionDel (opnum 13) [MS-SRVS 3.1.4.6], what NetSessionDel sends;
* ``file_enum``     -- NetrFileEnum (opnum 9) [MS-SRVS 3.1.4.2], what NetFileEnum sends;
* ``file_get_info`` -- NetrFileGetInfo (opnum 10) [MS-SRVS 3.1.4.3], NetFileGetInfo;
* ``file_close``    -- NetrFileClose (opnum 11) [MS-SRVS 3.1.4.4], what NetFileClose sends;

with Win32 status codes as ints and MS-SRVS field names without their ``sesiN_`` / ``fiN_``
prefix.

Every rule is in ``RULES`` below with its source. Sources, as cited:

* [MS-SRVS] -- "[MS-SRVS]: Server Service Remote Protocol": 2.2.2.3 (session user flags),
  2.2.4.11-2.2.4.15 (SESSION_INFO_0/1/2/10/502), 2.2.4.21 (SESSION_ENUM_STRUCT), 3.1.1.1
  (SessionList), 3.1.4.5 NetrSessionEnum and 3.1.4.6 NetrSessionDel -- parameter definitions,
  return-value tables and processing rules, all read; the product-behaviour notes those
  sections point to for the access check (<52>-<55>, Appendix B) were not;
* [MS-SRVS] for open files: 2.2.4.6 FILE_INFO_2, 2.2.4.7 FILE_INFO_3 (fi3_permissions:
  PERM_FILE_READ 0x1, PERM_FILE_WRITE 0x2, PERM_FILE_CREATE 0x4, ...), 2.2.4.10
  FILE_ENUM_STRUCT, 3.1.4.2 NetrFileEnum, 3.1.4.3 NetrFileGetInfo and 3.1.4.4 NetrFileClose --
  parameters, return-value tables and processing rules, all read; their access-check notes
  (<46>-<51>) were not. (These are the spec's section numbers; 3.1.4.1 is NetrConnectionEnum.)
* [MS-ERREF] 2.2 (Win32 error codes) and 2.3.1 (NTSTATUS values);
* SDK pages of learn.microsoft.com: "NetSessionEnum function (lmshare.h)", "NetSessionGetInfo
  function (lmshare.h)", "NetSessionDel function (lmshare.h)", "Network Management Function
  Buffer Lengths", "SESSION_INFO_0 structure (lmshare.h)", "NetFileEnum function (lmshare.h)",
  "NetFileClose function (lmshare.h)";
* the collection's protocol notes, docs/dev/protocol.md ("Who may call what").

A rule marked UNVERIFIED is the most likely Windows behaviour, not a quoted one.

Only accounts the model knows (``principals``) may log on to the transports that serve it
(tests/windows/smb_server.py, tests/windows/shim_model.py): an unknown account fails at logon,
as on Windows, and never reaches these methods (RULES['unknown-account']).

Open files (``OpenFile``) are the server's FileList: files, devices and named pipes opened by
clients, each with a server-wide unique id. The model does not derive a session's num_opens
from them; closing a session closes the files of its client and user (RULES['del-closes-files']).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

__all__ = [
    'NERR_SUCCESS', 'ERROR_ACCESS_DENIED', 'ERROR_INVALID_PARAMETER', 'ERROR_INVALID_LEVEL',
    'ERROR_MORE_DATA', 'NERR_USER_NOT_FOUND', 'NERR_CLIENT_NAME_NOT_FOUND',
    'NERR_INVALID_COMPUTER', 'STATUS_LOGON_FAILURE', 'ERROR_LOGON_FAILURE', 'MAX_PREFERRED_LENGTH',
    'MAX_NAME_CHARS', 'ENUM_LEVELS', 'GET_INFO_LEVELS', 'LEVEL_FIELDS', 'STRUCT_SIZE_X64',
    'SESS_GUEST', 'SESS_NOENCRYPTION', 'ADMIN', 'USER', 'Rule', 'RULES', 'Session', 'EnumResult',
    'WindowsSessionModel', 'entry_for', 'entry_size', 'unc_cname',
    'ERROR_FILE_NOT_FOUND', 'NERR_BUF_TOO_SMALL', 'NERR_FILE_ID_NOT_FOUND', 'PERM_FILE_READ',
    'PERM_FILE_WRITE', 'PERM_FILE_CREATE', 'PIPE_PREFIX', 'FILE_LEVELS', 'FILE_LEVEL_FIELDS',
    'FILE_STRUCT_SIZE_X64', 'MAX_FILE_ID', 'OpenFile', 'file_entry_for', 'file_entry_size',
]

# [MS-ERREF] 2.2, as listed in the return-value tables of [MS-SRVS] 3.1.4.5 and 3.1.4.6.
NERR_SUCCESS = 0
ERROR_ACCESS_DENIED = 5
ERROR_INVALID_PARAMETER = 87
ERROR_INVALID_LEVEL = 124
ERROR_MORE_DATA = 234
NERR_USER_NOT_FOUND = 2221
NERR_CLIENT_NAME_NOT_FOUND = 2312
NERR_INVALID_COMPUTER = 2351  # 0x0000092F
# A logon the server refuses: [MS-ERREF] 2.3.1 over SMB, 2.2 (what WinRM clients report).
STATUS_LOGON_FAILURE = 0xC000006D
ERROR_LOGON_FAILURE = 1326
# [MS-ERREF] 2.2, as listed in the return-value tables of [MS-SRVS] 3.1.4.2-3.1.4.4.
ERROR_FILE_NOT_FOUND = 2         # NetrFileGetInfo: no such open
NERR_BUF_TOO_SMALL = 2123        # 0x0000084B, NetrFileEnum: not even one entry fits
NERR_FILE_ID_NOT_FOUND = 2314    # 0x0000090A, NetrFileClose: no such open

# [MS-SRVS] 2.2.4.7 fi3_permissions (lmshare.h PERM_FILE_*), the ones the model uses; the spec
# lists ACCESS_EXEC 0x8, ACCESS_DELETE 0x10, ACCESS_ATRIB 0x20 and ACCESS_PERM 0x40 as well.
PERM_FILE_READ = 0x1
PERM_FILE_WRITE = 0x2
PERM_FILE_CREATE = 0x4

# How Windows names a named pipe in fi3_pathname (RULES['file-pipes']).
PIPE_PREFIX = '\\PIPE\\'

# fi3_id / FileId are DWORDs ([MS-SRVS] 2.2.4.7, 3.1.4.4).
MAX_FILE_ID = 0xFFFFFFFF

# [MS-SRVS] 3.1.4.5 PreferedMaximumLength: "If the value that is specified is
# MAX_PREFERRED_LENGTH, the method MUST attempt to return all entries."
MAX_PREFERRED_LENGTH = 0xFFFFFFFF

# [MS-SRVS] 3.1.4.5 and 3.1.4.6: a ClientName or UserName of more than 1,024 characters,
# "including the terminating null character", fails with ERROR_INVALID_PARAMETER.
MAX_NAME_CHARS = 1024

# [MS-SRVS] 2.2.2.3 session user flags (sesiN_user_flags of levels 1, 2 and 502).
SESS_GUEST = 0x1
SESS_NOENCRYPTION = 0x2

ADMIN = 'admin'
"""Administrators or Server Operators: every level, and NetSessionDel."""
USER = 'user'
"""Any other authenticated account."""

# [MS-SRVS] 2.2.4.11-2.2.4.15 SESSION_INFO_0/1/2/10/502: the fields of each level, in order.
LEVEL_FIELDS: dict[int, tuple[str, ...]] = {
    0: ('cname',),
    1: ('cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags'),
    2: ('cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags', 'cltype_name'),
    10: ('cname', 'username', 'time', 'idle_time'),
    502: ('cname', 'username', 'num_opens', 'time', 'idle_time', 'user_flags', 'cltype_name',
          'transport'),
}
_STRING_FIELDS = frozenset({'cname', 'username', 'cltype_name', 'transport'})
# [MS-SRVS] 2.2.4.21 SESSION_ENUM_STRUCT Level; 3.1.4.5: "valid values are 0, 1, 2, 10, and 502".
ENUM_LEVELS = tuple(LEVEL_FIELDS)
# "NetSessionGetInfo function (lmshare.h)": its level table lists 0, 1, 2 and 10 only.
GET_INFO_LEVELS = (0, 1, 2, 10)

# sizeof(SESSION_INFO_<level>) on x64 (lmshare.h): an LMSTR is an 8-byte pointer, a DWORD 4
# bytes, no padding needed: 0 = 1 ptr; 1 = 2 ptr + 4 DWORD; 2 = 1 + 1 ptr; 10 = 2 ptr + 2 DWORD;
# 502 = 2 + 1 ptr (48, the shim's Marshal.SizeOf; docs/dev/protocol.md).
STRUCT_SIZE_X64 = {0: 8, 1: 32, 2: 40, 10: 24, 502: 48}

# [MS-SRVS] 2.2.4.6 FILE_INFO_2 and 2.2.4.7 FILE_INFO_3, fields in order. (impacket's srvs names
# fi3_pathname "fi3_path_name"; the spec's name is used here.)
FILE_LEVEL_FIELDS: dict[int, tuple[str, ...]] = {
    2: ('id',),
    3: ('id', 'permissions', 'num_locks', 'pathname', 'username'),
}
_FILE_STRING_FIELDS = frozenset({'pathname', 'username'})
# [MS-SRVS] 2.2.4.10 FILE_ENUM_STRUCT Level; 3.1.4.2: "The valid values of Level are 2 and 3."
FILE_LEVELS = tuple(FILE_LEVEL_FIELDS)

# sizeof(FILE_INFO_<level>) on x64 (lmshare.h), as STRUCT_SIZE_X64: FILE_INFO_2 = 1 DWORD;
# FILE_INFO_3 = 3 DWORD (12) + 4 bytes of padding before the 8-byte-aligned pointers + 2 ptr.
FILE_STRUCT_SIZE_X64 = {2: 4, 3: 32}

# Levels that need the SrvsvcSessionInfo right ADMIN_INFO_GET (docs/dev/protocol.md); 0 and 10
# need only SESSION_USER_INFO_GET, which hardened servers also grant to administrators only.
_ADMIN_LEVELS = frozenset({1, 2, 502})


class Rule(NamedTuple):
    """One behaviour of the model and where it comes from."""

    text: str
    source: str


RULES: dict[str, Rule] = {
    'enum-level': Rule(
        "NetrSessionEnum: Level must be 0, 1, 2, 10 or 502, else ERROR_INVALID_LEVEL (124). "
        "Checked first (UNVERIFIED: the order of the checks is not specified). (Over RPC an "
        "unknown level cannot even be marshalled: the union has no default arm; the check "
        "matters to callers of the model such as the WinRM shim.)",
        "MS-SRVS 2.2.4.21 + 3.1.4.5"),
    'enum-rights-admin-levels': Rule(
        "Levels 1, 2 and 502 need Administrators or Server Operators, else "
        "ERROR_ACCESS_DENIED (5). The SDK names levels 1 and 2; 502 carries the same fields "
        "and more and needs the same ADMIN_INFO_GET right (docs/dev/protocol.md).",
        "SDK NetSessionEnum (Remarks)"),
    'enum-rights-user-levels': Rule(
        "Levels 0 and 10 need only an authenticated account on an unhardened server, but an "
        "administrator when hardened (Windows 10 1607 / Server 2016 and later by default, the "
        "SrvsvcSessionInfo default security descriptor), else ERROR_ACCESS_DENIED (5). Asked "
        "for an account it does not know, the model answers 5 at every level; the transports "
        "never ask it that (see 'unknown-account').",
        "SDK NetSessionGetInfo (Remarks) + docs/dev/protocol.md"),
    'unknown-account': Rule(
        "An account the server does not know fails at logon, before any RPC: SMB session "
        "setup answers STATUS_LOGON_FAILURE (0xC000006D), WinRM refuses the HTTP "
        "authentication (the client reports ERROR_LOGON_FAILURE, 1326). So no NetrSessionEnum "
        "or NetrSessionDel of an unknown account reaches the server, and the model's servers "
        "(smb_server.py, shim_model.py) let only the model's principals log on -- no guest or "
        "unchecked logon either.",
        "MS-ERREF 2.3.1 (STATUS_LOGON_FAILURE) + the project's issue"),
    'client-name-form': Rule(
        "NetrSessionEnum: ClientName is NULL, empty (the spec's 'NULL (zero-length) string', "
        "meaning no filter) or begins with \\\\, else NERR_InvalidComputer (2351). Checked "
        "after the rights (UNVERIFIED: the order is not specified).",
        "MS-SRVS 3.1.4.5 (processing rules, ClientName)"),
    'name-length': Rule(
        "A ClientName or UserName of more than 1,024 characters including its terminating "
        "null, i.e. 1,024 characters or more as sent, gives ERROR_INVALID_PARAMETER (87), in "
        "NetrSessionEnum and NetrSessionDel alike. Checked right after the ClientName form "
        "(UNVERIFIED: the order is not specified).",
        "MS-SRVS 3.1.4.5 + 3.1.4.6 (processing rules)"),
    'client-filter': Rule(
        "A ClientName filter that matches no session gives NERR_ClientNameNotFound (2312); it "
        "is applied before the user filter (the spec allows either code when both are given). "
        "Names compare without the \\\\ and, like Windows computer names, case-insensitively "
        "(UNVERIFIED: the spec says only that the name 'MUST match').",
        "MS-SRVS 3.1.4.5 (processing rules, qualifiers)"),
    'user-filter': Rule(
        "A UserName filter that matches no session (of the client, if one is given) gives "
        "NERR_UserNotFound (2221); an empty UserName means no filter. Account names compare "
        "case-insensitively (UNVERIFIED, as for client names).",
        "MS-SRVS 3.1.4.5 (processing rules, qualifiers) + SDK NetSessionEnum (1998: "
        "'A NULL pointer or string')"),
    'resume-handle': Rule(
        "ResumeHandle indexes the SessionList itself, unfiltered: 0 (or NULL) starts at the "
        "first session, n at the (n+1)-th. The ClientName/UserName filters apply only to the "
        "sessions from that point on (no match there: 2312/2221). A handle at or past the end "
        "of the SessionList gives NERR_Success with no entries (and TotalEntries 0), the handle "
        "coming back unchanged. After a page the handle is the position just after the last "
        "session returned -- on the last page too, so it is non-zero there (UNVERIFIED: the "
        "spec sets it only with ERROR_MORE_DATA, 'to the index value of the last enumerated "
        "session'; read with indices counted from 1, which is the only reading in which 0 "
        "still means 'from the start'). Clients must stop on the status, not on a zero handle.",
        "MS-SRVS 3.1.4.5 (ResumeHandle + processing rules) + 3.1.1.1"),
    'paging': Rule(
        "Entries are returned whole while they fit in PreferedMaximumLength, an entry counting "
        "as the level's x64 structure plus its UTF-16 strings with terminators; "
        "MAX_PREFERRED_LENGTH means all. While matching entries remain the status is "
        "ERROR_MORE_DATA (234) and ResumeHandle says where to go on (see 'resume-handle'); the "
        "last page has status 0. At least one entry per call: UNVERIFIED, inferred because "
        "3.1.4.5 lists no NERR_BufTooSmall (3.1.4.2 NetrFileEnum does: see 'file-paging').",
        "MS-SRVS 3.1.4.5 PreferedMaximumLength + SDK Network Management Function Buffer "
        "Lengths"),
    'total-entries': Rule(
        "TotalEntries is the number of sessions that pass the filters from the current resume "
        "position on, the ones of this page included (0 with any failure, and past the end).",
        "MS-SRVS 3.1.4.5 (processing rules, TotalEntries) + SDK NetSessionEnum totalentries"),
    'entry-fields': Rule(
        "Each level carries its SESSION_INFO fields only.",
        "MS-SRVS 2.2.4.11-2.2.4.15 + SDK SESSION_INFO_0"),
    'cname-unc': Rule(
        "cname is reported with its leading \\\\ (\\\\192.0.2.15, \\\\WKS01), as Windows "
        "reports it; clients strip it (the collection: normalize_client). UNVERIFIED by the "
        "spec, which calls cname only a 'host name'; the form is the project's report of "
        "Windows' answers, and public NetSessionEnum callers strip a leading \\ from it.",
        "MS-SRVS 2.2.4.11-2.2.4.15 (sesiN_cname) + the project's issue"),
    'get-info-args': Rule(
        "NetSessionGetInfo needs both UncClientName and username (NULL or empty: "
        "ERROR_INVALID_PARAMETER, 87), checked before anything else.",
        "SDK NetSessionGetInfo"),
    'get-info-level': Rule(
        "NetSessionGetInfo takes levels 0, 1, 2 and 10 only; 502 or any other gives "
        "ERROR_INVALID_LEVEL (124). Rights, name form and length, and filters as for "
        "NetrSessionEnum, which netapi32 sends for it (UNVERIFIED: the SDK remark that member "
        "servers let any user read levels 1/2 through it predates the hardening and is not "
        "modelled).",
        "SDK NetSessionGetInfo"),
    'del-args': Rule(
        "NetrSessionDel with both ClientName and UserName NULL (or empty) gives "
        "ERROR_INVALID_PARAMETER (87) (the spec allows 87 or NERR_ClientNameNotFound; which "
        "one Windows answers is UNVERIFIED; docs/dev/protocol.md: Samba instead closes every "
        "session). Checked before the rights (UNVERIFIED order).",
        "MS-SRVS 3.1.4.6 (processing rules)"),
    'del-client-name-form': Rule(
        "NetrSessionDel with a ClientName not beginning with \\\\ gives "
        "NERR_ClientNameNotFound (2312), checked after 'del-args' and before the rights "
        "(UNVERIFIED order); nothing is closed.",
        "MS-SRVS 3.1.4.6 (processing rules, ClientName)"),
    'del-rights': Rule(
        "Only Administrators or Server Operators may close sessions, else "
        "ERROR_ACCESS_DENIED (5).",
        "SDK NetSessionDel (Remarks)"),
    'del-scope': Rule(
        "Every session matching the non-NULL arguments is closed (NULL ClientName: all of the "
        "user's sessions; NULL UserName: all sessions from the client); none matching gives "
        "NERR_ClientNameNotFound (2312).",
        "SDK NetSessionDel + MS-SRVS 3.1.4.6 (processing rules)"),
    'del-closes-files': Rule(
        "Closing sessions closes their open files: after NetrSessionDel, every open file whose "
        "client and user (case-insensitive) no longer have a session is gone from the FileList, "
        "its locks with it. UNVERIFIED: 3.1.4.6 closes each session through the SMB server "
        "([MS-CIFS] 3.3.4.8 / [MS-SMB2] 3.3.4.12, not read here), and a session's opens do not "
        "outlive it; durable handles that would are not modelled.",
        "MS-SRVS 3.1.4.6 (processing rules) + 3.1.6.5"),
    # -- open files -----------------------------------------------------------------------------
    'file-enum-level': Rule(
        "NetrFileEnum: Level must be 2 or 3, else ERROR_INVALID_LEVEL (124). Checked first "
        "(UNVERIFIED: the order of the checks is not specified). (Over RPC another level cannot "
        "be marshalled: FILE_ENUM_UNION has only arms 2 and 3.)",
        "MS-SRVS 2.2.4.10 + 3.1.4.2 (processing rules, Level)"),
    'file-enum-rights': Rule(
        "Only Administrators or Server Operators (the model's ADMIN) may list open files, on a "
        "hardened server or not; anyone else, an account the model does not know included, "
        "gets ERROR_ACCESS_DENIED (5). Checked after the level (UNVERIFIED order).",
        "SDK NetFileEnum (Remarks) + MS-SRVS 3.1.4.2 (return values; notes <46>/<47> not read)"),
    'file-name-length': Rule(
        "A BasePath or UserName longer than 1,024 characters including its terminating null, "
        "i.e. 1,024 characters or more as sent, gives ERROR_INVALID_PARAMETER (87). Checked "
        "after the rights (UNVERIFIED order, as for sessions).",
        "MS-SRVS 3.1.4.2 (processing rules, BasePath and UserName)"),
    'file-base-path': Rule(
        "A non-NULL, non-empty BasePath lists only the opens whose fi3_pathname begins with it; "
        "the comparison ignores case (UNVERIFIED: the spec says only 'contains BasePath as the "
        "prefix'; Windows paths are case-insensitive), and is a plain string prefix (UNVERIFIED: "
        "'(A prefix is the path component up to a backslash.)' could also be read as whole "
        "components only). No open matching is not an error: NERR_Success with no entries "
        "(3.1.4.2 has no not-found code, unlike NetrSessionEnum's 2312/2221).",
        "MS-SRVS 3.1.4.2 (processing rules, BasePath) + SDK NetFileEnum basepath"),
    'file-user-filter': Rule(
        "A non-NULL, non-empty UserName lists only the opens whose fi3_username matches it, "
        "case-insensitively (UNVERIFIED, as for sessions); no match: NERR_Success with no "
        "entries. A UserName beginning with \\\\ names a connection instead, the client name "
        "after the backslashes (Windows 7 / Server 2008 R2 and later, per the SDK; MS-SRVS "
        "knows only the user name). BasePath and UserName both apply when both are given.",
        "MS-SRVS 3.1.4.2 (processing rules, UserName) + SDK NetFileEnum username"),
    'file-pipes': Rule(
        "Named pipes opened over IPC$ are opens like files and are listed, closed and counted "
        "alike, with the path \\PIPE\\<name> (e.g. \\PIPE\\srvsvc: an RPC client's own pipe "
        "is among them); a BasePath of \\PIPE\\ lists only them.",
        "MS-SRVS 2.2.4.7 (fi3_pathname: 'file, device, or pipe') + 3.1.4.4"),
    'file-resume-handle': Rule(
        "As for sessions ('resume-handle'): ResumeHandle indexes the FileList itself, "
        "unfiltered ('The BasePath and UserName parameters have no role in determining the "
        "value of ResumeHandle'); 0 or NULL starts at the first open, n goes on after the n-th. "
        "At or past the end of the FileList: NERR_Success, no entries, the handle unchanged. "
        "After a page the handle is the position just after the last open returned, counted "
        "from 1 ('the index of the last enumerated file open'), on the last page too "
        "(UNVERIFIED there, as for sessions).",
        "MS-SRVS 3.1.4.2 (ResumeHandle + processing rules)"),
    'file-paging': Rule(
        "Entries are returned whole while they fit in PreferedMaximumLength, an entry counting "
        "as the level's x64 structure (FILE_INFO_2: 4 bytes, FILE_INFO_3: 32) plus its UTF-16 "
        "strings with terminators; MAX_PREFERRED_LENGTH means all. While matching opens remain "
        "the status is ERROR_MORE_DATA (234); the last page has status 0. If not even the first "
        "entry fits, the answer is NERR_BufTooSmall (2123) with no entries, TotalEntries "
        "counted as usual and the handle unchanged (the return-value table's 'too small to fit "
        "even a single entry'; TotalEntries and the handle there are UNVERIFIED).",
        "MS-SRVS 3.1.4.2 (PreferedMaximumLength, return values, processing rules)"),
    'file-total-entries': Rule(
        "TotalEntries is the number of opens that pass the BasePath/UserName filters from the "
        "current resume position on, this page's included (0 with a failure, and past the end).",
        "MS-SRVS 3.1.4.2 (processing rules, TotalEntries)"),
    'file-entry-fields': Rule(
        "Level 2 carries fi2_id only (set to the open's fi3_id); level 3 carries fi3_id, "
        "fi3_permissions (PERM_FILE_READ 0x1 | PERM_FILE_WRITE 0x2 | PERM_FILE_CREATE 0x4 ...), "
        "fi3_num_locks, fi3_pathname and fi3_username, in that order.",
        "MS-SRVS 2.2.4.6 + 2.2.4.7 + 3.1.4.2"),
    'file-ids-unique': Rule(
        "File ids are DWORDs unique on the server (Open.GlobalFileId), so an id names one open "
        "and NetrFileClose closes exactly that one; the model refuses duplicate or out-of-range "
        "ids and gives new opens fresh ids. (Samba reuses ids across its processes; Windows "
        "does not.)",
        "MS-SRVS 2.2.4.7 (fi3_id) + 3.1.4.4 (Open.GlobalFileId)"),
    'file-get-info': Rule(
        "NetrFileGetInfo: Level 2 or 3, else ERROR_INVALID_LEVEL (124), checked first; then the "
        "rights of NetrFileEnum (5, UNVERIFIED: the SDK page was not read for them); then an id "
        "not in the FileList gives ERROR_FILE_NOT_FOUND (2) -- not NetrFileClose's 2314. The "
        "entry is the level's fields of that open.",
        "MS-SRVS 3.1.4.3 (return values, processing rules)"),
    'file-close-rights': Rule(
        "Only Administrators or Server Operators may close open files, else "
        "ERROR_ACCESS_DENIED (5), checked before the id is looked up (UNVERIFIED order: a caller "
        "without the right learns nothing about which ids exist).",
        "SDK NetFileClose (Remarks) + MS-SRVS 3.1.4.4 (notes <50>/<51> not read)"),
    'file-close-unknown-id': Rule(
        "An id not in the FileList -- never opened, or closed already -- gives "
        "NERR_FileIdNotFound (2314, 0x90A), what MS-SRVS prescribes on the wire. The SDK page "
        "of NetFileClose lists ERROR_FILE_NOT_FOUND (2) instead (and NetrFileGetInfo answers 2 "
        "for an unknown id); the model answers 2314, so clients must take both as 'gone'.",
        "MS-SRVS 3.1.4.4 (return values, processing rules) + SDK NetFileClose (return value)"),
    'file-close-removes': Rule(
        "A successful close (NERR_Success) takes the open out of the FileList with its locks: "
        "later listings do not show it, and closing the id again gives 2314. Other opens, of "
        "the same path or user too, stay.",
        "MS-SRVS 3.1.4.4 + 3.1.6.5 (Server Deregisters an Open)"),
}


@dataclass
class Session:
    """One session on the server, with the MS-SRVS field names.

    ``cname`` is the bare client name (``192.0.2.15``, ``WKS01``); entries report it with the
    ``\\\\`` Windows puts in front (``unc_cname``).
    """

    cname: str
    username: str
    num_opens: int = 0
    time: int = 0
    idle_time: int = 0
    user_flags: int = 0
    cltype_name: str = ''
    transport: str = ''


@dataclass
class OpenFile:
    """One open of a file, device or named pipe on the server (an entry of the FileList).

    ``id`` is fi3_id, unique on the server; ``pathname`` as Windows reports it
    (``C:\\DATA\\report.xlsx``, ``\\PIPE\\srvsvc``); ``permissions`` PERM_FILE_* bits;
    ``client`` is the bare client name of the session holding it (as ``Session.cname``): never
    reported (FILE_INFO_3 has no client), used by the UserName ``\\\\client`` filter and the
    tests' bookkeeping (RULES['del-closes-files']).
    """

    id: int
    pathname: str
    username: str
    permissions: int = PERM_FILE_READ
    num_locks: int = 0
    client: str = ''


class EnumResult(NamedTuple):
    """What NetrSessionEnum answers: status, the entries of this page, TotalEntries, ResumeHandle."""

    status: int
    entries: list[dict[str, Any]]
    total_entries: int
    resume_handle: int


def unc_cname(cname: str) -> str:
    """A session's client name as Windows reports it: ``\\\\`` + the name (RULES['cname-unc'])."""
    return '\\\\' + cname if cname else cname


def entry_for(session: Session, level: int) -> dict[str, Any]:
    """The SESSION_INFO_<level> entry of a session, as a dict of unprefixed field names."""
    values = asdict(session)
    values['cname'] = unc_cname(session.cname)
    return {field: values[field] for field in LEVEL_FIELDS[level]}


def _utf16_bytes(text: str) -> int:
    return len(text.encode('utf-16-le')) + 2


def entry_size(level: int, entry: Mapping[str, Any]) -> int:
    """Bytes an entry takes in the caller's buffer: x64 structure + UTF-16 strings with NULs."""
    return STRUCT_SIZE_X64[level] + sum(_utf16_bytes(entry[field]) for field in entry
                                        if field in _STRING_FIELDS)


def file_entry_for(open_file: OpenFile, level: int) -> dict[str, Any]:
    """The FILE_INFO_<level> entry of an open, as a dict of unprefixed field names."""
    values = asdict(open_file)
    return {field: values[field] for field in FILE_LEVEL_FIELDS[level]}


def file_entry_size(level: int, entry: Mapping[str, Any]) -> int:
    """Bytes a file entry takes in the caller's buffer: x64 structure + UTF-16 strings with NULs."""
    return FILE_STRUCT_SIZE_X64[level] + sum(_utf16_bytes(entry[field]) for field in entry
                                             if field in _FILE_STRING_FIELDS)


def _check_file_ids(files: Iterable[OpenFile]) -> None:
    """RULES['file-ids-unique']: DWORD ids, no two alike."""
    seen: set[int] = set()
    for open_file in files:
        if not 0 <= open_file.id <= MAX_FILE_ID:
            raise ValueError(f"file id {open_file.id} is not a DWORD")
        if open_file.id in seen:
            raise ValueError(f"file id {open_file.id} is used twice; Windows file ids are unique")
        seen.add(open_file.id)


def _name(value: str | None) -> str | None:
    """NULL and the empty string both mean "no name" ([MS-SRVS] 3.1.4.5 ClientName)."""
    return value if value else None


def _client_key(name: str) -> str:
    return name.casefold()


def _unc_ok(client_name: str | None) -> bool:
    return client_name is None or client_name.startswith('\\\\')


def _too_long(*names: str | None) -> bool:
    """[MS-SRVS] 3.1.4.5/3.1.4.6: more than 1,024 characters with the terminating null."""
    return any(name is not None and len(name) + 1 > MAX_NAME_CHARS for name in names)


def _strip_unc(client_name: str) -> str:
    return client_name[2:]


class WindowsSessionModel:
    """The sessions of one Windows server and the rules it answers by.

    ``principals`` maps account names (compared case-insensitively) to ``ADMIN`` or ``USER``:
    the accounts that can log on at all (RULES['unknown-account']). ``hardened`` is the default
    of Windows 10 1607 / Server 2016 and later: levels 0 and 10 too need an administrator.
    ``sessions`` is the SessionList in its order, which ResumeHandle indexes; ``files`` the
    FileList likewise (ids unique, RULES['file-ids-unique']). Methods are thread-safe (the SMB
    server calls them from its threads).
    """

    def __init__(self, sessions: Iterable[Session] = (), principals: Mapping[str, str] | None = None,
                 *, hardened: bool = True, files: Iterable[OpenFile] = ()) -> None:
        self.sessions: list[Session] = [replace(session) for session in sessions]
        self.files: list[OpenFile] = [replace(open_file) for open_file in files]
        _check_file_ids(self.files)
        self.principals: dict[str, str] = {name.casefold(): role
                                           for name, role in (principals or {}).items()}
        for role in self.principals.values():
            if role not in (ADMIN, USER):
                raise ValueError(f"unknown role {role!r}; allowed: {ADMIN!r}, {USER!r}")
        self.hardened = hardened
        self._lock = threading.Lock()

    def role(self, caller: str) -> str | None:
        """``ADMIN``, ``USER``, or None for an account the server does not know."""
        return self.principals.get(caller.casefold())

    def knows(self, account: str) -> bool:
        """Whether ``account`` may log on at all (RULES['unknown-account'])."""
        return self.role(account) is not None

    def snapshot(self) -> list[Session]:
        """A copy of the current sessions."""
        with self._lock:
            return [replace(session) for session in self.sessions]

    def add_session(self, session: Session) -> None:
        """A client set up a session (thread-safe)."""
        with self._lock:
            self.sessions.append(session)

    def remove_session(self, session: Session) -> None:
        """A client logged off or dropped its connection (thread-safe; gone already is fine)."""
        with self._lock:
            self.sessions[:] = [kept for kept in self.sessions if kept is not session]

    def file_snapshot(self) -> list[OpenFile]:
        """A copy of the current open files."""
        with self._lock:
            return [replace(open_file) for open_file in self.files]

    def add_file(self, open_file: OpenFile) -> None:
        """A client opened a file (thread-safe); ValueError if its id is taken or not a DWORD."""
        with self._lock:
            _check_file_ids([*self.files, open_file])
            self.files.append(open_file)

    def open_file(self, pathname: str, username: str, permissions: int = PERM_FILE_READ,
                  num_locks: int = 0, client: str = '') -> OpenFile:
        """A client opened a file: added with a fresh id, one above the highest in use (thread-safe)."""
        with self._lock:
            file_id = max((open_file.id for open_file in self.files), default=0) + 1
            if file_id > MAX_FILE_ID:
                file_id = min(set(range(1, len(self.files) + 2)) - {f.id for f in self.files})
            open_file = OpenFile(file_id, pathname, username, permissions, num_locks, client)
            self.files.append(open_file)
        return open_file

    def remove_file(self, file_id: int) -> None:
        """A client closed a file or dropped its connection (thread-safe; gone already is fine)."""
        with self._lock:
            self.files[:] = [kept for kept in self.files if kept.id != file_id]

    # -- rights -------------------------------------------------------------------------------

    def _may_list(self, caller: str, level: int) -> bool:
        role = self.role(caller)
        if role == ADMIN:
            return True
        if role == USER:
            return level not in _ADMIN_LEVELS and not self.hardened
        return False

    # -- NetrSessionEnum ----------------------------------------------------------------------

    @staticmethod
    def _matching(sessions: list[tuple[int, Session]], client_name: str | None,
                  user_name: str | None) -> tuple[int, list[tuple[int, Session]]]:
        """The (index, session) pairs that pass the filters; RULES client-/user-filter."""
        found = sessions
        if client_name is not None:
            client = _client_key(_strip_unc(client_name))
            found = [(i, s) for i, s in found if _client_key(s.cname) == client]
            if not found:
                return NERR_CLIENT_NAME_NOT_FOUND, []
        if user_name is not None:
            found = [(i, s) for i, s in found if s.username.casefold() == user_name.casefold()]
            if not found:
                return NERR_USER_NOT_FOUND, []
        return NERR_SUCCESS, found

    def enum(self, caller: str, level: int, client_name: str | None, user_name: str | None,
             pref_max_len: int = MAX_PREFERRED_LENGTH, resume_handle: int = 0) -> EnumResult:
        """NetrSessionEnum [MS-SRVS 3.1.4.5]; ``client_name`` as sent, with its ``\\\\``."""
        if level not in ENUM_LEVELS:
            return EnumResult(ERROR_INVALID_LEVEL, [], 0, 0)
        if not self._may_list(caller, level):
            return EnumResult(ERROR_ACCESS_DENIED, [], 0, 0)
        client_name, user_name = _name(client_name), _name(user_name)
        if not _unc_ok(client_name):
            return EnumResult(NERR_INVALID_COMPUTER, [], 0, 0)
        if _too_long(client_name, user_name):
            return EnumResult(ERROR_INVALID_PARAMETER, [], 0, 0)
        with self._lock:
            listed = list(enumerate(self.sessions))
        if resume_handle and resume_handle >= len(listed):
            return EnumResult(NERR_SUCCESS, [], 0, resume_handle)
        status, found = self._matching(listed[resume_handle:], client_name, user_name)
        if status != NERR_SUCCESS:
            return EnumResult(status, [], 0, 0)
        return _page(level, found, pref_max_len, resume_handle)

    def get_info(self, caller: str, level: int, client_name: str | None,
                 user_name: str | None) -> EnumResult:
        """NetSessionGetInfo ("NetSessionGetInfo function (lmshare.h)"): every matching entry."""
        client_name, user_name = _name(client_name), _name(user_name)
        if client_name is None or user_name is None:
            return EnumResult(ERROR_INVALID_PARAMETER, [], 0, 0)
        if level not in GET_INFO_LEVELS:
            return EnumResult(ERROR_INVALID_LEVEL, [], 0, 0)
        return self.enum(caller, level, client_name, user_name)

    # -- NetrSessionDel -----------------------------------------------------------------------

    def delete(self, caller: str, client_name: str | None, user_name: str | None) -> int:
        """NetrSessionDel [MS-SRVS 3.1.4.6]; removes the sessions it closes from the model."""
        client_name, user_name = _name(client_name), _name(user_name)
        if client_name is None and user_name is None:
            return ERROR_INVALID_PARAMETER
        if not _unc_ok(client_name):
            return NERR_CLIENT_NAME_NOT_FOUND
        if _too_long(client_name, user_name):
            return ERROR_INVALID_PARAMETER
        if self.role(caller) != ADMIN:
            return ERROR_ACCESS_DENIED
        client = _client_key(_strip_unc(client_name)) if client_name is not None else None
        user = user_name.casefold() if user_name is not None else None

        def doomed(session: Session) -> bool:
            return ((client is None or _client_key(session.cname) == client)
                    and (user is None or session.username.casefold() == user))

        with self._lock:
            kept = [session for session in self.sessions if not doomed(session)]
            if len(kept) == len(self.sessions):
                return NERR_CLIENT_NAME_NOT_FOUND
            closed = {_owner_key(session.cname, session.username) for session in self.sessions
                      if doomed(session)}
            self.sessions[:] = kept
            # RULES['del-closes-files']: the opens of a (client, user) with no session left.
            closed -= {_owner_key(session.cname, session.username) for session in kept}
            self.files[:] = [open_file for open_file in self.files
                             if _owner_key(open_file.client, open_file.username) not in closed]
        return NERR_SUCCESS

    # -- NetrFileEnum -------------------------------------------------------------------------

    def file_enum(self, caller: str, level: int, base_path: str | None, user_name: str | None,
                  pref_max_len: int = MAX_PREFERRED_LENGTH, resume_handle: int = 0) -> EnumResult:
        """NetrFileEnum [MS-SRVS 3.1.4.2]: one page of open files, entries as FILE_INFO_<level>."""
        if level not in FILE_LEVELS:
            return EnumResult(ERROR_INVALID_LEVEL, [], 0, 0)
        if self.role(caller) != ADMIN:
            return EnumResult(ERROR_ACCESS_DENIED, [], 0, 0)
        base_path, user_name = _name(base_path), _name(user_name)
        if _too_long(base_path, user_name):
            return EnumResult(ERROR_INVALID_PARAMETER, [], 0, 0)
        with self._lock:
            listed = list(enumerate(self.files))
        if resume_handle and resume_handle >= len(listed):
            return EnumResult(NERR_SUCCESS, [], 0, resume_handle)
        found = [(index, file_entry_for(open_file, level)) for index, open_file in listed[resume_handle:]
                 if _file_matches(open_file, base_path, user_name)]
        sized = [(index, entry, file_entry_size(level, entry)) for index, entry in found]
        return _paged(sized, pref_max_len, resume_handle, too_small=NERR_BUF_TOO_SMALL)

    def file_get_info(self, caller: str, file_id: int, level: int) -> EnumResult:
        """NetrFileGetInfo [MS-SRVS 3.1.4.3]: the open's entry (one, or none with a failure)."""
        if level not in FILE_LEVELS:
            return EnumResult(ERROR_INVALID_LEVEL, [], 0, 0)
        if self.role(caller) != ADMIN:
            return EnumResult(ERROR_ACCESS_DENIED, [], 0, 0)
        with self._lock:
            found = [open_file for open_file in self.files if open_file.id == file_id]
        if not found:
            return EnumResult(ERROR_FILE_NOT_FOUND, [], 0, 0)
        return EnumResult(NERR_SUCCESS, [file_entry_for(found[0], level)], 1, 0)

    # -- NetrFileClose ------------------------------------------------------------------------

    def file_close(self, caller: str, file_id: int) -> int:
        """NetrFileClose [MS-SRVS 3.1.4.4]; removes the open (and its locks) from the model."""
        if self.role(caller) != ADMIN:
            return ERROR_ACCESS_DENIED
        with self._lock:
            kept = [open_file for open_file in self.files if open_file.id != file_id]
            if len(kept) == len(self.files):
                return NERR_FILE_ID_NOT_FOUND
            self.files[:] = kept
        return NERR_SUCCESS


def _owner_key(client: str, username: str) -> tuple[str, str]:
    return _client_key(client), username.casefold()


def _file_matches(open_file: OpenFile, base_path: str | None, user_name: str | None) -> bool:
    """RULES 'file-base-path' and 'file-user-filter'."""
    if base_path is not None and not open_file.pathname.casefold().startswith(base_path.casefold()):
        return False
    if user_name is None:
        return True
    if user_name.startswith('\\\\'):
        return _client_key(open_file.client) == _client_key(_strip_unc(user_name))
    return open_file.username.casefold() == user_name.casefold()


def _page(level: int, found: list[tuple[int, Session]], pref_max_len: int,
          resume_handle: int) -> EnumResult:
    """One page of the matching (SessionList index, session) pairs [MS-SRVS 3.1.4.5].

    See RULES 'paging', 'resume-handle' and 'total-entries'.
    """
    sized = []
    for index, session in found:
        entry = entry_for(session, level)
        sized.append((index, entry, entry_size(level, entry)))
    return _paged(sized, pref_max_len, resume_handle)


def _paged(found: list[tuple[int, dict[str, Any], int]], pref_max_len: int, resume_handle: int,
           *, too_small: int | None = None) -> EnumResult:
    """One page of matching (list index, entry, size) triples.

    Entries go in while they fit in ``pref_max_len``. With ``too_small`` None the first entry
    always goes in (RULES['paging']); else a first entry that does not fit gives that status
    and no entries (RULES['file-paging']).
    """
    page: list[dict[str, Any]] = []
    used = 0
    last = None
    for index, entry, size in found:
        if pref_max_len != MAX_PREFERRED_LENGTH and used + size > pref_max_len \
                and (page or too_small is not None):
            break
        page.append(entry)
        used += size
        last = index
    if found and not page and too_small is not None:
        return EnumResult(too_small, [], len(found), resume_handle)
    handle = last + 1 if last is not None else resume_handle
    status = ERROR_MORE_DATA if len(page) < len(found) else NERR_SUCCESS
    return EnumResult(status, page, len(found), handle)
