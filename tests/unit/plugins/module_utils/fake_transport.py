"""A fake transport at the collection's own seam (``_transport.SessionTransport``), for the fast tier.

It answers ``enumerate`` (a plan, walked one level at a time) and ``delete`` (pairs, one at a
time, lazily) from a list of SESSION_INFO entries and a script of
refusals, and records every call, so the logic written once for both transports (level
fallback, filtering, the module's own session, selection, partial closes, the access-denied
re-check) runs in milliseconds, without root or network. The real transports are tested
against real Samba and the Windows model elsewhere; this replaces neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ansible_collections.lanman.server.plugins.module_utils._errors import (
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_NETNAME_DELETED, NERR_CLIENT_NAME_NOT_FOUND, NERR_FILE_ID_NOT_FOUND,
    NetSessionError, status_name,
)
from ansible_collections.lanman.server.plugins.module_utils._own_session import OwnSession
from ansible_collections.lanman.server.plugins.module_utils._transport import (
    DELETE_GOES_ON_AFTER, FILE_CLOSE_GOES_ON_AFTER, Attempt, SessionTransport, Step, walk_plan,
)
from tests.windows.model import LEVEL_FIELDS  # [MS-SRVS] 2.2.4.11-2.2.4.15, written once for the tests


def open_file(file_id: int, pathname: str, username: str, *, permissions: int = 1,
              num_locks: int = 0) -> dict[str, Any]:
    """An open file as NetrFileEnum level 3 reports it."""
    return {'id': file_id, 'permissions': permissions, 'num_locks': num_locks, 'pathname': pathname,
            'username': username}


def session(cname: str, username: str, *, num_opens: int = 0, time: int = 100,
            idle_time: int = 0) -> dict[str, Any]:
    """A server-side session with every SESSION_INFO field."""
    return {'cname': cname, 'username': username, 'num_opens': num_opens, 'time': time,
            'idle_time': idle_time, 'user_flags': 0, 'cltype_name': '', 'transport': ''}


class FakeTransport(SessionTransport):
    """Sessions held in memory; ``refuse`` maps a level (or 'delete') to a status or a callable."""

    backend = 'fake'

    def __init__(self, sessions: list[dict[str, Any]], *, own: OwnSession | None = None,
                 refuse: dict[Any, int | Callable[..., int | None]] | None = None,
                 served_levels: frozenset[int] | None = None, samba_like: bool = False,
                 files: list[dict[str, Any]] | None = None) -> None:
        super().__init__('fs.example', 5)
        self.sessions = list(sessions)
        self._own = own
        self.refuse = dict(refuse or {})
        self.served_levels = served_levels
        self.samba_like = samba_like  # Samba: 5 (not 2312) for a pair it no longer has
        self.cut_at: int | None = None
        """The close (pair or file, counted from 1 over the run) at which the connection is lost:
        the transport raises instead of answering, as the SMB transport does."""
        self._closes = 0
        self.files = list(files or [])
        """Open files as FILE_INFO_3 entries (open_file()); a close removes every file with its id."""
        self.calls: list[tuple] = []
        """Every NetrSessionEnum / NetrSessionDel, one per level tried or pair closed."""
        self.batches: list[tuple[str, int]] = []
        """Every transport call (a plan or a list of pairs) and its length."""
        self.closed = False

    @property
    def own_session(self) -> OwnSession | None:
        return self._own

    def _refusal(self, key: Any, *args: Any) -> None:
        rule = self.refuse.get(key)
        status = rule(*args) if callable(rule) else rule
        if status:
            raise NetSessionError(status, status_name(status), operation=f'fake {key}',
                                  server=self.server)

    def enumerate(self, plan: Sequence[Step]) -> list[Attempt]:
        self.batches.append(('enumerate', len(plan)))
        return walk_plan(plan, self._enumerate_step)

    def _enumerate_step(self, step: Step) -> list[dict[str, Any]]:
        self.calls.append(('enumerate', step.level, step.unc_client, step.username))
        self._refusal(step.level, step.unc_client, step.username)
        return [{field: entry[field] for field in LEVEL_FIELDS[step.level]} for entry in self.sessions]

    def delete(self, pairs: Sequence[tuple[str | None, str]]) -> Iterator[NetSessionError | None]:
        self.batches.append(('delete', len(pairs)))
        for unc_client, username in pairs:
            self._count_close()
            try:
                self._delete_one(unc_client, username)
            except NetSessionError as refusal:
                yield refusal
                if refusal.code not in DELETE_GOES_ON_AFTER:
                    return
            else:
                yield None

    def _delete_one(self, unc_client: str | None, username: str) -> None:
        self.calls.append(('delete', unc_client, username))
        self._refusal('delete', unc_client, username)
        client = unc_client[2:] if unc_client else None
        doomed = [entry for entry in self.sessions if entry['username'].casefold() == username.casefold()
                  and (client is None or entry['cname'].casefold() == client.casefold())]
        if not doomed:
            status = ERROR_ACCESS_DENIED if self.samba_like else NERR_CLIENT_NAME_NOT_FOUND
            raise NetSessionError(status, status_name(status), operation='fake delete',
                                  server=self.server)
        self.sessions = [entry for entry in self.sessions if entry not in doomed]

    def enumerate_files(self, base_path: str | None, username: str | None) -> list[dict[str, Any]]:
        self.batches.append(('enumerate_files', 1))
        self.calls.append(('enumerate_files', base_path, username))
        self._refusal('files')
        return [dict(entry) for entry in self.files]

    def close_files(self, file_ids: Sequence[int]) -> Iterator[NetSessionError | None]:
        self.batches.append(('close_files', len(file_ids)))
        for file_id in file_ids:
            self._count_close()
            self.calls.append(('close_file', file_id))
            rule = self.refuse.get('close_file')
            status = rule(file_id) if callable(rule) else rule
            if not status and not any(entry['id'] == file_id for entry in self.files):
                status = ERROR_FILE_NOT_FOUND if self.samba_like else NERR_FILE_ID_NOT_FOUND
            if not status:
                self.files = [entry for entry in self.files if entry['id'] != file_id]
                yield None
                continue
            yield NetSessionError(status, status_name(status), operation='fake close_file', server=self.server)
            if status not in FILE_CLOSE_GOES_ON_AFTER:
                return

    def _count_close(self) -> None:
        self._closes += 1
        if self._closes == self.cut_at:
            raise NetSessionError(ERROR_NETNAME_DELETED, status_name(ERROR_NETNAME_DELETED),
                                  operation='fake close', server=self.server, detail='connection lost')

    def close(self) -> None:
        self.closed = True
