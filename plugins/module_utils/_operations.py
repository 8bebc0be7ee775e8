# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two operations on a connected transport: list the sessions, close selected pairs.

Private to the lanman.server collection: not a public API. Level fallback, filtering, the
module's own session and the partial-close report live here, written once for every transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar

from ._accounts import AccountName, reported_account
from ._errors import (
    ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND,
    RPC_S_PROTOCOL_ERROR, NetSessionError,
)
from ._own_session import hide_own_session
from ._records import levels_to_try, make_record, matches, needs_same_right, unc_client_name
from ._selection import Selection
from ._transport import SessionTransport, Step

__all__ = ['Enumeration', 'fallback_plan', 'list_sessions', 'CloseReport', 'close_pairs', 'settle_all']

T = TypeVar('T')

# [MS-SRVS] 3.1.4.5: "no session matches the filter" on Windows; an empty answer, not a failure.
_NO_MATCH = (NERR_CLIENT_NAME_NOT_FOUND, NERR_USER_NOT_FOUND)
# Answers that make `level: auto` try the next level.
_FALLBACK = (ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL)


class Enumeration(NamedTuple):
    level: int
    sessions: list[dict[str, Any]]
    own_unseen: bool
    """Whether the module has a session of its own that the server's answer did not show."""


def fallback_plan(candidates: Sequence[int], unc_client: str | None,
                  username: AccountName | None) -> list[Step]:
    """The levels to try, in order, and which refusal leads from one to which next.

    ERROR_INVALID_LEVEL leads to the next level; ERROR_ACCESS_DENIED skips the levels that need
    the same right as the refused one. A single candidate (an explicit level) never falls back.
    """
    plan = []
    for index, level in enumerate(candidates):
        later = range(index + 1, len(candidates))
        fallback = {ERROR_INVALID_LEVEL: index + 1} if later else {}
        other_right = next((at for at in later if not needs_same_right(candidates[at], level)), None)
        if other_right is not None:
            fallback[ERROR_ACCESS_DENIED] = other_right
        # NetSessionGetInfo (both filters) has no level 502: that user is filtered here instead.
        server_user = username.name if username is not None \
            and (level != 502 or unc_client is None) else None
        plan.append(Step(level, unc_client, server_user, fallback))
    return plan


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
    plan = fallback_plan(candidates, unc_client, username)
    attempts = transport.enumerate(plan)
    if not attempts:
        raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation='NetSessionEnum',
                              server=transport.server, detail='no level of the plan was tried')
    answer = attempts[-1]
    if answer.refusal is not None and answer.refusal.code not in _NO_MATCH:
        if len(attempts) > 1 and answer.refusal.code in _FALLBACK:
            answer.refusal.detail = (
                f"level auto tried {', '.join(str(plan[tried.step].level) for tried in attempts)}; "
                "the server refused each")
        raise answer.refusal
    answered = plan[answer.step].level
    records = [make_record(answered, entry) for entry in answer.entries]
    records, own_unseen = hide_own_session(records, transport.own_session)
    return Enumeration(answered, [rec for rec in records
                                  if matches(rec, client=client, username=username)], own_unseen)


class CloseReport(NamedTuple):
    closed: list[dict[str, Any]]
    already_gone: list[dict[str, Any]]


def close_pairs(transport: SessionTransport, selection: Selection, *, level: int, check_mode: bool,
                one_call_username: str | None = None) -> CloseReport:
    """Close every selected pair (or, in check mode, only report them).

    The pairs go to the transport all at once, which stops at the first refusal. A pair that is
    gone by the time it is closed counts as closed by someone else, not as a failure: Windows
    says NERR_ClientNameNotFound, Samba says access denied for a pair it no longer has, so an
    access denial is checked against a fresh enumeration, and if the pair is indeed gone the
    rest are sent again. On failure the NetSessionError carries what was closed so far and what
    was not.
    """
    if check_mode:
        return CloseReport([rec for _pair, members in selection.to_close for rec in members], [])
    # (client or None, user name, the records it closes): with no client, NetSessionDel closes
    # every session of the user, which is every selected pair (see _selection.one_call_username).
    calls: list[tuple[str | None, str, list[dict[str, Any]]]] = \
        [(None, one_call_username, [rec for _pair, recs in selection.to_close for rec in recs])] \
        if one_call_username is not None \
        else [(pair.client, pair.username, members) for pair, members in selection.to_close]
    closed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []

    def take(call: tuple[str | None, str, list[dict[str, Any]]], refusal: NetSessionError | None) -> None:
        client, username, members = call
        if refusal is None:
            closed.extend(members)
        elif _gone(transport, refusal, client=client, username=username, level=level):
            gone.extend(members)
        else:
            raise refusal

    try:
        settle_all(calls, lambda pending: transport.delete(
            [(unc_client_name(client) if client is not None else None, username)
             for client, username, _members in pending]), take,
            operation='NetSessionDel', server=transport.server)
    except NetSessionError as error:
        # Whatever failed (a close, the check whether a pair is gone, the transport in the
        # middle of the pairs): say exactly what was done before it.
        error.partial = {'closed': closed, 'already_gone': gone,
                         'not_closed': [rec for _client, _user, rest in error.partial['not_settled']
                                        for rec in rest]}
        raise
    return CloseReport(closed, gone)


def settle_all(items: Sequence[T], send: Callable[[list[T]], Iterable[NetSessionError | None]],
               take: Callable[[T, NetSessionError | None], None], *, operation: str, server: str) -> None:
    """Send every item at once and hand each answer to ``take``, which files it or raises the
    refusal; when the transport stopped answering after a refusal ``take`` let pass (an item
    found gone), the rest are sent again. Bounded: each round settles at least one item.

    A NetSessionError leaves with ``partial['not_settled']``: the items not settled before it.
    """
    pending = list(items)
    settled = 0
    try:
        while pending:
            settled = 0
            # Not strict: the transport stops answering after a refusal.
            for item, refusal in zip(pending, send(pending), strict=False):
                take(item, refusal)
                settled += 1
            if not settled:
                raise NetSessionError(RPC_S_PROTOCOL_ERROR, None, operation=operation, server=server,
                                      detail='the server answered for none of them')
            pending, settled = pending[settled:], 0
    except NetSessionError as error:
        error.partial = {'not_settled': pending[settled:]}
        raise


def _gone(transport: SessionTransport, refusal: NetSessionError, *, client: str | None,
          username: str, level: int) -> bool:
    """Whether a refused close means the pair was gone already (see close_pairs)."""
    if refusal.code in _NO_MATCH:
        return True
    if refusal.code != ERROR_ACCESS_DENIED:
        return False
    return not list_sessions(transport, level=level, client=client,
                             username=reported_account(username)).sessions
