"""The fast NetrSessionEnum decoder (_rpc.decode_session_enum) reads exactly what impacket reads.

Answers are encoded by impacket's own NDR layer from random sessions at every level (NULL and
empty strings, non-ASCII names, 32-bit extremes, empty and absent buffers, with and without a
resume handle), then decoded both ways. A seeded generator keeps the cases the same every run.
"""

from __future__ import annotations

import random
import struct

import pytest
from impacket.dcerpc.v5 import srvs
from impacket.dcerpc.v5.dtypes import NULL

from ansible_collections.lanman.server.plugins.module_utils._rpc import decode_session_enum
from ansible_collections.lanman.server.plugins.module_utils._smb import _value

STRINGS = ['', '10.0.0.7', 'ws-042', 'Ölçü-ПК', '\u6771\u4eac', 'x' * 300, 'alice', 'EXAMPLE\\bob']
NUMBERS = [0, 1, 2, 0x7FFFFFFF, 0xFFFFFFFF]
CASES_PER_LEVEL = 60


def _impacket_decode(data: bytes, level: int) -> tuple[list[dict], int, int]:
    """What _smb did before the fast decoder, and still does when it gives up."""
    prefix = f'sesi{level}_'
    response = srvs.NetrSessionEnumResponse(data)
    page = response['InfoStruct']['SessionInfo'][f'Level{level}']['Buffer'] or []
    entries = [{field[len(prefix):]: _value(item[field]) for field in item.fields
                if field.startswith(prefix)} for item in page]
    return entries, response['ResumeHandle'], response['ErrorCode']


def _answer(rng: random.Random, level: int) -> bytes:
    response = srvs.NetrSessionEnumResponse()
    response['InfoStruct']['Level'] = level
    response['InfoStruct']['SessionInfo']['tag'] = level
    container = response['InfoStruct']['SessionInfo'][f'Level{level}']
    count = rng.choice([0, 1, 2, 7, 40])
    item_type = getattr(srvs, f'SESSION_INFO_{level}')
    for _index in range(count):
        item = item_type()
        for field in item.fields:
            if field.startswith(f'sesi{level}_'):
                if isinstance(item[field], int):
                    item[field] = rng.choice(NUMBERS)
                else:
                    text = rng.choice(STRINGS + [None])
                    item[field] = NULL if text is None else text + '\x00'
        container['Buffer'].append(item)
    container['EntriesRead'] = count
    if count == 0 and rng.random() < 0.5:
        container['Buffer'] = NULL
    response['TotalEntries'] = count + rng.choice([0, 5])
    response['ResumeHandle'] = rng.choice([0, 1, 0xFFFFFFFF])
    response['ErrorCode'] = rng.choice([0, 234])
    return response.getData()


@pytest.mark.parametrize('level', [0, 1, 2, 10, 502])
def test_fast_decoder_agrees_with_impacket(level):
    rng = random.Random(level)
    for _case in range(CASES_PER_LEVEL):
        data = _answer(rng, level)
        fast_entries, fast_handle, fast_status = decode_session_enum(data, level)
        entries, handle, status = _impacket_decode(data, level)
        assert ([{k: _value(v) for k, v in entry.items()} for entry in fast_entries], fast_handle,
                fast_status) == (entries, handle, status)


@pytest.mark.parametrize('cut', [1, 4, 13])
def test_truncated_answer_is_refused_not_misread(cut):
    data = _answer(random.Random(1), 1)
    with pytest.raises((ValueError, struct.error)):
        decode_session_enum(data[:-cut], 1)


def test_answer_of_another_level_is_refused():
    with pytest.raises(ValueError):
        decode_session_enum(_answer(random.Random(2), 1), 502)
