//! The pipeline file of docs/config.md: what it parses to, and the exact sentence that
//! refuses each kind of mistake (file, line and the key or value at fault).

use std::collections::BTreeMap;
use std::time::Duration;

use cfgupdate_core::{
    ImageSetLayout, PIPELINE_FILE, Pin, Pipeline, PipelineError, RenderConfig, Target, Wave,
};
use cfgupdate_core::{RepoPath, ServiceName, TargetName, WaveName};

fn parse(text: &str) -> Pipeline {
    match Pipeline::parse(PIPELINE_FILE, text) {
        Ok(pipeline) => pipeline,
        Err(err) => panic!("refused: {err}"),
    }
}

fn refusal(text: &str) -> PipelineError {
    match Pipeline::parse(PIPELINE_FILE, text) {
        Ok(pipeline) => panic!("accepted: {pipeline:?}"),
        Err(err) => err,
    }
}

fn message(text: &str) -> String {
    refusal(text).message
}

fn path(text: &str) -> RepoPath {
    RepoPath::parse(text).unwrap()
}

fn wave_name(text: &str) -> WaveName {
    WaveName::parse(text).unwrap()
}

fn target_name(text: &str) -> TargetName {
    TargetName::parse(text).unwrap()
}

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One wave `staging` with targets `a` (line 6) and `b` (line 9): the base the refusals edit.
const TWO_TARGETS: &str = r#"[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["a", "b"]

[target.a]
entrypoint = "envs/a.jsonnet"

[target.b]
entrypoint = "envs/b.jsonnet"
"#;

/// The example pipeline file the project was specified with, with the `[target.NAME]` tables it
/// leaves out.
const CONTRACT_EXAMPLE: &str = r#"[render]                         # optional; when present, committed YAML is regenerated
output = "generated/{target}"    # one directory per target, holding only rendered YAML
jpath = ["lib", "vendor"]        # library search paths, relative to the repository root

[[wave]]
name = "staging"
images = "images/staging.json"   # the wave's image set (formats in section 3)
targets = ["staging-us", "staging-eu"]

[[wave]]
name = "internal"
images = "images/internal.json"
targets = ["internal"]
soak = "10m"                     # optional gate: the source wave stayed deployed this long
hold = ["billing"]               # optional: services that automation must not change here

[[wave]]
name = "production"
images = { jsonnet = ["envs/prod/images.libsonnet"] }
targets = ["prod-us", "prod-eu"]
approval = true                  # optional gate: promotion into this wave waits for approval

[target.staging-us]
entrypoint = "envs/staging-us/main.jsonnet"
ext_vars = { region = "us-east-1" }    # optional, strings (as Argo CD's extVars)
tlas = { }                             # optional, strings
argocd_app = "cfg-app-staging-us"      # optional; default: the target's name

[target.staging-eu]
entrypoint = "envs/staging-eu/main.jsonnet"

[target.internal]
entrypoint = "envs/internal/main.jsonnet"

[target.prod-us]
entrypoint = "envs/prod-us/main.jsonnet"

[target.prod-eu]
entrypoint = "envs/prod-eu/main.jsonnet"
"#;

// ---------------------------------------------------------------------------------------------
// What a valid file parses to.

#[test]
fn the_contract_example_parses_to_its_values() {
    let pipeline = parse(CONTRACT_EXAMPLE);
    assert_eq!(
        pipeline.render,
        Some(RenderConfig {
            output: "generated/{target}".into(),
            jpath: vec![path("lib"), path("vendor")],
        })
    );
    assert_eq!(
        pipeline.waves,
        vec![
            Wave {
                name: wave_name("staging"),
                images: ImageSetLayout::Json(path("images/staging.json")),
                targets: vec![target_name("staging-us"), target_name("staging-eu")],
                soak: None,
                hold: vec![],
                approval: false,
                pin: Pin::Digest,
                freeze: vec![],
            },
            Wave {
                name: wave_name("internal"),
                images: ImageSetLayout::Json(path("images/internal.json")),
                targets: vec![target_name("internal")],
                soak: Some(Duration::from_secs(600)),
                hold: vec![ServiceName::parse("billing").unwrap()],
                approval: false,
                pin: Pin::Digest,
                freeze: vec![],
            },
            Wave {
                name: wave_name("production"),
                images: ImageSetLayout::Jsonnet(vec!["envs/prod/images.libsonnet".into()]),
                targets: vec![target_name("prod-us"), target_name("prod-eu")],
                soak: None,
                hold: vec![],
                approval: true,
                pin: Pin::Digest,
                freeze: vec![],
            },
        ]
    );
    assert_eq!(
        pipeline.target(&target_name("staging-us")),
        Some(&Target {
            name: target_name("staging-us"),
            entrypoint: path("envs/staging-us/main.jsonnet"),
            ext_vars: strings(&[("region", "us-east-1")]),
            tlas: BTreeMap::new(),
            argocd_app: "cfg-app-staging-us".into(),
        })
    );
    assert_eq!(
        pipeline.target(&target_name("prod-eu")),
        Some(&Target {
            name: target_name("prod-eu"),
            entrypoint: path("envs/prod-eu/main.jsonnet"),
            ext_vars: BTreeMap::new(),
            tlas: BTreeMap::new(),
            argocd_app: "prod-eu".into(),
        })
    );
    assert_eq!(pipeline.targets.len(), 5);
}

#[test]
fn the_contract_example_as_printed_is_refused_for_the_tables_it_leaves_out() {
    let printed = CONTRACT_EXAMPLE
        .split("\n[target.staging-eu]")
        .next()
        .unwrap();
    assert_eq!(
        message(printed),
        "cfgupdate.toml:8: `targets` in [[wave]] \"staging\" lists `staging-eu`, which has no [target.staging-eu] table; every target needs one with its `entrypoint`; the [target] tables are staging-us; did you mean `staging-us`?"
    );
}

#[test]
fn lookups_find_waves_in_order_and_targets_by_name_or_application() {
    let pipeline = parse(CONTRACT_EXAMPLE);
    let staging = wave_name("staging");
    let internal = wave_name("internal");
    let production = wave_name("production");
    assert_eq!(pipeline.first_wave().name, staging);
    assert_eq!(
        pipeline.wave(&internal).unwrap().soak,
        Some(Duration::from_secs(600))
    );
    assert_eq!(pipeline.wave(&wave_name("nowhere")), None);
    assert_eq!(pipeline.next_wave(&staging).unwrap().name, internal);
    assert_eq!(pipeline.next_wave(&internal).unwrap().name, production);
    assert_eq!(pipeline.next_wave(&production), None);
    assert_eq!(pipeline.next_wave(&wave_name("nowhere")), None);
    assert_eq!(
        pipeline
            .wave_of_target(&target_name("prod-eu"))
            .unwrap()
            .name,
        production
    );
    assert_eq!(pipeline.wave_of_target(&target_name("elsewhere")), None);
    assert_eq!(
        pipeline.target_by_app("cfg-app-staging-us").unwrap().name,
        target_name("staging-us")
    );
    // A target with an `argocd_app` is found by that name only, one without by its own name.
    assert_eq!(pipeline.target_by_app("staging-us"), None);
    assert_eq!(
        pipeline.target_by_app("internal").unwrap().name,
        target_name("internal")
    );
    let render = pipeline.render.unwrap();
    assert_eq!(
        render.output_dir(&target_name("prod-us")),
        path("generated/prod-us")
    );
}

#[test]
fn a_single_target_may_render_into_a_fixed_directory() {
    let pipeline = parse(
        r#"[render]
output = "./rendered"

[[wave]]
name = "only"
images = "images.json"
targets = ["only"]

[target.only]
entrypoint = "main.jsonnet"
"#,
    );
    let render = pipeline.render.unwrap();
    assert!(render.jpath.is_empty());
    assert_eq!(render.output_dir(&target_name("only")), path("rendered"));
}

#[test]
fn a_realistic_five_wave_pipeline_parses_with_its_gates_and_regions() {
    let pipeline = parse(include_str!("../fixtures/pipeline/five-waves.toml"));
    let names: Vec<&str> = pipeline.waves.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["dev", "staging", "canary", "prod-1", "prod-2"]);
    assert_eq!(pipeline.targets.len(), 11);
    let soaks: Vec<Option<u64>> = pipeline
        .waves
        .iter()
        .map(|w| w.soak.map(|d| d.as_secs()))
        .collect();
    assert_eq!(
        soaks,
        [None, Some(1_800), Some(3_600), Some(86_400), Some(5_400)]
    );
    let approvals: Vec<bool> = pipeline.waves.iter().map(|w| w.approval).collect();
    assert_eq!(approvals, [false, false, false, true, false]);
    let canary = pipeline.wave(&wave_name("canary")).unwrap();
    let held: Vec<&str> = canary.hold.iter().map(|s| s.as_str()).collect();
    assert_eq!(held, ["billing", "ledger"]);
    let northeast = pipeline.target(&target_name("prod-ap-northeast")).unwrap();
    assert_eq!(
        northeast.ext_vars,
        strings(&[("region", "ap-northeast-1"), ("tier", "gold")])
    );
    assert_eq!(
        pipeline.target(&target_name("canary-us")).unwrap().tlas,
        strings(&[("replicas", "1")])
    );
    assert_eq!(
        pipeline
            .target_by_app("argocd/prod-us-west-2")
            .unwrap()
            .name,
        target_name("prod-us-west")
    );
    assert_eq!(
        pipeline.next_wave(&wave_name("prod-1")).unwrap().name,
        wave_name("prod-2")
    );
    assert_eq!(
        pipeline
            .wave_of_target(&target_name("prod-ap-south"))
            .unwrap()
            .name,
        wave_name("prod-2")
    );
    assert_eq!(pipeline.render.unwrap().jpath.len(), 3);
}

#[test]
fn the_two_file_layout_and_jsonnet_globs_parse_side_by_side() {
    let pipeline = parse(include_str!(
        "../fixtures/pipeline/two-file-and-jsonnet.toml"
    ));
    assert_eq!(
        pipeline.waves[0].images,
        ImageSetLayout::TwoFile {
            tags: path("images/staging/tags.json"),
            digests: path("images/staging/digests.json"),
        }
    );
    assert_eq!(
        pipeline.waves[1].images,
        ImageSetLayout::TwoFile {
            tags: path("images/preprod/tags.json"),
            digests: path("images/preprod/digests.json"),
        }
    );
    assert_eq!(pipeline.waves[1].soak, Some(Duration::from_secs(172_800)));
    // The leading `./` goes: files listed from the repository never carry one.
    assert_eq!(
        pipeline.waves[2].images,
        ImageSetLayout::Jsonnet(vec![
            "envs/prod/images.libsonnet".into(),
            "envs/prod/services/**/*.jsonnet".into(),
            "envs/prod/overrides/[a-m]*.libsonnet".into(),
            "envs/prod/{us,eu}/images.libsonnet".into(),
        ])
    );
    let matcher = pipeline.waves[2].images.matcher();
    for inside in [
        "envs/prod/images.libsonnet",
        "envs/prod/services/api/deploy.jsonnet",
        "envs/prod/services/x.jsonnet",
        "envs/prod/overrides/billing.libsonnet",
        "envs/prod/eu/images.libsonnet",
    ] {
        assert!(matcher.is_match(&path(inside)), "{inside}");
    }
    for outside in [
        "envs/prod/overrides/zeta.libsonnet",
        "envs/prod/asia/images.libsonnet",
        "envs/staging/images.libsonnet",
        "envs/prod/services/api/deploy.libsonnet",
    ] {
        assert!(!matcher.is_match(&path(outside)), "{outside}");
    }
    assert_eq!(
        pipeline.target(&target_name("prod-eu")).unwrap().tlas,
        strings(&[("region", "eu")])
    );
}

#[test]
fn a_json_or_two_file_image_set_matches_exactly_its_files() {
    let pipeline = parse(include_str!(
        "../fixtures/pipeline/two-file-and-jsonnet.toml"
    ));
    let matcher = pipeline.waves[0].images.matcher();
    assert!(matcher.is_match(&path("images/staging/tags.json")));
    assert!(matcher.is_match(&path("images/staging/digests.json")));
    assert!(!matcher.is_match(&path("images/staging/other.json")));
}

// ---------------------------------------------------------------------------------------------
// Syntax and unknown keys.

#[test]
fn a_toml_syntax_error_is_one_sentence_with_file_line_and_column() {
    let err = refusal("[[wave]]\nname = \"a\"\nname = \"b\"\n");
    assert_eq!(
        err.message,
        "cfgupdate.toml:3: invalid TOML at column 1: duplicate key at `name`"
    );
    assert_eq!(err.file, "cfgupdate.toml");
    assert_eq!(err.line, Some(3));
    assert_eq!(
        message("[[wave]]\nname = staging\n"),
        "cfgupdate.toml:2: invalid TOML at column 8: string values must be quoted, expected literal string at `staging`"
    );
    let unclosed = message("# pipeline\n[wave\n");
    assert_eq!(
        unclosed,
        "cfgupdate.toml:2: invalid TOML at column 6: unclosed table, expected `]`"
    );
    assert!(!unclosed.contains('\n'));
}

#[test]
fn the_file_name_given_is_the_one_named() {
    let err = Pipeline::parse("config/cfgupdate.toml", "[wave\n").unwrap_err();
    assert!(
        err.message.starts_with("config/cfgupdate.toml:1: "),
        "{err}"
    );
}

#[test]
fn an_unknown_key_in_a_wave_names_line_key_wave_and_the_keys_it_may_have() {
    let text = TWO_TARGETS.replace("targets =", "imagess = \"x.json\"\ntargets =");
    assert_eq!(
        message(&text),
        "cfgupdate.toml:4: unknown key `imagess` in [[wave]] \"staging\"; expected one of name, images, targets, soak, hold, approval, pin, freeze"
    );
}

#[test]
fn unknown_keys_are_refused_in_every_table() {
    assert_eq!(
        message(&format!("waves = []\n{TWO_TARGETS}")),
        "cfgupdate.toml:1: unknown key `waves` at the top level of the file; expected one of render, wave, target, strict"
    );
    assert_eq!(
        message(&format!(
            "[render]\noutput = \"g/{{target}}\"\njpaths = []\n\n{TWO_TARGETS}"
        )),
        "cfgupdate.toml:3: unknown key `jpaths` in [render]; expected one of output, jpath"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}extvars = {{}}\n")),
        "cfgupdate.toml:11: unknown key `extvars` in [target.b]; expected one of entrypoint, ext_vars, tlas, argocd_app"
    );
}

// ---------------------------------------------------------------------------------------------
// Types.

#[test]
fn a_value_of_the_wrong_type_names_the_key_what_was_expected_and_what_was_found() {
    assert_eq!(
        message(&TWO_TARGETS.replace("targets =", "approval = \"yes\"\ntargets =")),
        "cfgupdate.toml:4: `approval` in [[wave]] \"staging\" must be a boolean (true or false); found the string \"yes\""
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "\"a\"")),
        "cfgupdate.toml:4: `targets` in [[wave]] \"staging\" must be an array of strings; found the string \"a\""
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "[\"a\", 2]")),
        "cfgupdate.toml:4: `targets` in [[wave]] \"staging\" must be an array of strings; item 2 is the integer 2"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("targets =", "soak = 10\ntargets =")),
        "cfgupdate.toml:4: `soak` in [[wave]] \"staging\" must be a string; found the integer 10"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}argocd_app = 3\n")),
        "cfgupdate.toml:11: `argocd_app` in [target.b] must be a string; found the integer 3"
    );
    assert_eq!(
        message(&format!("render = 3\n{TWO_TARGETS}")),
        "cfgupdate.toml:1: `render` at the top level of the file must be a table written [render]; found the integer 3"
    );
    assert_eq!(
        message("[wave]\nname = \"staging\"\n"),
        "cfgupdate.toml:1: `wave` at the top level of the file must be an array of tables, each written [[wave]]; found a table with key name"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}\n[target]\nc = \"x\"\n")),
        "cfgupdate.toml:13: `target.c` at the top level of the file must be a table written [target.NAME]; found the string \"x\""
    );
}

#[test]
fn ext_vars_and_tlas_must_be_strings_as_argo_cd_passes_them() {
    assert_eq!(
        message(&format!(
            "{TWO_TARGETS}ext_vars = {{ region = \"eu\", replicas = 3 }}\n"
        )),
        "cfgupdate.toml:11: `ext_vars.replicas` in [target.b] must be a string (Argo CD passes ext vars as strings); found the integer 3"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}\n[target.b.tlas]\nflag = true\n")),
        "cfgupdate.toml:13: `tlas.flag` in [target.b] must be a string (Argo CD passes top-level arguments as strings); found the boolean true"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}ext_vars = \"region=eu\"\n")),
        "cfgupdate.toml:11: `ext_vars` in [target.b] must be a table; found the string \"region=eu\""
    );
}

#[test]
fn images_of_any_other_shape_are_refused_naming_the_three_accepted_shapes() {
    let shapes = "must be a path string (\"images/staging.json\"), a table { tags = \"...\", digests = \"...\" } or a table { jsonnet = [\"...\"] }";
    for (images, found) in [
        ("3", "the integer 3"),
        ("[\"a.json\"]", "an array"),
        (
            "{ tag = \"t.json\", digests = \"d.json\" }",
            "a table with keys tag, digests",
        ),
        ("{ tags = \"t.json\" }", "a table with key tags"),
        (
            "{ jsonnet = [\"a.jsonnet\"], tags = \"t.json\" }",
            "a table with keys jsonnet, tags",
        ),
        ("{}", "an empty table"),
    ] {
        let text = TWO_TARGETS.replace("\"images/staging.json\"", images);
        assert_eq!(
            message(&text),
            format!("cfgupdate.toml:3: `images` in [[wave]] \"staging\" {shapes}; found {found}"),
            "{images}"
        );
    }
}

#[test]
fn a_jsonnet_image_set_needs_at_least_one_file() {
    let text = TWO_TARGETS.replace("\"images/staging.json\"", "{ jsonnet = [] }");
    assert_eq!(
        message(&text),
        "cfgupdate.toml:3: `images.jsonnet` in [[wave]] \"staging\" is empty; list at least one Jsonnet file or glob"
    );
}

// ---------------------------------------------------------------------------------------------
// Names.

#[test]
fn names_outside_the_grammar_are_refused_with_the_rule() {
    let rule = "it must start with a lower-case letter or digit and continue with at most 62 lower-case letters, digits, `_`, `.` or `-`";
    assert_eq!(
        message(&TWO_TARGETS.replace("\"staging\"", "\"Staging\"")),
        format!(
            "cfgupdate.toml:2: `name` in [[wave]] number 1 is `Staging`, which is not a valid wave name: {rule}"
        )
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "[\"a\", \"b_\", \"-c\"]")),
        format!(
            "cfgupdate.toml:4: `targets` in [[wave]] \"staging\" lists `-c`, which is not a valid target name: {rule}"
        )
    );
    assert_eq!(
        message(&format!(
            "{TWO_TARGETS}\n[target.Prod]\nentrypoint = \"p.jsonnet\"\n"
        )),
        format!(
            "cfgupdate.toml:12: [target.Prod] names the target `Prod`, which is not a valid target name: {rule}"
        )
    );
    let long = "x".repeat(64);
    assert_eq!(
        message(&TWO_TARGETS.replace("\"staging\"", &format!("\"{long}\""))),
        format!(
            "cfgupdate.toml:2: `name` in [[wave]] number 1 is `{long}`, which is not a valid wave name: {rule}"
        )
    );
}

#[test]
fn hold_lists_service_names() {
    assert_eq!(
        message(&TWO_TARGETS.replace("targets =", "hold = [\"billing\", \"api:tag\"]\ntargets =")),
        "cfgupdate.toml:4: `hold` in [[wave]] \"staging\" lists `api:tag`, which is not a valid service name: it must start with a letter or digit and continue with at most 127 letters, digits, `_`, `.` or `-`"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("targets =", "hold = [\"billing\", \"billing\"]\ntargets =")),
        "cfgupdate.toml:4: `hold` in [[wave]] \"staging\" lists `billing` twice"
    );
    let pipeline = parse(&TWO_TARGETS.replace("targets =", "hold = [\"Service1\"]\ntargets ="));
    assert_eq!(pipeline.waves[0].hold[0].as_str(), "Service1");
}

// ---------------------------------------------------------------------------------------------
// Waves and targets.

#[test]
fn a_pipeline_needs_at_least_one_wave() {
    let err = refusal("[target.a]\nentrypoint = \"a.jsonnet\"\n");
    assert_eq!(
        err.message,
        "cfgupdate.toml: the pipeline has no waves; add at least one [[wave]] with a name, images and targets"
    );
    assert_eq!(err.line, None);
    assert_eq!(message(""), err.message);
}

#[test]
fn a_wave_needs_a_name_and_images() {
    assert_eq!(
        message(&TWO_TARGETS.replace("name = \"staging\"\n", "")),
        "cfgupdate.toml:1: [[wave]] number 1 has no `name`"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("images = \"images/staging.json\"\n", "")),
        "cfgupdate.toml:1: [[wave]] \"staging\" has no `images`, where the wave's image set lives: a path, { tags = \"...\", digests = \"...\" } or { jsonnet = [\"...\"] }"
    );
}

#[test]
fn wave_names_are_unique() {
    let text = format!(
        "{TWO_TARGETS}\n[[wave]]\nname = \"staging\"\nimages = \"images/other.json\"\ntargets = [\"c\"]\n\n[target.c]\nentrypoint = \"c.jsonnet\"\n"
    );
    assert_eq!(
        message(&text),
        "cfgupdate.toml:13: wave name `staging` is used twice, at lines 2 and 13; wave names must be unique"
    );
}

#[test]
fn every_wave_has_at_least_one_target() {
    assert_eq!(
        message(&TWO_TARGETS.replace("targets = [\"a\", \"b\"]\n", "")),
        "cfgupdate.toml:1: [[wave]] \"staging\" has no targets; every wave needs at least one"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "[]")),
        "cfgupdate.toml:4: [[wave]] \"staging\" has no targets; every wave needs at least one"
    );
}

#[test]
fn a_target_belongs_to_exactly_one_wave() {
    let text = format!(
        "{TWO_TARGETS}\n[[wave]]\nname = \"prod\"\nimages = \"images/prod.json\"\ntargets = [\n  \"c\",\n  \"b\",\n]\n\n[target.c]\nentrypoint = \"c.jsonnet\"\n"
    );
    assert_eq!(
        message(&text),
        "cfgupdate.toml:17: target `b` is listed in [[wave]] \"prod\" and already in [[wave]] \"staging\" (line 4); a target belongs to exactly one wave"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "[\"a\", \"b\", \"a\"]")),
        "cfgupdate.toml:4: `targets` in [[wave]] \"staging\" lists `a` twice"
    );
}

#[test]
fn every_target_of_a_wave_has_a_table_and_every_table_a_wave() {
    assert_eq!(
        message(&TWO_TARGETS.replace("[\"a\", \"b\"]", "[\"a\", \"b\", \"prod.us\"]")),
        "cfgupdate.toml:4: `targets` in [[wave]] \"staging\" lists `prod.us`, which has no [target.\"prod.us\"] table; every target needs one with its `entrypoint`; the [target] tables are a, b"
    );
    // A typo in a wave's `targets` is answered with the nearest table.
    assert!(
        message(
            &TWO_TARGETS
                .replace("[target.b]", "[target.prod-us]")
                .replace("[\"a\", \"b\"]", "[\"a\", \"prod-su\"]")
        )
        .ends_with("`prod-su`, which has no [target.prod-su] table; every target needs one with its `entrypoint`; the [target] tables are a, prod-us; did you mean `prod-us`?")
    );
    assert_eq!(
        message(&format!(
            "{TWO_TARGETS}\n[target.old]\nentrypoint = \"old.jsonnet\"\n"
        )),
        "cfgupdate.toml:12: [target.old] belongs to no wave; list it in the `targets` of one [[wave]] or remove it"
    );
}

#[test]
fn a_target_needs_an_entrypoint_inside_the_repository() {
    assert_eq!(
        message(&TWO_TARGETS.replace("entrypoint = \"envs/b.jsonnet\"", "argocd_app = \"bee\"")),
        "cfgupdate.toml:9: [target.b] has no `entrypoint`, the Jsonnet file Argo CD renders for the target"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace("envs/b.jsonnet", "envs/../../b.jsonnet")),
        "cfgupdate.toml:10: `entrypoint` in [target.b] is `envs/../../b.jsonnet`, which is not a path inside the repository: it has a `.` or `..` component"
    );
}

#[test]
fn argocd_app_defaults_to_the_target_name_and_is_unique() {
    let pipeline = parse(TWO_TARGETS);
    assert_eq!(pipeline.target(&target_name("a")).unwrap().argocd_app, "a");
    assert_eq!(
        message(&format!("{TWO_TARGETS}argocd_app = \"a\"\n")),
        "cfgupdate.toml:11: `argocd_app` in [target.b] is `a`, already the Argo CD application of [target.a] (line 6); each target needs its own"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace(
            "entrypoint = \"envs/a.jsonnet\"",
            "entrypoint = \"envs/a.jsonnet\"\nargocd_app = \"b\""
        )),
        "cfgupdate.toml:10: [target.b] has no `argocd_app`, so its application is its name `b`, already the Argo CD application of [target.a] (line 8); each target needs its own"
    );
    assert_eq!(
        message(&format!("{TWO_TARGETS}argocd_app = \"My App\"\n")),
        "cfgupdate.toml:11: `argocd_app` in [target.b] is `My App`, which is not an Argo CD application name: lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253 characters, optionally after a namespace and `/`"
    );
}

// ---------------------------------------------------------------------------------------------
// Gates.

#[test]
fn soak_is_a_duration_that_is_positive_and_representable() {
    let soak =
        |value: &str| TWO_TARGETS.replace("targets =", &format!("soak = \"{value}\"\ntargets ="));
    assert_eq!(
        parse(&soak("1h30m")).waves[0].soak,
        Some(Duration::from_secs(5_400))
    );
    assert_eq!(
        parse(&soak("2d")).waves[0].soak,
        Some(Duration::from_secs(172_800))
    );
    assert_eq!(
        parse(&soak("30s")).waves[0].soak,
        Some(Duration::from_secs(30))
    );
    let prefix = "cfgupdate.toml:4: `soak` in [[wave]] \"staging\" is";
    let suffix = "write it like 30s, 10m, 1h30m or 2d";
    // Not in the grammar at all: jiff's own reason, then how to write one.
    for value in ["30m1h", "1 hour 1h", "5x", "99999999999999999999d"] {
        let message = message(&soak(value));
        assert!(
            message.starts_with(&format!("{prefix} `{value}`, which is not a duration: "))
                && message.ends_with(&format!("; {suffix}"))
                && message.lines().count() == 1,
            "{message}"
        );
    }
    for (value, reason) in [
        ("0", "it is zero, and a soak gate of no time is no gate"),
        ("0m", "it is zero, and a soak gate of no time is no gate"),
        ("-5m", "it is negative"),
        ("10", "`10` has no unit (for example ms, s, m, h or d)"),
        (
            "5y",
            "years have no fixed length; use weeks, days, hours, minutes or seconds",
        ),
        ("", "it is empty"),
    ] {
        assert_eq!(
            message(&soak(value)),
            format!("{prefix} `{value}`, which is not a duration: {reason}; {suffix}"),
            "{value}"
        );
    }
}

#[test]
fn a_soak_that_is_not_a_duration_is_shown_escaped_and_cut() {
    // The value comes from whoever pushes the pipeline file: a line break or a direction
    // override in it must not split or reorder the sentence, and a long one must not fill it.
    let soak =
        |value: &str| TWO_TARGETS.replace("targets =", &format!("soak = \"{value}\"\ntargets ="));
    let error = message(&soak("1h\\n2m\\u202E"));
    assert!(
        error.contains("is `1h\\n2m\\u{202e}`, which is not a duration: ")
            && error.lines().count() == 1
            && !error.contains('\u{202e}'),
        "{error}"
    );
    let long = "1h".repeat(5_000);
    let error = message(&soak(&long));
    assert!(
        error.contains("more characters") && error.len() < 4_000,
        "{} characters: {}",
        error.len(),
        &error[..200]
    );
}

#[test]
fn refused_names_paths_and_globs_are_shown_escaped() {
    // Each refused value holds a line break and a direction override (TOML escapes, so the
    // file itself is one line per key): the sentence names it escaped, on one line.
    let hostile = r"\n\u202E";
    let render = |output: &str| format!("[render]\noutput = \"{output}\"\n\n{TWO_TARGETS}");
    for text in [
        TWO_TARGETS.replace("name = \"staging\"", &format!("name = \"s{hostile}\"")),
        TWO_TARGETS.replace("[\"a\", \"b\"]", &format!("[\"a\", \"b{hostile}\"]")),
        TWO_TARGETS.replace("\"envs/a.jsonnet\"", &format!("\"/a{hostile}\"")),
        TWO_TARGETS.replace(
            "\"images/staging.json\"",
            &format!("{{ jsonnet = [\"/i{hostile}\"] }}"),
        ),
        format!("{TWO_TARGETS}argocd_app = \"B{hostile}\"\n"),
        format!("[render]\noutput = \"g\"\njpath = [\"/l{hostile}\"]\n\n{TWO_TARGETS}"),
        render(&format!("g{hostile}{{x}}")),
        render(&format!("/g{hostile}/{{target}}")),
    ] {
        let error = message(&text);
        assert!(
            error.contains(r"\n\u{202e}")
                && error.lines().count() == 1
                && !error.contains('\u{202e}'),
            "{text}\n{error}"
        );
    }
}

#[test]
fn approval_is_a_boolean_that_defaults_to_false() {
    assert!(!parse(TWO_TARGETS).waves[0].approval);
    let text = TWO_TARGETS.replace("targets =", "approval = true\ntargets =");
    assert!(parse(&text).waves[0].approval);
    assert_eq!(
        message(&TWO_TARGETS.replace("targets =", "approval = 1\ntargets =")),
        "cfgupdate.toml:4: `approval` in [[wave]] \"staging\" must be a boolean (true or false); found the integer 1"
    );
}

#[test]
fn pin_is_digest_by_default_or_tag_and_nothing_else() {
    assert_eq!(parse(TWO_TARGETS).waves[0].pin, Pin::Digest);
    let text = TWO_TARGETS.replace("targets =", "pin = \"tag\"\ntargets =");
    assert_eq!(parse(&text).waves[0].pin, Pin::Tag);
    let text = TWO_TARGETS.replace("targets =", "pin = \"digest\"\ntargets =");
    assert_eq!(parse(&text).waves[0].pin, Pin::Digest);
    let error = message(&TWO_TARGETS.replace("targets =", "pin = \"sha\"\ntargets ="));
    assert!(
        error.starts_with(
            "cfgupdate.toml:4: `pin` in [[wave]] \"staging\" is `sha`, which is not a pin"
        ),
        "{error}"
    );
    assert!(
        message(&TWO_TARGETS.replace("targets =", "pin = true\ntargets ="))
            .contains("must be a string")
    );
}

// ---------------------------------------------------------------------------------------------
// Paths and image sets.

#[test]
fn image_paths_stay_inside_the_repository() {
    assert_eq!(
        message(&TWO_TARGETS.replace("images/staging.json", "/images/staging.json")),
        "cfgupdate.toml:3: `images` in [[wave]] \"staging\" is `/images/staging.json`, which is not a path inside the repository: it is absolute; write it relative to the repository root"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace(
            "\"images/staging.json\"",
            "{ tags = \"images/tags.json\", digests = \"../digests.json\" }"
        )),
        "cfgupdate.toml:3: `images.digests` in [[wave]] \"staging\" is `../digests.json`, which is not a path inside the repository: it has a `.` or `..` component"
    );
    assert_eq!(
        message(&TWO_TARGETS.replace(
            "\"images/staging.json\"",
            "{ tags = \"images/i.json\", digests = \"./images/i.json\" }"
        )),
        "cfgupdate.toml:3: `images.tags` and `images.digests` in [[wave]] \"staging\" are both `images/i.json`; the two-file layout needs two files"
    );
}

#[test]
fn jsonnet_patterns_are_relative_globs_without_dot_dot() {
    let jsonnet = |patterns: &str| {
        TWO_TARGETS.replace(
            "\"images/staging.json\"",
            &format!("{{ jsonnet = [\n  \"envs/*.libsonnet\",\n  {patterns},\n] }}"),
        )
    };
    let prefix = "cfgupdate.toml:5: `images.jsonnet` in [[wave]] \"staging\" lists";
    for (pattern, reason) in [
        ("../lib/*.libsonnet", "it has a `.` or `..` component"),
        ("envs/**/../x.jsonnet", "it has a `.` or `..` component"),
        (
            "/envs/*.jsonnet",
            "it is absolute; write it relative to the repository root",
        ),
        (
            "envs/[prod.jsonnet",
            "it is not a valid glob: unclosed character class; missing ']'",
        ),
        (
            "envs/{a,b.jsonnet",
            "it is not a valid glob: unclosed alternate group; missing '}' (maybe escape '{' with '[{]'?)",
        ),
    ] {
        assert_eq!(
            message(&jsonnet(&format!("\"{pattern}\""))),
            format!(
                "{prefix} `{pattern}`, which is not a path or glob inside the repository: {reason}"
            ),
            "{pattern}"
        );
    }
    assert_eq!(
        message(&jsonnet("3")),
        "cfgupdate.toml:5: `images.jsonnet` in [[wave]] \"staging\" must be an array of strings; item 2 is the integer 3"
    );
}

/// Two waves, each with one target, whose image sets are the two `images` values given.
fn two_waves(first: &str, second: &str) -> String {
    format!(
        "[[wave]]\nname = \"staging\"\nimages = {first}\ntargets = [\"a\"]\n\n[[wave]]\nname = \"prod\"\nimages = {second}\ntargets = [\"b\"]\n\n[target.a]\nentrypoint = \"a.jsonnet\"\n\n[target.b]\nentrypoint = \"b.jsonnet\"\n"
    )
}

#[test]
fn no_file_is_in_two_waves_image_sets() {
    let why = "a file belongs to one wave's image set, or writing one wave would change another";
    assert_eq!(
        message(&two_waves("\"images/all.json\"", "\"./images/all.json\"")),
        format!(
            "cfgupdate.toml:8: `images` in [[wave]] \"prod\" is `images/all.json`, already in the image set of [[wave]] \"staging\" (line 3); {why}"
        )
    );
    assert_eq!(
        message(&two_waves(
            "{ tags = \"images/tags.json\", digests = \"images/staging-digests.json\" }",
            "{ tags = \"images/tags.json\", digests = \"images/prod-digests.json\" }"
        )),
        format!(
            "cfgupdate.toml:8: `images.tags` in [[wave]] \"prod\" is `images/tags.json`, already in the image set of [[wave]] \"staging\" (line 3); {why}"
        )
    );
    assert_eq!(
        message(&two_waves(
            "\"images/staging.json\"",
            "{ jsonnet = [\"envs/prod.libsonnet\", \"images/*.json\"] }"
        )),
        format!(
            "cfgupdate.toml:8: `images.jsonnet` in [[wave]] \"prod\" lists `images/*.json`, which matches `images/staging.json`, in the image set of [[wave]] \"staging\" (line 3); {why}"
        )
    );
    assert_eq!(
        message(&two_waves(
            "{ jsonnet = [\"envs/**/images.libsonnet\"] }",
            "{ jsonnet = [\"envs/prod/images.libsonnet\"] }"
        )),
        format!(
            "cfgupdate.toml:8: `images.jsonnet` in [[wave]] \"prod\" lists `envs/prod/images.libsonnet`, which `envs/**/images.libsonnet` puts in the image set of [[wave]] \"staging\" (line 3); {why}"
        )
    );
    assert_eq!(
        message(&two_waves(
            "{ jsonnet = [\"envs/*/images.libsonnet\"] }",
            "{ jsonnet = [\"envs/*/images.libsonnet\"] }"
        )),
        format!(
            "cfgupdate.toml:8: `images.jsonnet` in [[wave]] \"prod\" lists `envs/*/images.libsonnet`, already in the image set of [[wave]] \"staging\" (line 3); {why}"
        )
    );
    // A `*` stays in its directory, so these two sets are apart.
    parse(&two_waves(
        "{ jsonnet = [\"envs/*.libsonnet\"] }",
        "{ jsonnet = [\"envs/prod/images.libsonnet\"] }",
    ));
}

#[test]
fn two_different_globs_are_checked_against_the_files_in_the_repository() {
    let pipeline = parse(&two_waves(
        "{ jsonnet = [\"envs/staging*/*.libsonnet\"] }",
        "{ jsonnet = [\"envs/*/images.libsonnet\"] }",
    ));
    let apart = [
        path("envs/staging/a.libsonnet"),
        path("envs/prod/images.libsonnet"),
    ];
    assert_eq!(pipeline.check_image_files(&apart), Ok(()));
    let shared = [
        path("envs/prod/images.libsonnet"),
        path("envs/staging/images.libsonnet"),
    ];
    assert_eq!(
        pipeline.check_image_files(&shared).unwrap_err().message,
        "cfgupdate.toml: `envs/staging/images.libsonnet` is in the image sets of both [[wave]] \"staging\" and [[wave]] \"prod\"; a file belongs to one wave's image set, or writing one wave would change another"
    );
}

// ---------------------------------------------------------------------------------------------
// Render.

#[test]
fn render_output_names_each_targets_directory_with_the_target_placeholder() {
    let render = |output: &str| format!("[render]\noutput = \"{output}\"\n\n{TWO_TARGETS}");
    assert_eq!(
        message(&render("generated")),
        "cfgupdate.toml:2: `output` in [render] is `generated`, which has no {target}; with 2 targets each needs its own directory"
    );
    assert_eq!(
        message(&render("generated/{wave}/{target}")),
        "cfgupdate.toml:2: `output` in [render] is `generated/{wave}/{target}`; the only placeholder it may hold is {target}"
    );
    assert_eq!(
        message(&render("/generated/{target}")),
        "cfgupdate.toml:2: `output` in [render] is `/generated/{target}`: for target `a` it gives `/generated/a`, which is not a path inside the repository: it is absolute; write it relative to the repository root"
    );
    assert_eq!(
        message(&render("generated/../{target}")),
        "cfgupdate.toml:2: `output` in [render] is `generated/../{target}`: for target `a` it gives `generated/../a`, which is not a path inside the repository: it has a `.` or `..` component"
    );
    assert_eq!(
        message(&render("out/.{target}")),
        "cfgupdate.toml:2: `output` in [render] is `out/.{target}`; a directory named after a target must not start with `.`"
    );
    assert_eq!(
        message("[render]\njpath = [\"lib\"]\n"),
        "cfgupdate.toml:1: [render] has no `output`, the directory pattern that rendered YAML is written to (such as \"generated/{target}\")"
    );
    assert_eq!(
        message(&format!(
            "[render]\noutput = \"g/{{target}}\"\njpath = [\"lib\", \"/usr/lib\"]\n{TWO_TARGETS}"
        )),
        "cfgupdate.toml:3: `jpath` in [render] lists `/usr/lib`, which is not a path inside the repository: it is absolute; write it relative to the repository root"
    );
}

#[test]
fn render_output_never_overlaps_image_files_or_entrypoints() {
    let why = "the output directory holds only rendered YAML";
    let render =
        |output: &str, pipeline: &str| format!("[render]\noutput = \"{output}\"\n\n{pipeline}");
    assert_eq!(
        message(&render(
            "images/{target}",
            &TWO_TARGETS.replace("images/staging.json", "images/a/staging.json")
        )),
        format!(
            "cfgupdate.toml:2: `output` in [render] is `images/{{target}}`: for target `a` it gives `images/a`, which overlaps `images/a/staging.json`, in the image set of [[wave]] \"staging\" (line 6); {why}"
        )
    );
    assert_eq!(
        message(&render("images/staging.json/{target}", TWO_TARGETS)),
        format!(
            "cfgupdate.toml:2: `output` in [render] is `images/staging.json/{{target}}`: for target `a` it gives `images/staging.json/a`, which overlaps `images/staging.json`, in the image set of [[wave]] \"staging\" (line 6); {why}"
        )
    );
    let jsonnet = |pattern: &str| {
        TWO_TARGETS.replace(
            "\"images/staging.json\"",
            &format!("{{ jsonnet = [\"{pattern}\"] }}"),
        )
    };
    assert_eq!(
        message(&render("gen/{target}", &jsonnet("gen/b/*.libsonnet"))),
        format!(
            "cfgupdate.toml:2: `output` in [render] is `gen/{{target}}`: for target `b` it gives `gen/b`, which overlaps `gen/b/*.libsonnet`, in the image set of [[wave]] \"staging\" (line 6); {why}"
        )
    );
    assert_eq!(
        message(&render("gen/{target}", &jsonnet("gen/**"))),
        format!(
            "cfgupdate.toml:2: `output` in [render] is `gen/{{target}}`: for target `a` it gives `gen/a`, which overlaps `gen/**`, in the image set of [[wave]] \"staging\" (line 6); {why}"
        )
    );
    // Jsonnet files next to the output directories are fine: rendering writes only YAML.
    parse(&render("gen/{target}", &jsonnet("gen/**/*.libsonnet")));
    assert_eq!(
        message(&render(
            "envs/{target}",
            &TWO_TARGETS.replace("envs/b.jsonnet", "envs/b/main.jsonnet")
        )),
        format!(
            "cfgupdate.toml:2: `output` in [render] is `envs/{{target}}`: for target `b` it gives `envs/b`, which overlaps `envs/b/main.jsonnet`, the entrypoint of [target.b] (line 13); {why}"
        )
    );
}
