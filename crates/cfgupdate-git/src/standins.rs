//! Keeping the cost of a push proportional to what the pushed commit changes.
//!
//! libgit2 1.9 builds every push's pack in `git_packbuilder_insert_walk` (called from
//! `git_push_finish`): before it adds the new commit's objects, it marks as uninteresting
//! *every object of the tree of every advertised ref it finds in the cache*, reading each
//! tree object of the parent commit (`mark_tree_uninteresting`, recursively). On a branch of
//! 50,000 files in 50,104 directories that is 50,104 tree reads and 100,000 hash-map entries
//! for a one-file change, which made a CLI publish take 0.44 s and 89 MB instead of 0.17 s and
//! 21 MB (docs/benchmarks.md). libgit2 offers no way around it: there is no
//! raw send-pack, no hook into the pack a push sends, no negotiation setting, and no
//! `git pack-objects --sparse`; the walk reads trees through the repository's object
//! database and nothing else.
//!
//! That is the one lever. A push goes through a second handle on the cache whose object
//! database has an in-memory backend in front of the files, answering for a chosen set of
//! tree ids with an empty tree: the *stand-ins*. The walk then stops at each of them
//! instead of descending. Which trees may stand in rests on one invariant: **only trees the
//! remote is known to hold, with everything below them**, so whatever the pack builder does
//! with a stand-in, the remote still holds every object the new commit reaches:
//!
//! - the subtrees of the parent's tree that the new commit leaves as they are (or removes),
//!   and only when the remote's ref is the parent itself, as advertised on the very
//!   connection the push then uses;
//! - the root tree of every other advertised ref found in the cache (such as the branch,
//!   when the state ref is pushed, or a tag).
//!
//! The trees along the changed paths stay real on both sides, so the walk marks the
//! parent's files there and adds exactly the new commit, its new trees and its new blobs.
//! Should a stand-in still be added to the pack (a tree the new commit holds elsewhere as
//! well), the remote receives an extra empty tree, which costs nothing; and receive-pack
//! checks that the pushed commit is complete before it moves the ref in any case.
//!
//! libgit2 re-hashes every object it reads unless told not to, and a stand-in does not hash
//! to its id, so [`init`] turns that check off for the process (as git itself never
//! re-hashes what it reads; zlib's checksum still guards every object's data).

use std::collections::HashSet;
use std::os::raw::c_void;
use std::sync::Once;

use git2::{Binding, ObjectType, Oid, Repository, Tree};

/// The priority of the stand-in backend: above the loose (1) and packed (2) backends.
const PRIORITY: i32 = 1_000;

/// Sets the process-wide libgit2 options the stand-ins need. Idempotent.
pub(crate) fn init() {
    static HASH_CHECK: Once = Once::new();
    HASH_CHECK.call_once(|| git2::opts::strict_hash_verification(false));
}

/// The trees that may stand in as empty while `new` is pushed, given the ids the remote
/// just advertised and the commit its destination ref holds.
///
/// When that commit is not `new`'s parent (the remote moved, backwards or sideways), it
/// gets no stand-ins at all: libgit2 then marks its whole tree as before, which keeps the
/// pack to what the remote lacks (or refuses the push, when it is no fast-forward).
pub(crate) fn choose(
    repo: &Repository,
    new: Oid,
    remote_destination: Option<Oid>,
    advertised: &[Oid],
) -> Result<HashSet<Oid>, git2::Error> {
    let commit = repo.find_commit(new)?;
    let mut real = HashSet::from([commit.tree_id()]);
    let mut stand_ins = HashSet::new();
    match (commit.parent_ids().next(), remote_destination) {
        (Some(parent), Some(destination)) if parent == destination => compare(
            repo,
            &commit.parent(0)?.tree()?,
            &commit.tree()?,
            &mut real,
            &mut stand_ins,
        )?,
        (_, Some(destination)) => {
            if let Ok(destination) = repo.find_commit(destination) {
                real.insert(destination.tree_id());
            }
        }
        (_, None) => {}
    }
    for &id in advertised {
        // What the cache lacks, the walk skips anyway; an object that is no commit (a tag
        // of a tree, say) is not walked either.
        let Ok(object) = repo.find_object(id, None) else {
            continue;
        };
        let Ok(advertised_commit) = object.peel_to_commit() else {
            continue;
        };
        if Some(advertised_commit.id()) != remote_destination {
            stand_ins.insert(advertised_commit.tree_id());
        }
    }
    stand_ins.retain(|id| !real.contains(id));
    Ok(stand_ins)
}

/// Walks the parent's tree `old` beside the new tree `new` along the paths that differ:
/// both are real, and every subtree of `old` that `new` keeps as it is, or drops, may stand
/// in.
fn compare(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    real: &mut HashSet<Oid>,
    stand_ins: &mut HashSet<Oid>,
) -> Result<(), git2::Error> {
    real.insert(old.id());
    real.insert(new.id());
    for entry in old.iter() {
        if entry.kind() != Some(ObjectType::Tree) {
            continue;
        }
        let counterpart = new.get_name_bytes(entry.name_bytes()).filter(|candidate| {
            candidate.kind() == Some(ObjectType::Tree) && candidate.id() != entry.id()
        });
        match counterpart {
            Some(changed) => compare(
                repo,
                &repo.find_tree(entry.id())?,
                &repo.find_tree(changed.id())?,
                real,
                stand_ins,
            )?,
            None => {
                stand_ins.insert(entry.id());
            }
        }
    }
    Ok(())
}

/// Puts an empty tree in front of the object database of `repo` under each id of
/// `stand_ins`. `repo` must be a handle of its own, used for nothing but the push: its
/// objects under those ids are no longer what they are.
pub(crate) fn install(repo: &Repository, stand_ins: &HashSet<Oid>) -> Result<(), git2::Error> {
    if stand_ins.is_empty() {
        return Ok(());
    }
    let odb = repo.odb()?;
    let mempack = odb.add_new_mempack_backend(PRIORITY)?;
    let backend = mempack.raw();
    // SAFETY: `backend` is the mempack libgit2 just created and attached to `odb`, which
    // owns and outlives it while `repo` lives. Its `write` is always set (odb_mempack.c),
    // and stores the bytes under the id it is given, without hashing them: that is how a
    // stand-in gets an id that is not its content's. A zero-length write copies nothing
    // from the pointer, which is valid anyway.
    unsafe {
        let Some(write) = (*backend).write else {
            return Err(git2::Error::from_str(
                "libgit2's in-memory object backend cannot be written to",
            ));
        };
        let empty: [u8; 0] = [];
        for id in stand_ins {
            let status = write(
                backend,
                id.raw(),
                empty.as_ptr().cast::<c_void>(),
                0,
                libgit2_sys::GIT_OBJECT_TREE,
            );
            if status < 0 {
                return Err(git2::Error::from_str(&format!(
                    "cannot keep a stand-in for tree {id} in memory (libgit2 error {status})"
                )));
            }
        }
    }
    Ok(())
}
