"""Test-only callback: writes every task result, per host, to the JSON file in $RECORD_FILE.

ansible-core has no JSON callback of its own; this one works for ad-hoc commands and playbooks.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: record
type: aggregate
short_description: write task results to a JSON file for the tests
description: Writes every task result, per host, to the file named by RECORD_FILE.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.results: list[dict] = []

    def _record(self, result, status: str) -> None:
        self.results.append({'host': result._host.get_name(), 'task': result._task.get_name(),
                             'status': status, 'result': _plain(result._result)})

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, 'failed')

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, 'unreachable')

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, 'skipped')

    def v2_playbook_on_stats(self, stats) -> None:
        # Sent at the end of playbooks and of ad-hoc runs alike.
        with open(os.environ['RECORD_FILE'], 'w', encoding='utf-8') as handle:
            json.dump(self.results, handle)


def _plain(value):
    """Ansible's tagged/lazy containers, as plain JSON values."""
    return json.loads(json.dumps(value, default=str))
