# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What netsession_delete closes: whole (client, user) pairs, never the module's own.

Private to the lanman.server collection: not a public API. Pure functions, no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ._accounts import AccountName
from ._own_session import OwnSession
from ._records import client_key, matches

__all__ = ['Pair', 'Selection', 'select_pairs', 'one_call_username']


class Pair(NamedTuple):
    """NetSessionDel closes every session of one (client, user name) pair at once.

    ``username`` is the name in the server's own form (``LAB\\alice`` on Samba AD, ``alice`` on
    Windows): a Samba AD server refuses NetSessionDel with the bare name.
    """

    client: str
    username: str

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Pair:
        return cls(record['client'], AccountName(record['username'], record['domain']).server_form)


class Selection(NamedTuple):
    """What netsession_delete closes, and what it keeps although the filters matched it."""

    to_close: list[tuple[Pair, list[dict[str, Any]]]]
    kept_own: list[dict[str, Any]]
    kept_partial: list[dict[str, Any]]
    kept_unnamed: list[dict[str, Any]]


def select_pairs(records: Sequence[dict[str, Any]], *, client: str | None,
                 username: AccountName | None,
                 min_idle_seconds: int | None, exclude_usernames: Iterable[AccountName],
                 own: OwnSession | None, own_unseen: bool) -> Selection:
    """Choose the (client, user) pairs to close.

    A pair is closed only when every one of its sessions matches (NetSessionDel cannot close
    one session of a pair and leave the other). A pair that may hold the module's own session
    is never closed, since that would cut the module's own connection: the pair of its client
    name and user, or, when the enumeration did not show the module's session (the server sees
    the controller under a name it cannot know, e.g. behind NAT), every pair of its user.
    """
    excluded = list(exclude_usernames)
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        key = (client_key(rec['client']), Pair.of(rec).username.casefold())
        pairs.setdefault(key, []).append(rec)

    def wanted(rec: Mapping[str, Any]) -> bool:
        if not matches(rec, client=client, username=username):
            return False
        if any(name.matches(rec['username'], rec['domain']) for name in excluded):
            return False
        return min_idle_seconds is None or (rec['idle_seconds'] or 0) >= min_idle_seconds

    to_close, kept_own, kept_partial, kept_unnamed = [], [], [], []
    for members in pairs.values():
        chosen = [rec for rec in members if wanted(rec)]
        if not chosen:
            continue
        pair = Pair.of(members[0])
        if not pair.client or not members[0]['username']:
            # An empty name in NetrSessionDel means "any": it would close other users' sessions.
            kept_unnamed.extend(chosen)
        elif own is not None and (own.has_user(members[0]['username']) if own_unseen
                                  else own.could_be(members[0])):
            kept_own.extend(chosen)
        elif len(chosen) < len(members):
            kept_partial.extend(chosen)
        else:
            to_close.append((pair, members))
    return Selection(to_close, kept_own, kept_partial, kept_unnamed)


def one_call_username(selection: Selection, *, client: str | None, username: AccountName | None,
                      min_idle_seconds: int | None, own: OwnSession | None) -> str | None:
    """The user name for one NetSessionDel(NULL, user) that closes what ``selection`` closes.

    [MS-SRVS] 3.1.4.6: with no client name the server closes every session of the user. That
    is exactly the request when it names only a user, with no idle filter, the module's own
    connection logs on as someone else, and no session of the user is to be kept; then one
    call replaces one per client. Returns None when per-pair closing is needed (or just as
    cheap: a single pair). The name is sent as the server listed it.
    """
    if username is None or client is not None or min_idle_seconds is not None:
        return None
    if len(selection.to_close) < 2 or selection.kept_own or selection.kept_partial \
            or selection.kept_unnamed:
        return None
    if own is not None and own.has_user(username.name):
        return None
    names = {pair.username for pair, _members in selection.to_close}
    return names.pop() if len(names) == 1 else None
