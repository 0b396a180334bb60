/*
 * test_json.c: the canonical JSON writer (every canonical form, escaping,
 * sticky errors) and the reader (values, unescaping, round trips, malformed
 * input with byte offsets, the depth limit).
 *
 * Double forms are pinned to what Python's repr() (and so json.dumps) prints
 * for the same double; the table below was produced with CPython 3.11.
 */
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sematic/json.h"

#include "util/banned.h"

/* ------------------------------------------------------------- helpers */

struct writer {
    struct sm_buf out;
    struct sm_jw w;
    struct sm_err err;
};

static void writer_init(struct writer *t, size_t cap)
{
    sm_buf_init(&t->out, cap);
    sm_jw_init(&t->w, &t->out);
    sm_err_clear(&t->err);
}

/* Finish and compare the text; the writer must have succeeded. */
static void expect_text(struct writer *t, const char *want)
{
    int rc = sm_jw_finish(&t->w, &t->err);
    if (rc != 0)
        fail_msg("unexpected writer error %s: %s", sm_err_name(rc), t->err.msg);
    assert_string_equal(t->out.data ? t->out.data : "", want);
    sm_buf_release(&t->out);
}

/* Finish and expect the first error's code and message. */
static void expect_error(struct writer *t, int code, const char *msg)
{
    assert_int_equal(sm_jw_finish(&t->w, &t->err), code);
    assert_int_equal(t->err.code, code);
    assert_string_equal(t->err.msg, msg);
    sm_buf_release(&t->out);
}

static const char *fmt(double v)
{
    static char out[32];
    size_t n = sm_json_format_double(v, out);
    assert_int_equal(n, strlen(out));
    return out;
}

/* -------------------------------------------------------------- writer */

static void test_json__doubles_match_python_repr(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.1, "0.1"},
        {1.0, "1.0"},
        {-1.0, "-1.0"},
        {100.0, "100.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1e22, "1e+22"},
        {1e100, "1e+100"},
        {5e-324, "5e-324"},
        {123456789012345680.0, "1.2345678901234568e+17"},
        {0.3, "0.3"},
        {2.0 / 3.0, "0.6666666666666666"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {9999999999999998.0, "9999999999999998.0"},
        {1234567890123456.0, "1234567890123456.0"},
        {0.0001, "0.0001"},
        {0.00001, "1e-05"},
        {1.5e-7, "1.5e-07"},
        {12345.678, "12345.678"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {3.141592653589793, "3.141592653589793"},
        {-2.5e-5, "-2.5e-05"},
        /* 2**-1017: just above a power of two the nearest 16-digit decimal
           misses and its neighbour hits; repr() finds the neighbour. */
        {0x1p-1017, "7.120236347223045e-307"},
        {0x1p-1007, "7.291122019556398e-304"},
        {0x1p53, "9007199254740992.0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(fmt(cases[i].v), cases[i].text);
}

static void test_json__every_double_reads_back_exactly(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof(v));
        if (!isfinite(v))
            continue;
        const char *s = fmt(v);
        double back = strtod(s, NULL);
        if (memcmp(&back, &v, sizeof(v)) != 0)
            fail_msg("%a printed as %s reads back as %a", v, s, back);
        assert_true(strchr(s, '.') || strchr(s, 'e'));
    }
}

static void test_json__doubles_do_not_follow_the_c_locale(void **state)
{
    (void)state;
    /* A host program may set a locale whose decimal point is ','. */
    locale_t de = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    if (de == (locale_t)0)
        skip();
    locale_t old = uselocale(de);
    char text[32];
    sm_json_format_double(1.5, text);
    struct sm_json_doc doc;
    int rc = sm_json_parse(&doc, "2.25", 4, NULL);
    uselocale(old);
    freelocale(de);
    assert_string_equal(text, "1.5");
    assert_int_equal(rc, 0);
    assert_true(doc.root->num == 2.25);
    sm_json_doc_release(&doc);
}

static void test_json__non_finite_doubles_are_strings(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1000);
    sm_jw_begin_array(&t.w);
    sm_jw_double(&t.w, NAN);
    sm_jw_double(&t.w, INFINITY);
    sm_jw_double(&t.w, -INFINITY);
    sm_jw_double(&t.w, 2.5);
    sm_jw_end_array(&t.w);
    expect_text(&t, "[\"NaN\",\"Infinity\",\"-Infinity\",2.5]");
}

static void test_json__a_whole_document_is_compact(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1000);
    sm_jw_begin_object(&t.w);
    sm_jw_keyz(&t.w, "a");
    sm_jw_int(&t.w, 1);
    sm_jw_keyz(&t.w, "b");
    sm_jw_begin_array(&t.w);
    sm_jw_bool(&t.w, true);
    sm_jw_bool(&t.w, false);
    sm_jw_null(&t.w);
    sm_jw_begin_object(&t.w);
    sm_jw_end_object(&t.w);
    sm_jw_begin_array(&t.w);
    sm_jw_end_array(&t.w);
    sm_jw_stringz(&t.w, "s");
    sm_jw_stringz(&t.w, NULL);
    sm_jw_end_array(&t.w);
    sm_jw_key(&t.w, "c", 1);
    sm_jw_raw(&t.w, "{\"x\":[1,2]}", 11);
    sm_jw_end_object(&t.w);
    expect_text(&t, "{\"a\":1,\"b\":[true,false,null,{},[],\"s\",null],\"c\":{\"x\":[1,2]}}");
}

static void test_json__writing_appends_to_what_the_buffer_holds(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 100);
    sm_buf_adds(&t.out, "prefix:");
    sm_jw_init(&t.w, &t.out);
    sm_jw_int(&t.w, 5);
    expect_text(&t, "prefix:5");
}

static void test_json__integers_are_plain_decimal(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1000);
    sm_jw_begin_array(&t.w);
    sm_jw_int(&t.w, 0);
    sm_jw_int(&t.w, -7);
    sm_jw_int(&t.w, INT64_MAX);
    sm_jw_int(&t.w, INT64_MIN);
    sm_jw_int_text(&t.w, "123456789012345678901234567890", 30);
    sm_jw_int_text(&t.w, "-42", 3);
    sm_jw_int_text(&t.w, "0", 1);
    sm_jw_end_array(&t.w);
    expect_text(&t, "[0,-7,9223372036854775807,-9223372036854775808,"
                    "123456789012345678901234567890,-42,0]");
}

static void test_json__int_text_refuses_what_is_not_a_canonical_integer(void **state)
{
    (void)state;
    static const char *bad[] = {"", "-", "01", "-0", "1.5", "1e3", "+1", " 1", "12a", "--1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct writer t;
        writer_init(&t, 100);
        sm_jw_int_text(&t.w, bad[i], strlen(bad[i]));
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "invalid integer text '%s': expected decimal digits with an optional '-' and "
                 "no leading zeros",
                 bad[i]);
        expect_error(&t, SM_EINVAL, msg);
    }
}

static void test_json__strings_escape_only_quote_backslash_and_controls(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1000);
    const char s[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    sm_jw_string(&t.w, s, sizeof(s) - 1);
    expect_text(&t, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f "
                    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

static void test_json__strings_keep_embedded_nul_bytes_escaped(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1000);
    sm_jw_string(&t.w, "a\0b", 3);
    expect_text(&t, "\"a\\u0000b\"");
}

static void test_json__invalid_utf8_is_an_error_naming_the_offset(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t at;
        unsigned byte;
    } cases[] = {
        {"ab\xff", 2, 0xff},               /* never valid */
        {"\xc0\xaf", 0, 0xc0},             /* overlong '/' */
        {"x\xe0\x80\xaf", 1, 0xe0},        /* overlong, 3 bytes */
        {"xy\xed\xa0\x80", 2, 0xed},       /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 0, 0xf4},     /* past U+10FFFF */
        {"abc\xe2\x82", 3, 0xe2},          /* truncated */
        {"\x80", 0, 0x80},                 /* lone continuation */
        {"\xc3\xa9\xc3(", 2, 0xc3},        /* bad continuation */
        {"\xf0\x9f\x98\x80\xf8", 4, 0xf8}, /* 5-byte lead */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct writer t;
        writer_init(&t, 1000);
        sm_jw_begin_array(&t.w);
        sm_jw_string(&t.w, cases[i].s, strlen(cases[i].s));
        sm_jw_end_array(&t.w);
        char msg[100];
        snprintf(msg, sizeof(msg), "invalid UTF-8 in a string at byte %zu (0x%02x)", cases[i].at,
                 cases[i].byte);
        expect_error(&t, SM_EINVAL, msg);
    }
    /* Keys are checked too. */
    struct writer t;
    writer_init(&t, 1000);
    sm_jw_begin_object(&t.w);
    sm_jw_key(&t.w, "k\xff", 2);
    expect_error(&t, SM_EINVAL, "invalid UTF-8 in a string at byte 1 (0xff)");
}

static void test_json__base64_pads_to_whole_quads(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"", "\"\""},
        {"f", "\"Zg==\""},
        {"fo", "\"Zm8=\""},
        {"foo", "\"Zm9v\""},
        {"foob", "\"Zm9vYg==\""},
        {"fooba", "\"Zm9vYmE=\""},
        {"foobar", "\"Zm9vYmFy\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct writer t;
        writer_init(&t, 100);
        sm_jw_base64(&t.w, cases[i].in, strlen(cases[i].in));
        expect_text(&t, cases[i].out);
    }
    struct writer t;
    writer_init(&t, 100);
    const unsigned char bin[] = {0xfb, 0xff, 0x00, 0x3e};
    sm_jw_base64(&t.w, bin, sizeof(bin));
    expect_text(&t, "\"+/8APg==\"");
}

static void test_json__the_cap_is_a_sticky_error(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 10);
    sm_jw_begin_array(&t.w);
    sm_jw_stringz(&t.w, "0123456789");
    /* Every later call is a no-op. */
    sm_jw_int(&t.w, 1);
    sm_jw_end_array(&t.w);
    assert_int_equal(t.out.len, 0);
    expect_error(&t, SM_ETOOBIG, "JSON text is larger than its cap of 10 bytes");

    writer_init(&t, 6);
    sm_jw_base64(&t.w, "foobar", 6);
    expect_error(&t, SM_ETOOBIG, "JSON text is larger than its cap of 6 bytes");
}

static void test_json__unclosed_containers_are_reported_at_finish(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 100);
    sm_jw_begin_array(&t.w);
    sm_jw_begin_object(&t.w);
    expect_error(&t, SM_EINVAL, "JSON text ends with 2 containers still open");

    writer_init(&t, 100);
    sm_jw_begin_object(&t.w);
    sm_jw_keyz(&t.w, "k");
    expect_error(&t, SM_EINVAL, "JSON text ends right after a key; the key's value is missing");
}

static void test_json__a_key_outside_an_object_is_an_error(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 100);
    sm_jw_keyz(&t.w, "top");
    expect_error(&t, SM_EINVAL, "key 'top' outside an object");

    writer_init(&t, 100);
    sm_jw_begin_array(&t.w);
    sm_jw_keyz(&t.w, "k");
    sm_jw_keyz(&t.w, "second error is ignored");
    expect_error(&t, SM_EINVAL, "key 'k' outside an object");

    writer_init(&t, 100);
    sm_jw_begin_object(&t.w);
    sm_jw_keyz(&t.w, "a");
    sm_jw_keyz(&t.w, "b");
    expect_error(&t, SM_EINVAL, "key 'b' right after another key; a value must come between");
}

static void test_json__misplaced_values_and_ends_are_errors(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 100);
    sm_jw_begin_object(&t.w);
    sm_jw_int(&t.w, 1);
    expect_error(&t, SM_EINVAL, "a value inside an object needs a key first (sm_jw_key)");

    writer_init(&t, 100);
    sm_jw_int(&t.w, 1);
    sm_jw_int(&t.w, 2);
    expect_error(&t, SM_EINVAL, "a JSON text holds one top-level value; a second one was written");

    writer_init(&t, 100);
    sm_jw_begin_array(&t.w);
    sm_jw_end_object(&t.w);
    expect_error(&t, SM_EINVAL, "end of an object with no object open");

    writer_init(&t, 100);
    sm_jw_end_array(&t.w);
    expect_error(&t, SM_EINVAL, "end of an array with no array open");

    writer_init(&t, 100);
    sm_jw_begin_object(&t.w);
    sm_jw_keyz(&t.w, "k");
    sm_jw_end_object(&t.w);
    expect_error(&t, SM_EINVAL, "end of an object right after a key; the key's value is missing");
}

static void test_json__nesting_deeper_than_the_limit_is_too_big(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 10000);
    for (int i = 0; i < SM_JSON_MAX_DEPTH; i++)
        sm_jw_begin_array(&t.w);
    for (int i = 0; i < SM_JSON_MAX_DEPTH; i++)
        sm_jw_end_array(&t.w);
    assert_int_equal(sm_jw_finish(&t.w, &t.err), 0);
    assert_int_equal(t.out.len, 2 * SM_JSON_MAX_DEPTH);
    sm_buf_release(&t.out);

    writer_init(&t, 10000);
    for (int i = 0; i <= SM_JSON_MAX_DEPTH; i++)
        sm_jw_begin_array(&t.w);
    expect_error(&t, SM_ETOOBIG, "JSON nesting is deeper than 256 levels");
}

static void test_json__finish_leaves_an_earlier_error_in_err_alone(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 100);
    sm_errf(&t.err, SM_EIO, "root cause");
    sm_jw_keyz(&t.w, "k");
    assert_int_equal(sm_jw_finish(&t.w, &t.err), SM_EINVAL);
    assert_string_equal(t.err.msg, "root cause");
    assert_int_equal(sm_jw_finish(&t.w, NULL), SM_EINVAL);
    sm_buf_release(&t.out);
}

/* -------------------------------------------------------------- reader */

static struct sm_json_doc parse_ok(const char *text)
{
    struct sm_json_doc doc;
    struct sm_err err = SM_ERR_INIT;
    int rc = sm_json_parse(&doc, text, strlen(text), &err);
    if (rc != 0)
        fail_msg("parsing %s: %s", text, err.msg);
    return doc;
}

static void expect_parse_error(const char *text, size_t len, int code, const char *msg)
{
    struct sm_json_doc doc;
    struct sm_err err = SM_ERR_INIT;
    assert_int_equal(sm_json_parse(&doc, text, len, &err), code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
    assert_null(doc.root);
    sm_json_doc_release(&doc);
}

static void test_json__parse_builds_every_kind_of_value(void **state)
{
    (void)state;
    struct sm_json_doc doc =
        parse_ok(" {\"n\": null, \"t\": true, \"f\": false, \"i\": -12, \"d\": 2.5e3,"
                 " \"s\": \"hi\", \"a\": [1, [], {}], \"o\": {\"x\": \"y\"}} ");
    const struct sm_json *r = doc.root;
    assert_int_equal(r->kind, SM_JSON_OBJECT);
    assert_int_equal(r->n_items, 8);
    assert_int_equal(sm_json_get(r, "n")->kind, SM_JSON_NULL);
    assert_int_equal(sm_json_get(r, "t")->kind, SM_JSON_BOOL);
    assert_true(sm_json_get(r, "t")->boolean);
    assert_false(sm_json_get(r, "f")->boolean);
    const struct sm_json *i = sm_json_get(r, "i");
    assert_int_equal(i->kind, SM_JSON_NUMBER);
    assert_string_equal(i->str, "-12");
    assert_true(i->num == -12.0);
    const struct sm_json *d = sm_json_get(r, "d");
    assert_string_equal(d->str, "2.5e3");
    assert_int_equal(d->len, 5);
    assert_true(d->num == 2500.0);
    const struct sm_json *s = sm_json_get(r, "s");
    assert_int_equal(s->kind, SM_JSON_STRING);
    assert_string_equal(s->str, "hi");
    assert_int_equal(s->len, 2);
    const struct sm_json *a = sm_json_get(r, "a");
    assert_int_equal(a->kind, SM_JSON_ARRAY);
    assert_int_equal(a->n_items, 3);
    assert_int_equal(a->items[1].kind, SM_JSON_ARRAY);
    assert_int_equal(a->items[1].n_items, 0);
    assert_int_equal(a->items[2].kind, SM_JSON_OBJECT);
    assert_null(a->items[0].key);
    assert_string_equal(sm_json_get(sm_json_get(r, "o"), "x")->str, "y");
    assert_string_equal(r->items[0].key, "n");
    assert_int_equal(r->items[0].key_len, 1);
    assert_null(sm_json_get(r, "missing"));
    assert_null(sm_json_get(a, "n"));
    assert_null(sm_json_get(NULL, "n"));
    sm_json_doc_release(&doc);
    sm_json_doc_release(&doc);
}

static void test_json__big_integers_keep_their_text(void **state)
{
    (void)state;
    struct sm_json_doc doc = parse_ok("[123456789012345678901234567890, -0, 1E+2, 0.5e-1]");
    const struct sm_json *a = doc.root;
    assert_string_equal(a->items[0].str, "123456789012345678901234567890");
    assert_true(a->items[0].num == 1.2345678901234568e+29);
    assert_true(a->items[1].num == 0.0 && signbit(a->items[1].num));
    assert_true(a->items[2].num == 100.0);
    assert_true(a->items[3].num == 0.05);
    sm_json_doc_release(&doc);
}

static void test_json__strings_are_unescaped_to_utf8(void **state)
{
    (void)state;
    struct sm_json_doc doc = parse_ok("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\","
                                      " \"\\ud83d\\ude00\", \"x\\u0000y\", \"\xc3\xa9\"]");
    const struct sm_json *a = doc.root;
    assert_string_equal(a->items[0].str, "a\"b\\c/d\b\f\n\r\t");
    assert_string_equal(a->items[1].str, "\xc3\xa9\xe2\x82\xac");
    assert_string_equal(a->items[2].str, "\xf0\x9f\x98\x80");
    assert_int_equal(a->items[3].len, 3);
    assert_memory_equal(a->items[3].str, "x\0y", 4);
    assert_string_equal(a->items[4].str, "\xc3\xa9");
    sm_json_doc_release(&doc);
}

static void test_json__the_last_duplicate_key_wins(void **state)
{
    (void)state;
    struct sm_json_doc doc = parse_ok("{\"k\":1,\"k\":2}");
    assert_string_equal(sm_json_get(doc.root, "k")->str, "2");
    sm_json_doc_release(&doc);
}

static void test_json__text_need_not_be_nul_terminated(void **state)
{
    (void)state;
    struct sm_json_doc doc;
    assert_int_equal(sm_json_parse(&doc, "[12]garbage", 4, NULL), 0);
    assert_string_equal(doc.root->items[0].str, "12");
    sm_json_doc_release(&doc);
    assert_int_equal(sm_json_parse(&doc, "12345", 2, NULL), 0);
    assert_string_equal(doc.root->str, "12");
    sm_json_doc_release(&doc);
}

/* Write a document, parse it, write the tree again: the texts are equal. */
static void write_value(struct sm_jw *w, const struct sm_json *v)
{
    switch (v->kind) {
    case SM_JSON_NULL:
        sm_jw_null(w);
        break;
    case SM_JSON_BOOL:
        sm_jw_bool(w, v->boolean);
        break;
    case SM_JSON_NUMBER:
        if (strchr(v->str, '.') || strchr(v->str, 'e'))
            sm_jw_double(w, v->num);
        else
            sm_jw_int_text(w, v->str, v->len);
        break;
    case SM_JSON_STRING:
        sm_jw_string(w, v->str, v->len);
        break;
    case SM_JSON_ARRAY:
        sm_jw_begin_array(w);
        for (size_t i = 0; i < v->n_items; i++)
            write_value(w, &v->items[i]);
        sm_jw_end_array(w);
        break;
    case SM_JSON_OBJECT:
        sm_jw_begin_object(w);
        for (size_t i = 0; i < v->n_items; i++) {
            sm_jw_key(w, v->items[i].key, v->items[i].key_len);
            write_value(w, &v->items[i]);
        }
        sm_jw_end_object(w);
        break;
    }
}

static void test_json__canonical_text_round_trips(void **state)
{
    (void)state;
    static const char *texts[] = {
        "null",
        "[]",
        "{}",
        "0",
        "-1.0",
        "1e+22",
        "\"\"",
        "{\"a\":[1,2.5,\"x\\n\\u0001\\\"\",true,false,null],\"b\":{\"c\":{}},\"\":-0.0}",
        "[5e-324,1.7976931348623157e+308,0.1,100.0,1.2345678901234568e+17,\"NaN\"]",
        "[123456789012345678901234567890,-9223372036854775808]",
        "{\"\xe2\x82\xac\":\"\xf0\x9f\x98\x80\"}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct sm_json_doc doc = parse_ok(texts[i]);
        struct writer t;
        writer_init(&t, 1000);
        write_value(&t.w, doc.root);
        expect_text(&t, texts[i]);
        sm_json_doc_release(&doc);
    }
}

static void test_json__malformed_text_names_the_offset_and_what_was_expected(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"", "invalid JSON at byte 0: expected a value"},
        {"   ", "invalid JSON at byte 3: expected a value"},
        {"{\"a\":1 \"b\":2}", "invalid JSON at byte 7: expected ',' or '}' after an object member"},
        {"[1 2]", "invalid JSON at byte 3: expected ',' or ']' after an array element"},
        {"[1,]", "invalid JSON at byte 3: expected a value"},
        {"{\"a\" 1}", "invalid JSON at byte 5: expected ':' after an object key"},
        {"{1:2}", "invalid JSON at byte 1: expected a string key or '}' in an object"},
        {"{\"a\":1,}", "invalid JSON at byte 7: expected a string key after ',' in an object"},
        {"[1", "invalid JSON at byte 2: expected ',' or ']' after an array element"},
        {"{", "invalid JSON at byte 1: expected a string key or '}' in an object"},
        {"tru", "invalid JSON at byte 0: expected a value"},
        {"nul", "invalid JSON at byte 0: expected a value"},
        {"NaN", "invalid JSON at byte 0: expected a value"},
        {"+1", "invalid JSON at byte 0: expected a value"},
        {"01", "invalid JSON at byte 1: leading zeros are not allowed in a number"},
        {"-", "invalid JSON at byte 1: expected a digit"},
        {"-a", "invalid JSON at byte 1: expected a digit"},
        {"1.", "invalid JSON at byte 2: expected a digit after the decimal point"},
        {"1.e5", "invalid JSON at byte 2: expected a digit after the decimal point"},
        {"1e", "invalid JSON at byte 2: expected a digit in the exponent"},
        {"1e+", "invalid JSON at byte 3: expected a digit in the exponent"},
        {"1 2", "invalid JSON at byte 2: expected the end of the text after the value"},
        {"{}x", "invalid JSON at byte 2: expected the end of the text after the value"},
        {"\"abc", "invalid JSON at byte 0: unterminated string"},
        {"[\"a\\", "invalid JSON at byte 1: unterminated string"},
        {"\"a\nb\"", "invalid JSON at byte 2: control character in a string; escape it"},
        {"\"\\x\"", "invalid JSON at byte 1: invalid escape; expected one of \\\" \\\\ \\/ \\b "
                    "\\f \\n \\r \\t \\u"},
        {"\"\\u12g4\"", "invalid JSON at byte 1: expected 4 hex digits after '\\u'"},
        {"\"\\u12\"", "invalid JSON at byte 1: expected 4 hex digits after '\\u'"},
        {"\"ab\\udc00\"", "invalid JSON at byte 3: lone low surrogate in a '\\u' escape"},
        {"\"\\ud800\"",
         "invalid JSON at byte 1: high surrogate in a '\\u' escape not followed by a low one"},
        {"\"\\ud800\\u0041\"",
         "invalid JSON at byte 1: high surrogate in a '\\u' escape not followed by a low one"},
        {"\"a\xff\"", "invalid JSON at byte 2: invalid UTF-8 in a string"},
        {"[\"\xed\xa0\x80\"]", "invalid JSON at byte 2: invalid UTF-8 in a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_parse_error(cases[i].text, strlen(cases[i].text), SM_EINVAL, cases[i].msg);
    /* A NUL byte inside the given length is just an unexpected byte. */
    expect_parse_error("[1,\0]", 5, SM_EINVAL, "invalid JSON at byte 3: expected a value");
}

static void test_json__nesting_deeper_than_the_limit_is_refused(void **state)
{
    (void)state;
    char text[2 * (SM_JSON_MAX_DEPTH + 1) + 1];
    size_t n = 0;
    for (int i = 0; i < SM_JSON_MAX_DEPTH; i++)
        text[n++] = '[';
    for (int i = 0; i < SM_JSON_MAX_DEPTH; i++)
        text[n++] = ']';
    struct sm_json_doc doc;
    assert_int_equal(sm_json_parse(&doc, text, n, NULL), 0);
    sm_json_doc_release(&doc);

    n = 0;
    for (int i = 0; i <= SM_JSON_MAX_DEPTH; i++)
        text[n++] = '[';
    expect_parse_error(text, n, SM_ETOOBIG, "JSON nesting is deeper than 256 levels at byte 256");
}

static void test_json__a_failed_parse_leaves_an_earlier_error_alone(void **state)
{
    (void)state;
    struct sm_err err = SM_ERR_INIT;
    sm_errf(&err, SM_EIO, "first");
    struct sm_json_doc doc;
    assert_int_equal(sm_json_parse(&doc, "[", 1, &err), SM_EINVAL);
    assert_string_equal(err.msg, "first");
    assert_int_equal(sm_json_parse(&doc, "[", 1, NULL), SM_EINVAL);
    sm_json_doc_release(&doc);
}

static void test_json__a_large_document_parses(void **state)
{
    (void)state;
    struct writer t;
    writer_init(&t, 1 << 24);
    sm_jw_begin_array(&t.w);
    for (int i = 0; i < 20000; i++) {
        sm_jw_begin_object(&t.w);
        sm_jw_keyz(&t.w, "id");
        sm_jw_int(&t.w, i);
        sm_jw_keyz(&t.w, "name");
        sm_jw_stringz(&t.w, "run \"quoted\"");
        sm_jw_keyz(&t.w, "v");
        sm_jw_double(&t.w, i / 7.0);
        sm_jw_end_object(&t.w);
    }
    sm_jw_end_array(&t.w);
    assert_int_equal(sm_jw_finish(&t.w, &t.err), 0);
    struct sm_json_doc doc;
    assert_int_equal(sm_json_parse(&doc, t.out.data, t.out.len, NULL), 0);
    assert_int_equal(doc.root->n_items, 20000);
    const struct sm_json *last = &doc.root->items[19999];
    assert_string_equal(sm_json_get(last, "id")->str, "19999");
    assert_string_equal(sm_json_get(last, "name")->str, "run \"quoted\"");
    assert_true(sm_json_get(last, "v")->num == 19999 / 7.0);
    sm_json_doc_release(&doc);
    sm_buf_release(&t.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json__doubles_match_python_repr),
        cmocka_unit_test(test_json__every_double_reads_back_exactly),
        cmocka_unit_test(test_json__doubles_do_not_follow_the_c_locale),
        cmocka_unit_test(test_json__non_finite_doubles_are_strings),
        cmocka_unit_test(test_json__a_whole_document_is_compact),
        cmocka_unit_test(test_json__writing_appends_to_what_the_buffer_holds),
        cmocka_unit_test(test_json__integers_are_plain_decimal),
        cmocka_unit_test(test_json__int_text_refuses_what_is_not_a_canonical_integer),
        cmocka_unit_test(test_json__strings_escape_only_quote_backslash_and_controls),
        cmocka_unit_test(test_json__strings_keep_embedded_nul_bytes_escaped),
        cmocka_unit_test(test_json__invalid_utf8_is_an_error_naming_the_offset),
        cmocka_unit_test(test_json__base64_pads_to_whole_quads),
        cmocka_unit_test(test_json__the_cap_is_a_sticky_error),
        cmocka_unit_test(test_json__unclosed_containers_are_reported_at_finish),
        cmocka_unit_test(test_json__a_key_outside_an_object_is_an_error),
        cmocka_unit_test(test_json__misplaced_values_and_ends_are_errors),
        cmocka_unit_test(test_json__nesting_deeper_than_the_limit_is_too_big),
        cmocka_unit_test(test_json__finish_leaves_an_earlier_error_in_err_alone),
        cmocka_unit_test(test_json__parse_builds_every_kind_of_value),
        cmocka_unit_test(test_json__big_integers_keep_their_text),
        cmocka_unit_test(test_json__strings_are_unescaped_to_utf8),
        cmocka_unit_test(test_json__the_last_duplicate_key_wins),
        cmocka_unit_test(test_json__text_need_not_be_nul_terminated),
        cmocka_unit_test(test_json__canonical_text_round_trips),
        cmocka_unit_test(test_json__malformed_text_names_the_offset_and_what_was_expected),
        cmocka_unit_test(test_json__nesting_deeper_than_the_limit_is_refused),
        cmocka_unit_test(test_json__a_failed_parse_leaves_an_earlier_error_alone),
        cmocka_unit_test(test_json__a_large_document_parses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
