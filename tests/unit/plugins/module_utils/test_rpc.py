"""The fast NetrSessionEnum and NetrFileEnum decoders (_rpc.decode_session_enum,
decode_file_enum) read exactly what impacket reads.

Answers are encoded by impacket's own NDR layer from random sessions at every level and random
open files at level 3 (NULL and empty strings, non-ASCII names, 32-bit extremes, empty and
absent buffers, with and without a resume handle), then decoded both ways. A seeded generator
keeps the cases the same every run. A real NetrFileEnum answer of Samba 4.17 is decoded both
ways too, and malformed answers are refused by the fast decoder (_smb._file_page then falls back
to impacket, which decides as it always did).
"""

from __future__ import annotations

import random
import struct

import pytest
from impacket.dcerpc.v5 import srvs
from impacket.dcerpc.v5.dtypes import NULL

from ansible_collections.lanman.server.plugins.module_utils._rpc import (
    decode_file_enum, decode_session_enum,
)
from ansible_collections.lanman.server.plugins.module_utils._smb import _file_page, _Undecodable, _value

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


# ---- NetrFileEnum, level 3 -----------------------------------------------------------------

def _impacket_decode_files(data: bytes) -> tuple[list[dict], int, int]:
    """What _smb._file_page did before the fast decoder, and still does when it gives up."""
    response = srvs.NetrFileEnumResponse(data)
    page = response['InfoStruct']['FileInfo']['Level3']['Buffer'] or []
    entries = [{'id': item['fi3_id'], 'permissions': item['fi3_permissions'],
                'num_locks': item['fi3_num_locks'], 'pathname': _value(item['fi3_path_name']),
                'username': _value(item['fi3_username'])} for item in page]
    return entries, response['ResumeHandle'], response['ErrorCode']


PATHS = ['', 'C:\\srv\\data\\report.txt', 'D:\\Shares\\Ölçü-ПК\\\u6771\u4eac.docx',
         'C:\\' + 'deep\\' * 80 + 'f.txt', '\\PIPE\\srvsvc', 'C:\\\U0001F600.txt']


def _file_answer(rng: random.Random, count: int | None = None, resume_handle: int | None = None) -> bytes:
    response = srvs.NetrFileEnumResponse()
    response['InfoStruct']['Level'] = 3
    response['InfoStruct']['FileInfo']['tag'] = 3
    container = response['InfoStruct']['FileInfo']['Level3']
    count = rng.choice([0, 1, 2, 9, 60]) if count is None else count
    for _index in range(count):
        item = srvs.FILE_INFO_3()
        item['fi3_id'] = rng.choice(NUMBERS + [0x3CF20005])
        item['fi3_permissions'] = rng.choice(NUMBERS + [3])
        item['fi3_num_locks'] = rng.choice(NUMBERS)
        for field, choices in (('fi3_path_name', PATHS), ('fi3_username', STRINGS)):
            text = rng.choice(choices + [None])
            item[field] = NULL if text is None else text + '\x00'
        container['Buffer'].append(item)
    container['EntriesRead'] = count
    if count == 0 and rng.random() < 0.5:
        container['Buffer'] = NULL
    response['TotalEntries'] = count + rng.choice([0, 3])
    response['ResumeHandle'] = rng.choice([0, 1, 0xFFFFFFFF]) if resume_handle is None else resume_handle
    response['ErrorCode'] = rng.choice([0, 234])
    return response.getData()


# What Samba 4.17.12 answered NetrFileEnum (level 3, no filters) for two sessions of benchuser
# holding a read/write file below a non-ASCII directory (2 locks), a write-only file (1 lock), a
# read-only file with a non-ASCII name and a directory.
SAMBA_ANSWER = bytes.fromhex(
    '030000000300000008000200040000000c000200040000000f00845c030000000200000010000200140002000700835c'
    '0200000001000000180002001c0002000700845c010000000000000020000200240002001500845c0100000000000000'
    '280002002c00020026000000000000002600000043003a005c0074006d0070005c0066006300610070002d0067007600'
    '6400780030006800320075005c0073005c0064006100740061005c007167ac4e5c0031584a542e007400780074000000'
    '0a000000000000000a000000620065006e00630068007500730065007200000026000000000000002600000043003a00'
    '5c0074006d0070005c0066006300610070002d00670076006400780030006800320075005c0073005c00640061007400'
    '61005c0070006c00610069006e002e0074007800740000000a000000000000000a000000620065006e00630068007500'
    '730065007200000028000000000000002800000043003a005c0074006d0070005c0066006300610070002d0067007600'
    '6400780030006800320075005c0073005c0064006100740061005c00d6006c00e700fc002d001f041a042e0074007800'
    '740000000a000000000000000a000000620065006e006300680075007300650072000000200000000000000020000000'
    '43003a005c0074006d0070005c0066006300610070002d00670076006400780030006800320075005c0073005c006400'
    '6100740061005c0064006900720000000a000000000000000a000000620065006e006300680075007300650072000000'
    '04000000300002000000000000000000'
)


def test_file_decoder_reads_a_real_samba_answer_as_impacket_does():
    entries, handle, status = decode_file_enum(SAMBA_ANSWER)
    assert (entries, handle, status) == _impacket_decode_files(SAMBA_ANSWER)
    assert (handle, status) == (0, 0)
    assert [(entry['permissions'], entry['num_locks']) for entry in entries] == [(3, 2), (2, 1), (1, 0), (1, 0)]
    assert entries[0]['pathname'].endswith('\\data\\\u6771\u4eac\\\u5831\u544a.txt\x00')
    assert entries[2]['pathname'].endswith('\\data\\Ölçü-ПК.txt\x00')
    assert {entry['username'] for entry in entries} == {'benchuser\x00'}
    assert _file_page(SAMBA_ANSWER) == (entries, handle, status)


def test_file_decoder_agrees_with_impacket():
    rng = random.Random(3)
    for _case in range(CASES_PER_LEVEL * 2):
        data = _file_answer(rng)
        assert decode_file_enum(data) == _impacket_decode_files(data)


def test_file_decoder_gives_null_strings_as_none():
    response = srvs.NetrFileEnumResponse()
    response['InfoStruct']['Level'] = 3
    response['InfoStruct']['FileInfo']['tag'] = 3
    item = srvs.FILE_INFO_3()
    item['fi3_id'], item['fi3_permissions'], item['fi3_num_locks'] = 7, 1, 0
    item['fi3_path_name'], item['fi3_username'] = NULL, 'bob\x00'
    response['InfoStruct']['FileInfo']['Level3']['Buffer'].append(item)
    response['InfoStruct']['FileInfo']['Level3']['EntriesRead'] = 1
    data = response.getData()
    expected = [{'id': 7, 'permissions': 1, 'num_locks': 0, 'pathname': None, 'username': 'bob\x00'}]
    assert decode_file_enum(data) == _impacket_decode_files(data) == (expected, 0, 0)


@pytest.mark.parametrize('answer', ['samba', 'constructed'])
def test_every_truncation_and_extension_of_a_file_answer_is_refused(answer):
    data = SAMBA_ANSWER if answer == 'samba' else _file_answer(random.Random(4), count=5, resume_handle=9)
    for cut in range(len(data)):
        with pytest.raises((ValueError, struct.error)):
            decode_file_enum(data[:cut])
    for extra in (b'\x00', b'\x00' * 4, b'junk'):
        with pytest.raises(ValueError):
            decode_file_enum(data + extra)


def _patched(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack('<I', value) + data[offset + 4:]


# Offsets in SAMBA_ANSWER: level 0, tag 4, container pointer 8, count 12, array pointer 16,
# array size 20, the first entry's id 24 (its path's string header follows the 4 entries, at 104).
@pytest.mark.parametrize('offset, value', [
    (0, 2), (4, 2),              # another level: refused here, impacket decides
    (12, 5), (20, 3), (20, 5),   # a count that is not the array's size
    (12, 0x40000000), (20, 0x40000000),  # counts far beyond the answer
    (108, 1),                    # a string that does not start at offset 0
    (112, 0x7FFFFFFF),           # a string longer than the answer
])
def test_malformed_file_answers_are_refused_and_left_to_impacket(offset, value):
    data = _patched(SAMBA_ANSWER, offset, value)
    with pytest.raises((ValueError, struct.error)):
        decode_file_enum(data)
    try:
        expected = _impacket_decode_files(data)
    except Exception:
        with pytest.raises(_Undecodable):
            _file_page(data)
    else:
        assert _file_page(data) == expected


def test_entries_without_an_array_are_refused():
    # level 3, tag 3, a container of 2 entries whose array pointer is NULL; total 2, no resume
    # handle, status 0.
    data = struct.pack('<IIIIIIII', 3, 3, 0x20000, 2, 0, 2, 0, 0)
    with pytest.raises(ValueError):
        decode_file_enum(data)


def test_invalid_utf16_is_refused_and_left_to_impacket():
    # The first path's first character becomes a lone high surrogate (0xD800).
    start = 104 + 12
    data = SAMBA_ANSWER[:start] + b'\x00\xd8' + SAMBA_ANSWER[start + 2:]
    with pytest.raises(UnicodeDecodeError):
        decode_file_enum(data)
    try:
        expected = _impacket_decode_files(data)
    except Exception:
        with pytest.raises(_Undecodable):
            _file_page(data)
    else:
        assert _file_page(data) == expected


def test_a_failing_status_is_not_decoded():
    data = _patched(SAMBA_ANSWER, len(SAMBA_ANSWER) - 4, 5)  # ERROR_ACCESS_DENIED
    assert _file_page(data) == ([], 0, 5)
    with pytest.raises(_Undecodable):
        _file_page(b'\x01\x02')


def test_session_array_whose_size_is_not_the_count_is_refused():
    answers = (_answer(random.Random(seed), 1) for seed in range(100))
    data = next(data for data in answers if struct.unpack_from('<II', data, 12)[0] and struct.unpack_from('<II', data, 12)[1])
    count = struct.unpack_from('<I', data, 12)[0]
    with pytest.raises(ValueError):
        decode_session_enum(data[:20] + struct.pack('<I', count + 1) + data[24:], 1)
