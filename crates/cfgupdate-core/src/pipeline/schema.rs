//! A JSON Schema of `cfgupdate.toml` (draft 2020-12), for editors (Taplo, VS Code's Even Better
//! TOML) and CI linters: `cfgupdate schema` prints it, `docs/config.md` explains every key.
//!
//! Built from the same key lists the reader accepts ([`super::read`]), so the schema can name no
//! key the reader refuses and miss none it takes: a test compares them. The reader stays the
//! authority (globs, durations and names are checked there with sentences that name the line);
//! the schema gives an editor the shape, the defaults and a description of each key.

use serde_json::{Map, Value, json};

use super::freeze_windows::FREEZE_KEYS;
use super::read::{RENDER_KEYS, TARGET_KEYS, TOP_KEYS, WAVE_KEYS};
use super::strict_table::STRICT_KEYS;

/// `[a-z0-9][a-z0-9_.-]{0,62}`: wave and target names.
const PIPELINE_NAME: &str = "^[a-z0-9][a-z0-9_.-]{0,62}$";
/// Service names: a letter or digit, then at most 127 letters, digits, `_`, `.` or `-`.
const SERVICE_NAME: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$";
/// A duration as `soak` takes it: whole numbers with units, e.g. `30s`, `10m`, `1h30m`, `2d`.
const DURATION: &str = "^([0-9]+(ms|s|m|h|d))+$";
/// A freeze window's duration: as `soak`, with weeks too (`1w`, `2d15h`).
const DURATION_FRIENDLY: &str = "^([0-9]+(ms|s|m|h|d|w))+$";

/// The JSON Schema of `cfgupdate.toml`.
pub fn schema() -> Value {
    let strings = json!({ "type": "object", "additionalProperties": { "type": "string" } });
    let render = object(
        RENDER_KEYS,
        &[
            (
                "output",
                json!({
                    "type": "string",
                    "description": "Where each target's rendered YAML goes, relative to the repository root; `{target}` is replaced by the target's name. The directory holds only rendered YAML: `render --write` replaces it.",
                    "examples": ["generated/{target}"],
                }),
            ),
            (
                "jpath",
                json!({
                    "type": "array",
                    "items": { "type": "string" },
                    "default": [],
                    "description": "Library search paths for imports, relative to the repository root, tried in order after the importing file's own directory.",
                    "examples": [["lib", "vendor"]],
                }),
            ),
        ],
        &["output"],
        "Optional. With it, committed YAML is regenerated for every target a change affects, and automatic changes are render-checked.",
    );
    let images = json!({
        "description": "Where the wave's image set lives: a JSON image file (`\"images/staging.json\"`), the two-file layout (`{ tags = \"...\", digests = \"...\" }`), or slots in Jsonnet files (`{ jsonnet = [\"file.libsonnet\", \"dir/**/*.jsonnet\"] }`). A `.libsonnet` or `.jsonnet` path given as a plain string is read as JSON: use `{ jsonnet = [...] }` for Jsonnet.",
        "oneOf": [
            { "type": "string", "description": "A JSON image file: service name to reference, or to an object of `ref`, `name`, `tag`, `digest`.", "examples": ["images/staging.json"] },
            {
                "type": "object",
                "description": "The two-file layout of the original design.",
                "properties": {
                    "tags": { "type": "string", "description": "The file mapping service to `name:tag`." },
                    "digests": { "type": "string", "description": "The file mapping service to `name@digest`." },
                },
                "required": ["tags", "digests"],
                "additionalProperties": false,
            },
            {
                "type": "object",
                "description": "Image slots in Jsonnet files: literals marked `// cfgupdate: SERVICE` (or `:tag`, `:digest`, `:name`), or fields named after the service (docs/slots.md).",
                "properties": {
                    "jsonnet": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "Files or globs (`**` for any depth), relative to the repository root." },
                },
                "required": ["jsonnet"],
                "additionalProperties": false,
            },
        ],
    });
    let wave = object(
        WAVE_KEYS,
        &[
            (
                "name",
                json!({ "type": "string", "pattern": PIPELINE_NAME, "description": "The wave's name: lower-case letters, digits, `_`, `.`, `-`." }),
            ),
            ("images", images),
            (
                "targets",
                json!({ "type": "array", "items": { "type": "string", "pattern": PIPELINE_NAME }, "minItems": 1, "uniqueItems": true, "description": "The targets (Argo CD Applications) of the wave; each has a `[target.NAME]` table and belongs to exactly one wave." }),
            ),
            (
                "soak",
                json!({ "type": "string", "pattern": DURATION, "description": "Gate: promotion into this wave waits until the source wave stayed deployed this long.", "examples": ["10m", "1h30m"] }),
            ),
            (
                "hold",
                json!({ "type": "array", "items": { "type": "string", "pattern": SERVICE_NAME }, "uniqueItems": true, "default": [], "description": "Services automation must not change in this wave." }),
            ),
            (
                "approval",
                json!({ "type": "boolean", "default": false, "description": "Gate: promotion into this wave waits for an approval (`cfgupdate approve`, `POST /v1/approvals`)." }),
            ),
            (
                "pin",
                json!({ "enum": ["digest", "tag"], "default": "digest", "description": "`digest`: every service's slots together must carry the digest (what runs); `tag`: slots that can hold only a tag are accepted, and `status` says so." }),
            ),
            ("freeze", freeze()),
        ],
        &["name", "images", "targets"],
        "One wave of the pipeline; waves are promoted in the order they appear.",
    );
    let target = object(
        TARGET_KEYS,
        &[
            (
                "entrypoint",
                json!({ "type": "string", "description": "The Jsonnet file Argo CD renders for this target, relative to the repository root." }),
            ),
            (
                "ext_vars",
                merge(
                    &strings,
                    json!({ "default": {}, "description": "External variables as Argo CD's `extVars` (strings)." }),
                ),
            ),
            (
                "tlas",
                merge(
                    &strings,
                    json!({ "default": {}, "description": "Top-level arguments as Argo CD's `tlas` (strings)." }),
                ),
            ),
            (
                "argocd_app",
                json!({ "type": "string", "description": "The Argo CD Application that deploys this target, as deploy reports may name it (`\"app\"`). Default: the target's name." }),
            ),
        ],
        &["entrypoint"],
        "One target: what Argo CD renders and deploys as one Application.",
    );
    let strict = object(
        STRICT_KEYS,
        &[
            (
                "branch",
                json!({
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._/-]{0,199}$",
                    "description": "The auto branch: every automatic commit lands here, on top of the main branch, and the main branch is fast-forwarded to it once the config repository's CI passed the commit (docs/strict.md). cfgupdate's own: it may force-update it; nobody deploys it.",
                    "examples": ["auto"],
                }),
            ),
            (
                "contexts",
                json!({
                    "type": "array",
                    "items": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "\\S" },
                    "minItems": 1,
                    "uniqueItems": true,
                    "description": "The CI checks (`context` of `POST /v1/checks`, `--context` of `cfgupdate checked`, GitHub's commit status context) that must all report success for a commit before the main branch is fast-forwarded to it. Results of other checks are recorded and shown, and never decide. Without it, any check's success accepts a commit once no other check recorded for that commit is pending or failed (docs/strict.md).",
                    "examples": [["kubeconform", "policy"]],
                }),
            ),
        ],
        &["branch"],
        "Optional: strict mode. Automatic commits reach the branch Argo CD watches only once CI said yes (docs/strict.md).",
    );
    let mut top = object(
        TOP_KEYS,
        &[
            ("render", render),
            ("strict", strict),
            (
                "wave",
                json!({ "type": "array", "items": wave, "minItems": 1, "description": "The waves, first to last." }),
            ),
            (
                "target",
                json!({
                    "type": "object",
                    "propertyNames": { "pattern": PIPELINE_NAME },
                    "additionalProperties": target,
                    "description": "Every target named in a wave, by name.",
                }),
            ),
        ],
        &["wave", "target"],
        "The pipeline file of a cfgupdate config repository (docs/config.md).",
    );
    if let Value::Object(map) = &mut top {
        map.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        map.insert("title".into(), json!("cfgupdate.toml"));
    }
    top
}

/// A wave's `freeze` list: each entry fixed (`from`, `to`) or recurring (`cron`, `duration`,
/// `timezone`), with a `reason`; the properties are [`FREEZE_KEYS`], the shapes say which go
/// together.
fn freeze() -> Value {
    let entry = object(
        FREEZE_KEYS,
        &[
            (
                "from",
                json!({ "type": "string", "format": "date-time", "description": "A fixed window's first frozen instant, RFC 3339 with an offset (a TOML offset date-time is taken too).", "examples": ["2026-12-20T00:00:00Z"] }),
            ),
            (
                "to",
                json!({ "type": "string", "format": "date-time", "description": "A fixed window's end (the first instant no longer frozen), after `from`.", "examples": ["2027-01-04T00:00:00Z"] }),
            ),
            (
                "cron",
                json!({ "type": "string", "description": "When a recurring window starts: five cron fields (minute, hour, day of month, month, day of week; names like FRI and DEC allowed) in wall-clock time of `timezone`.", "examples": ["0 17 * * FRI"] }),
            ),
            (
                "duration",
                json!({ "type": "string", "pattern": DURATION_FRIENDLY, "description": "How long a recurring window lasts. Days and weeks are calendar days in `timezone` (a day across a daylight-saving change has 23 or 25 hours); hours and smaller units are elapsed time.", "examples": ["63h", "2d15h"] }),
            ),
            (
                "timezone",
                json!({ "type": "string", "default": "UTC", "description": "The IANA time zone `cron` and the duration's days are read in; daylight-saving changes are honoured.", "examples": ["Europe/Berlin", "America/New_York"] }),
            ),
            (
                "reason",
                json!({ "type": "string", "minLength": 1, "description": "Why the wave is frozen: `status` and the answer to a deferred announcement show it." }),
            ),
        ],
        &["reason"],
        "One freeze window: fixed (`from`, `to`) or recurring (`cron`, `duration`, `timezone`).",
    );
    let mut entry = entry;
    if let Value::Object(map) = &mut entry {
        map.insert(
            "oneOf".into(),
            json!([
                { "required": ["from", "to"], "not": { "anyOf": [{ "required": ["cron"] }, { "required": ["duration"] }, { "required": ["timezone"] }] } },
                { "required": ["cron", "duration"], "not": { "anyOf": [{ "required": ["from"] }, { "required": ["to"] }] } },
            ]),
        );
    }
    json!({
        "type": "array",
        "items": entry,
        "maxItems": super::freeze_windows::MAX_FREEZE_WINDOWS,
        "default": [],
        "description": "Freeze windows (at most 32 per wave): while one holds, nothing automatic writes into the wave. A promotion waits; an announcement into a frozen first wave is deferred and published when the window ends. An admin may override (`--override-freeze`, `\"override_freeze\": true`).",
        "examples": [[
            { "from": "2026-12-20T00:00:00Z", "to": "2027-01-04T00:00:00Z", "reason": "holidays" },
            { "cron": "0 17 * * FRI", "duration": "63h", "timezone": "Europe/Berlin", "reason": "weekend" },
        ]],
    })
}

/// An object schema whose properties are exactly `keys`, described by `properties`.
fn object(
    keys: &[&str],
    properties: &[(&str, Value)],
    required: &[&str],
    description: &str,
) -> Value {
    let mut map = Map::new();
    for key in keys {
        let property = properties
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, schema)| schema.clone())
            // A key the reader takes that has no description yet still belongs to the shape.
            .unwrap_or_else(|| json!({}));
        map.insert((*key).to_owned(), property);
    }
    json!({
        "type": "object",
        "description": description,
        "properties": map,
        "required": required,
        "additionalProperties": false,
    })
}

fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(schema: &Value) -> Vec<String> {
        let mut keys: Vec<String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_schema_names_exactly_the_keys_the_reader_takes_and_describes_each() {
        let schema = schema();
        let render = &schema["properties"]["render"];
        let wave = &schema["properties"]["wave"]["items"];
        let target = &schema["properties"]["target"]["additionalProperties"];
        let freeze = &wave["properties"]["freeze"]["items"];
        let strict = &schema["properties"]["strict"];
        for (table, expected) in [
            (&schema, TOP_KEYS),
            (strict, STRICT_KEYS),
            (render, RENDER_KEYS),
            (wave, WAVE_KEYS),
            (target, TARGET_KEYS),
            (freeze, FREEZE_KEYS),
        ] {
            assert_eq!(keys(table), sorted(expected));
            assert_eq!(table["additionalProperties"], json!(false));
            for key in expected {
                assert!(
                    table["properties"][key]["description"].is_string(),
                    "`{key}` has no description"
                );
            }
        }
    }
}
