/*
 * kind_messages.c: RFC 9420 wire syntax (messages.json). Every field of
 * every entry is decoded as the struct the upstream README names for it
 * (three MLSMessage-wrapped objects, the ratchet tree, GroupSecrets, the
 * seven bare proposal bodies, a Commit and four MLSMessage-wrapped framed
 * messages), must leave no trailing bytes, and must re-encode to exactly
 * the input. The MLSMessage fields are also checked for the wire format
 * (and, for public messages, the content type) the README promises, and
 * the payloads of the RFC-defined extensions in GroupInfos and
 * KeyPackages must decode with their own decoders and re-encode exactly.
 */
#include "vectors.h"

#include <stdlib.h>

#include "halqa/mls_codec_msg.h"

/*
 * One field type: decode |data| as a whole buffer into a struct on the
 * heap, re-encode, compare.
 */
#define FIELD_CHECKER(fn, type)                                                  \
	static void fn(struct vector_ctx *ctx, const char *field, const uint8_t *data,  \
		       size_t len)                                                      \
	{                                                                               \
		struct type *s = vec_alloc(ctx, sizeof(*s));                            \
		struct bytes_reader r;                                                  \
		struct bytes_writer w;                                                  \
		int rc;                                                                 \
                                                                                        \
		bytes_reader_init(&r, data, len);                                       \
		if ((rc = type##_decode(&r, s)) != HALQA_OK) {                          \
			vec_fail(ctx, "%s: decode failed: %s", field, halqa_errname(rc)); \
			return;                                                         \
		}                                                                       \
		if (bytes_expect_end(&r) != HALQA_OK) {                                 \
			vec_fail(ctx, "%s: %zu trailing bytes", field, bytes_remaining(&r)); \
		} else {                                                                \
			bytes_writer_init(&w, MLS_MAX_ENCODING, 0);                     \
			if ((rc = type##_encode(&w, s)) != HALQA_OK) {                  \
				vec_fail(ctx, "%s: encode failed: %s", field,           \
					 halqa_errname(rc));                            \
			} else {                                                        \
				vec_check_bytes(ctx, field, bytes_writer_data(&w),      \
						bytes_writer_len(&w), data, len);       \
			}                                                               \
			bytes_writer_cleanup(&w);                                       \
		}                                                                       \
		type##_cleanup(s);                                                      \
	}

static int want_wire_format(struct vector_ctx *ctx, const char *field, const struct mls_message *m,
			    uint16_t wf, uint8_t content_type)
{
	if (m->wire_format != wf) {
		vec_fail(ctx, "%s: wire format %u, want %u", field, m->wire_format, wf);
		return 0;
	}
	if (content_type != 0 && m->public_message.content.content_type != content_type) {
		vec_fail(ctx, "%s: content type %u, want %u", field,
			 m->public_message.content.content_type, content_type);
		return 0;
	}
	return 1;
}

static int is_welcome(struct vector_ctx *ctx, const char *field, const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_WELCOME, 0);
}

/*
 * Round-trips the payload of every extension RFC 9420 defines in |exts|
 * through its own decoder: extension_data is opaque in the Extension, but
 * the layers that act on it decode it with these.
 */
static int check_extension_payloads(struct vector_ctx *ctx, const char *field,
				    const struct mls_extension_list *exts)
{
	for (size_t i = 0; i < exts->num; i++) {
		const struct mls_bytes *d = &exts->items[i].data;
		struct bytes_writer w;
		int rc = HALQA_OK;

		bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
		switch (exts->items[i].type) {
		case MLS_EXT_APPLICATION_ID: {
			struct mls_bytes id = {0};

			if ((rc = mls_application_id_decode_bytes(d->data, d->len, &id)) == HALQA_OK) {
				mls_bytes_encode(&w, &id);
				mls_bytes_cleanup(&id);
			}
			break;
		}
		case MLS_EXT_RATCHET_TREE: {
			struct mls_ratchet_tree t;

			if ((rc = mls_ratchet_tree_decode_bytes(d->data, d->len, &t)) == HALQA_OK) {
				mls_ratchet_tree_encode(&w, &t);
				mls_ratchet_tree_cleanup(&t);
			}
			break;
		}
		case MLS_EXT_REQUIRED_CAPABILITIES: {
			struct mls_required_capabilities c;

			if ((rc = mls_required_capabilities_decode_bytes(d->data, d->len, &c)) ==
			    HALQA_OK) {
				mls_required_capabilities_encode(&w, &c);
				mls_required_capabilities_cleanup(&c);
			}
			break;
		}
		case MLS_EXT_EXTERNAL_PUB: {
			struct mls_external_pub p;

			if ((rc = mls_external_pub_decode_bytes(d->data, d->len, &p)) == HALQA_OK) {
				mls_external_pub_encode(&w, &p);
				mls_external_pub_cleanup(&p);
			}
			break;
		}
		case MLS_EXT_EXTERNAL_SENDERS: {
			struct mls_external_senders x;

			if ((rc = mls_external_senders_decode_bytes(d->data, d->len, &x)) == HALQA_OK) {
				mls_external_senders_encode(&w, &x);
				mls_external_senders_cleanup(&x);
			}
			break;
		}
		default:
			bytes_put(&w, d->data, d->len); /* opaque: kept as is */
			break;
		}
		if (rc != HALQA_OK) {
			vec_fail(ctx, "%s: extension %u payload: %s", field, exts->items[i].type,
				 halqa_errname(rc));
		} else if (!vec_check_bytes(ctx, field, bytes_writer_data(&w), bytes_writer_len(&w),
					    d->data, d->len)) {
			rc = HALQA_ERR_MALFORMED;
		}
		bytes_writer_cleanup(&w);
		if (rc != HALQA_OK) {
			return 0;
		}
	}
	return 1;
}

static int is_group_info(struct vector_ctx *ctx, const char *field, const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_GROUP_INFO, 0) &&
	       check_extension_payloads(ctx, field, &m->group_info.group_context.extensions) &&
	       check_extension_payloads(ctx, field, &m->group_info.extensions);
}

static int is_key_package(struct vector_ctx *ctx, const char *field, const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_KEY_PACKAGE, 0) &&
	       check_extension_payloads(ctx, field, &m->key_package.extensions) &&
	       check_extension_payloads(ctx, field, &m->key_package.leaf_node.extensions);
}

static int is_public_application(struct vector_ctx *ctx, const char *field,
				 const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_APPLICATION);
}

static int is_public_proposal(struct vector_ctx *ctx, const char *field,
			      const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_PROPOSAL);
}

static int is_public_commit(struct vector_ctx *ctx, const char *field, const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_PUBLIC_MESSAGE, MLS_CONTENT_COMMIT);
}

static int is_private(struct vector_ctx *ctx, const char *field, const struct mls_message *m)
{
	return want_wire_format(ctx, field, m, MLS_WIRE_PRIVATE_MESSAGE, 0);
}

typedef int (*message_check_fn)(struct vector_ctx *, const char *, const struct mls_message *);

/* The MLSMessage checker takes its field check as an argument, so it is written out. */
static void check_message(struct vector_ctx *ctx, const char *field, const uint8_t *data,
			  size_t len, message_check_fn check)
{
	struct mls_message *m = vec_alloc(ctx, sizeof(*m));
	struct bytes_writer w;
	int rc;

	if ((rc = mls_message_decode_bytes(data, len, m)) != HALQA_OK) {
		vec_fail(ctx, "%s: decode failed: %s", field, halqa_errname(rc));
		return;
	}
	if (check(ctx, field, m)) {
		bytes_writer_init(&w, MLS_MAX_ENCODING, 0);
		if ((rc = mls_message_encode(&w, m)) != HALQA_OK) {
			vec_fail(ctx, "%s: encode failed: %s", field, halqa_errname(rc));
		} else {
			vec_check_bytes(ctx, field, bytes_writer_data(&w), bytes_writer_len(&w), data,
					len);
		}
		bytes_writer_cleanup(&w);
	}
	mls_message_cleanup(m);
}

FIELD_CHECKER(check_tree, mls_ratchet_tree)
FIELD_CHECKER(check_group_secrets, mls_group_secrets)
FIELD_CHECKER(check_add, mls_add)
FIELD_CHECKER(check_update, mls_update)
FIELD_CHECKER(check_remove, mls_remove)
FIELD_CHECKER(check_psk, mls_pre_shared_key)
FIELD_CHECKER(check_reinit, mls_reinit)
FIELD_CHECKER(check_external_init, mls_external_init)
FIELD_CHECKER(check_gce, mls_group_context_extensions)
FIELD_CHECKER(check_commit, mls_commit)

typedef void (*field_fn)(struct vector_ctx *, const char *, const uint8_t *, size_t);

static const struct {
	const char *name;
	field_fn plain;
	message_check_fn message;
} fields[] = {
	{"mls_welcome", NULL, is_welcome},
	{"mls_group_info", NULL, is_group_info},
	{"mls_key_package", NULL, is_key_package},
	{"ratchet_tree", check_tree, NULL},
	{"group_secrets", check_group_secrets, NULL},
	{"add_proposal", check_add, NULL},
	{"update_proposal", check_update, NULL},
	{"remove_proposal", check_remove, NULL},
	{"pre_shared_key_proposal", check_psk, NULL},
	{"re_init_proposal", check_reinit, NULL},
	{"external_init_proposal", check_external_init, NULL},
	{"group_context_extensions_proposal", check_gce, NULL},
	{"commit", check_commit, NULL},
	{"public_message_application", NULL, is_public_application},
	{"public_message_proposal", NULL, is_public_proposal},
	{"public_message_commit", NULL, is_public_commit},
	{"private_message", NULL, is_private},
};

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const uint8_t *data;
		size_t len;

		if ((data = vec_hex(ctx, entry, fields[i].name, &len)) == NULL) {
			continue;
		}
		if (fields[i].plain != NULL) {
			fields[i].plain(ctx, fields[i].name, data, len);
		} else {
			check_message(ctx, fields[i].name, data, len, fields[i].message);
		}
	}
}

const struct vector_kind vector_kind_messages = {"messages", run_entry};
