/*
 * test_utf8.c: the strict decoder against the classic hostile sequences
 * (overlongs, surrogates, out-of-range, stray and missing continuation
 * bytes), the encoder round trip over the whole code space, and name rules.
 */
#include "halqa/utf8.h"

#include <string.h>

#include "harness.h"

static int valid(const char *s)
{
	return utf8_valid((const uint8_t *)s, strlen(s));
}

static void test_valid_and_invalid(void)
{
	CHECK(valid(""));
	CHECK(valid("ascii"));
	CHECK(valid("مرحبا"));
	CHECK(valid("שלום"));
	CHECK(valid("漢字"));
	CHECK(valid("\xf0\x9f\x98\x80"));     /* U+1F600 */
	CHECK(valid("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
	CHECK(valid("\xed\x9f\xbf"));         /* U+D7FF */
	CHECK(valid("\xee\x80\x80"));         /* U+E000 */
	CHECK(!valid("\xc0\xaf"));            /* overlong '/' */
	CHECK(!valid("\xc1\xbf"));            /* overlong */
	CHECK(!valid("\xe0\x80\xaf"));        /* overlong 3-byte */
	CHECK(!valid("\xe0\x9f\xbf"));        /* overlong U+07FF */
	CHECK(!valid("\xf0\x8f\xbf\xbf"));    /* overlong U+FFFF */
	CHECK(!valid("\xed\xa0\x80"));        /* U+D800 */
	CHECK(!valid("\xed\xbf\xbf"));        /* U+DFFF */
	CHECK(!valid("\xf4\x90\x80\x80"));    /* U+110000 */
	CHECK(!valid("\xf5\x80\x80\x80"));
	CHECK(!valid("\xff"));
	CHECK(!valid("\x80"));                /* stray continuation */
	CHECK(!valid("a\xc3"));               /* cut */
	CHECK(!valid("\xe2\x82"));            /* cut */
	CHECK(!valid("\xe2\x28\xa1"));        /* bad continuation */
}

static void test_decode_errors(void)
{
	const uint8_t cut[] = {0xe2, 0x82};
	const uint8_t bad[] = {0xe2, 0x28, 0xa1};
	size_t pos = 0;
	uint32_t cp = 0;

	CHECK_RC(utf8_decode(cut, sizeof cut, &pos, &cp), HALQA_ERR_TRUNCATED);
	CHECK_INT_EQ(pos, 0);
	CHECK_RC(utf8_decode(bad, sizeof bad, &pos, &cp), HALQA_ERR_MALFORMED);
	CHECK_INT_EQ(pos, 0);
	CHECK_RC(utf8_decode(bad, 0, &pos, &cp), HALQA_ERR_TRUNCATED);
}

static void test_round_trip(void)
{
	uint8_t buf[4];
	size_t n, pos;
	uint32_t cp, got;
	int bad = 0;

	for (cp = 0; cp <= 0x10ffffu; cp++) {
		n = utf8_encode(buf, cp);
		if (cp >= 0xd800u && cp <= 0xdfffu) {
			bad += n != 0;
			continue;
		}
		pos = 0;
		if (n == 0 || utf8_decode(buf, n, &pos, &got) != HALQA_OK || got != cp || pos != n) {
			bad++;
		}
	}
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(utf8_encode(buf, 0x110000u), 0);
}

static void test_names(void)
{
	char long_name[UTF8_MAX_NAME + 2];

	CHECK_OK(utf8_name_check("Amina"));
	CHECK_OK(utf8_name_check("ليلى أحمد"));
	CHECK_OK(utf8_name_check("דנה"));
	CHECK_RC(utf8_name_check(""), HALQA_ERR_ARG);
	CHECK_RC(utf8_name_check(NULL), HALQA_ERR_ARG);
	CHECK_RC(utf8_name_check("   "), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\tb"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\x1b[2Jb"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\xc2\x9b" "b"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\xe2\x80\xae" "b"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\xe2\x81\xa9" "b"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("a\x7f"), HALQA_ERR_INVALID);
	CHECK_RC(utf8_name_check("\xc0\xaf"), HALQA_ERR_MALFORMED);
	memset(long_name, 'a', UTF8_MAX_NAME);
	long_name[UTF8_MAX_NAME] = '\0';
	CHECK_OK(utf8_name_check(long_name));
	long_name[UTF8_MAX_NAME] = 'a';
	long_name[UTF8_MAX_NAME + 1] = '\0';
	CHECK_RC(utf8_name_check(long_name), HALQA_ERR_TOO_LARGE);
}

int main(void)
{
	RUN(test_valid_and_invalid);
	RUN(test_decode_errors);
	RUN(test_round_trip);
	RUN(test_names);
	return harness_report();
}
