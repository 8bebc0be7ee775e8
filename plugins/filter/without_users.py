# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The without_users filter: session records less those of the named users, by the modules' rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.lanman.server.plugins.module_utils._accounts import check_account
from ansible_collections.lanman.server.plugins.module_utils._errors import OptionError

# Documented in without_users.yml beside this file.


def without_users(sessions: Iterable[Mapping[str, Any]], names: Iterable[str]) -> list[Mapping[str, Any]]:
    """``sessions`` without those whose user is one of ``names`` (as exclude_usernames matches)."""
    try:
        accounts = [check_account('names', name) for name in names]
    except OptionError as error:
        raise AnsibleFilterError(f"lanman.server.without_users: {error}") from None
    return [session for session in sessions
            if not any(account.matches(session.get('username'), session.get('domain'))
                       for account in accounts)]


class FilterModule:

    def filters(self) -> dict[str, Any]:
        return {'without_users': without_users}
