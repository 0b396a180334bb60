/*
 * banned.h: functions libsematic must not call, turned into compile errors.
 *
 * Each of these either writes past a buffer it cannot size (strcpy, strcat,
 * sprintf, vsprintf), silently truncates without terminating (strncpy), keeps
 * hidden global state (strtok, gmtime, localtime), cannot report a parse
 * error (atoi) or races on the file system (mktemp). Use snprintf/vsnprintf,
 * struct sm_buf, strtoll with an end pointer, gmtime_r/localtime_r, mkstemp.
 *
 * Include it LAST in every .c file, after the system headers, so the macros
 * do not rewrite the C library's own declarations (git's banned.h).
 */
#ifndef SM_UTIL_BANNED_H
#define SM_UTIL_BANNED_H

#define SM__BANNED(func) sorry_##func##_is_a_banned_function_see_banned_h

#undef strcpy
#define strcpy(...) SM__BANNED(strcpy)
#undef strcat
#define strcat(...) SM__BANNED(strcat)
#undef strncpy
#define strncpy(...) SM__BANNED(strncpy)
#undef sprintf
#define sprintf(...) SM__BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SM__BANNED(vsprintf)
#undef strtok
#define strtok(...) SM__BANNED(strtok)
#undef atoi
#define atoi(...) SM__BANNED(atoi)
#undef gmtime
#define gmtime(...) SM__BANNED(gmtime)
#undef localtime
#define localtime(...) SM__BANNED(localtime)
#undef mktemp
#define mktemp(...) SM__BANNED(mktemp)

#endif
