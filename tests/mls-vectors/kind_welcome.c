/*
 * kind_welcome.c: RFC 9420 section 12.4.3.1, the `welcome` vectors. The
 * joiner's GroupSecrets are found by KeyPackageRef and decrypted with
 * init_priv, the GroupInfo decrypted and its signature checked with
 * signer_pub, and the confirmation tag recomputed from the joiner secret
 * (mls_group_welcome_check). The same Welcome with one byte of its
 * encrypted GroupInfo flipped, and the right one checked against another
 * signer key, must be refused.
 */
#include "vectors.h"

#include <string.h>

#include "halqa/mls_codec_msg.h"
#include "halqa/mls_group.h"

static void run_entry(struct vector_ctx *ctx, json_t *entry)
{
	struct mls_message kpm = {0};
	const uint8_t *init_priv, *signer_pub, *kp_bytes, *welcome;
	size_t init_priv_len, signer_pub_len, kp_len, welcome_len;
	uint64_t suite;
	uint8_t *bad, other_pub[MLS_SIG_PUB_LEN];

	if (!vec_uint(ctx, entry, "cipher_suite", &suite) ||
	    (init_priv = vec_hex(ctx, entry, "init_priv", &init_priv_len)) == NULL ||
	    (signer_pub = vec_hex(ctx, entry, "signer_pub", &signer_pub_len)) == NULL ||
	    (kp_bytes = vec_hex(ctx, entry, "key_package", &kp_len)) == NULL ||
	    (welcome = vec_hex(ctx, entry, "welcome", &welcome_len)) == NULL) {
		return;
	}
	if (suite != 3 || init_priv_len != MLS_KEM_PRIV_LEN || signer_pub_len != MLS_SIG_PUB_LEN) {
		vec_fail(ctx, "suite %llu or key sizes not ours", (unsigned long long)suite);
		return;
	}
	if (!vec_check_rc(ctx, "decode key_package", mls_message_decode_bytes(kp_bytes, kp_len, &kpm))) {
		return;
	}
	if (kpm.wire_format != MLS_WIRE_KEY_PACKAGE) {
		vec_fail(ctx, "key_package is not an MLSMessage(KeyPackage)");
		goto out;
	}
	if (!vec_check_rc(ctx, "welcome",
			  mls_group_welcome_check(welcome, welcome_len, &kpm.key_package, init_priv,
						  signer_pub, NULL))) {
		goto out;
	}
	bad = vec_alloc(ctx, welcome_len);
	memcpy(bad, welcome, welcome_len);
	bad[welcome_len - 1] ^= 1; /* the last byte belongs to encrypted_group_info */
	if (mls_group_welcome_check(bad, welcome_len, &kpm.key_package, init_priv, signer_pub,
				    NULL) == 0) {
		vec_fail(ctx, "a tampered Welcome was accepted");
		goto out;
	}
	memcpy(other_pub, signer_pub, sizeof other_pub);
	other_pub[0] ^= 1;
	if (mls_group_welcome_check(welcome, welcome_len, &kpm.key_package, init_priv, other_pub,
				    NULL) == 0) {
		vec_fail(ctx, "a GroupInfo signature was accepted under the wrong key");
	}
out:
	mls_message_cleanup(&kpm);
}

const struct vector_kind vector_kind_welcome = {"welcome", run_entry};
