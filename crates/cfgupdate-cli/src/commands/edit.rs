//! `cfgupdate edit FILE --set S=REF ... [--write]`: one local file, by the rules of
//! section 3.

use std::fs;
use std::path::{Path, PathBuf};

use cfgupdate_core::slots::{ImageSet, SlotError, json, jsonnet};

use crate::args::{ImageAssignment, image_set};
use crate::failure::Failure;

#[derive(Debug, clap::Args)]
#[command(
    about = "Edit the image references in one local JSON or Jsonnet file",
    long_about = "Edit the image references in one local JSON or Jsonnet file, changing only the \
characters inside the image strings (comments, formatting and everything else stay as they are).\n\n\
A `.json` file is an image file: an object from service to reference, or to an object of parts \
(`ref`, `name`, `tag`, `digest`); a new service is added as a new key. Any other file is Jsonnet: \
a comment `// cfgupdate: api` marks the string before it on its line (`api:tag`, `api:digest`, \
`api:name` write one part), and where a file has no marker for a service, a field of that name in \
the object the file evaluates to is the slot.\n\n\
A slot is written only where its value looks like the part it holds (an empty string is a \
placeholder); a literal inside `%`, `std.format` or `std.join`, a container name or an error \
message is refused, naming its line (docs/slots.md).\n\n\
Every reference must be pinned by a digest. Nothing is written unless every --set succeeds. \
With --write, a symbolic link to a file inside the repository is written through (the link \
stays); a link out of it, a directory or a read-only file is refused, and a sentence on stderr \
says what was written.",
    after_help = "Examples:\n  cfgupdate edit images/staging.json --set api=registry.example.com/api:7d10434@sha256:<64 hex>\n  cfgupdate edit envs/prod/images.libsonnet --set api=... --set web=... --write"
)]
pub struct EditArgs {
    /// The JSON image file or Jsonnet file to edit.
    pub file: PathBuf,
    /// A service and the reference to write, `SERVICE=REF` (repeatable).
    #[arg(long = "set", value_name = "SERVICE=REF", required = true)]
    pub set: Vec<ImageAssignment>,
    /// Write the result back to FILE instead of printing it.
    #[arg(long)]
    pub write: bool,
}

pub fn run(args: &EditArgs) -> Result<(), Failure> {
    let display = args.file.display().to_string();
    // With --write, where the result goes is settled before anything is read: a link that
    // leads out of the tree, or a file that may not be written, is refused up front.
    let target = if args.write {
        Some(write_target(&args.file)?)
    } else {
        None
    };
    let text = read_text(&args.file)?;
    let updates = image_set(&args.set)?;
    let edited = edit_text(&display, &text, &updates).map_err(Failure::invalid)?;
    if let Some(target) = target {
        let shown = cfgupdate_core::adapter::shown(&display);
        if edited != text {
            write_atomically(&target, &edited)?;
            crate::args::say(format_args!(
                "wrote {} into {shown}",
                crate::args::listed(updates.keys())
            ));
        } else {
            crate::args::say(format_args!(
                "{shown} already holds these images; nothing written"
            ));
        }
    } else {
        crate::failure::print_out(&edited)?;
    }
    Ok(())
}

/// A `.json` file is an image file; anything else is Jsonnet.
fn edit_text(file: &str, text: &str, updates: &ImageSet) -> Result<String, SlotError> {
    if file.ends_with(".json") {
        return json::write(file, text, updates);
    }
    let applied = jsonnet::apply(file, text, updates)?;
    if let Some(service) = updates
        .keys()
        .find(|service| !applied.written.contains(*service))
    {
        return Err(SlotError::no_slot(service, [(file, text)]));
    }
    Ok(applied.text)
}

/// The file `--write` replaces: `path` itself, or the file a symbolic link at `path` (or in
/// its directories) leads to, when that is a regular file inside the tree the link is in.
/// The tree is the nearest directory above `path` holding `cfgupdate.toml` or `.git` (the
/// config repository), else `path`'s own directory. The link itself stays a link. A file
/// without write permission is refused, not replaced (replacing it by a rename would
/// succeed, since a rename needs only the directory's permission).
fn write_target(path: &Path) -> Result<PathBuf, Failure> {
    let shown = path.display();
    let io = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => Failure::invalid(format!(
            "{shown}: no such file (or a symbolic link to a file that does not exist)"
        )),
        _ => Failure::operational(format!("cannot read {shown}: {error}")),
    };
    let lexical = std::env::current_dir()
        .map_err(|error| {
            Failure::operational(format!("cannot read the current directory: {error}"))
        })?
        .join(path);
    let is_link = fs::symlink_metadata(&lexical).map_err(io)?.is_symlink();
    let target = fs::canonicalize(&lexical).map_err(io)?;
    let metadata = fs::metadata(&target).map_err(io)?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        let via = if is_link {
            format!(" (the symbolic link leads to {})", target.display())
        } else {
            String::new()
        };
        return Err(Failure::invalid(format!(
            "{shown} is {what}{via}; cfgupdate edits only regular files"
        )));
    }
    // The tree is found from the directories as they really are: the search starts below the
    // first symbolic link on the way to the file, so a committed link to a directory of
    // another repository (`shared -> ../other-repo`) can never make that repository the tree.
    let parent = real_prefix(lexical.parent().unwrap_or(Path::new("/")));
    let parent = parent.as_path();
    let tree = parent
        .ancestors()
        .find(|dir| dir.join("cfgupdate.toml").exists() || dir.join(".git").exists())
        .unwrap_or(parent);
    let tree = fs::canonicalize(tree).map_err(io)?;
    if !target.starts_with(&tree) {
        return Err(Failure::invalid(format!(
            "{shown} leads through a symbolic link to {}, outside the tree {}; cfgupdate writes only files inside it (edit the file where it is, or without --write)",
            target.display(),
            tree.display()
        )));
    }
    let writable = !metadata.permissions().readonly()
        && fs::OpenOptions::new().write(true).open(&target).is_ok();
    if !writable {
        return Err(Failure::invalid(format!(
            "{} is read-only; cfgupdate does not replace a file it may not write (change its mode first)",
            target.display()
        )));
    }
    Ok(target)
}

fn read_text(path: &Path) -> Result<String, Failure> {
    if fs::metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        return Err(Failure::invalid(format!(
            "{} is a directory; cfgupdate edits only regular files",
            path.display()
        )));
    }
    let bytes = fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::invalid(format!("{}: no such file", path.display()))
        }
        _ => Failure::operational(format!("cannot read {}: {error}", path.display())),
    })?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::invalid(format!("{} is not UTF-8 text", path.display())))
}

/// The longest leading part of `dir` that passes through no symbolic link.
fn real_prefix(dir: &Path) -> PathBuf {
    let mut real = PathBuf::new();
    for component in dir.components() {
        let next = real.join(component);
        if fs::symlink_metadata(&next).is_ok_and(|m| m.file_type().is_symlink()) {
            break;
        }
        real = next;
    }
    real
}

/// Writes through a temporary file in the same directory and a rename, so that a failure
/// never leaves the file half-written; the file's permissions are kept. `path` is the file
/// itself, never a symbolic link (see [`write_target`]), so a link stays a link.
fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |error: std::io::Error| {
        Failure::operational(format!("cannot write {}: {error}", path.display()))
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A new file with a name nobody can guess, created exclusively (O_EXCL): whatever the
    // repository holds beside the file (a symbolic link planted at a predictable temporary
    // name, say) is never opened, followed or overwritten.
    let result = (|| {
        let permissions = fs::metadata(path)?.permissions();
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.cfgupdate-"))
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut temp, text.as_bytes())?;
        temp.as_file().sync_all()?;
        fs::set_permissions(temp.path(), permissions)?;
        temp.persist(path).map(drop).map_err(|error| error.error)
    })();
    result.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_planted_at_the_old_predictable_temporary_name_is_never_written_through() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        fs::create_dir(&repo).unwrap();
        let outside = root.path().join("victim");
        fs::write(&outside, "precious\n").unwrap();
        let images = repo.join("images.json");
        fs::write(&images, "{}\n").unwrap();
        // What a committed link at the name this process would once have used looks like.
        std::os::unix::fs::symlink(
            &outside,
            repo.join(format!(".images.json.cfgupdate-{}", std::process::id())),
        )
        .unwrap();

        write_atomically(&images, "{\"api\": \"x\"}\n").unwrap();

        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious\n");
        assert_eq!(fs::read_to_string(&images).unwrap(), "{\"api\": \"x\"}\n");
        assert!(
            !fs::symlink_metadata(&images)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
