"""Listing with level fallback, and closing with its exact partial report, over a fake transport
(module_utils/_operations.py and _tasks.py: the logic both real transports share)."""

from __future__ import annotations

import pytest

from ansible_collections.lanman.server.plugins.module_utils._accounts import check_account
from ansible_collections.lanman.server.plugins.module_utils._errors import (
    ERROR_ACCESS_DENIED, ERROR_INVALID_LEVEL, ERROR_NETNAME_DELETED, NERR_USER_NOT_FOUND,
    NetSessionError,
)
from ansible_collections.lanman.server.plugins.module_utils._execute import execute
from ansible_collections.lanman.server.plugins.module_utils._operations import (
    close_pairs, fallback_plan, list_sessions,
)
from ansible_collections.lanman.server.plugins.module_utils._options import (
    DELETE_ARGUMENT_SPEC, INFO_ARGUMENT_SPEC,
)
from ansible_collections.lanman.server.plugins.module_utils._own_session import OwnSession
from ansible_collections.lanman.server.plugins.module_utils._selection import select_pairs
from ansible_collections.lanman.server.plugins.module_utils import _tasks
from tests.unit.plugins.module_utils.fake_transport import FakeTransport, session

SESSIONS = [session('10.0.0.1', 'alice', num_opens=2), session('10.0.0.2', 'alice'),
            session('10.0.0.1', 'bob'), session('10.0.0.3', 'carol', idle_time=4000)]


def levels_called(transport):
    return [call[1] for call in transport.calls if call[0] == 'enumerate']


# ---- listing -------------------------------------------------------------------------------

def test_auto_takes_the_richest_level_the_server_answers():
    transport = FakeTransport(SESSIONS, refuse={502: ERROR_INVALID_LEVEL, 2: ERROR_INVALID_LEVEL})
    found = list_sessions(transport, level='auto', client=None, username=None)
    assert found.level == 1 and levels_called(transport) == [502, 2, 1]
    assert len(found.sessions) == 4 and found.sessions[0]['open_files'] == 2


def test_a_refused_right_is_not_asked_again_at_a_level_needing_the_same_right():
    transport = FakeTransport(SESSIONS, refuse={502: ERROR_ACCESS_DENIED})
    found = list_sessions(transport, level='auto', client=None, username=None)
    # 2 and 1 need the same ADMIN_INFO_GET right as 502: straight to 10.
    assert found.level == 10 and levels_called(transport) == [502, 10]
    assert found.sessions[0]['open_files'] is None


def test_auto_says_which_levels_it_tried_when_all_are_refused():
    refuse = {level: ERROR_ACCESS_DENIED for level in (502, 2, 1, 10, 0)}
    transport = FakeTransport(SESSIONS, refuse=refuse)
    with pytest.raises(NetSessionError) as caught:
        list_sessions(transport, level='auto', client=None, username=None)
    assert caught.value.code == ERROR_ACCESS_DENIED
    # 0 needs the same right as 10, so it is not asked once 10 is refused.
    assert caught.value.detail == 'level auto tried 502, 10; the server refused each'


def test_an_explicit_level_never_falls_back():
    transport = FakeTransport(SESSIONS, refuse={2: ERROR_INVALID_LEVEL})
    with pytest.raises(NetSessionError):
        list_sessions(transport, level='2', client=None, username=None)
    assert levels_called(transport) == [2]


def test_known_levels_are_asked_first_and_no_match_is_an_empty_list():
    transport = FakeTransport(SESSIONS, served_levels=frozenset({0, 1}),
                              refuse={1: NERR_USER_NOT_FOUND})
    found = list_sessions(transport, level='auto', client=None, username=check_account('u', 'zed'))
    assert (found.level, found.sessions, levels_called(transport)) == (1, [], [1])


def test_filters_are_sent_and_applied_again_and_the_own_session_is_left_out():
    own = OwnSession.of(['127.0.0.1'], 'LAB\\admin')
    sessions = SESSIONS + [session('127.0.0.1', 'LAB\\admin', time=0)]
    transport = FakeTransport(sessions, own=own)
    found = list_sessions(transport, level='1', client='10.0.0.1', username=None)
    assert [(s['client'], s['username']) for s in found.sessions] == [
        ('10.0.0.1', 'alice'), ('10.0.0.1', 'bob')]
    assert transport.calls == [('enumerate', 1, '\\\\10.0.0.1', None)]
    everyone = list_sessions(transport, level='1', client=None, username=None)
    assert not everyone.own_unseen and len(everyone.sessions) == 4


# ---- closing -------------------------------------------------------------------------------

def _selection(transport, username='alice', client=None):
    found = list_sessions(transport, level=1, client=client, username=check_account('u', username))
    return found, select_pairs(found.sessions, client=client, username=check_account('u', username),
                               min_idle_seconds=None, exclude_usernames=[], own=None,
                               own_unseen=found.own_unseen)


def test_check_mode_reports_and_closes_nothing():
    transport = FakeTransport(SESSIONS)
    _found, selection = _selection(transport)
    report = close_pairs(transport, selection, level=1, check_mode=True)
    assert len(report.closed) == 2 and not [c for c in transport.calls if c[0] == 'delete']


def test_a_pair_gone_before_its_close_is_already_gone_not_a_failure():
    transport = FakeTransport(SESSIONS)
    _found, selection = _selection(transport)
    transport.sessions = [s for s in transport.sessions if s['cname'] != '10.0.0.2']
    report = close_pairs(transport, selection, level=1, check_mode=False)
    assert [r['client'] for r in report.closed] == ['10.0.0.1']
    assert [r['client'] for r in report.already_gone] == ['10.0.0.2']


def test_samba_access_denied_is_checked_against_a_new_listing():
    # Samba answers 5 for a pair it no longer has: gone, then already_gone ...
    transport = FakeTransport(SESSIONS, samba_like=True)
    _found, selection = _selection(transport)
    transport.sessions = [s for s in transport.sessions if s['cname'] != '10.0.0.1']
    report = close_pairs(transport, selection, level=1, check_mode=False)
    assert [r['client'] for r in report.already_gone] == ['10.0.0.1']
    # ... but a real refusal (the pair is still there) is a failure that says what was done.
    denied = FakeTransport(SESSIONS, refuse={'delete': ERROR_ACCESS_DENIED})
    _found, selection = _selection(denied)
    with pytest.raises(NetSessionError) as caught:
        close_pairs(denied, selection, level=1, check_mode=False)
    partial = caught.value.partial
    assert caught.value.code == ERROR_ACCESS_DENIED
    assert (partial['closed'], partial['already_gone']) == ([], [])
    assert len(partial['not_closed']) == 2


def test_a_failure_part_way_reports_exactly_what_was_and_was_not_closed():
    closes = []

    def second_close_cut(unc_client, username):
        closes.append(unc_client)
        return ERROR_NETNAME_DELETED if len(closes) == 2 else None

    transport = FakeTransport(SESSIONS, refuse={'delete': second_close_cut})
    _found, selection = _selection(transport)
    with pytest.raises(NetSessionError) as caught:
        close_pairs(transport, selection, level=1, check_mode=False)
    partial = caught.value.partial
    assert [r['client'] for r in partial['closed']] == ['10.0.0.1']
    assert [r['client'] for r in partial['not_closed']] == ['10.0.0.2']


def test_a_connection_lost_in_the_middle_of_the_pairs_reports_exactly(  # as the SMB transport raises
):
    transport = FakeTransport(SESSIONS + [session('10.0.0.4', 'alice')])
    _found, selection = _selection(transport)
    transport.cut_at = 2
    with pytest.raises(NetSessionError) as caught:
        close_pairs(transport, selection, level=1, check_mode=False)
    partial = caught.value.partial
    assert caught.value.code == ERROR_NETNAME_DELETED
    assert [r['client'] for r in partial['closed']] == ['10.0.0.1']
    assert [r['client'] for r in partial['not_closed']] == ['10.0.0.2', '10.0.0.4']


def test_one_call_closes_every_client_of_the_user():
    transport = FakeTransport(SESSIONS)
    _found, selection = _selection(transport)
    report = close_pairs(transport, selection, level=1, check_mode=False,
                         one_call_username='alice')
    assert [c for c in transport.calls if c[0] == 'delete'] == [('delete', None, 'alice')]
    assert len(report.closed) == 2


# ---- one transport call for all of the work --------------------------------------------------

def test_the_whole_fallback_is_one_plan_with_the_next_step_for_each_refusal():
    plan = fallback_plan([502, 2, 1, 10, 0], '\\\\10.0.0.1', check_account('username', 'alice'))
    assert [(step.level, dict(step.fallback)) for step in plan] == [
        (502, {ERROR_INVALID_LEVEL: 1, ERROR_ACCESS_DENIED: 3}), (2, {ERROR_INVALID_LEVEL: 2, ERROR_ACCESS_DENIED: 3}),
        (1, {ERROR_INVALID_LEVEL: 3, ERROR_ACCESS_DENIED: 3}), (10, {ERROR_INVALID_LEVEL: 4}), (0, {})]
    # NetSessionGetInfo (both names) has no level 502: that step sends no user name.
    assert [step.username for step in plan] == [None, 'alice', 'alice', 'alice', 'alice']
    assert fallback_plan([1], None, None)[0].fallback == {}


def test_listing_with_fallback_is_one_transport_call():
    transport = FakeTransport(SESSIONS, refuse={502: ERROR_ACCESS_DENIED})
    list_sessions(transport, level='auto', client=None, username=None)
    assert transport.batches == [('enumerate', 5)] and levels_called(transport) == [502, 10]


@pytest.mark.parametrize('pairs', [1, 10, 100])
def test_closing_any_number_of_pairs_is_one_listing_and_one_close(pairs):
    sessions = [session(f'10.1.{index // 250}.{index % 250}', 'alice') for index in range(pairs)]
    transport = FakeTransport(sessions + [session('10.9.9.9', 'bob')])
    found = list_sessions(transport, level='auto', client=None, username=None, need_username=True)
    selection = select_pairs(found.sessions, client=None, username=None, min_idle_seconds=None,
                             exclude_usernames=[check_account('u', 'bob')], own=None, own_unseen=False)
    report = close_pairs(transport, selection, level=found.level, check_mode=False)
    assert len(report.closed) == pairs and transport.sessions == [session('10.9.9.9', 'bob')]
    assert transport.batches == [('enumerate', 4), ('delete', pairs)]


def test_a_pair_found_gone_after_access_denied_sends_the_rest_again():
    # Samba: 5 for the first pair, which a new listing shows is gone; the rest follow in a new call.
    transport = FakeTransport(SESSIONS, samba_like=True)
    _found, selection = _selection(transport)
    transport.sessions = [s for s in transport.sessions if s['cname'] != '10.0.0.1']
    report = close_pairs(transport, selection, level=1, check_mode=False)
    assert [r['client'] for r in report.already_gone] == ['10.0.0.1']
    assert [r['client'] for r in report.closed] == ['10.0.0.2']
    assert [batch for batch in transport.batches if batch[0] == 'delete'] == [('delete', 2), ('delete', 1)]


def test_a_close_answered_for_no_pair_fails_instead_of_looping():
    class Mute(FakeTransport):
        def delete(self, pairs):
            self.batches.append(('delete', len(pairs)))
            return iter(())

    transport = Mute(SESSIONS)
    _found, selection = _selection(transport)
    with pytest.raises(NetSessionError) as caught:
        close_pairs(transport, selection, level=1, check_mode=False)
    assert caught.value.detail == 'the server answered for none of them' and len(caught.value.partial['not_closed']) == 2
    assert [batch for batch in transport.batches if batch[0] == 'delete'] == [('delete', 2)]


# ---- the module operations through execute -------------------------------------------------

def _params(spec, **given):
    params = {name: (list(option['default']) if isinstance(option.get('default'), list)
                     else option.get('default')) for name, option in spec.items()}
    params.update(server='fs.example', connection_username='admin', connection_password='pw', **given)
    return params


def test_delete_result_diff_and_warnings(monkeypatch):
    own = OwnSession.of(['127.0.0.1'], 'admin')
    sessions = SESSIONS + [session('127.0.0.1', 'admin', time=0), session('127.0.0.1', 'admin', time=50)]
    transport = FakeTransport(sessions, own=own)
    monkeypatch.setattr(_tasks, 'open_transport', lambda params: transport)
    result = execute(_tasks.netsession_delete, _params(DELETE_ARGUMENT_SPEC, all_sessions=True),
                     check_mode=False, diff=True)
    assert result['changed'] is True and transport.closed
    assert sorted(r['username'] for r in result['closed']) == ['alice', 'alice', 'bob', 'carol']
    assert len(result['diff']['before']['sessions']) == 5  # four others and the older admin one
    assert [s['username'] for s in result['diff']['after']['sessions']] == ['admin']
    assert 'own connection' in result['warnings'][0]
    again = execute(_tasks.netsession_delete, _params(DELETE_ARGUMENT_SPEC, all_sessions=True),
                    check_mode=False, diff=False)
    assert again['changed'] is False and again['closed'] == []


def test_info_result_and_failures_become_results(monkeypatch):
    transport = FakeTransport(SESSIONS, refuse={502: ERROR_INVALID_LEVEL})
    monkeypatch.setattr(_tasks, 'open_transport', lambda params: transport)
    result = execute(_tasks.netsession_info, _params(INFO_ARGUMENT_SPEC, username='LAB\\carol'),
                     check_mode=False, diff=False)
    assert (result['changed'], result['level'], len(result['sessions'])) == (False, 2, 1)
    bad = execute(_tasks.netsession_info, _params(INFO_ARGUMENT_SPEC, username='\\carol'),
                  check_mode=False, diff=False)
    assert bad['failed'] and bad['option'] == 'username' and 'code' not in bad


def test_a_bug_is_reported_as_the_collections_failure_with_its_traceback(monkeypatch):
    def broken(params):
        raise KeyError('ServerOSMajor')

    monkeypatch.setattr(_tasks, 'open_transport', broken)
    result = execute(_tasks.netsession_info, _params(INFO_ARGUMENT_SPEC), check_mode=False, diff=False)
    assert result['failed'] and 'code' not in result
    assert result['msg'] == "lanman.server failed unexpectedly: KeyError: 'ServerOSMajor'"
    assert 'Traceback' in result['exception'] and 'broken' in result['exception']
