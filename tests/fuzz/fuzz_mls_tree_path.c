/*
 * fuzz_mls_tree_path.c: an UpdatePath from the network against a fixed
 * group (RFC 9420 7.5-7.6, 12.4.2): a 4-member tree from the IETF treekem
 * vectors, in which member 3 processes whatever UpdatePath "member 0"
 * sends. The input is decoded, merged into a copy of the tree (leaf
 * validation, path length, key reuse, parent hash) and, if that passes,
 * decrypted with member 3's keys. Any result is fine except a crash, a
 * leak, or a success that leaves member 3 with keys the tree does not
 * back. Seeds: the vector's own UpdatePaths (valid for sender 0 only).
 */
#include "halqa/mls_tree.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tree_hex[] =
	"442a0101204b9fd7d9003711f24f13deff295f7e4e0238d3ed29b96a2880bbeaa06d15f6702091db737bc3e8"
	"6ae847df35c2654b3632004264912f371908614b8b5986d11dee000120b85b0261554e5caaee148aeb22b43c"
	"5bf88eef7e15f22536b1068c3431e983160200010c000100020003000400050006000004000100020320a97d"
	"b37da3835b8451d0cda7fc18338b458f19ac308c87640fd86b1b32e5d191004040bf096e969de74303ac9ae8"
	"63315a161cd185a4315db28afb3fb7fd4c79eecc49d1342e705f7cadc8cbd204572f76f35790ba9cc985297b"
	"326e2d5708d33fa90e010220e167835eefc396f5f55c2789a75c80795e825cd3cd581bfa6f46bd3631eafa58"
	"20b9f3a097c546c04bf444d5c4da3aaea2cdb00e567a9097a75826908a48ae34bb000101206f1d0912a19421"
	"72908d1353cc797ef87a1b3ee97ebc4bc9bf6733f0ec562f2f201d41f65e150494d0ed0d9aca90ed4fdb7812"
	"400db9aea37d60b7f6e1a1dc891f000120b0cbd2b52371b5ced80aa97e9be6f1e9ee39ba75bc7635ec7077c7"
	"102ca209370200010c000100020003000400050006000004000100020320901518595e4408057d3dd777a80a"
	"07d53d8501ded19cd61856ccf9256c11454f0040403cbc81498ce781b8d2d0e1f8d645825b510919a200777b"
	"44daa17602ce09537a89294800645266fc0c2c294b471da543a9d560177af50ce5dbda78a9fe98ba00010220"
	"69c2255e9f1c5e21bda11f97ac4364409556bd641b05d44f7ac2f167e4442b260000010120634e798bd04d4b"
	"e0cedf312999ace36db4893bf235c5a936f4d310264f36d63020659b01cb9207c17b960a16e31bd7c38e4c73"
	"32555fe0078afb088e6df28208a00001202173cbb1727b754f15bdd8a299a3a859b5825c17dcdc6c2acb867d"
	"5c59c60c820200010c000100020003000400050006000004000100020320c1b4dda2e2e32d72106deac1b30c"
	"80f993979d7cb041b337c7e4067ee679d5c000404013b7831cb3341ee6f5d6554a5c5555401df06fc2208fe2"
	"c46734dff9eaa566432b63b2e6052267a1e6304891d6953f009221344dd385678999562be6b1616d05010220"
	"b2754eb2b1125754bc5d816e5387ecf547759c29b379840509995ad5ae3e464d201c0f40f85e82db7a3e4aab"
	"e9b99c33e79ee734e6a8b88e394945627ea87944c700010120d354b7afbe6c7db2d975595742faadd5ba68ee"
	"57108d33e7aec8220f81d6bb72208f63b381a3663b73b404173e9f0326b03964ec5b388312b87b5e46cc10c0"
	"7c8300012012924cb0648c160903544e900240d09af8339df9bffb24f9837e18cfe01e0f960200010c000100"
	"02000300040005000600000400010002010000000000000000ffffffffffffffff0040403e33781a685d0f64"
	"8b9ee27b81c69b825a0381895387405ed10710fa773f8db4262ab225b7716a2a502209e2908115f5fdb8a090"
	"5dfd937430e3fc933a4fb80b";
static const char group_id_hex[] = "423be13e60cb792908d054f12016df0ef390bcaf997a30e655dabf08059cef79";
static const char leaf_priv_hex[] = "821a3bf9c737f8dc82d9b29649d5aa0d20ecbaa0f8287774741a288bae295372";
static const char path_secret_3_hex[] = "5458c23e63733d4cb2a5dd36fb12bfb5a7dfa6a694bfc289f997afd09ac35607";
static const char path_secret_5_hex[] = "412edc724d5f6f1f2fb5d7e8b70a3806a8b310fc83b081478a982db6d52acd22";
static const char cth_hex[] = "7977581cbf08ae1819408f7c1feb8c8c0833fe6d68468f278b1902cff981dbb5";

static void check(int cond)
{
	if (!cond) {
		abort();
	}
}

/* Decodes a hex constant of this file into |out| (at most |cap| bytes). */
static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t len = 0;

	check(sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL) == 0);
	return len;
}

struct fixture {
	struct mls_tree *tree;
	struct mls_tree_private *member;
	uint8_t group_id[32];
	uint8_t cth[32];
};

static struct fixture *fixture(void)
{
	static struct fixture f;
	static int ready;
	static uint8_t tree[1068];
	uint8_t priv[MLS_KEM_PRIV_LEN], secret[MLS_HASH_LEN];

	if (ready) {
		return &f;
	}
	check(sodium_init() >= 0);
	check(mls_tree_load(&f.tree, tree, unhex(tree, sizeof tree, tree_hex)) == HALQA_OK);
	check(unhex(f.group_id, sizeof f.group_id, group_id_hex) == sizeof f.group_id);
	check(unhex(f.cth, sizeof f.cth, cth_hex) == sizeof f.cth);
	check(unhex(priv, sizeof priv, leaf_priv_hex) == sizeof priv);
	check(mls_tree_private_new(&f.member, 3, priv) == HALQA_OK);
	check(unhex(secret, sizeof secret, path_secret_3_hex) == sizeof secret);
	check(mls_tree_private_set_path_secret(f.member, f.tree, 3, secret) == HALQA_OK);
	check(unhex(secret, sizeof secret, path_secret_5_hex) == sizeof secret);
	check(mls_tree_private_set_path_secret(f.member, f.tree, 5, secret) == HALQA_OK);
	check(mls_tree_private_check(f.member, f.tree) == HALQA_OK);
	ready = 1;
	return &f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fixture *f = fixture();
	struct mls_tree_policy policy = {.group_id = f->group_id, .group_id_len = sizeof f->group_id};
	struct mls_group_context gc;
	struct mls_update_path path;
	struct mls_tree *t = NULL;
	struct mls_tree_private *p = NULL;
	struct bytes_reader r;
	uint8_t hash[MLS_HASH_LEN], commit[MLS_HASH_LEN], *gc_bytes = NULL;
	size_t gc_len = 0;

	memset(&path, 0, sizeof path);
	bytes_reader_init(&r, data, size);
	if (mls_update_path_decode(&r, &path) != HALQA_OK || bytes_expect_end(&r) != HALQA_OK) {
		goto out;
	}
	check(mls_tree_copy(&t, f->tree) == HALQA_OK);
	if (mls_tree_merge_path(t, 0, &path, &policy) != HALQA_OK) {
		goto out;
	}
	check(mls_tree_hash(t, hash) == HALQA_OK);
	memset(&gc, 0, sizeof gc);
	gc.version = MLS_VERSION_MLS10;
	gc.cipher_suite = 3;
	gc.group_id.data = f->group_id;
	gc.group_id.len = sizeof f->group_id;
	gc.epoch = 28061;
	gc.tree_hash.data = hash;
	gc.tree_hash.len = sizeof hash;
	gc.confirmed_transcript_hash.data = f->cth;
	gc.confirmed_transcript_hash.len = sizeof f->cth;
	check(mls_group_context_encode_bytes(&gc, &gc_bytes, &gc_len) == HALQA_OK);
	check(mls_tree_private_copy(&p, f->member) == HALQA_OK);
	if (mls_tree_path_decrypt(t, p, 0, &path, NULL, 0, gc_bytes, gc_len, commit, NULL) ==
	    HALQA_OK) {
		check(mls_tree_private_check(p, t) == HALQA_OK);
	} else {
		/* A refused path leaves the state as it was: still valid for the old tree. */
		check(mls_tree_private_check(p, f->tree) == HALQA_OK);
	}
out:
	sodium_memzero(commit, sizeof commit);
	free(gc_bytes);
	mls_tree_private_free(p);
	mls_tree_free(t);
	mls_update_path_cleanup(&path);
	return 0;
}
