/*
 * mls_tree_internal.h: what mls_tree.c lends the TreeKEM half of the
 * module (mls_tree_kem.c) and no one else: installing a new direct path.
 */
#ifndef HALQA_MLS_TREE_INTERNAL_H
#define HALQA_MLS_TREE_INTERNAL_H

#include "halqa/mls_tree.h"

/*
 * mls_tree_install_path replaces leaf |leaf| of |t| with |*leaf_node| and
 * its direct path with blanks, except the |n| nodes |path| (leaf to root),
 * which become |parents|. The leaf node and the parents are moved into the
 * tree (the caller's structs are left zeroed). It cannot fail: callers
 * build and check everything first, so a refused path changes nothing.
 */
void mls_tree_install_path(struct mls_tree *t, uint32_t leaf, struct mls_leaf_node *leaf_node,
			   const uint32_t *path, struct mls_parent_node *parents, size_t n);

#endif
