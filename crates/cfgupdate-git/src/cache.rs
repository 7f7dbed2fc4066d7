//! The local cache of one remote: a bare repository that is only ever a copy, so whatever a
//! crash leaves broken in it is thrown away and fetched again.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository, RepositoryInitOptions, TreeWalkMode, TreeWalkResult};

use crate::url::RemoteUrl;

/// Where the cache of one remote lives under the cache directory.
#[derive(Debug, Clone)]
pub(crate) struct CacheLocation {
    /// The bare repository.
    pub(crate) git_dir: PathBuf,
    /// The file whose lock serialises writers; outside the repository, so nothing git does
    /// ever touches it.
    pub(crate) lock_file: PathBuf,
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
        Ok(WriteLock { _file: file })
    }

    /// Opens the cache, creating it when missing and rebuilding it when broken. Returns the
    /// repository and, when it was rebuilt, what was wrong. Call it holding the lock.
    pub(crate) fn open_or_rebuild(&self) -> Result<(Repository, Option<String>), CacheError> {
        if fs::symlink_metadata(&self.git_dir).is_err() {
            return Ok((self.create()?, None));
        }
        match diagnose(&self.git_dir) {
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
}

/// Why the cache could not be made usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    #[error("cannot remove the broken cache {}: {error}", path.display())]
    Remove { path: PathBuf, error: io::Error },
    #[error("cannot create the cache {}: {message}", path.display())]
    Create { path: PathBuf, message: String },
}

/// Whether `repo` is a whole repository, checking what a crash can break: the directory is
/// not a repository, a lock file was left behind, a ref is corrupt, or a ref points at
/// objects that are missing. Returns what is wrong.
pub(crate) fn diagnose(git_dir: &Path) -> Result<Repository, String> {
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
            check_history(&repo, target).map_err(|missing| {
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
