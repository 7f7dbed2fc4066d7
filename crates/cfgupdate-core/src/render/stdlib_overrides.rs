//! The standard library cfgupdate evaluates with: jrsonnet's, with the functions whose results
//! differ from go-jsonnet's (what Argo CD and Tanka run) replaced, so that a render is the
//! value go-jsonnet computes, as text where the text reaches a manifest.
//!
//! What differs and what is done (the figures are in `docs/rendering.md`):
//! - a number turned into text: go-jsonnet writes an integral value in full (`%.0f`) and any
//!   other with 17 significant digits (`%.17g`: `0.20000000000000001`), jrsonnet with the
//!   fewest digits that read back (`0.2`). `std.toString`, `std.format` (`%s`), the
//!   `escapeString*` functions and the `manifest*` functions that write numbers as text
//!   (`manifestIni`, `manifestPython`, `manifestPythonVars`, `manifestTomlEx`,
//!   `manifestXmlJsonml`) are replaced. The `+` and `%` operators are the evaluator's own and
//!   cannot be replaced; `check` warns where they meet a number (see `docs/rendering.md`).
//! - `std.mantissa`/`std.exponent`: exact (`frexp`), as go-jsonnet.
//! - functions go-jsonnet accepts more arguments for: the set functions take strings, the
//!   `escapeString*` functions take any value;
//! - and calls go-jsonnet refuses: `std.trace` with one argument, `std.base64` of a string with
//!   a character above U+00FF, `std.splitLimitR` with an empty separator.

use std::any::Any;
use std::cell::RefCell;

use jrsonnet_evaluator::function::builtin;
use jrsonnet_evaluator::trace::PathResolver;
use jrsonnet_evaluator::{
    IStr, InitialContextBuilder, ObjValue, ObjValueBuilder, Result, Source, State, Thunk, Val,
};

use super::{goformat, gomath};

/// The overrides written in Jsonnet; `super` is jrsonnet's library with the Rust overrides
/// below, `self` the library a program sees.
const OVERRIDES: &str = r#"
local wrapNumbers(v) =
  if std.isNumber(v) then '\u0001cfgupdate-number:' + std.native('cfgupdate.goNumber')(v) + '\u0001'
  else if std.isArray(v) then std.map(wrapNumbers, v)
  else if std.isObject(v) then std.mapWithKey(function(_, x) wrapNumbers(x), v)
  else v;
local unwrap = std.native('cfgupdate.unwrapNumbers');
// go-jsonnet writes a multi-line string without a final line break as one JSON-quoted line,
// jrsonnet as a `|-` block: such strings travel through jrsonnet's function as marked JSON.
local wrapLines(v) =
  if std.isString(v) then
    if std.length(std.findSubstr('\n', v)) > 0 && !std.endsWith(v, '\n')
    then '\u0001cfgupdate-text:' + std.escapeStringJson(v) + '\u0001'
    else v
  else if std.isArray(v) then std.map(wrapLines, v)
  else if std.isObject(v) then std.mapWithKey(function(_, x) wrapLines(x), v)
  else v;
local unwrapLines = std.native('cfgupdate.unwrapTexts');
// With `quote_keys=false`, go-jsonnet leaves a key bare by its own rule (`yamlBareSafe`):
// every key travels through jrsonnet's function marked, and comes out as go-jsonnet writes it.
local wrapKeys(v) =
  if std.isArray(v) then std.map(wrapKeys, v)
  else if std.isObject(v) then { ['\u0001cfgupdate-key:' + k + '\u0001']: wrapKeys(v[k]) for k in std.objectFields(v) }
  else v;
local unwrapKeys = std.native('cfgupdate.unwrapKeys');
local chars(v) = if std.isString(v) then std.stringChars(v) else v;
local text(v) = if std.isString(v) then v else std.native('cfgupdate.toString')(v);
{
  manifestIni(ini):: unwrap(super.manifestIni(wrapNumbers(ini))),
  manifestYamlDoc(value, indent_array_in_object=false, quote_keys=true)::
    if quote_keys then unwrapLines(super.manifestYamlDoc(wrapLines(value), indent_array_in_object, true))
    else unwrapKeys(unwrapLines(super.manifestYamlDoc(wrapKeys(wrapLines(value)), indent_array_in_object, false))),
  manifestYamlStream(value, indent_array_in_object=false, c_document_end=true, quote_keys=true)::
    if quote_keys then unwrapLines(super.manifestYamlStream(wrapLines(value), indent_array_in_object, c_document_end, true))
    else unwrapKeys(unwrapLines(super.manifestYamlStream(wrapKeys(wrapLines(value)), indent_array_in_object, c_document_end, false))),
  manifestPython(v):: unwrap(super.manifestPython(wrapNumbers(v))),
  manifestPythonVars(conf):: unwrap(super.manifestPythonVars(wrapNumbers(conf))),
  manifestTomlEx(value, indent)::
    std.native('cfgupdate.tomlSpacing')(unwrap(super.manifestTomlEx(wrapNumbers(value), indent))),
  manifestXmlJsonml(value):: std.native('cfgupdate.unwrapNumbersInQuotes')(super.manifestXmlJsonml(wrapNumbers(value))),
  // Parameter names as go-jsonnet's (and jrsonnet's): callers may name them.
  escapeStringJson(str_):: super.escapeStringJson(text(str_)),
  escapeStringPython(str):: super.escapeStringPython(text(str)),
  escapeStringBash(str_):: super.escapeStringBash(text(str_)),
  escapeStringDollars(str_):: super.escapeStringDollars(text(str_)),
  escapeStringXML(str_):: super.escapeStringXML(text(str_)),
  setMember(x, arr, keyF=null)::
    if keyF == null then super.setMember(x, chars(arr)) else super.setMember(x, chars(arr), keyF),
  setInter(a, b, keyF=null)::
    if keyF == null then super.setInter(chars(a), chars(b)) else super.setInter(chars(a), chars(b), keyF),
  trace(str, rest):: super.trace(str, rest),
  base64(input)::
    if std.isString(input) && std.length([c for c in std.stringChars(input) if std.codepoint(c) > 255]) > 0
    then error 'base64 encountered invalid codepoint value in the string (must be 0 <= X <= 255)'
    else super.base64(input),
  // `std.mod` of a string is `std.format` (the `%` operator itself is the evaluator's).
  mod(a, b):: if std.isString(a) then self.format(a, b) else super.mod(a, b),
  splitLimitR(str, c, maxsplits)::
    if c == '' then error 'std.splitLimitR second parameter should have length 1 or greater, got 0'
    else super.splitLimitR(str, c, maxsplits),
}
"#;

/// Marks a number written inside a string by `wrapNumbers` above, until `unwrapNumbers`
/// puts the number's go-jsonnet text in place of the quoted marker.
const MARK: &str = "\u{1}cfgupdate-number:";

/// A number as go-jsonnet turns it into text: integral values in full, others with 17
/// significant digits, as C's `%.17g`.
pub(crate) fn go_number(value: f64) -> String {
    if value == value.trunc() {
        return format!("{value:.0}");
    }
    // 17 significant digits, correctly rounded from the exact binary value, like C.
    let scientific = format!("{value:.16e}");
    let (digits, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..17).contains(&exponent) {
        let digits = digits.trim_end_matches('0').trim_end_matches('.');
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{digits}e{sign}{:02}", exponent.unsigned_abs());
    }
    let decimals = usize::try_from(16 - exponent).unwrap_or(0);
    let fixed = format!("{value:.decimals$}");
    if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        fixed
    }
}

/// `std.toString` as go-jsonnet writes it: numbers by [`go_number`], arrays and objects as
/// one-line JSON (`{"a": 1, "b": [ ]}`) with numbers written the same way.
pub(crate) fn go_to_string(value: &Val) -> Result<String> {
    match value {
        Val::Str(text) => Ok(text.to_string()),
        Val::Num(number) => Ok(go_number(number.get())),
        _ => {
            let mut out = String::new();
            one_line_json(value, &mut out)?;
            Ok(out)
        }
    }
}

fn one_line_json(value: &Val, out: &mut String) -> Result<()> {
    // Each level forces the next value here, inside this recursion: counted against the
    // evaluator's own stack limit, as jrsonnet's manifest does, so a deep value is a Jsonnet
    // error ("stack overflow") and never overflows the thread's stack.
    let _depth = jrsonnet_evaluator::stack::check_depth()?;
    match value {
        Val::Num(number) => out.push_str(&go_number(number.get())),
        Val::Str(text) => {
            jrsonnet_evaluator::manifest::escape_string_json_buf(&text.to_string(), out)
        }
        Val::Arr(items) => {
            if items.is_empty() {
                out.push_str("[ ]");
                return Ok(());
            }
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                one_line_json(&item?, out)?;
            }
            out.push(']');
        }
        Val::Obj(object) => {
            let fields = object.fields();
            if fields.is_empty() {
                out.push_str("{ }");
                return Ok(());
            }
            out.push('{');
            for (index, field) in fields.into_iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                jrsonnet_evaluator::manifest::escape_string_json_buf(&field, out);
                out.push_str(": ");
                let field_value = object.get(field)?.unwrap_or(Val::Null);
                one_line_json(&field_value, out)?;
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()?),
    }
    Ok(())
}

#[builtin]
fn builtin_go_number(x: f64) -> String {
    go_number(x)
}

#[builtin]
fn builtin_go_to_string(a: Val) -> Result<String> {
    go_to_string(&a)
}

#[builtin]
fn builtin_unwrap_numbers(text: String) -> String {
    unwrap_numbers(&text, &["\"", "'", ""])
}

/// For XML attributes, whose values go-jsonnet quotes whatever they hold.
#[builtin]
fn builtin_unwrap_numbers_in_quotes(text: String) -> String {
    unwrap_numbers(&text, &[""])
}

/// Replaces each quoted marker `"\u0001cfgupdate-number:TEXT\u0001"` (in whatever way the
/// manifest function escaped the marker character) by `TEXT`, and a bare marker likewise.
fn unwrap_numbers(text: &str, quotes: &[&str]) -> String {
    let escapes = ["\\u0001", "\\x01", "\u{1}"];
    let mut out = text.to_owned();
    for escape in escapes {
        let open = MARK.replacen('\u{1}', escape, 1);
        for quote in quotes {
            let start = format!("{quote}{open}");
            let end = format!("{escape}{quote}");
            while let Some(at) = out.find(&start) {
                let body_start = at + start.len();
                let Some(length) = out[body_start..].find(&end) else {
                    break;
                };
                let number = out[body_start..body_start + length].to_owned();
                out.replace_range(at..body_start + length + end.len(), &number);
            }
        }
    }
    out
}

#[builtin]
fn builtin_unwrap_texts(text: String) -> String {
    unwrap_texts(&text)
}

/// The marker `wrapLines` puts around a JSON-quoted string.
const TEXT_MARK: &str = "\\u0001cfgupdate-text:";

/// Replaces each JSON-quoted marker `"\u0001cfgupdate-text:<json>\u0001"` that jrsonnet's
/// YAML wrote by `<json>`, the string JSON-quoted as go-jsonnet writes it.
fn unwrap_texts(text: &str) -> String {
    let open = format!("\"{TEXT_MARK}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        out.push_str(&rest[..at]);
        let literal = &rest[at..];
        // The JSON string literal runs to the first unescaped quote after the opening one.
        let mut end = None;
        let mut escaped = false;
        for (index, byte) in literal.bytes().enumerate().skip(1) {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    end = Some(index);
                    break;
                }
                _ => {}
            }
        }
        let decoded = end.and_then(|end| {
            serde_json::from_str::<String>(&literal[..=end])
                .ok()
                .and_then(|inner| {
                    inner
                        .strip_prefix("\u{1}cfgupdate-text:")
                        .and_then(|json| json.strip_suffix('\u{1}'))
                        .map(str::to_owned)
                })
                .map(|json| (json, end))
        });
        match decoded {
            Some((json, end)) => {
                out.push_str(&json);
                rest = &literal[end + 1..];
            }
            None => {
                out.push_str(&literal[..open.len()]);
                rest = &literal[open.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[builtin]
fn builtin_unwrap_keys(text: String) -> String {
    unwrap_keys(&text)
}

/// The marker `wrapKeys` puts around a key, as jrsonnet's YAML writes it (JSON-quoted).
const KEY_MARK: &str = "\"\\u0001cfgupdate-key:";

/// Replaces each JSON-quoted key marker `"\u0001cfgupdate-key:<key>\u0001"` by the key as
/// go-jsonnet writes it with `quote_keys=false`: bare when [`yaml_bare_safe`], else JSON-quoted.
fn unwrap_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY_MARK) {
        out.push_str(&rest[..at]);
        let literal = &rest[at..];
        let end = json_string_end(literal);
        let key = end.and_then(|end| {
            serde_json::from_str::<String>(&literal[..=end])
                .ok()
                .and_then(|inner| {
                    inner
                        .strip_prefix("\u{1}cfgupdate-key:")
                        .and_then(|key| key.strip_suffix('\u{1}'))
                        .map(str::to_owned)
                })
                .map(|key| (key, end))
        });
        match key {
            Some((key, end)) => {
                if yaml_bare_safe(&key) {
                    out.push_str(&key);
                } else {
                    jrsonnet_evaluator::manifest::escape_string_json_buf(&key, &mut out);
                }
                rest = &literal[end + 1..];
            }
            None => {
                out.push_str(&literal[..KEY_MARK.len()]);
                rest = &literal[KEY_MARK.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index of the quote that closes the JSON string literal `literal` starts with.
fn json_string_end(literal: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, byte) in literal.bytes().enumerate().skip(1) {
        match (escaped, byte) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return Some(index),
            _ => {}
        }
    }
    None
}

/// go-jsonnet's `yamlBareSafe`: whether `manifestYamlDoc` with `quote_keys=false` writes the
/// key bare. Only letters, digits, `_`, `-`, `/` and `.`; not a YAML 1.1 boolean or null
/// word, `.inf`/`.nan`, `-`, `---`, `''` (any case); not `d*-d*-d*` (a date); not binary
/// (`0b1`) or holding hexadecimal (`0x1`, anywhere); not what Go's `strconv.Atoi` or
/// `ParseFloat` reads (a float out of range, such as `1e400`, is an error there and so bare).
fn yaml_bare_safe(key: &str) -> bool {
    const RESERVED: [&str; 16] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", "-.inf", "+.inf", ".inf",
        "null", "-", "---", "''",
    ];
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'))
        || RESERVED.iter().any(|word| word.eq_ignore_ascii_case(key))
    {
        return false;
    }
    let date = key.split('-').count() == 3 && key.chars().all(|c| c.is_ascii_digit() || c == '-');
    let unsigned = key.strip_prefix(['-', '+']).unwrap_or(key);
    let binary = unsigned
        .strip_prefix("0b")
        .is_some_and(|bits| !bits.is_empty() && bits.chars().all(|c| matches!(c, '0' | '1' | '_')));
    let hexadecimal = key.match_indices("0x").any(|(at, _)| {
        key[at + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_hexdigit() || c == '_')
    });
    let integer = key.parse::<i64>().is_ok();
    // Go's ParseFloat takes `_` between digits (`1_0.5`), as Go's literals.
    let digits: String = key.chars().filter(|c| *c != '_').collect();
    let float = (!key.contains('_') || underscores_separate_digits(unsigned))
        && digits.parse::<f64>().is_ok_and(|value| {
            value.is_finite()
                || ["inf", "infinity", "nan"]
                    .iter()
                    .any(|word| word.eq_ignore_ascii_case(unsigned))
        });
    !(date || binary || hexadecimal || integer || float)
}

/// Go's `underscoreOK` for a number without its sign: every `_` stands between two digits
/// (or right after a `0b`/`0o`/`0x` prefix).
fn underscores_separate_digits(number: &str) -> bool {
    let bytes = number.as_bytes();
    let mut start = 0;
    let mut hex = false;
    // What was seen last: '^' the start, '0' a digit or prefix, '_', '!' anything else.
    let mut saw = b'^';
    if bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        start = 2;
        saw = b'0';
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
    }
    for &byte in &bytes[start..] {
        if byte.is_ascii_digit() || (hex && byte.is_ascii_hexdigit()) {
            saw = b'0';
        } else if byte == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

#[builtin]
fn builtin_toml_spacing(text: String) -> String {
    toml_spacing(&text)
}

/// go-jsonnet's blank lines in `manifestTomlEx`: a table is its header, a line break, its body
/// (possibly empty), then each subtable after a blank line; the document is its top-level body,
/// then the tables after a blank line. jrsonnet leaves out what an empty body would have
/// produced: two line breaks before a document that starts with a table, and two after the
/// header of a table whose body is empty and that has subtables.
fn toml_spacing(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::with_capacity(text.len() + 16);
    if lines.first().is_some_and(|line| toml_header(line)) {
        out.push_str("\n\n");
    }
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str(line);
        if toml_header(line) && lines.get(index + 1).is_some_and(|next| toml_header(next)) {
            out.push_str("\n\n");
        }
    }
    out
}

/// A table header line as jrsonnet writes it: `[a.b]` or `[[a]]`, indented; array values
/// are written `[ x, y ]` with a space and end lines with `,` or `]`, never like this.
fn toml_header(line: &str) -> bool {
    let line = line.trim_start();
    let inner = line
        .strip_prefix("[[")
        .and_then(|rest| rest.strip_suffix("]]"))
        .or_else(|| {
            line.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
        });
    inner.is_some_and(|inner| {
        !inner.is_empty() && !inner.starts_with([' ', '[']) && !inner.ends_with(' ')
    })
}

/// `std.format` as go-jsonnet computes it ([`goformat`]).
#[builtin]
fn builtin_go_format(str: IStr, vals: Val) -> Result<String> {
    goformat::format(&str, &vals)
}

/// A result as go-jsonnet's `makeDoubleCheck` takes it: NaN and infinities are errors.
fn checked(value: f64) -> Result<f64> {
    if value.is_nan() {
        jrsonnet_evaluator::bail!("Not a number");
    }
    if value.is_infinite() {
        jrsonnet_evaluator::bail!("Overflow");
    }
    Ok(value)
}

#[builtin]
fn builtin_go_pow(x: f64, n: f64) -> Result<f64> {
    checked(gomath::pow(x, n))
}

#[builtin]
fn builtin_go_exp(x: f64) -> Result<f64> {
    let value = gomath::exp(x);
    // go-jsonnet: a positive argument whose result underflows to 0 is an overflow.
    checked(if value == 0.0 && x > 0.0 {
        f64::INFINITY
    } else {
        value
    })
}

#[builtin]
fn builtin_go_log(x: f64) -> Result<f64> {
    checked(gomath::log(x))
}

/// `std.log2`, `std.log10`: go-jsonnet's library defines them as `std.log(x) / std.log(b)`.
#[builtin]
fn builtin_go_log2(x: f64) -> Result<f64> {
    checked(checked(gomath::log(x))? / gomath::log(2.0))
}

#[builtin]
fn builtin_go_log10(x: f64) -> Result<f64> {
    checked(checked(gomath::log(x))? / gomath::log(10.0))
}

#[builtin]
fn builtin_go_sin(x: f64) -> Result<f64> {
    checked(gomath::sin(x))
}

#[builtin]
fn builtin_go_cos(x: f64) -> Result<f64> {
    checked(gomath::cos(x))
}

#[builtin]
fn builtin_go_tan(x: f64) -> Result<f64> {
    checked(gomath::tan(x))
}

#[builtin]
fn builtin_go_asin(x: f64) -> Result<f64> {
    checked(gomath::asin(x))
}

#[builtin]
fn builtin_go_acos(x: f64) -> Result<f64> {
    checked(gomath::acos(x))
}

#[builtin]
fn builtin_go_atan(x: f64) -> Result<f64> {
    checked(gomath::atan(x))
}

#[builtin]
fn builtin_go_atan2(y: f64, x: f64) -> Result<f64> {
    checked(gomath::atan2(y, x))
}

#[builtin]
fn builtin_go_hypot(x: f64, y: f64) -> Result<f64> {
    checked(gomath::hypot(x, y))
}

#[builtin]
fn builtin_go_mantissa(x: f64) -> f64 {
    gomath::frexp(x).0
}

#[builtin]
fn builtin_go_exponent(x: f64) -> f64 {
    // A double's exponent is within ±1,100: exact as f64.
    gomath::frexp(x).1 as f64
}

/// jrsonnet's standard library with cfgupdate's overrides, for every file an evaluation reads.
#[derive(jrsonnet_gcmodule::Trace)]
pub(crate) struct GoCompatibleStd {
    plain: jrsonnet_stdlib::ContextInitializer,
    library: RefCell<Option<ObjValue>>,
}

impl GoCompatibleStd {
    /// The library, resolving `std.thisFile` with `resolver`.
    pub(crate) fn new(resolver: PathResolver) -> Self {
        Self {
            plain: jrsonnet_stdlib::ContextInitializer::new(resolver),
            library: RefCell::new(None),
        }
    }

    /// Sets `std.extVar(name)` to the string `value`.
    pub(crate) fn add_ext_str(&self, name: IStr, value: IStr) {
        self.plain.add_ext_str(name, value);
    }

    /// Builds the overridden library in `state`, which must use this initializer and be
    /// entered. Until then, files see jrsonnet's library unchanged.
    pub(crate) fn install(state: &State) -> Result<()> {
        let Some(this) = state.context_initializer().as_any().downcast_ref::<Self>() else {
            return Ok(());
        };
        this.plain
            .add_native("cfgupdate.goNumber", builtin_go_number {});
        this.plain
            .add_native("cfgupdate.toString", builtin_go_to_string {});
        this.plain
            .add_native("cfgupdate.unwrapNumbers", builtin_unwrap_numbers {});
        this.plain
            .add_native("cfgupdate.tomlSpacing", builtin_toml_spacing {});
        this.plain
            .add_native("cfgupdate.unwrapTexts", builtin_unwrap_texts {});
        this.plain
            .add_native("cfgupdate.unwrapKeys", builtin_unwrap_keys {});
        this.plain.add_native(
            "cfgupdate.unwrapNumbersInQuotes",
            builtin_unwrap_numbers_in_quotes {},
        );
        let plain = match state.evaluate_snippet_with("<cfgupdate std>", "std", &this.plain)? {
            Val::Obj(plain) => plain,
            _ => jrsonnet_evaluator::bail!("jrsonnet's std is not an object"),
        };
        let mut rust = ObjValueBuilder::new();
        rust.with_super(plain);
        rust.method("toString", builtin_go_to_string {});
        rust.method("format", builtin_go_format {});
        rust.method("mantissa", builtin_go_mantissa {});
        rust.method("exponent", builtin_go_exponent {});
        rust.method("pow", builtin_go_pow {});
        rust.method("exp", builtin_go_exp {});
        rust.method("log", builtin_go_log {});
        rust.method("log2", builtin_go_log2 {});
        rust.method("log10", builtin_go_log10 {});
        rust.method("sin", builtin_go_sin {});
        rust.method("cos", builtin_go_cos {});
        rust.method("tan", builtin_go_tan {});
        rust.method("asin", builtin_go_asin {});
        rust.method("acos", builtin_go_acos {});
        rust.method("atan", builtin_go_atan {});
        rust.method("atan2", builtin_go_atan2 {});
        rust.method("hypot", builtin_go_hypot {});
        let rust = rust.build();
        let Val::Obj(overrides) =
            state.evaluate_snippet_with("<cfgupdate std overrides>", OVERRIDES, &this.plain)?
        else {
            jrsonnet_evaluator::bail!("the std overrides are not an object");
        };
        *this.library.borrow_mut() = Some(overrides.extend_from(rust));
        Ok(())
    }
}

impl jrsonnet_evaluator::ContextInitializer for GoCompatibleStd {
    fn populate(&self, source: Source, builder: &mut InitialContextBuilder) {
        let library = self.library.borrow();
        let Some(library) = library.as_ref() else {
            self.plain.populate(source, builder);
            return;
        };
        let mut std = ObjValueBuilder::new();
        std.with_super(library.clone());
        let path = source.source_path();
        let this_file = path.path().map_or_else(
            || path.to_string(),
            |p| self.plain.settings().path_resolver.resolve(p),
        );
        std.field("thisFile").hide().value(this_file);
        builder.bind("std", Thunk::evaluated(Val::Obj(std.build())));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_like_c_printf_17g() {
        assert_eq!(go_number(0.2), "0.20000000000000001");
        assert_eq!(go_number(1e-5), "1.0000000000000001e-05");
        assert_eq!(go_number(1e-7), "9.9999999999999995e-08");
        assert_eq!(go_number(123456.7), "123456.7");
        assert_eq!(go_number(0.5), "0.5");
        assert_eq!(go_number(1e20), "100000000000000000000");
        assert_eq!(go_number(-0.0), "-0");
        assert_eq!(go_number(2.0 / 3.0), "0.66666666666666663");
        assert_eq!(go_number(1.5e-300), "1.5000000000000001e-300");
    }
}
