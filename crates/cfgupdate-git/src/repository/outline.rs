//! The outline of the commit a push builds on: what keeps libgit2's pack builder from reading
//! the parent's whole tree on every push, with every object still hash-verified.
//!
//! libgit2 1.9 builds a push's pack from a walk: the new commit is pushed, every advertised
//! ref found locally is hidden, and for each hidden commit the walk first marks its whole tree
//! as "the remote has it" (`mark_edges_uninteresting` and `mark_tree_uninteresting` in
//! `pack-objects.c`), reading every tree below it: 50,000 trees on a large repository, on
//! every push, though a publish changes one file. A tree already marked is not read again,
//! and a *blob* entry is marked without reading anything.
//!
//! The outline is a commit that only exists in memory, for the length of one push: its
//! parent is the commit the push builds on, and its tree lists, as plain file entries, the id
//! of every object the new commit keeps from that parent along its changed paths (every entry
//! of every parent directory on the way to a changed file, and the parent's root tree).
//! [`crate::remote::push_refs`] then has the walk hide the outline in place of the advertised
//! refs: the parent is still uninteresting (the outline's parent), its tree is never walked
//! (the parent is no longer a hidden commit itself), and the new commit's trees stop at
//! exactly the entries listed. The pack holds the same objects as before (see
//! `crates/cfgupdate-git/tests/it/pack.rs`).
//!
//! Nothing is weakened: the outline's two objects hash to their names (they are real objects,
//! never sent), every object the push reads (the parent's trees along the changed paths, the
//! new commit's trees and their direct entries) is read through libgit2 with hash
//! verification on, and what is left out is only what the parent's own trees name, which the
//! remote holds (the push goes ahead only when the remote's ref is exactly that parent). Were
//! libgit2 to stop honouring the outline, the push would walk the parent's tree again: slower,
//! the same pack.

use std::collections::BTreeSet;
use std::path::Path;
use std::ptr::NonNull;

use cfgupdate_core::Change;
use git2::{Binding, Commit, ObjectType, Oid, Repository, Tree};

/// The priority of the in-memory backend among the object database's backends: below
/// libgit2's own (loose objects 1, packs 2), so it is asked last, on a miss.
const SCRATCH_PRIORITY: i32 = -1000;

/// The message of an outline commit (never pushed, never written to disk).
const OUTLINE_MESSAGE: &str = "cfgupdate: push outline (never pushed)\n";

type WriteFn = extern "C" fn(
    *mut libgit2_sys::git_odb_backend,
    *const libgit2_sys::git_oid,
    *const std::ffi::c_void,
    usize,
    libgit2_sys::git_object_t,
) -> std::ffi::c_int;

/// An in-memory object backend (libgit2's mempack) added to one repository's object database,
/// which libgit2 reads from but never writes to: its write function is taken away before it is
/// added, so every object the repository writes still goes to disk, and only
/// [`Scratch::put`] fills it. Objects are stored under the id their content hashes to.
///
/// The backend belongs to the repository's object database (freed with it): a `Scratch` must
/// be dropped when the repository it was attached to is, and never used with another.
pub(crate) struct Scratch {
    backend: NonNull<libgit2_sys::git_odb_backend>,
    write: WriteFn,
}

// SAFETY: the backend is owned by the object database of the repository this `Scratch` was
// attached to; both move between threads together (inside `GitRepository`, which is `Send` like
// `git2::Repository`) and are used from one thread at a time (`&mut GitRepository`).
unsafe impl Send for Scratch {}

impl Scratch {
    /// Adds an empty in-memory backend to `repo`'s object database.
    pub(crate) fn attach(repo: &Repository) -> Result<Self, git2::Error> {
        // SAFETY: `repo.raw()` is a live repository. `git_repository_odb` gives a new
        // reference to its object database, released below (the repository keeps its own).
        // `git_mempack_new` makes a backend we own until `git_odb_add_backend` succeeds, after
        // which the database owns it (and frees it when it is freed); on failure we free it.
        // The write function is taken before the backend is added, so the database never
        // sees one.
        unsafe {
            let mut odb: *mut libgit2_sys::git_odb = std::ptr::null_mut();
            if libgit2_sys::git_repository_odb(&mut odb, repo.raw()) < 0 {
                return Err(git2::Error::last_error(-1));
            }
            let mut backend: *mut libgit2_sys::git_odb_backend = std::ptr::null_mut();
            if libgit2_sys::git_mempack_new(&mut backend) < 0 {
                libgit2_sys::git_odb_free(odb);
                return Err(git2::Error::last_error(-1));
            }
            let Some(backend) = NonNull::new(backend) else {
                libgit2_sys::git_odb_free(odb);
                return Err(git2::Error::from_str("libgit2 made no in-memory backend"));
            };
            let Some(write) = (*backend.as_ptr()).write.take() else {
                free_backend(backend);
                libgit2_sys::git_odb_free(odb);
                return Err(git2::Error::from_str(
                    "libgit2's in-memory backend cannot store objects",
                ));
            };
            let added = libgit2_sys::git_odb_add_backend(odb, backend.as_ptr(), SCRATCH_PRIORITY);
            libgit2_sys::git_odb_free(odb);
            if added < 0 {
                let error = git2::Error::last_error(added);
                free_backend(backend);
                return Err(error);
            }
            Ok(Self { backend, write })
        }
    }

    /// Stores `data` as an object of `kind`, under the id it hashes to, which is returned.
    fn put(&self, kind: ObjectType, data: &[u8]) -> Result<Oid, git2::Error> {
        let id = Oid::hash_object(kind, data)?;
        let raw_kind = match kind {
            ObjectType::Commit => libgit2_sys::GIT_OBJECT_COMMIT,
            ObjectType::Tree => libgit2_sys::GIT_OBJECT_TREE,
            _ => return Err(git2::Error::from_str("only commits and trees are outlined")),
        };
        // SAFETY: the backend is alive (see the type's documentation) and `write` is its own
        // write function; it copies `data` and the id before returning.
        let stored = (self.write)(
            self.backend.as_ptr(),
            id.raw(),
            data.as_ptr().cast(),
            data.len(),
            raw_kind,
        );
        if stored < 0 {
            return Err(git2::Error::last_error(stored));
        }
        Ok(id)
    }

    /// Forgets every object stored.
    pub(crate) fn clear(&self) {
        // SAFETY: the backend is alive and is a mempack (made by `git_mempack_new`).
        unsafe {
            libgit2_sys::git_mempack_reset(self.backend.as_ptr());
        }
    }
}

/// Frees a backend no object database owns.
///
/// # Safety
/// `backend` is a live backend made by libgit2 and owned by nobody else.
unsafe fn free_backend(backend: NonNull<libgit2_sys::git_odb_backend>) {
    // SAFETY: as the caller promises.
    unsafe {
        if let Some(free) = (*backend.as_ptr()).free {
            free(backend.as_ptr());
        }
    }
}

/// The ids of the objects of `parent_tree` that a commit of `change` on it may keep: the root
/// tree, and every entry (file or directory) of every directory of `parent_tree` on the way to
/// a changed file. Reads those directories only, each hash-verified.
pub(crate) fn kept_entries(
    repo: &Repository,
    parent_tree: &Tree<'_>,
    change: &Change,
) -> Result<BTreeSet<Oid>, git2::Error> {
    let mut directories = BTreeSet::from([String::new()]);
    for path in change.files.keys() {
        let path = path.as_str();
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash;
            directories.insert(path[..end].to_owned());
            end += 1;
        }
    }
    let mut kept = BTreeSet::from([parent_tree.id()]);
    for directory in &directories {
        let tree = if directory.is_empty() {
            None
        } else {
            match parent_tree.get_path(Path::new(directory)) {
                Ok(entry) if entry.kind() == Some(ObjectType::Tree) => {
                    Some(repo.find_tree(entry.id())?)
                }
                // New in this change, or a file the change replaces by a directory.
                Ok(_) => continue,
                Err(error) if error.code() == git2::ErrorCode::NotFound => continue,
                Err(error) => return Err(error),
            }
        };
        for entry in tree.as_ref().unwrap_or(parent_tree).iter() {
            if matches!(entry.kind(), Some(ObjectType::Tree | ObjectType::Blob)) {
                kept.insert(entry.id());
            }
        }
    }
    Ok(kept)
}

/// Writes into `scratch` the outline of `parent` listing `kept` (see the module's
/// documentation), and returns the outline commit's id.
pub(crate) fn write(
    scratch: &Scratch,
    parent: &Commit<'_>,
    kept: &BTreeSet<Oid>,
) -> Result<Oid, git2::Error> {
    // A tree of plain file entries, named by position (so already in git's order), whatever
    // kind of object each id is: libgit2 marks a file entry without reading its object.
    let mut tree = Vec::with_capacity(kept.len() * 36);
    for (index, id) in kept.iter().enumerate() {
        tree.extend_from_slice(format!("100644 {index:08x}\0").as_bytes());
        tree.extend_from_slice(id.as_bytes());
    }
    let tree = scratch.put(ObjectType::Tree, &tree)?;
    let when = parent.committer().when().seconds();
    let commit = format!(
        "tree {tree}\nparent {}\nauthor cfgupdate <cfgupdate@localhost> {when} +0000\n\
         committer cfgupdate <cfgupdate@localhost> {when} +0000\n\n{OUTLINE_MESSAGE}",
        parent.id()
    );
    scratch.put(ObjectType::Commit, commit.as_bytes())
}
