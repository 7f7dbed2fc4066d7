//! Keeping the cache as small as what it holds: its loose objects packed, its packs now and
//! then rewritten as one of what the refs reach. With libgit2's pack builder; the git CLI is
//! not a dependency of the library.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

/// Loose objects the cache may hold before [`maintain`] packs them. Every publish and every
/// state update leaves a handful (a commit, its trees, a blob): a service writing for weeks
/// would otherwise fill the object directories with hundreds of thousands of small files,
/// each a block on disk and a lookup that misses the packs first.
pub(crate) const LOOSE_LIMIT: usize = 1024;

/// Packs the cache may hold before [`maintain`] rewrites them as one, dropping what no ref
/// reaches any more (commits of rejected pushes, fetched history a rewrite left behind).
pub(crate) const PACK_LIMIT: usize = 12;

/// The directory [`maintain`] writes a new pack in before it joins the cache; whatever a
/// crash leaves there is removed by the next maintenance.
const PACKING_DIR: &str = "cfgupdate-packing";

/// What [`maintain`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Maintained {
    /// Below both limits: nothing.
    Nothing,
    /// The loose objects went into one new pack.
    Packed {
        /// Objects packed (and loose files removed).
        objects: usize,
    },
    /// Everything a ref reaches was written as one pack; the other packs and every loose
    /// object are gone.
    Consolidated {
        /// Objects in the new pack.
        objects: usize,
        /// Packs removed.
        packs: usize,
        /// Loose objects removed.
        loose: usize,
    },
}

/// Keeps the cache as small as what it holds: packs the loose objects once there are
/// [`LOOSE_LIMIT`] of them, and rewrites the cache as one pack of what its refs reach once
/// there are more than [`PACK_LIMIT`] packs. Call it holding the lock. A new pack is written
/// aside, checked to hold every object it must, and only then moved in; the files it
/// replaces are removed after, so a crash at any point leaves every object readable.
pub(crate) fn maintain(git_dir: &Path) -> Result<Maintained, String> {
    maintain_within(git_dir, LOOSE_LIMIT, PACK_LIMIT)
}

/// [`maintain`] with other limits.
fn maintain_within(
    git_dir: &Path,
    loose_limit: usize,
    pack_limit: usize,
) -> Result<Maintained, String> {
    let objects_dir = git_dir.join("objects");
    let packing = git_dir.join(PACKING_DIR);
    if fs::symlink_metadata(&packing).is_ok() {
        fs::remove_dir_all(&packing).map_err(|e| format!("cannot remove {PACKING_DIR}: {e}"))?;
    }
    remove_orphan_packs(&objects_dir.join("pack"));
    let loose = loose_objects(&objects_dir);
    let packs = packs(&objects_dir.join("pack"));
    let consolidate = packs.len() + usize::from(loose.len() >= loose_limit) > pack_limit;
    if !consolidate && loose.len() < loose_limit {
        return Ok(Maintained::Nothing);
    }
    let repo = Repository::open_bare(git_dir).map_err(|e| e.message().to_owned())?;
    let message = |e: git2::Error| e.message().to_owned();
    let mut builder = repo.packbuilder().map_err(message)?;
    // The ids the new pack must hold to replace what it replaces.
    let mut must_hold = Vec::new();
    if consolidate {
        let mut walk = repo.revwalk().map_err(message)?;
        for reference in repo.references().map_err(message)? {
            let Some(target) = reference
                .map_err(message)?
                .resolve()
                .ok()
                .and_then(|r| r.target())
            else {
                continue;
            };
            // A ref anyone could push may point at a tree or a blob instead of a commit.
            match repo.find_object(target, None).map_err(message)?.kind() {
                Some(ObjectType::Commit) => walk.push(target).map_err(message)?,
                _ => builder.insert_recursive(target, None).map_err(message)?,
            }
            must_hold.push(target);
        }
        builder.insert_walk(&mut walk).map_err(message)?;
    } else {
        for (id, _) in &loose {
            builder.insert_object(*id, None).map_err(message)?;
            must_hold.push(*id);
        }
    }
    let objects = builder.object_count();
    let staged = packing.join("objects").join("pack");
    fs::create_dir_all(&staged).map_err(|e| format!("cannot create {PACKING_DIR}: {e}"))?;
    builder.write(&staged, 0o444).map_err(message)?;
    drop(builder);
    check_pack(&packing.join("objects"), &must_hold)?;
    let mut written = Vec::new();
    for entry in fs::read_dir(&staged).map_err(|e| format!("cannot list {PACKING_DIR}: {e}"))? {
        let entry = entry.map_err(|e| format!("cannot list {PACKING_DIR}: {e}"))?;
        written.push(entry.file_name().to_string_lossy().into_owned());
    }
    // The index goes last: git and libgit2 see a pack only once its index is there.
    written.sort_by_key(|name| name.ends_with(".idx"));
    for name in &written {
        fs::rename(staged.join(name), objects_dir.join("pack").join(name))
            .map_err(|e| format!("cannot move the new pack {name} into the cache: {e}"))?;
    }
    let _ = fs::remove_dir_all(&packing);
    for (_, path) in &loose {
        // One already gone changes nothing: the pack holds it.
        let _ = fs::remove_file(path);
    }
    remove_empty_fanout(&objects_dir);
    if !consolidate {
        return Ok(Maintained::Packed { objects });
    }
    let mut removed = 0;
    for pack in &packs {
        let stem = pack.trim_end_matches(".pack");
        if written.iter().any(|name| name.starts_with(stem)) {
            // The same objects wrote the same pack again: it is the new one.
            continue;
        }
        // The index first, so that no reader sees an index without its pack.
        for suffix in [".idx", ".rev", ".pack"] {
            let _ = fs::remove_file(objects_dir.join("pack").join(format!("{stem}{suffix}")));
        }
        removed += 1;
    }
    Ok(Maintained::Consolidated {
        objects,
        packs: removed,
        loose: loose.len(),
    })
}

/// Every object in `ids` is in the packs of `objects_dir`.
fn check_pack(objects_dir: &Path, ids: &[Oid]) -> Result<(), String> {
    let odb = git2::Odb::new().map_err(|e| e.message().to_owned())?;
    let path = objects_dir
        .to_str()
        .ok_or_else(|| format!("the path {} is not UTF-8", objects_dir.display()))?;
    odb.add_disk_alternate(path)
        .map_err(|e| e.message().to_owned())?;
    match ids.iter().find(|id| !odb.exists(**id)) {
        Some(id) => Err(format!(
            "the new pack lacks object {id}; nothing was replaced"
        )),
        None => Ok(()),
    }
}

/// The loose objects under `objects_dir`: id and file.
pub(crate) fn loose_objects(objects_dir: &Path) -> Vec<(Oid, PathBuf)> {
    let mut found = Vec::new();
    let Ok(fanout) = fs::read_dir(objects_dir) else {
        return found;
    };
    for dir in fanout.flatten() {
        let prefix = dir.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(files) = fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let rest = file.file_name().to_string_lossy().into_owned();
            // Temporary files libgit2 writes before a rename are not objects yet.
            if let Ok(id) = Oid::from_str(&format!("{prefix}{rest}"))
                && rest.len() == 38
            {
                found.push((id, file.path()));
            }
        }
    }
    found
}

/// The pack files (`pack-*.pack`, with an index beside them) in `pack_dir`.
fn packs(pack_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(pack_dir) else {
        return Vec::new();
    };
    let mut packs: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.starts_with("pack-")
                && name.ends_with(".pack")
                && pack_dir
                    .join(format!("{}.idx", name.trim_end_matches(".pack")))
                    .exists()
        })
        .collect();
    packs.sort();
    packs
}

/// Removes pack files without an index: what a crash left between moving a new pack in and
/// its index (no reader ever sees a pack without its index). Call it holding the lock, when no
/// fetch of this cache is writing a pack.
fn remove_orphan_packs(pack_dir: &Path) {
    let Ok(entries) = fs::read_dir(pack_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".pack")
            && name.starts_with("pack-")
            && !pack_dir.join(format!("{stem}.idx")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes the fan-out directories the packing emptied.
fn remove_empty_fanout(objects_dir: &Path) {
    let Ok(fanout) = fs::read_dir(objects_dir) else {
        return;
    };
    for dir in fanout.flatten() {
        let name = dir.file_name();
        if name.len() == 2 {
            // Fails, as it should, on a directory that still holds something.
            let _ = fs::remove_dir(dir.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Depth, diagnose};

    /// A bare repository whose `master` has `commits` commits, each adding a file: three
    /// loose objects per commit.
    fn grow(repo: &Repository, from: usize, commits: usize) -> Oid {
        let signature = git2::Signature::now("t", "t@localhost").unwrap();
        let mut parent = repo
            .refname_to_id("refs/heads/master")
            .ok()
            .map(|id| repo.find_commit(id).unwrap());
        for i in from..from + commits {
            let blob = repo.blob(format!("file {i}\n").as_bytes()).unwrap();
            let mut tree = repo
                .treebuilder(parent.as_ref().map(|p| p.tree().unwrap()).as_ref())
                .unwrap();
            tree.insert(format!("f{i}"), blob, 0o100644).unwrap();
            let tree = repo.find_tree(tree.write().unwrap()).unwrap();
            let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
            let id = repo
                .commit(
                    Some("refs/heads/master"),
                    &signature,
                    &signature,
                    &format!("commit {i}"),
                    &tree,
                    &parents,
                )
                .unwrap();
            parent = Some(repo.find_commit(id).unwrap());
        }
        parent.unwrap().id()
    }

    fn bare() -> (tempfile::TempDir, PathBuf, Repository) {
        let dir = tempfile::tempdir().unwrap();
        let git_dir = dir.path().join("cache.git");
        let repo = Repository::init_bare(&git_dir).unwrap();
        (dir, git_dir, repo)
    }

    fn fsck(git_dir: &Path) {
        let out = std::process::Command::new("git")
            .args(["fsck", "--strict", "--no-dangling"])
            .env("GIT_DIR", git_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn loose_objects_past_the_limit_are_packed_and_every_object_stays_readable() {
        let (_dir, git_dir, repo) = bare();
        let tip = grow(&repo, 0, 20);
        let stray = repo.blob(b"written by a push that was rejected\n").unwrap();
        let objects = git_dir.join("objects");
        assert_eq!(loose_objects(&objects).len(), 61);
        assert_eq!(
            maintain_within(&git_dir, 100, 4).unwrap(),
            Maintained::Nothing
        );
        assert_eq!(loose_objects(&objects).len(), 61);
        assert_eq!(
            maintain_within(&git_dir, 50, 4).unwrap(),
            Maintained::Packed { objects: 61 }
        );
        assert!(loose_objects(&objects).is_empty());
        assert_eq!(packs(&objects.join("pack")).len(), 1);
        let reopened = Repository::open_bare(&git_dir).unwrap();
        assert_eq!(reopened.find_commit(tip).unwrap().tree().unwrap().len(), 20);
        // Packing drops nothing: an object no ref reaches waits for a consolidation.
        assert!(reopened.find_blob(stray).is_ok());
        assert!(fs::symlink_metadata(git_dir.join(PACKING_DIR)).is_err());
        fsck(&git_dir);
    }

    #[test]
    fn too_many_packs_become_one_pack_of_what_the_refs_reach() {
        let (_dir, git_dir, repo) = bare();
        let objects = git_dir.join("objects");
        let stray = repo.blob(b"no ref reaches this\n").unwrap();
        // A ref anyone could push, pointing at a blob.
        let odd = repo.blob(b"a ref to a blob\n").unwrap();
        repo.reference("refs/cfgupdate/odd", odd, true, "test")
            .unwrap();
        for round in 0..3 {
            grow(&repo, round * 5, 5);
            assert!(matches!(
                maintain_within(&git_dir, 10, 3).unwrap(),
                Maintained::Packed { .. }
            ));
        }
        assert_eq!(packs(&objects.join("pack")).len(), 3);
        let tip = grow(&repo, 15, 5);
        let done = maintain_within(&git_dir, 10, 3).unwrap();
        let Maintained::Consolidated {
            objects: count,
            packs: removed,
            loose,
        } = done
        else {
            panic!("{done:?}")
        };
        // 20 commits, 20 trees, 20 blobs, and the blob the odd ref names.
        assert_eq!((count, removed, loose), (61, 3, 15));
        assert_eq!(packs(&objects.join("pack")).len(), 1);
        assert!(loose_objects(&objects).is_empty());
        let reopened = Repository::open_bare(&git_dir).unwrap();
        assert_eq!(reopened.find_commit(tip).unwrap().tree().unwrap().len(), 20);
        assert!(reopened.find_blob(odd).is_ok());
        assert!(
            reopened.find_blob(stray).is_err(),
            "what no ref reaches is dropped"
        );
        fsck(&git_dir);
        // Once more changes nothing.
        assert_eq!(
            maintain_within(&git_dir, 10, 3).unwrap(),
            Maintained::Nothing
        );
    }

    #[test]
    fn what_a_crash_left_of_a_packing_is_removed_and_the_cache_stays_whole() {
        let (_dir, git_dir, repo) = bare();
        let tip = grow(&repo, 0, 4);
        let leftover = git_dir.join(PACKING_DIR).join("objects").join("pack");
        fs::create_dir_all(&leftover).unwrap();
        fs::write(leftover.join("pack-0000.pack"), b"half written").unwrap();
        // And a pack moved in whose index the crash kept from following.
        let orphan = git_dir.join("objects").join("pack").join("pack-1111.pack");
        fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        fs::write(&orphan, b"a pack without its index").unwrap();
        assert_eq!(
            maintain_within(&git_dir, 100, 4).unwrap(),
            Maintained::Nothing
        );
        assert!(fs::symlink_metadata(git_dir.join(PACKING_DIR)).is_err());
        assert!(fs::symlink_metadata(&orphan).is_err());
        assert!(diagnose(&git_dir, Depth::Thorough).is_ok());
        assert!(
            Repository::open_bare(&git_dir)
                .unwrap()
                .find_commit(tip)
                .is_ok()
        );
    }
}
