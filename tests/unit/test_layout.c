/* test_layout.c - how records are read: paths with array indices, chat
 * lists found by their shape, prompt-completion records, alpaca history,
 * LLaMA-Factory columns and tags, and what a missing field says. */
#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include "lookahead.h"

#include "proc_run.h"

/* Virtual mode with a short P and connector, so that outputs read well. */
static la_config virt(void)
{
    la_config c;
    la_config_defaults(&c);
    c.mode = LA_MODE_VIRTUAL;
    c.P = "P ";
    c.connector = "|";
    return c;
}

/* Statistics here are the one record's own. */
static void expect(const la_config *c, const char *in, const char *want)
{
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(run(c, in), LA_OK);
    ck_assert_str_eq(out.data, want);
}

static void expect_bad(const la_config *c, const char *in, const char *code)
{
    memset(&st, 0, sizeof st);
    ck_assert_int_eq(run(c, in), LA_EDATA);
    ck_assert_str_eq(err.code, code);
    ck_assert_uint_eq(out.len, 0);
}

START_TEST(array_indices_in_paths)
{
    la_config c = virt();
    c.fields_given = 1;
    c.input_field = "conversations.0.value";
    c.output_field = "conversations.-1.value";
    expect(&c, "{\"conversations\":[{\"value\":\"q\"},{\"value\":\"x\"},{\"value\":\"a\"}]}",
           "{\"conversations\":[{\"value\":\"q|P \"},{\"value\":\"x\"},{\"value\":\"P a\"}]}");
    c.output_field = "conversations.2.value";
    expect(&c, "{\"conversations\":[{\"value\":\"q\"},{\"value\":\"x\"},{\"value\":\"a\"}]}",
           "{\"conversations\":[{\"value\":\"q|P \"},{\"value\":\"x\"},{\"value\":\"P a\"}]}");
    /* out of range either way, and -0, are missing */
    c.output_field = "conversations.3.value";
    expect_bad(&c, "{\"conversations\":[{\"value\":\"q\"},{\"value\":\"x\"},{\"value\":\"a\"}]}", "missing_field");
    c.output_field = "conversations.-4.value";
    expect_bad(&c, "{\"conversations\":[{\"value\":\"q\"},{\"value\":\"x\"},{\"value\":\"a\"}]}", "missing_field");
    c.output_field = "conversations.-0.value";
    expect_bad(&c, "{\"conversations\":[{\"value\":\"q\"},{\"value\":\"x\"},{\"value\":\"a\"}]}", "missing_field");
    /* in an object a digit component is a key */
    c.input_field = "t.0";
    c.output_field = "t.-1";
    expect(&c, "{\"t\":{\"-1\":\"a\",\"0\":\"q\"}}", "{\"t\":{\"-1\":\"P a\",\"0\":\"q|P \"}}");
    /* nested arrays */
    c.input_field = "x.1.0";
    c.output_field = "x.1.1";
    expect(&c, "{\"x\":[[\"n\"],[\"q\",\"a\"]]}", "{\"x\":[[\"n\"],[\"q|P \",\"P a\"]]}");
    /* a component that is no index does not reach into an array */
    c.output_field = "x.one";
    expect_bad(&c, "{\"x\":[[\"n\"],[\"q\",\"a\"]]}", "missing_field");
}
END_TEST

START_TEST(chat_lists_found_by_shape)
{
    la_config c = virt();
    /* ShareGPT messages under "messages" */
    expect(&c, "{\"messages\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"gpt\",\"value\":\"a\"}]}",
           "{\"messages\":[{\"from\":\"human\",\"value\":\"q|P \"},{\"from\":\"gpt\",\"value\":\"P a\"}]}");
    ck_assert_uint_eq(st.format_records[LA_FMT_SHAREGPT], 1);
    /* OpenAI messages under "conversations" and "conversation" (lmsys) */
    expect(&c, "{\"conversations\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
           "{\"conversations\":[{\"role\":\"user\",\"content\":\"q|P \"},{\"role\":\"assistant\",\"content\":\"P a\"}]}");
    ck_assert_uint_eq(st.format_records[LA_FMT_MESSAGES], 1);
    expect(&c, "{\"conversation\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
           "{\"conversation\":[{\"role\":\"user\",\"content\":\"q|P \"},{\"role\":\"assistant\",\"content\":\"P a\"}]}");
    /* keys spelled with escapes are found too */
    expect(&c, "{\"mess\\u0061ges\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
           "{\"mess\\u0061ges\":[{\"role\":\"user\",\"content\":\"q|P \"},{\"role\":\"assistant\",\"content\":\"P a\"}]}");
    expect(&c, "{\"pr\\u006fmpt\":\"q\",\"completion\":\"a\"}", "{\"pr\\u006fmpt\":\"q|P \",\"completion\":\"P a\"}");
    /* an empty list: by its key (conversations: from/value) */
    expect(&c, "{\"conversations\":[]}", "{\"conversations\":[]}");
    ck_assert_uint_eq(st.format_records[LA_FMT_SHAREGPT], 1);
    ck_assert_uint_eq(st.records_without_turn, 1);
    /* the key alone makes it chat: a malformed list is a bad chat record */
    expect_bad(&c, "{\"conversation\":[1,{\"role\":\"user\",\"content\":\"q\"}],\"input\":\"i\",\"output\":\"o\"}",
               "bad_chat");
    ck_assert_str_eq(err.msg, "conversation[0] is a number, not an object");
}
END_TEST

START_TEST(prompt_completion_records)
{
    la_config c = virt();
    expect(&c, "{\"prompt\":\"q\",\"completion\":\"a\"}", "{\"prompt\":\"q|P \",\"completion\":\"P a\"}");
    ck_assert_uint_eq(st.format_records[LA_FMT_PROMPT_COMPLETION], 1);
    expect(&c, "{\"response\":\"a\",\"prompt\":\"q\"}", "{\"response\":\"P a\",\"prompt\":\"q|P \"}");
    /* lists: the last user message of the prompt, the first assistant one of the completion */
    expect(&c,
           "{\"prompt\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
           "{\"role\":\"user\",\"content\":\"q2\"},{\"role\":\"tool\",\"content\":\"t\"}],"
           "\"completion\":[{\"role\":\"tool\",\"content\":\"t\"},{\"role\":\"assistant\",\"content\":\"a2\"},"
           "{\"role\":\"assistant\",\"content\":\"a3\"}]}",
           "{\"prompt\":[{\"role\":\"user\",\"content\":\"q1\"},{\"role\":\"assistant\",\"content\":\"a1\"},"
           "{\"role\":\"user\",\"content\":\"q2|P \"},{\"role\":\"tool\",\"content\":\"t\"}],"
           "\"completion\":[{\"role\":\"tool\",\"content\":\"t\"},{\"role\":\"assistant\",\"content\":\"P a2\"},"
           "{\"role\":\"assistant\",\"content\":\"a3\"}]}");
    /* a string prompt with a list completion */
    expect(&c, "{\"prompt\":\"q\",\"completion\":[{\"role\":\"assistant\",\"content\":\"a\"}]}",
           "{\"prompt\":\"q|P \",\"completion\":[{\"role\":\"assistant\",\"content\":\"P a\"}]}");
    /* no user text: passes through, counted */
    expect(&c, "{\"prompt\":[{\"role\":\"system\",\"content\":\"s\"}],\"completion\":\"a\"}",
           "{\"prompt\":[{\"role\":\"system\",\"content\":\"s\"}],\"completion\":\"a\"}");
    ck_assert_uint_eq(st.records_without_turn, 1);
    expect_bad(&c, "{\"prompt\":5,\"completion\":\"a\"}", "not_string");
    /* real mode previews the completion */
    la_config r;
    la_config_defaults(&r);
    r.m = 2;
    r.connector = "|";
    expect(&r, "{\"prompt\":\"q\",\"completion\":\"one two three\"}",
           "{\"prompt\":\"q|one two\",\"completion\":\"one two three\"}");
}
END_TEST

START_TEST(alpaca_history_turns)
{
    la_config c = virt();
    const char *rec = "{\"instruction\":\"i\",\"input\":\"\",\"output\":\"o\","
                      "\"history\":[[\"q1\",\"a1\"],[\"q2\",\"a2\"]]}";
    expect(&c, rec,
           "{\"instruction\":\"i|P \",\"input\":\"\",\"output\":\"P o\","
           "\"history\":[[\"q1|P \",\"P a1\"],[\"q2|P \",\"P a2\"]]}");
    ck_assert_uint_eq(st.turns_edited, 3);
    c.turns = LA_TURNS_FIRST;   /* history first, then the record's own turn */
    expect(&c, rec,
           "{\"instruction\":\"i\",\"input\":\"\",\"output\":\"o\","
           "\"history\":[[\"q1|P \",\"P a1\"],[\"q2\",\"a2\"]]}");
    c.turns = LA_TURNS_LAST;
    expect(&c, rec,
           "{\"instruction\":\"i|P \",\"input\":\"\",\"output\":\"P o\","
           "\"history\":[[\"q1\",\"a1\"],[\"q2\",\"a2\"]]}");
    c.turns = LA_TURNS_ALL;
    expect(&c, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":null}",
           "{\"instruction\":\"i|P \",\"output\":\"P o\",\"history\":null}");
    expect_bad(&c, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":[[\"q\"]]}", "bad_history");
    expect_bad(&c, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":[[\"q\",\"a\",\"b\"]]}", "bad_history");
    expect_bad(&c, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":[[\"q\",1]]}", "bad_history");
    expect_bad(&c, "{\"instruction\":\"i\",\"output\":\"o\",\"history\":\"q\"}", "bad_history");
}
END_TEST

START_TEST(layout_columns_alpaca)
{
    la_config c = virt();
    c.format = LA_FMT_ALPACA;
    c.layout.given = 1;
    c.layout.prompt = "question";
    c.layout.response = "answer";
    c.layout.history = "past";
    /* no query column: the prompt takes the preview even beside an "input" */
    expect(&c, "{\"question\":\"q\",\"input\":\"x\",\"answer\":\"a\",\"past\":[[\"h\",\"g\"]]}",
           "{\"question\":\"q|P \",\"input\":\"x\",\"answer\":\"P a\",\"past\":[[\"h|P \",\"P g\"]]}");
    expect_bad(&c, "{\"instruction\":\"q\",\"output\":\"a\"}", "missing_field");
    /* a layout without a response cannot be read */
    c.layout.response = NULL;
    ck_assert_ptr_null(la_proc_new(&c, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "no response column"));
}
END_TEST

START_TEST(layout_tags_sharegpt)
{
    la_config c = virt();
    c.format = LA_FMT_SHAREGPT;
    c.layout.given = 1;
    c.layout.messages = "conversation";
    c.layout.role_tag = "role";
    c.layout.content_tag = "content";
    c.layout.user_tag = "user";
    c.layout.assistant_tag = "assistant";
    expect(&c, "{\"conversation\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}",
           "{\"conversation\":[{\"role\":\"user\",\"content\":\"q|P \"},{\"role\":\"assistant\",\"content\":\"P a\"}]}");
    /* only the layout's tags make a turn: human/gpt do not here */
    const char *sg = "{\"conversation\":[{\"role\":\"human\",\"content\":\"q\"},{\"role\":\"gpt\",\"content\":\"a\"}]}";
    expect(&c, sg, sg);
    ck_assert_uint_eq(st.records_without_turn, 1);
    /* observation and function-call messages are neither side of a turn */
    c.layout.messages = "conversations";
    c.layout.role_tag = "from";
    c.layout.content_tag = "value";
    c.layout.user_tag = "human";
    c.layout.assistant_tag = "gpt";
    const char *tool = "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"function_call\",\"value\":\"f\"},"
                       "{\"from\":\"observation\",\"value\":\"o\"},{\"from\":\"gpt\",\"value\":\"a\"}]}";
    expect(&c, tool, tool);
    expect_bad(&c, "{\"messages\":[]}", "missing_field");
    /* openai formatting: an assistant message with tool calls is a function call */
    c.layout.openai = 1;
    const char *calls = "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"},"
                        "{\"from\":\"gpt\",\"value\":\"a\",\"tool_calls\":[{\"id\":1}]}]}";
    expect(&c, calls, calls);
    expect(&c, "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"gpt\",\"value\":\"a\",\"tool_calls\":[]}]}",
           "{\"conversations\":[{\"from\":\"human\",\"value\":\"q|P \"},{\"from\":\"gpt\",\"value\":\"P a\",\"tool_calls\":[]}]}");
    c.layout.openai = 0;
    expect(&c, calls, "{\"conversations\":[{\"from\":\"human\",\"value\":\"q|P \"},"
                      "{\"from\":\"gpt\",\"value\":\"P a\",\"tool_calls\":[{\"id\":1}]}]}");
    c.layout.user_tag = NULL;
    ck_assert_ptr_null(la_proc_new(&c, &err));
    c.layout.user_tag = "human";
    c.format = LA_FMT_MESSAGES;
    ck_assert_ptr_null(la_proc_new(&c, &err));
}
END_TEST

START_TEST(missing_field_says_layout_keys_and_case)
{
    la_config c = virt();
    c.fields_given = 1;
    c.input_field = "Question";
    c.output_field = "answer";
    expect_bad(&c, "{\"question\":\"q\",\"answer\":\"a\"}", "missing_field");
    ck_assert_str_eq(err.msg, "missing field \"Question\" (layout: fields; the record has: question, answer; "
                              "did you mean \"question\"?)");
    c.input_field = "Data.q";
    expect_bad(&c, "{\"data\":{\"q\":\"x\"},\"answer\":\"a\"}", "missing_field");
    ck_assert_str_eq(err.msg, "missing field \"Data.q\" (layout: fields; the record has: data, answer; "
                              "did you mean \"data.q\"?)");
    c.input_field = "q";
    expect_bad(&c, "{}", "missing_field");
    ck_assert_str_eq(err.msg, "missing field \"q\" (layout: fields; the record has: no keys)");
    /* many keys: the list ends in "..." and the message stays whole */
    la_buf b = {0};
    la_buf_putc(&b, '{');
    for (int i = 0; i < 100; i++)
        la_buf_printf(&b, "\"key_number_%d\":1,", i);
    la_buf_printf(&b, "\"answer\":\"a\"}");
    expect_bad(&c, b.data, "missing_field");
    ck_assert_ptr_nonnull(strstr(err.msg, "key_number_0, key_number_1"));
    ck_assert_ptr_nonnull(strstr(err.msg, ", ...)"));
    la_buf_free(&b);
    /* alpaca and prompt-completion name their layout */
    la_config v = virt();
    expect_bad(&v, "{\"instruction\":\"i\",\"output\":5}", "not_string");
    v.format = LA_FMT_ALPACA;
    expect_bad(&v, "{\"instruction\":\"i\",\"Output\":\"o\"}", "missing_field");
    ck_assert_ptr_nonnull(strstr(err.msg, "(layout: alpaca;"));
    ck_assert_ptr_nonnull(strstr(err.msg, "did you mean \"Output\"?"));
}
END_TEST

/* History of N pairs costs N, whether it comes before or after the
 * record's own fields. */
START_TEST(long_history_is_linear)
{
    const size_t n = 200000;
    for (int after = 0; after < 2; after++) {
        la_buf in = {0}, want = {0};
        la_buf_printf(&in, "{%s\"history\":[", after ? "\"instruction\":\"i\",\"output\":\"o\"," : "");
        la_buf_printf(&want, "{%s\"history\":[", after ? "\"instruction\":\"i|P \",\"output\":\"P o\"," : "");
        for (size_t i = 0; i < n; i++) {
            la_buf_printf(&in, "%s[\"q%zu\",\"a%zu\"]", i ? "," : "", i, i);
            la_buf_printf(&want, "%s[\"q%zu|P \",\"P a%zu\"]", i ? "," : "", i, i);
        }
        la_buf_printf(&in, "]%s}", after ? "" : ",\"instruction\":\"i\",\"output\":\"o\"");
        la_buf_printf(&want, "]%s}", after ? "" : ",\"instruction\":\"i|P \",\"output\":\"P o\"");
        la_config c = virt();
        expect(&c, in.data, want.data);
        ck_assert_uint_eq(st.turns_edited, n + 1);
        la_buf_free(&in);
        la_buf_free(&want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layout");
    TCase *t = tcase_create("core");
    tcase_add_test(t, array_indices_in_paths);
    tcase_add_test(t, chat_lists_found_by_shape);
    tcase_add_test(t, prompt_completion_records);
    tcase_add_test(t, alpaca_history_turns);
    tcase_add_test(t, layout_columns_alpaca);
    tcase_add_test(t, layout_tags_sharegpt);
    tcase_add_test(t, missing_field_says_layout_keys_and_case);
    suite_add_tcase(s, t);
    /* the time limit only guards against a hang (N^2 would take minutes) */
    TCase *big = tcase_create("long history");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, long_history_is_linear);
    suite_add_tcase(s, big);
    int failed = la_check_run(s);
    la_buf_free(&out);
    return failed ? 1 : 0;
}
