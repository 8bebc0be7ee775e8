# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two operations on a connected transport: list the sessions, close selected pairs.

Private to the lanman.server collection: not a public API. Level fallback, filtering, the
module's own session and the partial-close report live here, written once for every transport.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._accounts import AccountName, reported_account
from ._errors import (
    ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND,
    NetSessionError,
)
from ._own_session import hide_own_session
from ._records import levels_to_try, make_record, matches, needs_same_right, unc_client_name
from ._selection import Selection
from ._transport import SessionTransport

__all__ = ['Enumeration', 'list_sessions', 'CloseReport', 'close_pairs']

# [MS-SRVS] 3.1.4.5: "no session matches the filter" on Windows; an empty answer, not a failure.
_NO_MATCH = (NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND)
# Answers that make `level: auto` try the next level.
_FALLBACK = (ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL)


class Enumeration(NamedTuple):
    level: int
    sessions: list[dict[str, Any]]
    own_unseen: bool
    """Whether the module has a session of its own that the server's answer did not show."""


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
    refusals: list[tuple[int, NetSessionError]] = []  # (level, what the server said), in order
    for candidate in candidates:
        if refusals and refusals[-1][1].code == ERROR_ACCESS_DENIED \
                and needs_same_right(candidate, refusals[-1][0]):
            continue
        try:
            # NetSessionGetInfo (both filters) has no level 502: filter that user here instead.
            server_user = username.name if username is not None \
                and (candidate != 502 or unc_client is None) else None
            entries = transport.enumerate(candidate, unc_client, server_user)
        except NetSessionError as error:
            if error.code in _NO_MATCH:
                entries = []
            elif len(candidates) > 1 and error.code in _FALLBACK:
                refusals.append((candidate, error))
                continue
            else:
                raise
        records = [make_record(candidate, entry) for entry in entries]
        records, own_unseen = hide_own_session(records, transport.own_session)
        return Enumeration(candidate, [rec for rec in records
                                       if matches(rec, client=client, username=username)],
                           own_unseen)
    # Only reached after refusals: the first candidate is always tried.
    last = refusals[-1][1]
    last.detail = (f"level auto tried {', '.join(str(level) for level, _error in refusals)}; "
                   "the server refused each")
    raise last


class CloseReport(NamedTuple):
    closed: list[dict[str, Any]]
    already_gone: list[dict[str, Any]]


def close_pairs(transport: SessionTransport, selection: Selection, *, level: int, check_mode: bool,
                one_call_username: str | None = None) -> CloseReport:
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
    if one_call_username is not None:
        return _close_user(transport, selection, one_call_username, level)
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
    """Every selected pair is the user's (see _selection.one_call_username): one call closes them all."""
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
