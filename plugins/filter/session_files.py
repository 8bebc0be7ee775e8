# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session_files and held_by filters: which session holds which open file.

A server does not say which session holds a file: netfile_info sets a file's ``client`` only when
the file's user has sessions from exactly one client. A file goes to a session when its client
and its user (name, and domain when both records have one) are those of exactly one session; any
other file of that user (client unknown, or several sessions of the user from that client) can
only be put down to the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.lanman.server.plugins.module_utils._accounts import check_account, domain_matches
from ansible_collections.lanman.server.plugins.module_utils._errors import OptionError
from ansible_collections.lanman.server.plugins.module_utils._records import client_key

# Documented in session_files.yml and held_by.yml beside this file.

# What a session's own list repeats of a file: the rest (user, domain, client) is the session's.
FILE_FIELDS = ('id', 'path', 'permissions', 'permission_names', 'locks')


def same_account(one: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two records (sessions or files) name the same user: the name without regard to
    case, and the domain too when both records report one."""
    name, other_name = one.get('username'), other.get('username')
    if not name or not other_name or name.casefold() != other_name.casefold():
        return False
    domain, other_domain = one.get('domain'), other.get('domain')
    return not domain or not other_domain or domain_matches(domain, other_domain)


def _same_client(session: Mapping[str, Any], client: str) -> bool:
    return bool(session.get('client')) and client_key(session['client']) == client_key(client)


def attribute(sessions: Sequence[Mapping[str, Any]], files: Iterable[Mapping[str, Any]]
              ) -> tuple[list[list[Mapping[str, Any]]], list[list[Mapping[str, Any]]], list[int | None]]:
    """Put every file down to a session or to its user.

    Returns, per session (by index), the files it holds and the files of its user whose session
    is not known; and per file, the index of its session or None. A file whose client is known
    but matches no session here (the session is not among ``sessions``) is neither.
    """
    held: list[list[Mapping[str, Any]]] = [[] for _session in sessions]
    per_user: list[list[Mapping[str, Any]]] = [[] for _session in sessions]
    owners: list[int | None] = []
    for file in files:
        users = [index for index, session in enumerate(sessions) if same_account(session, file)]
        client = file.get('client')
        candidates = [index for index in users if client and _same_client(sessions[index], client)]
        if len(candidates) == 1:
            held[candidates[0]].append(file)
            owners.append(candidates[0])
            continue
        owners.append(None)
        if not client or candidates:
            for index in users:
                per_user[index].append(file)
    return held, per_user, owners


def session_files(sessions: Iterable[Mapping[str, Any]], files: Iterable[Mapping[str, Any]] | None
                  ) -> list[dict[str, Any]]:
    """Every session record with ``files`` (the open files it holds) and ``user_files`` (the open
    files of its user whose session is not known)."""
    if isinstance(sessions, (str, bytes, Mapping)) or isinstance(files, (str, bytes, Mapping)):
        raise AnsibleFilterError('lanman.server.session_files: takes a list of sessions and a list of files')
    rows = list(sessions)
    held, per_user, _owners = attribute(rows, list(files or []))
    return [dict(session, files=[dict(file) for file in held[index]],
                 user_files=[dict(file) for file in per_user[index]])
            for index, session in enumerate(rows)]


def held_by(files: Iterable[Mapping[str, Any]], names: Iterable[str], client: str | None = None
            ) -> list[Mapping[str, Any]]:
    """The open files of the users named (as the modules match user names), from ``client`` only
    when one is given (a file whose client is not known is then left out)."""
    if isinstance(names, (str, bytes)):
        names = [names]
    try:
        accounts = [check_account('names', name) for name in names]
    except OptionError as error:
        raise AnsibleFilterError(f"lanman.server.held_by: {error}") from None
    return [file for file in files
            if any(account.matches(file.get('username'), file.get('domain')) for account in accounts)
            and (client is None or (bool(file.get('client')) and client_key(file['client']) == client_key(client)))]


class FilterModule:

    def filters(self) -> dict[str, Any]:
        return {'session_files': session_files, 'held_by': held_by}
