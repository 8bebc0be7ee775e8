# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session_report filter: one fleet-wide report from every host's netsession_info result."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

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


def _summary(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows grouped by ``key`` without regard to case. Users are grouped by account name, so a
    user counts once whether a server reports ``alice`` (Windows) or ``LAB\\alice`` (Samba AD);
    the group keeps a domain when any server reported one."""
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row[key] if row[key] is not None else ''
        group = groups.setdefault(name.casefold(), {key: name, 'sessions': 0, 'open_files': 0,
                                                    'servers': set()})
        if key == 'username':
            group['domain'] = group.get('domain') or row.get('domain')
        group['sessions'] += 1
        group['open_files'] += row['open_files'] or 0
        group['servers'].add(row['host'])
    return [dict(group, servers=sorted(group['servers']))
            for _key, group in sorted(groups.items(), key=lambda item: (-item[1]['sessions'], item[0]))]


def session_report(hostvars: Mapping[str, Any], hosts: Iterable[str], variable: str,
                   now: datetime.datetime | None = None) -> dict[str, Any]:
    """Aggregate ``hostvars[host][variable]`` (netsession_info results) over ``hosts``.

    ``now`` (an aware time; default: the controller's clock) is when the report was made.
    """
    made = (now or datetime.datetime.now(datetime.UTC)).astimezone()
    rows: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for host in hosts:
        result = hostvars[host].get(variable) if host in hostvars else None
        if not isinstance(result, Mapping) or result.get('failed') or 'sessions' not in result:
            result = result if isinstance(result, Mapping) else {}
            failed.append({'host': host, 'server': result.get('server') or host,
                           'error': result.get('msg') or 'no result (the host failed before the report)',
                           'code': result.get('code'), 'code_name': result.get('code_name')})
            continue
        sessions = list(result['sessions'])
        for session in sessions:
            rows.append(dict(session, host=host, server=result['server']))
        servers.append({'host': host, 'server': result['server'], 'backend': result.get('backend'),
                        'level': result.get('level'), 'sessions': len(sessions),
                        'users': len({(s['username'] or '').casefold() for s in sessions}),
                        'clients': len({s['client'].casefold() for s in sessions}),
                        'open_files': sum(s['open_files'] or 0 for s in sessions)})
    return {
        'generated_at': {'utc': made.astimezone(datetime.UTC).isoformat(timespec='seconds'),
                         'local': made.isoformat(timespec='seconds'), 'zone': made.tzname()},
        'highlights': {'longest_idle': _top(rows, 'idle_seconds'),
                       'most_open_files': _top(rows, 'open_files')},
        'totals': {'servers': len(servers), 'servers_failed': len(failed), 'sessions': len(rows),
                   'users': len({(row['username'] or '').casefold() for row in rows}),
                   'clients': len({row['client'].casefold() for row in rows}),
                   'open_files': sum(row['open_files'] or 0 for row in rows)},
        'servers': servers,
        'failed': failed,
        'users': _summary(rows, 'username'),
        'clients': _summary(rows, 'client'),
        'sessions': rows,
    }


class FilterModule:

    def filters(self) -> dict[str, Any]:
        return {'session_report': session_report, 'duration': duration}
