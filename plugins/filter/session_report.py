# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session_report filter: one fleet-wide report from every host's netsession_info result."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.lanman.server.plugins.filter.session_files import FILE_FIELDS, attribute

# Documented in session_report.yml and duration.yml beside this file.

_UNITS = (('d', 86400), ('h', 3600), ('m', 60), ('s', 1))


def duration(seconds: int | None) -> str:
    """Seconds as a person reads them: the two largest units, the second zero-padded
    (``45 s``, ``3 m 05 s``, ``2 h 05 m``, ``3 d 04 h``); empty for None."""
    if seconds is None:
        return ''
    seconds = max(int(seconds), 0)
    for index, (unit, size) in enumerate(_UNITS[:-1]):
        if seconds >= size:
            smaller_unit, smaller_size = _UNITS[index + 1]
            return f"{seconds // size} {unit} {seconds % size // smaller_size:02d} {smaller_unit}"
    return f"{seconds} s"


def _top(rows: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The row with the largest ``key`` (a positive one), or None."""
    candidates = [row for row in rows if (row.get(key) or 0) > 0]
    return max(candidates, key=lambda row: row[key]) if candidates else None


def _summary(rows: list[dict[str, Any]], key: str, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by ``key`` without regard to case. Users are grouped by account name, so a
    user counts once whether a server reports ``alice`` (Windows) or ``LAB\\alice`` (Samba AD);
    the group keeps a domain when any server reported one.

    ``files`` (file rows of the report) count in ``listed_files``: per user every file of the
    user, per client the files put down to a session of the client. Users also list their
    files, and a user with open files but no session (a durable handle) is a group of its own.
    """
    groups: dict[str, dict[str, Any]] = {}

    def group_of(name: str | None) -> dict[str, Any]:
        name = name if name is not None else ''
        group = groups.setdefault(name.casefold(), {key: name, 'sessions': 0, 'open_files': 0,
                                                    'listed_files': 0, 'servers': set()})
        if key == 'username':
            group.setdefault('files', [])
        return group

    for row in rows:
        group = group_of(row[key])
        if key == 'username':
            group['domain'] = group.get('domain') or row.get('domain')
        group['sessions'] += 1
        group['open_files'] += row['open_files'] or 0
        group['servers'].add(row['host'])
    for file in files:
        if key == 'client' and file['attribution'] != 'session':
            continue
        group = group_of(file[key])
        if key == 'username':
            group['domain'] = group.get('domain') or file.get('domain')
            group['files'].append(file)
        group['listed_files'] += 1
        group['servers'].add(file['host'])
    return [dict(group, servers=sorted(group['servers']))
            for _key, group in sorted(groups.items(), key=lambda item: (-item[1]['sessions'], item[0]))]


def _failure(host: str, result: Mapping[str, Any], server: str, missing: str) -> dict[str, Any]:
    return {'host': host, 'server': result.get('server') or server, 'error': result.get('msg') or missing,
            'code': result.get('code'), 'code_name': result.get('code_name')}


def session_report(hostvars: Mapping[str, Any], hosts: Iterable[str], variable: str,
                   files_variable: str | None = None,
                   now: datetime.datetime | None = None) -> dict[str, Any]:
    """Aggregate ``hostvars[host][variable]`` (netsession_info results) over ``hosts``, and
    ``hostvars[host][files_variable]`` (netfile_info results) when a files variable is named.

    ``now`` (an aware time; default: the controller's clock) is when the report was made.
    """
    made = (now or datetime.datetime.now(datetime.UTC)).astimezone()
    rows: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    files_failed: list[dict[str, Any]] = []
    for host in hosts:
        result = hostvars[host].get(variable) if host in hostvars else None
        if not isinstance(result, Mapping) or result.get('failed') or 'sessions' not in result:
            failed.append(_failure(host, result if isinstance(result, Mapping) else {}, host,
                                   'no result (the host failed before the report)'))
            continue
        sessions = [dict(session, host=host, server=result['server']) for session in result['sessions']]
        listed = None
        if files_variable is not None:
            listing = hostvars[host].get(files_variable)
            if isinstance(listing, Mapping) and not listing.get('failed') and 'files' in listing:
                listed = list(listing['files'])
            else:
                files_failed.append(_failure(host, listing if isinstance(listing, Mapping) else {},
                                             result['server'], 'no result (the open files were not listed)'))
        held, per_user, owners = attribute(sessions, listed or [])
        for index, session in enumerate(sessions):
            # None: not known (the host's files were not listed).
            session['files'] = None if listed is None else [
                {field: file.get(field) for field in FILE_FIELDS} for file in held[index]]
            session['user_files'] = None if listed is None else [
                {field: file.get(field) for field in FILE_FIELDS} for file in per_user[index]]
        host_files = [dict(file, host=host, server=result['server'],
                           attribution='session' if owner is not None else 'user')
                      for file, owner in zip(listed or [], owners, strict=True)]
        rows.extend(sessions)
        files.extend(host_files)
        servers.append({'host': host, 'server': result['server'], 'backend': result.get('backend'),
                        'level': result.get('level'), 'sessions': len(sessions),
                        'users': len({(s['username'] or '').casefold() for s in sessions}),
                        'clients': len({s['client'].casefold() for s in sessions}),
                        'open_files': sum(s['open_files'] or 0 for s in sessions),
                        'listed_files': len(host_files) if listed is not None else None,
                        'locks': sum(f['locks'] or 0 for f in host_files) if listed is not None else None})
    return {
        'generated_at': {'utc': made.astimezone(datetime.UTC).isoformat(timespec='seconds'),
                         'local': made.isoformat(timespec='seconds'), 'zone': made.tzname()},
        'highlights': {'longest_idle': _top(rows, 'idle_seconds'),
                       'most_open_files': _top(rows, 'open_files')},
        'totals': {'servers': len(servers), 'servers_failed': len(failed), 'sessions': len(rows),
                   'users': len({(row['username'] or '').casefold() for row in rows}),
                   'clients': len({row['client'].casefold() for row in rows}),
                   'open_files': sum(row['open_files'] or 0 for row in rows),
                   'listed_files': len(files),
                   'files_per_user_only': sum(1 for file in files if file['attribution'] == 'user'),
                   'locks': sum(file['locks'] or 0 for file in files),
                   'servers_files_failed': len(files_failed)},
        'files_listed': files_variable is not None,
        'servers': servers,
        'failed': failed,
        'files_failed': files_failed,
        'users': _summary(rows, 'username', files),
        'clients': _summary(rows, 'client', files),
        'sessions': rows,
        'files': files,
    }


class FilterModule:

    def filters(self) -> dict[str, Any]:
        return {'session_report': session_report, 'duration': duration}
