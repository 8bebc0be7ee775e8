/*
 * A stand-in for the netapi32 calls the WinRM shim makes (sessions and open files), for Mono on Linux: the Win32
 * signatures (DWORD = uint32_t, LPWSTR = UTF-16 uint16_t *), a fixed table of sessions, paging
 * with ERROR_MORE_DATA when prefmaxlen is small, and a count of every buffer it hands out and
 * gets back. Not a model of Windows (tests/ has that elsewhere): just enough to run the shim's
 * C# marshalling, paging and freeing code for real.
 *
 * Copyright (c) lanman.server contributors
 * GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint16_t WCHAR;
typedef uint32_t DWORD;

#define NERR_Success 0
#define ERROR_INVALID_PARAMETER 87
#define ERROR_INVALID_LEVEL 124
#define ERROR_MORE_DATA 234
#define NERR_UserNotFound 2221
#define NERR_ClientNameNotFound 2312
#define NERR_FileIdNotFound 2314
#define MAX_PREFERRED_LENGTH 0xFFFFFFFFu

typedef struct { WCHAR *cname; } SESSION_INFO_0;
typedef struct { WCHAR *cname, *username; DWORD num_opens, time, idle_time, user_flags; } SESSION_INFO_1;
typedef struct {
    WCHAR *cname, *username;
    DWORD num_opens, time, idle_time, user_flags;
    WCHAR *cltype_name;
} SESSION_INFO_2;
typedef struct { WCHAR *cname, *username; DWORD time, idle_time; } SESSION_INFO_10;
typedef struct {
    WCHAR *cname, *username;
    DWORD num_opens, time, idle_time, user_flags;
    WCHAR *cltype_name, *transport;
} SESSION_INFO_502;

struct session {
    const char *cname, *username; /* UTF-8 */
    DWORD num_opens, time, idle_time, user_flags;
    const char *cltype_name, *transport;
};

static const struct session SESSIONS[] = {
    {"127.0.1.1", "alice", 2, 300, 10, 0x0, "Windows 10 Enterprise 19045", "\\Device\\NetbiosSmb"},
    {"127.0.1.2", "bob", 0, 200, 200, 0x2, "", "\\Device\\NetbiosSmb"},
    {"127.0.1.3", "guest", 1, 100, 5, 0x1, NULL, "\\Device\\NetBT_Tcpip_{B0A}"},
    {"127.0.1.4", "J\xc3\xb6rg \xf0\x9f\x98\x80", 5, 4000000000u, 0, 0x0, "Samba 4.17", "\\Device\\NetbiosSmb"},
    {"127.0.1.1", "carol", 0, 50, 50, 0x0, "", "\\Device\\NetbiosSmb"},
};
#define SESSION_COUNT ((int)(sizeof(SESSIONS) / sizeof(SESSIONS[0])))

static int deleted[SESSION_COUNT];

/* [MS-SRVS] 2.2.4.7 FILE_INFO_3, and the open files: ids that pass 2^31 on purpose. */
typedef struct { DWORD id, permissions, num_locks; WCHAR *pathname, *username; } FILE_INFO_3;
struct open_file { DWORD id, permissions, num_locks; const char *pathname, *username; };
static const struct open_file FILES[] = {
    {7, 1, 0, "C:\\DATA\\a.txt", "alice"},
    {0x80000007u, 3, 2, "C:\\DATA\\J\xc3\xb6rg.xlsx", "bob"},
    {4294967295u, 0, 0, "\\PIPE\\srvsvc", "admin"},
};
#define FILE_COUNT ((int)(sizeof(FILES) / sizeof(FILES[0])))
static int file_closed[FILE_COUNT];

/* What the tests read back: see stub_counter(). */
enum { C_ALLOCS, C_FREES, C_LIVE, C_BAD_FREES, C_NULL_FREES, C_ENUM_CALLS, C_GETINFO_CALLS, C_DEL_CALLS,
       C_LAST_CLIENT, C_LAST_USER, C_LAST_PREFMAXLEN, C_FILE_ENUM_CALLS, C_FILE_CLOSE_CALLS, C_COUNT };
static long counters[C_COUNT];
/* Faults: enum call number fault_call (1-based) fails with fault_status; mode 1 = every page is
 * ERROR_MORE_DATA with one entry (never ends); mode 2 = ERROR_MORE_DATA with no entry; mode 3 =
 * NetSessionDel call number fault_call fails with fault_status instead (enum calls do not); mode
 * 4 = NetFileClose call number fault_call does. */
static long fault_call, fault_status, mode;

#define MAX_LIVE 4096
static void *live[MAX_LIVE];

static void *buffer_alloc(size_t size)
{
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == NULL) {
            live[i] = calloc(1, size);
            counters[C_ALLOCS]++;
            counters[C_LIVE]++;
            return live[i];
        }
    }
    abort();
}

/* 0 NULL, 1 empty, 2 something: what the shim passed. */
static long arg_state(const WCHAR *s) { return s == NULL ? 0 : (s[0] == 0 ? 1 : 2); }

static int wide_equals_ascii_nocase(const WCHAR *wide, const char *text)
{
    for (; *wide && *text; wide++, text++) {
        WCHAR a = *wide, b = (unsigned char)*text;
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
        if (a != b) return 0;
    }
    return *wide == 0 && *text == 0;
}

/* UTF-8 to UTF-16 (with surrogate pairs); returns the number of WCHARs written, NUL included. */
static size_t utf16(const char *text, WCHAR *out)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint32_t c;
        if (*p < 0x80) { c = *p++; }
        else if (*p < 0xE0) { c = (uint32_t)(*p & 0x1F) << 6 | (p[1] & 0x3F); p += 2; }
        else if (*p < 0xF0) { c = (uint32_t)(*p & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F); p += 3; }
        else {
            c = (uint32_t)(*p & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 | (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
            p += 4;
        }
        if (c >= 0x10000) {
            c -= 0x10000;
            if (out) { out[n] = (WCHAR)(0xD800 | (c >> 10)); out[n + 1] = (WCHAR)(0xDC00 | (c & 0x3FF)); }
            n += 2;
        } else {
            if (out) out[n] = (WCHAR)c;
            n += 1;
        }
    }
    if (out) out[n] = 0;
    return n + 1;
}

static size_t struct_size(DWORD level)
{
    switch (level) {
    case 0: return sizeof(SESSION_INFO_0);
    case 1: return sizeof(SESSION_INFO_1);
    case 2: return sizeof(SESSION_INFO_2);
    case 10: return sizeof(SESSION_INFO_10);
    case 502: return sizeof(SESSION_INFO_502);
    default: return 0;
    }
}

/* The strings go after the array of structures, in the same buffer, as netapi32 does. */
static WCHAR *put(const char *text, WCHAR **strings)
{
    if (text == NULL) return NULL;
    WCHAR *start = *strings;
    *strings += utf16(text, start);
    return start;
}

static size_t strings_size(const struct session *s)
{
    size_t n = utf16(s->cname, NULL) + utf16(s->username, NULL) + utf16(s->transport, NULL);
    if (s->cltype_name) n += utf16(s->cltype_name, NULL);
    return n * sizeof(WCHAR);
}

static uint8_t *build(DWORD level, const int *index, int count)
{
    size_t size = struct_size(level) * (size_t)count;
    for (int i = 0; i < count; i++) size += strings_size(&SESSIONS[index[i]]);
    uint8_t *buf = buffer_alloc(size);
    WCHAR *strings = (WCHAR *)(buf + struct_size(level) * (size_t)count);
    for (int i = 0; i < count; i++) {
        const struct session *s = &SESSIONS[index[i]];
        uint8_t *at = buf + struct_size(level) * (size_t)i;
        if (level == 0) {
            SESSION_INFO_0 *e = (SESSION_INFO_0 *)at;
            e->cname = put(s->cname, &strings);
        } else if (level == 1) {
            SESSION_INFO_1 *e = (SESSION_INFO_1 *)at;
            e->cname = put(s->cname, &strings); e->username = put(s->username, &strings);
            e->num_opens = s->num_opens; e->time = s->time; e->idle_time = s->idle_time; e->user_flags = s->user_flags;
        } else if (level == 2) {
            SESSION_INFO_2 *e = (SESSION_INFO_2 *)at;
            e->cname = put(s->cname, &strings); e->username = put(s->username, &strings);
            e->num_opens = s->num_opens; e->time = s->time; e->idle_time = s->idle_time; e->user_flags = s->user_flags;
            e->cltype_name = put(s->cltype_name, &strings);
        } else if (level == 10) {
            SESSION_INFO_10 *e = (SESSION_INFO_10 *)at;
            e->cname = put(s->cname, &strings); e->username = put(s->username, &strings);
            e->time = s->time; e->idle_time = s->idle_time;
        } else {
            SESSION_INFO_502 *e = (SESSION_INFO_502 *)at;
            e->cname = put(s->cname, &strings); e->username = put(s->username, &strings);
            e->num_opens = s->num_opens; e->time = s->time; e->idle_time = s->idle_time; e->user_flags = s->user_flags;
            e->cltype_name = put(s->cltype_name, &strings); e->transport = put(s->transport, &strings);
        }
    }
    return buf;
}

/* The sessions that pass the filters, or a status: 87 for a client without \\, 2312 / 2221. */
static DWORD match(const WCHAR *client, const WCHAR *user, int *index, int *count)
{
    int by_client = 0;
    *count = 0;
    if (client && client[0] && (client[0] != '\\' || client[1] != '\\')) return ERROR_INVALID_PARAMETER;
    for (int i = 0; i < SESSION_COUNT; i++) {
        if (deleted[i]) continue;
        if (client && client[0] && !wide_equals_ascii_nocase(client + 2, SESSIONS[i].cname)) continue;
        by_client++;
        if (user && user[0] && !wide_equals_ascii_nocase(user, SESSIONS[i].username)) continue;
        index[(*count)++] = i;
    }
    if (*count == 0 && client && client[0] && by_client == 0) return NERR_ClientNameNotFound;
    if (*count == 0 && user && user[0]) return NERR_UserNotFound;
    return NERR_Success;
}

static void record(const WCHAR *client, const WCHAR *user)
{
    counters[C_LAST_CLIENT] = arg_state(client);
    counters[C_LAST_USER] = arg_state(user);
}

DWORD NetSessionEnum(WCHAR *servername, WCHAR *client, WCHAR *user, DWORD level, uint8_t **bufptr,
                     DWORD prefmaxlen, DWORD *entriesread, DWORD *totalentries, DWORD *resume_handle)
{
    int index[SESSION_COUNT], count;
    (void)servername;
    counters[C_ENUM_CALLS]++;
    counters[C_LAST_PREFMAXLEN] = (long)prefmaxlen;
    record(client, user);
    *bufptr = NULL;
    *entriesread = 0;
    *totalentries = 0;
    if (mode < 3 && fault_call && counters[C_ENUM_CALLS] == fault_call) return (DWORD)fault_status;
    if (struct_size(level) == 0) return ERROR_INVALID_LEVEL;
    if (mode == 2) return ERROR_MORE_DATA;
    DWORD status = match(client, user, index, &count);
    if (status != NERR_Success) return status;
    if (mode == 1) {
        *bufptr = build(level, index, 1);
        *entriesread = 1;
        *totalentries = (DWORD)count;
        *resume_handle += 1;
        return ERROR_MORE_DATA;
    }
    DWORD start = resume_handle ? *resume_handle : 0;
    if (start > (DWORD)count) return ERROR_INVALID_PARAMETER;
    DWORD page = (DWORD)count - start;
    if (prefmaxlen != MAX_PREFERRED_LENGTH) {
        DWORD fit = prefmaxlen / (DWORD)struct_size(level);
        if (fit < 1) fit = 1;
        if (fit < page) page = fit;
    }
    *totalentries = (DWORD)count;
    *entriesread = page;
    if (page) *bufptr = build(level, index + start, (int)page);
    if (start + page < (DWORD)count) {
        if (resume_handle) *resume_handle = start + page;
        return ERROR_MORE_DATA;
    }
    if (resume_handle) *resume_handle = 0;
    return NERR_Success;
}

DWORD NetSessionGetInfo(WCHAR *servername, WCHAR *client, WCHAR *user, DWORD level, uint8_t **bufptr)
{
    int index[SESSION_COUNT], count;
    (void)servername;
    counters[C_GETINFO_CALLS]++;
    record(client, user);
    *bufptr = NULL;
    if (client == NULL || user == NULL) return ERROR_INVALID_PARAMETER;
    if (level == 502 || struct_size(level) == 0) return ERROR_INVALID_LEVEL;
    DWORD status = match(client, user, index, &count);
    if (status != NERR_Success) return status;
    *bufptr = build(level, index, 1);
    return NERR_Success;
}

DWORD NetSessionDel(WCHAR *servername, WCHAR *client, WCHAR *user)
{
    int index[SESSION_COUNT], count;
    (void)servername;
    counters[C_DEL_CALLS]++;
    record(client, user);
    if (client == NULL && user == NULL) return ERROR_INVALID_PARAMETER;
    if (mode == 3 && counters[C_DEL_CALLS] == fault_call) return (DWORD)fault_status;
    DWORD status = match(client, user, index, &count);
    if (status != NERR_Success) return status;
    for (int i = 0; i < count; i++) deleted[index[i]] = 1;
    return NERR_Success;
}

/* Level 3 only; pages of prefmaxlen / sizeof(FILE_INFO_3) entries, the resume handle a
 * pointer-sized index (PDWORD_PTR, as in lmshare.h). */
DWORD NetFileEnum(WCHAR *servername, WCHAR *basepath, WCHAR *username, DWORD level, uint8_t **bufptr,
                  DWORD prefmaxlen, DWORD *entriesread, DWORD *totalentries, uintptr_t *resume_handle)
{
    int index[FILE_COUNT], count = 0;
    (void)servername;
    counters[C_FILE_ENUM_CALLS]++;
    counters[C_LAST_PREFMAXLEN] = (long)prefmaxlen;
    record(basepath, username);
    *bufptr = NULL;
    *entriesread = 0;
    *totalentries = 0;
    if (level != 3) return ERROR_INVALID_LEVEL;
    for (int i = 0; i < FILE_COUNT; i++) {
        if (!file_closed[i] && (!username || !username[0] || wide_equals_ascii_nocase(username, FILES[i].username)))
            index[count++] = i;
    }
    uintptr_t start = resume_handle ? *resume_handle : 0;
    if (start > (uintptr_t)count) return ERROR_INVALID_PARAMETER;
    DWORD page = (DWORD)(count - (int)start);
    if (prefmaxlen != MAX_PREFERRED_LENGTH) {
        DWORD fit = prefmaxlen / (DWORD)sizeof(FILE_INFO_3);
        if (fit < 1) fit = 1;
        if (fit < page) page = fit;
    }
    *totalentries = (DWORD)count;
    *entriesread = page;
    if (page) {
        size_t size = sizeof(FILE_INFO_3) * page;
        for (DWORD i = 0; i < page; i++) {
            const struct open_file *f = &FILES[index[start + i]];
            size += (utf16(f->pathname, NULL) + utf16(f->username, NULL)) * sizeof(WCHAR);
        }
        uint8_t *buf = buffer_alloc(size);
        WCHAR *strings = (WCHAR *)(buf + sizeof(FILE_INFO_3) * page);
        for (DWORD i = 0; i < page; i++) {
            const struct open_file *f = &FILES[index[start + i]];
            FILE_INFO_3 *e = (FILE_INFO_3 *)buf + i;
            e->id = f->id; e->permissions = f->permissions; e->num_locks = f->num_locks;
            e->pathname = put(f->pathname, &strings); e->username = put(f->username, &strings);
        }
        *bufptr = buf;
    }
    if (start + page < (uintptr_t)count) {
        if (resume_handle) *resume_handle = start + page;
        return ERROR_MORE_DATA;
    }
    if (resume_handle) *resume_handle = 0;
    return NERR_Success;
}

DWORD NetFileClose(WCHAR *servername, DWORD fileid)
{
    (void)servername;
    counters[C_FILE_CLOSE_CALLS]++;
    if (mode == 4 && counters[C_FILE_CLOSE_CALLS] == fault_call) return (DWORD)fault_status;
    for (int i = 0; i < FILE_COUNT; i++) {
        if (!file_closed[i] && FILES[i].id == fileid) {
            file_closed[i] = 1;
            return NERR_Success;
        }
    }
    return NERR_FileIdNotFound;
}

DWORD NetApiBufferFree(void *buffer)
{
    if (buffer == NULL) {
        counters[C_NULL_FREES]++;
        return NERR_Success;
    }
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == buffer) {
            free(buffer);
            live[i] = NULL;
            counters[C_FREES]++;
            counters[C_LIVE]--;
            return NERR_Success;
        }
    }
    counters[C_BAD_FREES]++;
    return ERROR_INVALID_PARAMETER;
}

/* Test controls, called by the driver. */
long stub_counter(int which) { return which >= 0 && which < C_COUNT ? counters[which] : -1; }

void stub_reset_counters(void)
{
    long live_now = counters[C_LIVE];
    memset(counters, 0, sizeof(counters));
    counters[C_LIVE] = live_now;
}

void stub_configure(long call, long status, long new_mode)
{
    fault_call = call;
    fault_status = status;
    mode = new_mode;
}
