//! `cfgupdate edit FILE --set S=REF ... [--write]`: one local file, by the rules of contract
//! section 3.

use std::fs;
use std::io::Write;
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
Every reference must be pinned by a digest. Nothing is written unless every --set succeeds.",
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
    let text = read_text(&args.file)?;
    let updates = image_set(&args.set)?;
    let edited = edit_text(&display, &text, &updates).map_err(Failure::invalid)?;
    if args.write {
        if edited != text {
            write_atomically(&args.file, &edited)?;
        }
    } else {
        std::io::stdout()
            .write_all(edited.as_bytes())
            .map_err(|error| Failure::operational(format!("cannot write to stdout: {error}")))?;
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
        return Err(SlotError::NoSlot {
            service: service.clone(),
            files: vec![file.to_owned()],
        });
    }
    Ok(applied.text)
}

fn read_text(path: &Path) -> Result<String, Failure> {
    let bytes = fs::read(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => {
            Failure::invalid(format!("{}: no such file", path.display()))
        }
        _ => Failure::operational(format!("cannot read {}: {error}", path.display())),
    })?;
    String::from_utf8(bytes)
        .map_err(|_| Failure::invalid(format!("{} is not UTF-8 text", path.display())))
}

/// Writes through a temporary file in the same directory and a rename, so that a failure
/// never leaves the file half-written; the file's permissions are kept.
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
    let temp = dir.join(format!(".{name}.cfgupdate-{}", std::process::id()));
    let result = (|| {
        let permissions = fs::metadata(path)?.permissions();
        fs::write(&temp, text)?;
        fs::set_permissions(&temp, permissions)?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(fail)
}
