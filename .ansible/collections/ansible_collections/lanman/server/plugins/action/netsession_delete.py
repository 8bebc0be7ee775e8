# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs lanman.server.netsession_delete on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.lanman.server.plugins.module_utils._options import DELETE_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._tasks import netsession_delete
from ansible_collections.lanman.server.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = DELETE_ARGUMENT_SPEC
    OPERATION = staticmethod(netsession_delete)
