//! A checkout of the config repository on disk, read as rendering reads a revision: every
//! path confined below the checkout's root, symlinks included.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use cfgupdate_core::adapter::shown;
use cfgupdate_core::render::{SourceError, SourceFiles};
use cfgupdate_core::{Classify, ErrorClass, RepoPath};

/// Why a checkout could not be opened or written into.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The directory given is not a directory that can be opened.
    #[error("cannot open the directory {}: {reason}", shown(path))]
    Open {
        /// The directory as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A directory inside the checkout could not be created.
    #[error("cannot create the directory `{}`: {reason}", shown(path))]
    Create {
        /// The repository path of the directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// The path leads outside the checkout, or could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl Classify for CheckoutError {
    fn class(&self) -> ErrorClass {
        match self {
            // The directory named on the command line, or a path in the checkout's own
            // files, is at fault: a person fixes it.
            CheckoutError::Open { .. } | CheckoutError::Source(SourceError::Outside { .. }) => {
                ErrorClass::Invalid
            }
            CheckoutError::Source(SourceError::Repository(error)) => error.class(),
            CheckoutError::Create { .. }
            | CheckoutError::Source(SourceError::Unreadable { .. }) => ErrorClass::Failed,
        }
    }
}

/// The files of a checkout of the config repository on disk, as rendering sees them (the
/// [`SourceFiles`] of `cfgupdate render` and `cfgupdate check`).
///
/// Every read is confined below the checkout's root: a [`RepoPath`] cannot name anything
/// outside it, and a path that resolves outside it through a symlink is refused with
/// [`SourceError::Outside`], never read. Symlinks that stay inside the checkout are
/// followed. `.git` is never read or listed, and only regular files are read (a FIFO or a
/// device would block or never end).
///
/// ```no_run
/// use cfgupdate_core::RepoPath;
/// use cfgupdate_core::render::SourceFiles;
/// use cfgupdate_git::CheckoutFiles;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let files = CheckoutFiles::open(std::path::Path::new("."))?;
/// let pipeline = files.read(&RepoPath::parse("cfgupdate.toml")?)?;
/// let images = files.list("images")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CheckoutFiles {
    /// The checkout's real location (symlinks resolved).
    root: PathBuf,
}

impl CheckoutFiles {
    /// The checkout in `dir`, a directory.
    pub fn open(dir: &Path) -> Result<Self, CheckoutError> {
        let open = |reason: String| CheckoutError::Open {
            path: dir.display().to_string(),
            reason,
        };
        let root = dir
            .canonicalize()
            .map_err(|error| open(error.to_string()))?;
        if !root.is_dir() {
            return Err(open("it is not a directory".to_owned()));
        }
        Ok(Self { root })
    }

    /// The checkout's real location, symlinks resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the directory `dir` of the repository and every missing parent, and returns
    /// its real location. Each component is checked before anything is created below it, so
    /// a symlink leading out of the checkout is refused without creating anything outside.
    pub fn create_dir_all(&self, dir: &RepoPath) -> Result<PathBuf, CheckoutError> {
        let create = |reason: String| CheckoutError::Create {
            path: dir.to_string(),
            reason,
        };
        let mut real = self.root.clone();
        for component in dir.as_str().split('/') {
            let next = real.join(component);
            match fs::symlink_metadata(&next) {
                Ok(meta) if meta.is_dir() => real = next,
                Ok(meta) if meta.file_type().is_symlink() => {
                    real = self.resolve(&next, dir.as_str())?;
                    if !real.is_dir() {
                        return Err(create(format!(
                            "{} is not a directory",
                            shown(&real.display().to_string())
                        )));
                    }
                }
                Ok(_) => {
                    return Err(create(format!(
                        "{} is a file",
                        shown(&next.display().to_string())
                    )));
                }
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    match fs::create_dir(&next) {
                        Ok(()) => {}
                        // Created meanwhile by someone else: checked like any existing one.
                        Err(error) if error.kind() == ErrorKind::AlreadyExists => {}
                        Err(error) => return Err(create(error.to_string())),
                    }
                    real = self.resolve(&next, dir.as_str())?;
                }
                Err(error) => return Err(create(error.to_string())),
            }
        }
        Ok(real)
    }

    /// The real location of `path` (the repository path `shown`), refused when it resolves
    /// outside the root.
    fn resolve(&self, path: &Path, asked: &str) -> Result<PathBuf, SourceError> {
        let real = path
            .canonicalize()
            .map_err(|error| SourceError::Unreadable {
                path: asked.to_owned(),
                reason: error.to_string(),
            })?;
        self.confine(real, asked)
    }

    /// `real` (a resolved path), refused when it lies outside the root.
    fn confine(&self, real: PathBuf, asked: &str) -> Result<PathBuf, SourceError> {
        if real.starts_with(&self.root) {
            Ok(real)
        } else {
            Err(SourceError::Outside {
                path: asked.to_owned(),
                reason: format!("it resolves to {}", shown(&real.display().to_string())),
            })
        }
    }

    /// Every file below `dir` (a directory on disk inside the root), as repository paths
    /// relative to the root as `base` (`dir`'s path as asked) names it.
    fn walk(&self, dir: &Path, base: &str, out: &mut Vec<RepoPath>) -> Result<(), SourceError> {
        let unreadable = |error: std::io::Error| SourceError::Unreadable {
            path: if base.is_empty() { "." } else { base }.to_owned(),
            reason: error.to_string(),
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(unreadable(error)),
        };
        for entry in entries {
            let entry = entry.map_err(unreadable)?;
            let name = entry.file_name();
            // A name that is not UTF-8 (or that a repository path cannot hold) is no file
            // of the repository's: git would not hold it either.
            let Some(name) = name.to_str() else { continue };
            let relative = if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}/{name}")
            };
            let Ok(path) = RepoPath::parse(&relative) else {
                continue;
            };
            // Symlinked directories are not followed (the file type is the link's own): they
            // could lead out of the checkout, or round in a loop.
            if entry.file_type().map_err(unreadable)?.is_dir() {
                self.walk(&entry.path(), path.as_str(), out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
}

impl SourceFiles for CheckoutFiles {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, SourceError> {
        let unreadable = |reason: String| SourceError::Unreadable {
            path: path.to_string(),
            reason,
        };
        let real = match self.root.join(path.as_str()).canonicalize() {
            Ok(real) => real,
            // No such file, or a file where the path needs a directory (`a/b` for a file
            // `a`): absent, as in a revision.
            Err(error)
                if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(unreadable(error.to_string())),
        };
        let real = self.confine(real, path.as_str())?;
        let meta = fs::metadata(&real).map_err(|error| unreadable(error.to_string()))?;
        if meta.is_dir() {
            return Ok(None);
        }
        if !meta.is_file() {
            return Err(unreadable("it is not a regular file".to_owned()));
        }
        fs::read(&real)
            .map(Some)
            .map_err(|error| unreadable(error.to_string()))
    }

    fn list(&self, dir: &str) -> Result<Vec<RepoPath>, SourceError> {
        // The directory comes from the pipeline's files: it must be a repository path too.
        let dir = if dir.is_empty() {
            String::new()
        } else {
            RepoPath::parse(dir)
                .map_err(|error| SourceError::Outside {
                    path: dir.to_owned(),
                    reason: error.reason.to_owned(),
                })?
                .as_str()
                .to_owned()
        };
        let real = match self.root.join(&dir).canonicalize() {
            Ok(real) => self.confine(real, &dir)?,
            Err(error)
                if matches!(error.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) =>
            {
                return Ok(Vec::new());
            }
            Err(error) => {
                return Err(SourceError::Unreadable {
                    path: dir,
                    reason: error.to_string(),
                });
            }
        };
        let mut out = Vec::new();
        if real.is_dir() {
            self.walk(&real, &dir, &mut out)?;
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn path(text: &str) -> RepoPath {
        RepoPath::parse(text).unwrap()
    }

    /// A checkout `repo/` inside a directory that also holds a file outside it,
    /// `secret.txt`.
    fn place() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        fs::create_dir_all(repo.join("lib/deep")).unwrap();
        fs::write(repo.join("cfgupdate.toml"), "# pipeline\n").unwrap();
        fs::write(repo.join("lib/a.libsonnet"), "{ a: 1 }\n").unwrap();
        fs::write(repo.join("lib/deep/b.libsonnet"), "{ b: 2 }\n").unwrap();
        fs::write(dir.path().join("secret.txt"), "hunter2\n").unwrap();
        (dir, repo)
    }

    fn outside(error: SourceError) -> String {
        match error {
            SourceError::Outside { .. } => error.to_string(),
            other => panic!("not refused as outside: {other:?}"),
        }
    }

    #[test]
    fn reads_files_below_the_root_and_says_none_for_what_is_absent() {
        let (_keep, repo) = place();
        let files = CheckoutFiles::open(&repo).unwrap();
        assert_eq!(
            files.read(&path("lib/a.libsonnet")).unwrap().unwrap(),
            b"{ a: 1 }\n"
        );
        assert_eq!(files.read(&path("lib/missing.libsonnet")).unwrap(), None);
        assert_eq!(files.read(&path("lib")).unwrap(), None);
        // A path through a file, as if it were a directory.
        assert_eq!(files.read(&path("cfgupdate.toml/x")).unwrap(), None);
    }

    #[test]
    fn lists_every_file_below_a_directory_sorted_without_dot_git() {
        let (_keep, repo) = place();
        fs::create_dir_all(repo.join(".git/objects")).unwrap();
        fs::write(repo.join(".git/config"), "[remote]\n").unwrap();
        fs::create_dir_all(repo.join("lib/.git")).unwrap();
        fs::write(repo.join("lib/.git/x"), "x").unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        let all: Vec<String> = files
            .list("")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            all,
            ["cfgupdate.toml", "lib/a.libsonnet", "lib/deep/b.libsonnet"]
        );
        let lib: Vec<String> = files
            .list("lib/deep")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(lib, ["lib/deep/b.libsonnet"]);
        assert!(files.list("nowhere").unwrap().is_empty());
        assert!(files.list("cfgupdate.toml").unwrap().is_empty());
    }

    #[test]
    fn a_symlink_out_of_the_checkout_is_refused_never_read() {
        let (keep, repo) = place();
        symlink(
            keep.path().join("secret.txt"),
            repo.join("lib/secret.libsonnet"),
        )
        .unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        let message = outside(files.read(&path("lib/secret.libsonnet")).unwrap_err());
        assert!(
            message.contains("`lib/secret.libsonnet` leads outside the repository"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_symlink_out_through_a_parent_directory_is_refused() {
        let (keep, repo) = place();
        symlink(keep.path(), repo.join("up")).unwrap();
        symlink("../../..", repo.join("lib/deep/dotdot")).unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        outside(files.read(&path("up/secret.txt")).unwrap_err());
        outside(files.read(&path("lib/deep/dotdot/secret.txt")).unwrap_err());
        // `..` and absolute paths are no repository paths: refused before any read.
        for hostile in ["../secret.txt", "lib/../../secret.txt", "/etc/passwd"] {
            assert!(RepoPath::parse(hostile).is_err(), "{hostile}");
        }
    }

    #[test]
    fn a_symlink_that_stays_inside_is_followed() {
        let (_keep, repo) = place();
        symlink("a.libsonnet", repo.join("lib/alias.libsonnet")).unwrap();
        symlink("lib/deep", repo.join("deep")).unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        assert_eq!(
            files.read(&path("lib/alias.libsonnet")).unwrap().unwrap(),
            b"{ a: 1 }\n"
        );
        assert_eq!(
            files.read(&path("deep/b.libsonnet")).unwrap().unwrap(),
            b"{ b: 2 }\n"
        );
    }

    #[test]
    fn listing_a_directory_that_is_a_symlink_out_is_refused_and_names_nothing_outside() {
        let (keep, repo) = place();
        symlink(keep.path(), repo.join("generated")).unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        let message = outside(files.list("generated").unwrap_err());
        assert!(!message.contains("secret.txt"), "{message}");
    }

    #[test]
    fn a_symlinked_directory_inside_is_not_followed_by_a_listing() {
        let (keep, repo) = place();
        symlink(keep.path(), repo.join("lib/out")).unwrap();
        symlink(".", repo.join("lib/loop")).unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        let all: Vec<String> = files
            .list("lib")
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        // The links are listed as what they are (files of the repository), never entered.
        assert_eq!(
            all,
            [
                "lib/a.libsonnet",
                "lib/deep/b.libsonnet",
                "lib/loop",
                "lib/out"
            ]
        );
        outside(files.read(&path("lib/out")).unwrap_err());
    }

    #[test]
    fn a_listed_directory_that_is_not_a_repository_path_is_refused() {
        let (_keep, repo) = place();
        let files = CheckoutFiles::open(&repo).unwrap();
        for hostile in [
            "..",
            "../",
            "../repo",
            "lib/../..",
            "/",
            "/etc",
            "lib//deep",
            ".git",
            "a\0b",
        ] {
            let error = files.list(hostile).unwrap_err();
            assert!(
                matches!(error, SourceError::Outside { .. }),
                "{hostile:?}: {error:?}"
            );
        }
    }

    #[test]
    fn a_fifo_is_refused_rather_than_read_forever() {
        let (_keep, repo) = place();
        let fifo = repo.join("lib/pipe.libsonnet");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let files = CheckoutFiles::open(&repo).unwrap();
        match files.read(&path("lib/pipe.libsonnet")).unwrap_err() {
            SourceError::Unreadable { reason, .. } => {
                assert!(reason.contains("not a regular file"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_names_are_escaped_in_the_sentence_and_skipped_when_not_utf8() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;

        let (keep, repo) = place();
        let name = "evil\u{1b}[2J\n.libsonnet";
        symlink(keep.path().join("secret.txt"), repo.join("lib").join(name)).unwrap();
        fs::write(
            repo.join("lib")
                .join(OsStr::from_bytes(b"bad-\xff.libsonnet")),
            "x",
        )
        .unwrap();
        let files = CheckoutFiles::open(&repo).unwrap();
        let message = outside(files.read(&path(&format!("lib/{name}"))).unwrap_err());
        assert!(
            !message.contains('\u{1b}') && !message.contains('\n'),
            "{message:?}"
        );
        let listed = files.list("lib").unwrap();
        assert!(listed.iter().any(|p| p.as_str() == format!("lib/{name}")));
        assert!(!listed.iter().any(|p| p.as_str().starts_with("lib/bad-")));
    }

    #[test]
    fn open_refuses_a_missing_directory_and_a_file() {
        let (_keep, repo) = place();
        for dir in [repo.join("missing"), repo.join("cfgupdate.toml")] {
            let error = CheckoutFiles::open(&dir).unwrap_err();
            assert!(matches!(error, CheckoutError::Open { .. }), "{error:?}");
            assert_eq!(error.class(), ErrorClass::Invalid);
        }
    }

    #[test]
    fn create_dir_all_creates_inside_and_refuses_a_way_out_without_creating_anything() {
        let (keep, repo) = place();
        let files = CheckoutFiles::open(&repo).unwrap();
        let made = files.create_dir_all(&path("generated/prod")).unwrap();
        assert_eq!(made, files.root().join("generated/prod"));
        assert!(made.is_dir());
        // Again: it exists, nothing to do.
        assert_eq!(files.create_dir_all(&path("generated/prod")).unwrap(), made);

        symlink(keep.path(), repo.join("out")).unwrap();
        let error = files.create_dir_all(&path("out/a/b")).unwrap_err();
        assert!(
            matches!(error, CheckoutError::Source(SourceError::Outside { .. })),
            "{error:?}"
        );
        assert_eq!(error.class(), ErrorClass::Invalid);
        assert!(
            !keep.path().join("a").exists(),
            "created outside the checkout"
        );

        let error = files.create_dir_all(&path("cfgupdate.toml/x")).unwrap_err();
        assert!(matches!(error, CheckoutError::Create { .. }), "{error:?}");
    }
}
