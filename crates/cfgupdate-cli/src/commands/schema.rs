//! `cfgupdate schema`: the JSON Schema of `cfgupdate.toml`.

use crate::failure::{Failure, print_out};

#[derive(Debug, clap::Args)]
#[command(
    about = "Print a JSON Schema of cfgupdate.toml, for editors",
    long_about = "Print a JSON Schema (draft 2020-12) of the pipeline file, cfgupdate.toml: every key, \
its type, its default and what it does (docs/config.md says the same in prose). Editors that \
validate TOML against a JSON Schema use it: Taplo and VS Code's Even Better TOML, for example.",
    after_help = "Examples:\n  cfgupdate schema > cfgupdate.schema.json\n\n  # Taplo: point it at the schema in .taplo.toml\n  [[rule]]\n  include = [\"cfgupdate.toml\"]\n  schema = { path = \"./cfgupdate.schema.json\" }"
)]
pub struct SchemaArgs {}

pub fn run(_args: &SchemaArgs) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(&cfgupdate_core::pipeline_schema())
        .map_err(|error| Failure::operational(format!("cannot write the schema: {error}")))?;
    print_out(&format!("{text}\n"))
}
