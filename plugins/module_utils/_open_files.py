# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open files: the record, the filters, listing and closing, written once for every transport.

Private to the lanman.server collection: not a public API. The sibling of ``_records`` and
``_operations`` for NetrFileEnum / NetrFileClose ([MS-SRVS] 3.1.4.2, 3.1.4.4). Windows and Samba
differ here (docs/dev/open-files.md): Samba ignores the BasePath filter, reads UserName as a
Unix name, and its file ids are not unique (one NetrFileClose can close two files), so every
filter is applied again here and an id the server lists twice is never closed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ._accounts import AccountName, reported_account
from ._errors import (
    ERROR_FILE_NOT_FOUND, NERR_FILE_ID_NOT_FOUND, NetSessionError, OptionError,
)
from ._operations import list_sessions, settle_all
from ._transport import SessionTransport

__all__ = ['FILE_KEYS', 'PERMISSION_NAMES', 'FileFilters', 'FileListing', 'list_files',
           'check_closable', 'FileCloseReport', 'close_files']

FILE_KEYS = ('id', 'path', 'username', 'domain', 'permissions', 'permission_names', 'locks',
             'client')

# [MS-SRVS] 2.2.4.7 FILE_INFO_3 fi3_permissions (lmshare.h PERM_FILE_*): what the opener may do.
PERM_FILE_READ = 0x1
PERM_FILE_WRITE = 0x2
PERM_FILE_CREATE = 0x4
PERMISSION_NAMES = {PERM_FILE_READ: 'read', PERM_FILE_WRITE: 'write', PERM_FILE_CREATE: 'create'}

# Windows lists the named pipes opened over IPC$ (the module's own \PIPE\srvsvc among them) as
# files with this path; they are not files, and closing one cuts an RPC client.
_PIPE_PREFIX = '\\PIPE\\'
# Closes of the same file that all say "not there": the file was closed before us.
_GONE = (NERR_FILE_ID_NOT_FOUND, ERROR_FILE_NOT_FOUND)
# After a close, Samba's smbd closes the file when the owning process gets the message: a
# listing right after may still show it. Bounded wait for it to go.
_SETTLE_TRIES = 5
_SETTLE_SECONDS = 0.2


class FileFilters(NamedTuple):
    file_id: int | None
    path: str | None
    path_prefix: str | None
    username: AccountName | None


class FileListing(NamedTuple):
    files: list[dict[str, Any]]
    """The matching open files (never a named pipe), as records."""
    id_counts: Counter[int]
    """How many of everything the server listed carry each id (more than 1: Samba's reuse)."""
    warnings: list[str]


def _text(value: Any) -> str:
    return (value or '').rstrip('\x00')


def is_pipe(path: str) -> bool:
    return path.upper().startswith(_PIPE_PREFIX)


def make_file_record(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The collection's record from one FILE_INFO_3 entry (field names without ``fi3_``); the
    client is filled in by list_files."""
    account = reported_account(_text(entry.get('username')))
    permissions = int(entry.get('permissions') or 0)
    record = {
        'id': int(entry['id']),
        'path': _text(entry.get('pathname')),
        'username': account.name if account else None,
        'domain': account.domain if account else None,
        'permissions': permissions,
        'permission_names': [name for bit, name in PERMISSION_NAMES.items() if permissions & bit],
        'locks': int(entry.get('num_locks') or 0),
        'client': None,
    }
    return {key: record[key] for key in FILE_KEYS}


def _same_path(one: str, other: str) -> bool:
    # Windows paths compare without regard to case; a Samba path differing only in case is then
    # matched too, and closing refuses more files than max_files allows.
    return one.casefold() == other.casefold()


def matches(record: Mapping[str, Any], filters: FileFilters) -> bool:
    if filters.file_id is not None and record['id'] != filters.file_id:
        return False
    if filters.path is not None and not _same_path(record['path'], filters.path):
        return False
    if filters.path_prefix is not None \
            and not record['path'].casefold().startswith(filters.path_prefix.casefold()):
        return False
    return filters.username is None or filters.username.matches(record['username'], record['domain'])


def list_files(transport: SessionTransport, filters: FileFilters, *,
               find_clients: bool = True) -> FileListing:
    """The server's open files that match every filter, each with its session's client where
    that can be told: the user has sessions from exactly one client (``_clients_by_user``).

    The server is sent the path filter as BasePath (Windows narrows its answer by it; Samba
    ignores it) but not the user name, which Samba reads as a Unix name: every filter is
    applied here.
    """
    entries = transport.enumerate_files(filters.path_prefix or filters.path, None)
    id_counts = Counter(int(entry['id']) for entry in entries)
    files = [entry for entry in entries if not is_pipe(_text(entry.get('pathname')))]
    records = [rec for rec in (make_file_record(entry) for entry in files) if matches(rec, filters)]
    warnings: list[str] = []
    if records and find_clients:
        try:
            clients_by_user = _clients_by_user(transport)
        except NetSessionError as error:
            warnings.append(f"the client of each file is unknown: listing the sessions failed ({error})")
        else:
            for rec in records:
                rec['client'] = _client_of(clients_by_user, rec)
    return FileListing(records, id_counts, warnings)


def _clients_by_user(transport: SessionTransport) -> dict[AccountName, set[str]]:
    """Every user with sessions (names without regard to case) and the clients they come from.

    NetrFileEnum does not say which session holds a file; a user connected from one client
    holds all of their files from there. Files a user holds from several clients, or through
    a durable handle whose session is gone, get no client.
    """
    clients: dict[AccountName, set[str]] = {}
    for rec in list_sessions(transport, level='auto', client=None, username=None,
                             need_username=True).sessions:
        if rec['username']:
            account = AccountName(rec['username'].casefold(), (rec['domain'] or '').casefold() or None)
            clients.setdefault(account, set()).add(rec['client'])
    return clients


def _client_of(clients_by_user: Mapping[AccountName, set[str]], record: Mapping[str, Any]) -> str | None:
    """The one client of every session whose user is the file's user, else None."""
    if not record['username']:
        return None
    account = AccountName(record['username'], record['domain'])
    found: set[str] = set().union(*(
        clients for owner, clients in clients_by_user.items()
        if account.matches(owner.name, owner.domain) or owner.matches(account.name, account.domain)))
    return found.pop() if len(found) == 1 else None


def check_closable(listing: FileListing, *, max_files: int, option: str) -> None:
    """Refuse, before anything is closed, what netfile_close must not do.

    A file whose id the server lists more than once: NetrFileClose takes only the id, and Samba
    closes every file that carries it. More files than ``max_files``: a selector wider than
    meant.
    """
    shared = sorted({rec['id'] for rec in listing.files if listing.id_counts[rec['id']] > 1})
    if shared:
        raise OptionError(option, "the server lists file id(s) "
                                  f"{', '.join(str(file_id) for file_id in shared)} for more than one "
                                  "open file (Samba reuses ids across its processes), and closing an id "
                                  "closes every file that carries it: nothing was closed")
    if len(listing.files) > max_files:
        raise OptionError('max_files', f"{len(listing.files)} open files match, more than max_files "
                                       f"({max_files}): nothing was closed; narrow the selection or "
                                       "raise max_files")


class FileCloseReport(NamedTuple):
    closed: list[dict[str, Any]]
    already_gone: list[dict[str, Any]]
    not_closed: list[dict[str, Any]]
    warnings: list[str]


def close_files(transport: SessionTransport, files: Sequence[dict[str, Any]], filters: FileFilters,
                *, check_mode: bool) -> FileCloseReport:
    """Close the listed files, all in one transport call, then list again to confirm.

    On failure the NetSessionError carries what was closed so far and what was not. A file the
    server accepted to close but still lists after a short wait is reported as not closed, with
    a warning.
    """
    if check_mode or not files:
        return FileCloseReport(list(files) if check_mode else [], [], [], [])
    closed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []

    def take(rec: dict[str, Any], refusal: NetSessionError | None) -> None:
        if refusal is None:
            closed.append(rec)
        elif refusal.code in _GONE:
            gone.append(rec)
        else:
            raise refusal

    try:
        settle_all(files, lambda recs: transport.close_files([rec['id'] for rec in recs]), take,
                   operation='NetFileClose', server=transport.server)
        lingering = _still_listed(transport, closed, filters)
    except NetSessionError as error:
        error.partial = {'closed': closed, 'already_gone': gone,
                         'not_closed': error.partial.get('not_settled', [])}
        raise
    if not lingering:
        return FileCloseReport(closed, gone, [], [])
    still = {id(rec) for rec in lingering}
    return FileCloseReport([rec for rec in closed if id(rec) not in still], gone, lingering,
                           [f"the server accepted the close of {len(lingering)} file(s) but still "
                            f"lists them after {_SETTLE_TRIES * _SETTLE_SECONDS:.0f} s: see not_closed"])


def _still_listed(transport: SessionTransport, closed: Sequence[dict[str, Any]],
                  filters: FileFilters) -> list[dict[str, Any]]:
    """The closed files the server still lists, after waiting a little for them to go."""
    lingering = list(closed)
    for attempt in range(_SETTLE_TRIES):
        if not lingering:
            break
        if attempt:
            time.sleep(_SETTLE_SECONDS)
        listed = {(rec['id'], rec['path'].casefold())
                  for rec in list_files(transport, filters, find_clients=False).files}
        lingering = [rec for rec in lingering if (rec['id'], rec['path'].casefold()) in listed]
    return lingering
