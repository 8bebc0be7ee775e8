"""The without_users filter the drain role uses (plugins/filter/without_users.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lanman.server.plugins.filter.without_users import without_users

SESSIONS = [
    {'client': 'c1', 'username': 'carol', 'domain': None},
    {'client': 'c2', 'username': 'carol', 'domain': 'LAB'},
    {'client': 'c3', 'username': 'carol', 'domain': 'OTHER'},
    {'client': 'c4', 'username': 'alice', 'domain': 'LAB'},
]


@pytest.mark.parametrize('names, left', [
    ([], ['c1', 'c2', 'c3', 'c4']),
    (['CAROL'], ['c4']),
    (['LAB\\carol'], ['c3', 'c4']),  # the other domain's carol stays; Windows' bare one does not
    (['carol@lab.test', 'alice'], ['c3']),
])
def test_the_modules_matching_rule(names, left):
    assert [session['client'] for session in without_users(SESSIONS, names)] == left


def test_a_name_the_modules_refuse_fails_the_filter():
    with pytest.raises(AnsibleFilterError, match='empty domain part'):
        without_users(SESSIONS, ['\\carol'])
