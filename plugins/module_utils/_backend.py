# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One backend for both modules: the transport interface, its factory, and the two operations.

Private to the lanman.server collection: not a public API.

A transport only moves NetrSessionEnum / NetrSessionDel calls and their answers; level
fallback, filtering, the module's own session, target selection and error handling live here
and in ``_sessions``, written once for every transport.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, NamedTuple

from ._errors import (
    ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND,
    NetSessionError, OptionError,
)
from ._accounts import AccountName, reported_account
from ._sessions import (
    OwnSession, Selection, hide_own_session, levels_to_try, make_record, matches,
    needs_same_right, unc_client_name,
)

__all__ = ['SessionTransport', 'missing_library', 'open_transport', 'Enumeration', 'list_sessions', 'close_pairs',
           'BACKEND_CHOICES']

BACKEND_CHOICES = ('auto', 'smb', 'winrm')

# [MS-SRVS] 3.1.4.5: "no session matches the filter" on Windows; an empty answer, not a failure.
_NO_MATCH = (NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND)
# Answers that make `level: auto` try the next level.
_FALLBACK = (ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL)


class SessionTransport(abc.ABC):
    """Moves session calls to one server. Raises NetSessionError, never a library's exception."""

    backend: str
    server: str
    served_levels: frozenset[int] | None = None
    """The info levels the server is known to answer, when it identified itself; else None."""

    @abc.abstractmethod
    def enumerate(self, level: int, unc_client: str | None,
                  username: str | None) -> list[dict[str, Any]]:
        """NetrSessionEnum (NetSessionGetInfo when both filters are given), every page.

        Returns the SESSION_INFO entries as dicts of MS-SRVS field names without the
        ``sesiN_`` prefix. Raises NetSessionError with the server's status otherwise.
        """

    @abc.abstractmethod
    def delete(self, unc_client: str | None, username: str) -> None:
        """NetrSessionDel for one (client, user) pair, or with no client every session of the user.

        Never called without a user name (Samba would close every session on the server).
        """

    @property
    @abc.abstractmethod
    def own_session(self) -> OwnSession | None:
        """How the server may report this transport's own SMB session; None if it has none."""

    def close(self) -> None:
        """Release the connection; must not raise."""

    def __enter__(self) -> 'SessionTransport':
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def missing_library(backend: str, package: str, error: Exception) -> OptionError:
    """The failure for a backend whose library is not installed on the controller."""
    return OptionError('backend', f"{backend} needs the Python library {package} on the "
                                  f"controller (pip install {package}): {error}")


def open_transport(params: Mapping[str, Any]) -> SessionTransport:
    """The factory: resolve ``backend`` and return a connected transport.

    The transport's library is imported only here, for the backend that was chosen.
    """
    if params['backend'] == 'winrm':
        from ._winrm import WinrmTransport
        return WinrmTransport.connect(params)
    # 'auto' reaching a module means SMB: the action plugins resolve it by the host's
    # connection before (see plugin_utils/_controller.py).
    from ._smb import SmbTransport
    return SmbTransport.connect(params)


class Enumeration(NamedTuple):
    level: int
    sessions: list[dict[str, Any]]
    own_found: bool
    """Whether the module's own session was in the server's answer (and left out)."""


def list_sessions(transport: SessionTransport, *, level: str | int, client: str | None,
                  username: AccountName | None, need_username: bool = False) -> Enumeration:
    """Enumerate at the requested level (or the richest one allowed), filtered and without ours.

    Windows honours the server-side filters and Samba ignores them, so the filters are both
    sent and applied again here; an explicit level never falls back. The server is sent the
    bare account name, which is how Windows names a session's user.
    """
    if username is not None:
        need_username = True
    candidates = levels_to_try(level, need_username=need_username, served=transport.served_levels)
    unc_client = unc_client_name(client) if client is not None else None
    refused: NetSessionError | None = None
    refused_level = None
    tried = []
    for candidate in candidates:
        if refused is not None and refused.code == ERROR_ACCESS_DENIED \
                and needs_same_right(candidate, refused_level):
            continue
        tried.append(str(candidate))
        try:
            # NetSessionGetInfo (both filters) has no level 502: filter that user here instead.
            server_user = username.name if username is not None \
                and (candidate != 502 or unc_client is None) else None
            entries = transport.enumerate(candidate, unc_client, server_user)
        except NetSessionError as error:
            if error.code in _NO_MATCH:
                entries = []
            elif len(candidates) > 1 and error.code in _FALLBACK:
                refused, refused_level = error, candidate
                continue
            else:
                raise
        records = [make_record(candidate, entry) for entry in entries]
        records, own_found = hide_own_session(records, transport.own_session)
        return Enumeration(candidate, [rec for rec in records
                                       if matches(rec, client=client, username=username)],
                           own_found)
    # Only reached after a refusal: the first candidate is always tried.
    refused.detail = f"level auto tried {', '.join(tried)}; the server refused each"
    raise refused


class CloseReport(NamedTuple):
    closed: list[dict[str, Any]]
    already_gone: list[dict[str, Any]]


def close_pairs(transport: SessionTransport, selection: Selection, *, level: int, check_mode: bool,
                whole_user: str | None = None) -> CloseReport:
    """Close every selected pair (or, in check mode, only report them).

    A pair that is gone by the time it is closed counts as closed by someone else, not as a
    failure: Windows says NERR_ClientNameNotFound, Samba says access denied for a pair it no
    longer has, so an access denial is checked against a fresh enumeration before it is raised.
    On failure the NetSessionError carries what was closed so far and what was not.
    """
    closed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    if check_mode:
        return CloseReport([rec for _pair, members in selection.to_close for rec in members], gone)
    if whole_user is not None:
        return _close_user(transport, selection, whole_user, level)
    for index, (pair, members) in enumerate(selection.to_close):
        try:
            try:
                transport.delete(unc_client_name(pair.client), pair.username)
            except NetSessionError as error:
                if error.code == NERR_CLIENT_NAME_NOT_FOUND or (
                        error.code == ERROR_ACCESS_DENIED
                        and not _present(transport, client=pair.client,
                                         username=reported_account(pair.username), level=level)):
                    gone.extend(members)
                    continue
                raise
        except NetSessionError as error:
            # Whatever failed (the close, or the check whether the pair is gone): say exactly
            # what was done before it.
            error.partial = {
                'closed': closed,
                'already_gone': gone,
                'not_closed': [rec for _pair, rest in selection.to_close[index:] for rec in rest],
            }
            raise
        closed.extend(members)
    return CloseReport(closed, gone)


def _close_user(transport: SessionTransport, selection: Selection, username: str,
                level: int) -> CloseReport:
    """Every selected pair is the user's (see _sessions.whole_user): one call closes them all."""
    members = [rec for _pair, recs in selection.to_close for rec in recs]
    try:
        transport.delete(None, username)
    except NetSessionError as error:
        if error.code in _NO_MATCH or (
                error.code == ERROR_ACCESS_DENIED
                and not _present(transport, client=None, username=reported_account(username),
                                 level=level)):
            return CloseReport([], members)
        error.partial = {'closed': [], 'already_gone': [], 'not_closed': members}
        raise
    return CloseReport(members, [])


def _present(transport: SessionTransport, *, client: str | None, username: AccountName | None,
             level: int) -> bool:
    return bool(list_sessions(transport, level=level, client=client, username=username).sessions)
