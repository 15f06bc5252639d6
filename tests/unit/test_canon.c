/* Unit tests of cs_canon: the plugin's config JSON, the canonical form and the fingerprint.
 * The canonical form is in every schema marker: these texts and digests must not change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cs_canon.h"

static const char s_plugin_conn[] = "connection \"c\" {\n"
                                    "  plugin = \"p\"\n"
                                    "  a = 1\n"
                                    "  f = 2.0\n"
                                    "  b = [\"x\", true, null]\n"
                                    "  o {\n"
                                    "    k = 1\n"
                                    "    j = \"two\"\n"
                                    "  }\n"
                                    "  blk \"l1\" \"l2\" {\n"
                                    "    z = 1\n"
                                    "  }\n"
                                    "  o {\n"
                                    "    k = 3\n"
                                    "  }\n"
                                    "  import_schema = \"disabled\"\n"
                                    "}\n";

static const char s_aggregator[] = "connection \"agg\" {\n"
                                   "  plugin = \"p\"\n"
                                   "  type = \"aggregator\"\n"
                                   "  connections = [\"b_*\", \"a\"]\n"
                                   "}\n";

static cs_config_t *s_load(const char *text)
{
    cs_config_t *cfg = cs_config_load_text("t.spc", text, strlen(text));
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 1);
    return cfg;
}

static void test_config_json(void **state)
{
    (void)state;
    cs_arena_t *arena = cs_arena_new();
    assert_non_null(arena);
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree =
        cs_hcl_parse(arena, "t.spc", s_plugin_conn, strlen(s_plugin_conn), &error);
    assert_non_null(tree);
    cs_buf_t out = {0};
    cs_canon_config_json(&out, tree->items[0].block);
    /* written order; blocks of one type in one array; labels; reserved attributes left out */
    static const char written[] = "{\"a\":1,\"f\":2.0,\"b\":[\"x\",true,null],"
                                  "\"o\":[{\"k\":1,\"j\":\"two\"},{\"k\":3}],"
                                  "\"blk\":[{\"_labels\":[\"l1\",\"l2\"],\"z\":1}]}";
    assert_string_equal(cs_buf_str(&out), written);
    /* its canonical form: every object's keys sorted, a nested block's labels first */
    static const char canonical[] = "{\"a\":1,\"b\":[\"x\",true,null],"
                                    "\"blk\":[{\"_labels\":[\"l1\",\"l2\"],\"z\":1}],\"f\":2.0,"
                                    "\"o\":[{\"j\":\"two\",\"k\":1},{\"k\":3}]}";
    cs_buf_reset(&out);
    cs_canon_config_canonical(&out, tree->items[0].block);
    assert_string_equal(cs_buf_str(&out), canonical);
    /* as a connection holds it: as written, a NUL, and nothing more (made from it when needed) */
    cs_buf_reset(&out);
    cs_canon_config_forms(&out, tree->items[0].block);
    assert_int_equal(out.len, strlen(written) + 1);
    assert_string_equal(out.data, written);
    /* ... but a key "_labels" of its own keeps the canonical form too */
    static const char labels[] =
        "connection \"s\" {\n  plugin = \"p\"\n  o = { _labels = 1, A = 2 }\n}\n";
    tree = cs_hcl_parse(arena, "t.spc", labels, strlen(labels), &error);
    assert_non_null(tree);
    cs_buf_reset(&out);
    cs_canon_config_forms(&out, tree->items[0].block);
    static const char labels_written[] = "{\"o\":{\"_labels\":1,\"A\":2}}";
    assert_int_equal(out.len, 2 * strlen(labels_written) + 1);
    assert_string_equal(out.data, labels_written);
    assert_string_equal(out.data + strlen(labels_written) + 1, "{\"o\":{\"A\":2,\"_labels\":1}}");
    cs_buf_free(&out);
    cs_arena_destroy(&arena);

    /* a loaded connection's config_json is the text as written */
    cs_config_t *cfg = s_load(s_plugin_conn);
    assert_string_equal(cfg->connections[0].config_json, written);
    cs_config_destroy(&cfg);
}

/* The canonical form a connection makes from its config as written is the one of its tree, for
 * keys of every kind (quoted, escaped, control characters, around '_'), nested blocks with and
 * without labels, objects in lists and lists in objects. */
static void test_canonical_made_from_written(void **state)
{
    (void)state;
    static const char *const texts[] = {
        s_plugin_conn,
        s_aggregator,
        "connection \"c\" {\n  plugin = \"p\"\n  b = 1\n  a = 2\n  B = 3\n  _x = 4\n  a_ = 5\n"
        "  a0 = 6\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  m = { \"z\\\"q\" = 1, \"z#\" = 2, \"z\\\\\" = 3, "
        "\"z\\n\" = 4, \"z\\t\" = 5, \"zA\" = 6, \"z\" = 7, \"\xc3\xa9\" = 8, \"e\" = 9 }\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  m = { \"\\u0001\" = 1, \"\\u007f\" = 2, \" \" = "
        "3, \"\\u00e9\" = 4 }\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  l = [{ y = 1, x = [{ b = 1, a = 2 }] }, 2, "
        "\"s\"]\n"
        "  o = { q = { d = 1, c = { f = 2.5, e = -3 } }, p = [] }\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  w \"L\" { Z = 1\n A = 2\n _b = 3 }\n"
        "  w \"K\" \"J\" { y = 1 }\n  v { n { t = 1\n s \"x\" { r = 1\n q = 2 } } }\n  u = 1\n"
        "  w { b = 1 }\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  w \"L\" { Z = 1\n A = 2\n _b = 3 }\n"
        "  w \"K\" \"J\" { y = 1\n x { d = 1 } }\n  u = { b = [{ d = 1, c = 2 }], a = 1 }\n"
        "  n \"x\" { m { k = 1 } }\n  w { b = 1 }\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n  s = \"a,b}c]\\\"d\"\n  r = \"{\\\\\"\n  q = "
        "<<EOT\n"
        "x \"y\" }\nEOT\n}\n",
        "connection \"c\" {\n  plugin = \"p\"\n}\n",
    };
    cs_arena_t *arena = cs_arena_new();
    assert_non_null(arena);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        cs_config_error_t error = {0};
        cs_hcl_file_t *tree = cs_hcl_parse(arena, "t.spc", texts[i], strlen(texts[i]), &error);
        if (!tree)
            fail_msg("text %zu: %s", i, error.message);
        cs_buf_t want = {0}, got = {0};
        cs_buf_puts(&want, "{\"config\":");
        cs_canon_config_canonical(&want, tree->items[0].block);
        cs_config_t *cfg = s_load(texts[i]);
        cs_canon_connection(&got, &cfg->connections[0]);
        if (got.len < want.len || memcmp(got.data, want.data, want.len) != 0)
            fail_msg("text %zu: made %s, the tree's %s", i, got.data, want.data);
        cs_buf_free(&want);
        cs_buf_free(&got);
        cs_config_destroy(&cfg);
    }
    cs_arena_destroy(&arena);
}

static void test_canonical_and_fingerprint(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load(s_plugin_conn);
    const cs_connection_t *conn = &cfg->connections[0];
    cs_buf_t out = {0};
    cs_canon_connection(&out, conn);
    assert_string_equal(cs_buf_str(&out),
                        "{\"config\":{\"a\":1,\"b\":[\"x\",true,null],"
                        "\"blk\":[{\"_labels\":[\"l1\",\"l2\"],\"z\":1}],\"f\":2.0,"
                        "\"o\":[{\"j\":\"two\",\"k\":1},{\"k\":3}]},\"connections\":[],"
                        "\"import_schema\":\"disabled\",\"plugin\":\"p\",\"type\":\"plugin\"}");
    char fingerprint[CS_DIGEST_HEX_SIZE];
    assert_int_equal(cs_canon_fingerprint(conn, fingerprint), 0);
    assert_string_equal(fingerprint, "6dd49062a15c7192"); /* SHA-1 of the text above */
    assert_string_equal(conn->fingerprint, fingerprint);
    cs_buf_free(&out);
    cs_config_destroy(&cfg);

    cfg = s_load(s_aggregator);
    conn = &cfg->connections[0];
    cs_canon_connection(&out, conn);
    assert_string_equal(cs_buf_str(&out), "{\"config\":{},\"connections\":[\"b_*\",\"a\"],"
                                          "\"import_schema\":\"enabled\",\"plugin\":\"p\","
                                          "\"type\":\"aggregator\"}");
    assert_string_equal(conn->fingerprint, "89329b3a03577bba");
    cs_buf_free(&out);
    cs_config_destroy(&cfg);
}

/* A connection of a plugin instance (set by hand: the loader fills it from plugin blocks). */
static void test_instance_fingerprint(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load(s_aggregator);
    cs_connection_t *conn = &cfg->connections[0];
    char plain[CS_DIGEST_HEX_SIZE], got[CS_DIGEST_HEX_SIZE], again[CS_DIGEST_HEX_SIZE];
    assert_int_equal(cs_canon_fingerprint(conn, plain), 0);

    /* an instance without settings is the plugin itself: the fingerprint it had before */
    cs_config_plugin_t instance = {.label = "p_low", .source = "p", .plugin = "p"};
    conn->instance = &instance;
    assert_int_equal(cs_canon_fingerprint(conn, got), 0);
    assert_string_equal(got, plain);

    const char *env[] = {"B=2", "A=1", "A=0"};
    instance.memory_max_mb = conn->memory_max_mb = 64; /* the loader copies it */
    instance.env = env;
    instance.env_count = 3;
    cs_buf_t out = {0};
    cs_canon_connection(&out, conn);
    /* sorted by name; entries of one name in written order (the last one wins) */
    assert_string_equal(cs_buf_str(&out), "{\"config\":{},\"connections\":[\"b_*\",\"a\"],"
                                          "\"import_schema\":\"enabled\",\"instance\":{\"env\":"
                                          "[\"A=1\",\"A=0\",\"B=2\"],\"memory_max_mb\":64},"
                                          "\"plugin\":\"p\",\"type\":\"aggregator\"}");
    cs_buf_free(&out);
    assert_int_equal(cs_canon_fingerprint(conn, got), 0);
    assert_string_not_equal(got, plain);

    /* another order of names is the same instance; another label with the same settings too */
    const char *reordered[] = {"A=1", "B=2", "A=0"};
    instance.env = reordered;
    instance.label = "p_other";
    assert_int_equal(cs_canon_fingerprint(conn, again), 0);
    assert_string_equal(again, got);

    /* each setting changes it: the limit, a value, the order of one name's values */
    instance.memory_max_mb = conn->memory_max_mb = 65; /* the loader copies it */
    assert_int_equal(cs_canon_fingerprint(conn, again), 0);
    assert_string_not_equal(again, got);
    instance.memory_max_mb = conn->memory_max_mb = 64; /* the loader copies it */
    const char *value[] = {"A=1", "B=3", "A=0"};
    instance.env = value;
    assert_int_equal(cs_canon_fingerprint(conn, again), 0);
    assert_string_not_equal(again, got);
    const char *swapped[] = {"A=0", "B=2", "A=1"};
    instance.env = swapped;
    assert_int_equal(cs_canon_fingerprint(conn, again), 0);
    assert_string_not_equal(again, got);
    conn->instance = NULL;
    cs_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_canonical_made_from_written),
        cmocka_unit_test(test_canonical_and_fingerprint),
        cmocka_unit_test(test_instance_fingerprint),
    };
    return cmocka_run_group_tests_name("canon", tests, NULL, NULL);
}
