# -*- coding: utf-8 -*-
# Copyright (c) lanman.server contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs lanman.server.netfile_close on the controller (see plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.lanman.server.plugins.module_utils._options import FILE_CLOSE_ARGUMENT_SPEC
from ansible_collections.lanman.server.plugins.module_utils._tasks import netfile_close
from ansible_collections.lanman.server.plugins.plugin_utils._controller import ControllerAction


class ActionModule(ControllerAction):
    ARGUMENT_SPEC = FILE_CLOSE_ARGUMENT_SPEC
    OPERATION = staticmethod(netfile_close)
