"""The modules' EXAMPLES are valid playbook content whose arguments the modules accept.

They name servers under example.com, so they are checked, not run: Ansible's syntax check on a
playbook made of them, and every lanman.server task's arguments through the module's own
argument spec (templated values stand in for the strings they would become).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.lanman.server.plugins.module_utils._options import (DELETE_ARGUMENT_SPEC,
                                                                             INFO_ARGUMENT_SPEC)

REPO = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
SPECS = {'lanman.server.netsession_info': INFO_ARGUMENT_SPEC,
         'lanman.server.netsession_delete': DELETE_ARGUMENT_SPEC}


def _examples(module: str) -> list[dict]:
    tree = ast.parse((REPO / 'plugins' / 'modules' / f'{module}.py').read_text())
    [text] = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
              and isinstance(node.value, ast.Constant)
              and getattr(node.targets[0], 'id', None) == 'EXAMPLES']
    return yaml.safe_load(str(text))


def _tasks(entries: list[dict]) -> list[dict]:
    """Tasks of the examples, the tasks of an example that is a whole play included."""
    tasks: list[dict] = []
    for entry in entries:
        tasks += entry['tasks'] if 'hosts' in entry else [entry]
    return tasks


@pytest.mark.parametrize('module', ['netsession_info', 'netsession_delete'])
def test_examples_use_fqcns_and_options_the_module_has(module):
    tasks = [task for task in _tasks(_examples(module)) if any(key in SPECS for key in task)]
    assert any(f'lanman.server.{module}' in task for task in tasks)
    for task in tasks:
        [fqcn] = [key for key in task if key in SPECS]
        args = dict(task[fqcn] or {})
        args.setdefault('server', 'fs01.example.com')  # what the action plugin fills in from the host
        result = ArgumentSpecValidator(SPECS[fqcn]).validate(args)
        assert not result.error_messages, (task['name'], result.error_messages)


@pytest.mark.parametrize('module', ['netsession_info', 'netsession_delete'])
def test_examples_pass_ansible_syntax_check(module, tmp_path):
    entries = _examples(module)
    plays = [entry for entry in entries if 'hosts' in entry]
    tasks = [entry for entry in entries if 'hosts' not in entry]
    playbook = [{'name': 'Examples', 'hosts': 'fileservers', 'gather_facts': False, 'tasks': tasks}] + plays
    (tmp_path / 'examples.yml').write_text(yaml.safe_dump(playbook))
    (tmp_path / 'hosts.ini').write_text('[fileservers]\nfs01.example.com\n')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / 'build' / 'collections'), ANSIBLE_NOCOLOR='1')
    done = subprocess.run([str(BIN / 'ansible-playbook'), '--syntax-check', '-i', str(tmp_path / 'hosts.ini'),
                           str(tmp_path / 'examples.yml')], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
