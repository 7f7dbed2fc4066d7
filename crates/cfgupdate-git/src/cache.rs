//! The local cache of one remote: a bare repository that is only ever a copy, so whatever a
//! crash leaves broken in it is thrown away and fetched again.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, RepositoryInitOptions, TreeWalkMode, TreeWalkResult};

use crate::url::RemoteUrl;

mod maintenance;

pub(crate) use maintenance::{Maintained, maintain};

/// Where the cache of one remote lives under the cache directory.
#[derive(Debug, Clone)]
pub(crate) struct CacheLocation {
    /// The bare repository.
    pub(crate) git_dir: PathBuf,
    /// The file whose lock serialises writers; outside the repository, so nothing git does
    /// ever touches it.
    pub(crate) lock_file: PathBuf,
    /// Present while a writer holds the lock: found at the next lock, it says a writer died
    /// in the middle, and the cache gets the thorough check.
    pub(crate) dirty_file: PathBuf,
}

impl CacheLocation {
    /// The cache of `url` under `root`, in a directory named by a hash of the URL without
    /// its credentials: a credential never reaches the filesystem, and changing a token
    /// keeps the cache.
    pub(crate) fn new(root: &Path, url: &RemoteUrl) -> Self {
        let digest = Oid::hash_object(ObjectType::Blob, url.key().as_bytes())
            .map(|oid| oid.to_string())
            .unwrap_or_else(|_| "0".repeat(40));
        let name = &digest[..20];
        Self {
            git_dir: root.join(format!("{name}.git")),
            lock_file: root.join(format!("{name}.lock")),
            dirty_file: root.join(format!("{name}.dirty")),
        }
    }

    /// Takes the cache's exclusive lock, waiting for other writers; it is released when the
    /// returned guard is dropped, or when the process dies.
    pub(crate) fn lock(&self) -> io::Result<WriteLock> {
        if let Some(root) = self.lock_file.parent() {
            fs::create_dir_all(root)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_file)?;
        file.lock()?;
        let was_dirty = fs::symlink_metadata(&self.dirty_file).is_ok();
        fs::write(&self.dirty_file, b"")?;
        Ok(WriteLock {
            _file: file,
            dirty_file: self.dirty_file.clone(),
            was_dirty,
        })
    }

    /// Opens the cache, creating it when missing and rebuilding it when broken. Returns the
    /// repository and, when it was rebuilt, what was wrong. Call it holding the lock; when the
    /// lock found that a writer died in the middle (`after_crash`), every object of every ref's
    /// history and tip tree is checked, else only what can break without a crash (locks, refs,
    /// the commits and trees they point at): the thorough check reads the whole history, which
    /// on a large repository costs more than the publish itself.
    pub(crate) fn open_or_rebuild(
        &self,
        after_crash: bool,
    ) -> Result<(Repository, Option<String>), CacheError> {
        if fs::symlink_metadata(&self.git_dir).is_err() {
            return Ok((self.create()?, None));
        }
        let depth = if after_crash {
            Depth::Thorough
        } else {
            Depth::Quick
        };
        match diagnose(&self.git_dir, depth) {
            Ok(repo) => Ok((repo, None)),
            Err(reason) => Ok((self.rebuild()?, Some(reason))),
        }
    }

    /// Throws the cache away and creates it empty. Call it holding the lock.
    pub(crate) fn rebuild(&self) -> Result<Repository, CacheError> {
        let removed = match fs::symlink_metadata(&self.git_dir) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&self.git_dir),
            Ok(_) => fs::remove_file(&self.git_dir),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        };
        removed.map_err(|error| CacheError::Remove {
            path: self.git_dir.clone(),
            error,
        })?;
        self.create()
    }

    fn create(&self) -> Result<Repository, CacheError> {
        let mut options = RepositoryInitOptions::new();
        // No template: the system's sample hooks have no business in a cache.
        options.bare(true).external_template(false).mkpath(true);
        Repository::init_opts(&self.git_dir, &options).map_err(|error| CacheError::Create {
            path: self.git_dir.clone(),
            message: error.message().to_owned(),
        })
    }
}

/// Held while writing to the cache; dropping it releases the lock.
pub(crate) struct WriteLock {
    _file: File,
    dirty_file: PathBuf,
    /// Whether the previous writer died holding the lock.
    pub(crate) was_dirty: bool,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Removed before the lock is released (the file closes after this), so the next
        // writer never sees the marker of a writer that finished.
        let _ = fs::remove_file(&self.dirty_file);
    }
}

/// How much of the cache [`diagnose`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Locks, refs, and the commit and tree each ref points at.
    Quick,
    /// And every commit of each ref's history and every object of its tip's tree.
    Thorough,
}

/// Why the cache could not be made usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("cannot remove the broken cache {}: {error}", path.display())]
    Remove { path: PathBuf, error: io::Error },
    #[error("cannot create the cache {}: {message}", path.display())]
    Create { path: PathBuf, message: String },
}

/// The local cache cannot be made usable: a failure retrying will not fix by itself (the class
/// of the `Failed` repository error it becomes).
impl cfgupdate_core::Classify for CacheError {
    fn class(&self) -> cfgupdate_core::ErrorClass {
        cfgupdate_core::ErrorClass::Failed
    }
}

/// Whether `repo` is a whole repository, checking what a crash can break: the directory is
/// not a repository, a lock file was left behind, a ref is corrupt, or a ref points at
/// objects that are missing. Returns what is wrong.
pub(crate) fn diagnose(git_dir: &Path, depth: Depth) -> Result<Repository, String> {
    let mut files = Vec::new();
    collect_files(git_dir, git_dir, &mut files);
    if let Some(lock) = files.iter().find(|name| name.ends_with(".lock")) {
        return Err(format!("it holds the stale lock file `{lock}`"));
    }
    let repo = Repository::open_bare(git_dir)
        .map_err(|error| format!("it is not a git repository ({})", error.message()))?;
    if !repo.is_bare() {
        return Err("it is not a bare repository".to_owned());
    }
    // Loose ref files are checked one by one: libgit2's ref iterator skips a corrupt one.
    let mut names: Vec<String> = files
        .into_iter()
        .filter(|name| name.starts_with("refs/"))
        .collect();
    let packed = repo
        .references()
        .map_err(|error| format!("its refs cannot be listed ({})", error.message()))?;
    for reference in packed {
        let reference =
            reference.map_err(|error| format!("a ref is corrupt ({})", error.message()))?;
        if let Ok(name) = reference.name() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names.dedup();
    for name in &names {
        let target = repo
            .find_reference(name)
            .and_then(|reference| reference.resolve())
            .map_err(|error| format!("its ref `{name}` is corrupt ({})", error.message()))?
            .target();
        if let Some(target) = target {
            let checked = match depth {
                Depth::Quick => check_tip(&repo, target),
                Depth::Thorough => check_history(&repo, target),
            };
            checked.map_err(|missing| {
                format!("objects of its ref `{name}` are missing ({missing})")
            })?;
        }
    }
    Ok(repo)
}

/// Every file under `dir` (but the object store, whose files git writes atomically), as
/// `/`-separated paths relative to `root`.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        let name = relative.to_string_lossy().replace('\\', "/");
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                if name != "objects" {
                    collect_files(root, &path, out);
                }
            }
            Ok(_) => out.push(name),
            Err(_) => {}
        }
    }
}

/// The commit `tip` and its root tree are present.
fn check_tip(repo: &Repository, tip: Oid) -> Result<(), String> {
    let commit = repo.find_commit(tip).map_err(|e| e.message().to_owned())?;
    commit
        .tree()
        .map_err(|e| format!("the tip's tree ({})", e.message()))?;
    Ok(())
}

/// Every commit reachable from `tip` is present, and so is every object of its tree.
fn check_history(repo: &Repository, tip: Oid) -> Result<(), String> {
    let commit = repo.find_commit(tip).map_err(|e| e.message().to_owned())?;
    let mut walk = repo.revwalk().map_err(|e| e.message().to_owned())?;
    walk.push(tip).map_err(|e| e.message().to_owned())?;
    for id in walk {
        let id = id.map_err(|e| e.message().to_owned())?;
        repo.find_commit(id).map_err(|e| e.message().to_owned())?;
    }
    let tree = commit.tree().map_err(|e| e.message().to_owned())?;
    let odb = repo.odb().map_err(|e| e.message().to_owned())?;
    let mut missing = None;
    tree.walk(TreeWalkMode::PreOrder, |_, entry| {
        // Submodule entries name commits of other repositories.
        if entry.kind() == Some(ObjectType::Commit) || odb.exists(entry.id()) {
            TreeWalkResult::Ok
        } else {
            missing = Some(entry.id());
            TreeWalkResult::Abort
        }
    })
    .or_else(|error| match missing {
        Some(_) => Ok(()),
        None => Err(error.message().to_owned()),
    })?;
    match missing {
        Some(id) => Err(format!("object {id} of the tip's tree")),
        None => Ok(()),
    }
}
