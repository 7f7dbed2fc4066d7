//! The core without its `render` feature, used as an embedder that only edits slots uses it:
//! the pipeline file read, a wave's image file read, and slots edited in Jsonnet and JSON.
//! That this compiles at all, warnings denied, is most of the test (Cargo.toml says why it is
//! a package of its own).

use cfgupdate_core::slots::{json, jsonnet};
use cfgupdate_core::{ImageRef, ImageSet, Pipeline, ServiceName, WaveName};

fn image(tag: &str, digit: char) -> String {
    format!(
        "reg.example.com/api:{tag}@sha256:{}",
        digit.to_string().repeat(64)
    )
}

fn updates(reference: &str) -> Result<ImageSet, Box<dyn std::error::Error>> {
    Ok(ImageSet::from([(
        ServiceName::parse("api")?,
        ImageRef::parse(reference)?,
    )]))
}

#[test]
fn a_pipeline_is_read_and_slots_are_edited_without_the_evaluator()
-> Result<(), Box<dyn std::error::Error>> {
    let pipeline = Pipeline::parse(
        "cfgupdate.toml",
        "[[wave]]\nname = \"staging\"\nimages = \"images.json\"\ntargets = [\"staging\"]\n\n\
         [target.staging]\nentrypoint = \"staging.jsonnet\"\n",
    )?;
    let staging = WaveName::parse("staging")?;
    let wave = pipeline
        .wave(&staging)
        .ok_or("the staging wave was not read")?;
    assert_eq!(wave.targets.len(), 1);

    let (old, new) = (image("v1", '1'), image("v2", '2'));
    let text = format!("{{\n  api: '{old}',  // kept as it is\n}}\n");
    let applied = jsonnet::apply("images.libsonnet", &text, &updates(&new)?)?;
    assert_eq!(
        applied.text,
        format!("{{\n  api: '{new}',  // kept as it is\n}}\n")
    );

    let file = format!("{{ \"api\": \"{old}\", \"worker\": \"kept\" }}\n");
    assert_eq!(
        json::read("images.json", &format!("{{ \"api\": \"{old}\" }}"))?,
        updates(&old)?
    );
    let written = json::write("images.json", &file, &updates(&new)?)?;
    assert_eq!(
        written,
        format!("{{ \"api\": \"{new}\", \"worker\": \"kept\" }}\n")
    );
    Ok(())
}

#[test]
fn a_refused_edit_is_an_error_that_names_the_file() {
    let refused = jsonnet::apply("images.libsonnet", "{ api: ", &ImageSet::new())
        .map(|applied| applied.text)
        .expect_err("an unfinished file is refused");
    let message = refused.to_string();
    assert!(message.contains("images.libsonnet"), "{message}");
}
