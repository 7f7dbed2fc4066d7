//! `std.format` (and `std.mod` of a string) as go-jsonnet computes it.
//!
//! go-jsonnet's `std.format` is written in Jsonnet in its standard library: a number is
//! turned into digits by floating-point arithmetic (`floor(n / radix)` and `n % radix`, one
//! digit at a time), `%f` rounds by `|n|·10^prec + 0.5`, `%e` and `%g` find the exponent with
//! `floor(log(|n|) / log(10))`, with Go's `math.Pow` and `math.Log`, and every intermediate
//! result that is not a finite number is an error ("Overflow"). jrsonnet's own implementation
//! converts to a 64-bit integer first, so `std.format('%d', [1e20])` gave
//! `9223372036854775807` where go-jsonnet writes `100000000000000000000`, and large or
//! negative values differed under `%o`, `%x`, `%f`, `%e` and `%g`. This module follows the
//! same steps in the same floating-point arithmetic, so the text is go-jsonnet's.
//!
//! The `%` operator of a string is jrsonnet's evaluator itself and keeps jrsonnet's
//! implementation (see `docs/rendering.md`).

use jrsonnet_evaluator::{IStr, Result, Val, bail};

use super::gomath;
use super::stdlib_overrides::{go_number, go_to_string};

/// A width or precision: a number, or `*` (taken from the values).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Width {
    Fixed(f64),
    Star,
}

/// One `%` conversion.
#[derive(Debug, Clone, PartialEq)]
struct Code {
    key: Option<String>,
    alt: bool,
    zero: bool,
    left: bool,
    blank: bool,
    plus: bool,
    width: Width,
    precision: Option<Width>,
    /// `d` (also `i`, `u`), `o`, `x`, `e`, `f`, `g`, `c`, `s` or `%`.
    kind: char,
    caps: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Code(Code),
}

impl Part {
    /// The format code, or `None` after writing the literal text into `out`.
    fn code_or_write(&self, out: &mut String) -> Option<&Code> {
        match self {
            Part::Text(text) => {
                out.push_str(text);
                None
            }
            Part::Code(code) => Some(code),
        }
    }
}

fn truncated<T>() -> Result<T> {
    bail!("Truncated format code.")
}

/// The format string's literal text and conversions, in order.
fn parse(format: &str) -> Result<Vec<Part>> {
    let chars: Vec<char> = format.chars().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            text.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        parts.push(Part::Text(std::mem::take(&mut text)));
        let (code, next) = parse_code(&chars, i)?;
        parts.push(Part::Code(code));
        i = next;
    }
    parts.push(Part::Text(text));
    Ok(parts)
}

fn at(chars: &[char], i: usize) -> Result<char> {
    match chars.get(i) {
        Some(c) => Ok(*c),
        None => truncated(),
    }
}

fn parse_code(chars: &[char], mut i: usize) -> Result<(Code, usize)> {
    let mut key = None;
    if at(chars, i)? == '(' {
        let start = i + 1;
        let Some(length) = chars[start..].iter().position(|c| *c == ')') else {
            return truncated();
        };
        key = Some(chars[start..start + length].iter().collect());
        i = start + length + 1;
    }
    let (mut alt, mut zero, mut left, mut blank, mut plus) = (false, false, false, false, false);
    loop {
        match at(chars, i)? {
            '#' => alt = true,
            '0' => zero = true,
            '-' => left = true,
            ' ' => blank = true,
            '+' => plus = true,
            _ => break,
        }
        i += 1;
    }
    let (width, next) = parse_width(chars, i)?;
    i = next;
    let mut precision = None;
    if at(chars, i)? == '.' {
        let (value, next) = parse_width(chars, i + 1)?;
        precision = Some(value);
        i = next;
    }
    if matches!(at(chars, i)?, 'h' | 'l' | 'L') {
        i += 1;
    }
    let c = at(chars, i)?;
    let (kind, caps) = match c {
        'd' | 'i' | 'u' => ('d', false),
        'o' | 'c' | 's' | '%' | 'x' | 'e' | 'f' | 'g' => (c, false),
        'X' | 'E' | 'F' | 'G' => (c.to_ascii_lowercase(), true),
        other => bail!("Unrecognised conversion type: {other}"),
    };
    let code = Code {
        key,
        alt,
        zero,
        left,
        blank,
        plus,
        width,
        precision,
        kind,
        caps,
    };
    Ok((code, i + 1))
}

fn parse_width(chars: &[char], mut i: usize) -> Result<(Width, usize)> {
    if chars.get(i) == Some(&'*') {
        return Ok((Width::Star, i + 1));
    }
    let mut value = 0.0;
    loop {
        let c = at(chars, i)?;
        let Some(digit) = c.to_digit(10) else {
            return Ok((Width::Fixed(value), i));
        };
        value = value * 10.0 + f64::from(digit);
        i += 1;
    }
}

/// A number as go-jsonnet's arithmetic keeps it: NaN and infinities are errors.
fn finite(value: f64) -> Result<f64> {
    if value.is_nan() {
        bail!("Not a number");
    }
    if value.is_infinite() {
        bail!("Overflow");
    }
    Ok(value)
}

/// `n % d` for numbers, as go-jsonnet (`math.Mod`, an error for a zero divisor).
fn modulo(n: f64, d: f64) -> Result<f64> {
    if d == 0.0 {
        bail!("Division by zero.");
    }
    finite(n % d)
}

/// The widest field (and the most digits of precision) cfgupdate writes. go-jsonnet pads one
/// character at a time in Jsonnet, quadratic in the width: `'%1000000000d'` runs until its
/// time limit there. Here it is an error rather than an allocation of gigabytes.
pub(crate) const MAX_WIDTH: f64 = 1_000_000.0;

fn bounded(width: f64) -> Result<f64> {
    if width > MAX_WIDTH {
        bail!(
            "format width or precision {} is larger than cfgupdate writes ({MAX_WIDTH})",
            go_number(width)
        );
    }
    Ok(width)
}

/// The number of characters to add to `text` for it to be `width` long (Jsonnet's `padding`
/// adds one while `width - length` is above 0).
fn missing(text: &str, width: f64) -> usize {
    let short = width - text.chars().count() as f64;
    if short > 0.0 {
        // A width is at most a few thousand in practice; the cast saturates.
        short.ceil() as usize
    } else {
        0
    }
}

fn pad_left(text: &str, width: f64, with: char) -> String {
    let mut out: String = std::iter::repeat_n(with, missing(text, width)).collect();
    out.push_str(text);
    out
}

fn pad_right(text: &str, width: f64, with: char) -> String {
    let mut out = text.to_owned();
    out.extend(std::iter::repeat_n(with, missing(text, width)));
    out
}

const NUMERALS: &[u8; 16] = b"0123456789abcdef";

/// The digits of `magnitude` in `radix`, highest first, found one at a time by `n % radix`
/// and `floor(n / radix)` in floating point (go-jsonnet's `aux`). Each digit is the text of
/// `n % radix`: a numeral for an integral `magnitude`; for a fraction (which `%.0g` makes
/// with its precision of -1), the fraction's text, as go-jsonnet writes it.
fn digits(magnitude: f64, radix: f64, caps: bool) -> Result<String> {
    let mut out = Vec::new();
    let mut n = magnitude;
    while n != 0.0 {
        let digit = modulo(n, radix)?;
        let text = if digit.fract() == 0.0 && (0.0..16.0).contains(&digit) {
            // Integral and below 16: the index is exact.
            let numeral = char::from(NUMERALS[digit as usize]);
            if caps {
                numeral.to_ascii_uppercase().to_string()
            } else {
                numeral.to_string()
            }
        } else if radix == 16.0 {
            bail!("array index must be an integer, got {}", go_number(digit));
        } else {
            go_number(digit)
        };
        out.push(text);
        n = finite(n / radix)?.floor();
    }
    out.reverse();
    Ok(out.concat())
}

fn sign_text(negative: bool, blank: bool, plus: bool) -> &'static str {
    if negative {
        "-"
    } else if plus {
        "+"
    } else if blank {
        " "
    } else {
        ""
    }
}

/// go-jsonnet's `render_int`: sign, then the digits of `magnitude` (after `zero_prefix` when
/// not 0) padded with zeros to `min_chars` (less the sign) or `min_digits`.
#[allow(clippy::too_many_arguments)]
fn render_int(
    negative: bool,
    magnitude: f64,
    min_chars: f64,
    min_digits: f64,
    blank: bool,
    plus: bool,
    radix: f64,
    zero_prefix: &str,
) -> Result<String> {
    let number = if magnitude == 0.0 {
        "0".to_owned()
    } else {
        format!("{zero_prefix}{}", digits(magnitude, radix, false)?)
    };
    let signed = negative || blank || plus;
    let zeros = (min_chars - if signed { 1.0 } else { 0.0 }).max(min_digits);
    Ok(format!(
        "{}{}",
        sign_text(negative, blank, plus),
        pad_left(&number, zeros, '0')
    ))
}

/// go-jsonnet's `render_hex` of `value` (already `floor`ed by the caller).
fn render_hex(value: f64, min_chars: f64, min_digits: f64, code: &Code) -> Result<String> {
    let magnitude = value.abs().floor();
    let number = if magnitude == 0.0 {
        "0".to_owned()
    } else {
        digits(magnitude, 16.0, code.caps)?
    };
    let negative = value < 0.0;
    let signed = negative || code.blank || code.plus;
    let zeros = (min_chars - if signed { 1.0 } else { 0.0 } - if code.alt { 2.0 } else { 0.0 })
        .max(min_digits);
    let prefix = match (code.alt, code.caps) {
        (false, _) => "",
        (true, false) => "0x",
        (true, true) => "0X",
    };
    Ok(format!(
        "{}{prefix}{}",
        sign_text(negative, code.blank, code.plus),
        pad_left(&number, zeros, '0')
    ))
}

/// How go-jsonnet's `render_float_dec` and `render_float_sci` lay a number out: the
/// arguments they share.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)]
struct FloatStyle {
    /// The width to pad to with zeros.
    zero_pad: f64,
    /// A blank before a number that is not negative.
    blank: bool,
    /// A `+` before a number that is not negative.
    plus: bool,
    /// A decimal point even with no digits after it.
    ensure_point: bool,
    /// Trailing zeros of the fraction kept.
    trailing: bool,
    /// Digits after the point.
    precision: f64,
}

/// go-jsonnet's `render_float_dec`.
fn render_float_dec(value: f64, style: FloatStyle) -> Result<String> {
    let FloatStyle {
        zero_pad,
        blank,
        plus,
        ensure_point,
        trailing,
        precision,
    } = style;
    let magnitude = value.abs();
    let denominator = finite(gomath::pow(10.0, precision))?;
    let numerator = finite(finite(magnitude * denominator)? + 0.5)?;
    let sign = if magnitude > 0.0 { 1.0 } else { 0.0 };
    let whole = sign * finite(numerator / denominator)?.floor();
    let fraction = modulo(numerator.floor(), denominator)?;
    let dot = if precision == 0.0 && !ensure_point {
        0.0
    } else {
        1.0
    };
    let zeros = zero_pad - precision - dot;
    let text = render_int(value < 0.0, whole, zeros, 0.0, blank, plus, 10.0, "")?;
    if precision == 0.0 {
        return Ok(if ensure_point { text + "." } else { text });
    }
    if trailing || fraction > 0.0 {
        let fraction_text = render_int(false, fraction, precision, 0.0, false, false, 10.0, "")?;
        let fraction_text = if trailing {
            fraction_text.as_str()
        } else {
            fraction_text.trim_end_matches('0')
        };
        return Ok(format!("{text}.{fraction_text}"));
    }
    Ok(text)
}

/// `floor(log(|value|) / log(10))` with Go's `math.Log` (0 for 0).
fn decimal_exponent(value: f64) -> Result<f64> {
    if value == 0.0 {
        return Ok(0.0);
    }
    Ok(finite(finite(gomath::log(value.abs()))? / gomath::log(10.0))?.floor())
}

/// go-jsonnet's `render_float_sci`: `E` instead of `e` with `caps`.
fn render_float_sci(value: f64, style: FloatStyle, caps: bool) -> Result<String> {
    let exponent = decimal_exponent(value)?;
    let suffix = format!(
        "{}{}",
        if caps { 'E' } else { 'e' },
        render_int(
            exponent < 0.0,
            exponent.abs(),
            3.0,
            0.0,
            false,
            true,
            10.0,
            ""
        )?
    );
    let mantissa = if exponent == -324.0 {
        // go-jsonnet's guard: 10^-324 is 0.
        finite(value * 10.0)? / finite(gomath::pow(10.0, exponent + 1.0))?
    } else {
        value / finite(gomath::pow(10.0, exponent))?
    };
    let zeros = style.zero_pad - suffix.chars().count() as f64;
    Ok(render_float_dec(
        finite(mantissa)?,
        FloatStyle {
            zero_pad: zeros,
            ..style
        },
    )? + &suffix)
}

fn type_name(value: &Val) -> &'static str {
    match value {
        Val::Bool(_) => "boolean",
        Val::Null => "null",
        Val::Str(_) => "string",
        Val::Num(_) => "number",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
        Val::Func(_) => "function",
        #[allow(unreachable_patterns)]
        _ => "number",
    }
}

fn number(value: &Val, at: &str) -> Result<f64> {
    match value {
        Val::Num(number) => Ok(number.get()),
        other => bail!("Format required number at {at}, got {}", type_name(other)),
    }
}

/// go-jsonnet's `format_code`: one value under one conversion, before the field padding.
fn format_code(
    value: &Val,
    code: &Code,
    width: f64,
    precision: Option<f64>,
    at: &str,
) -> Result<String> {
    let float_precision = precision.unwrap_or(6.0);
    let int_precision = precision.unwrap_or(0.0);
    let zero_pad = if code.zero && !code.left { width } else { 0.0 };
    let float_style = |trailing: bool, precision: f64| FloatStyle {
        zero_pad,
        blank: code.blank,
        plus: code.plus,
        ensure_point: code.alt,
        trailing,
        precision,
    };
    match code.kind {
        's' => go_to_string(value),
        'd' | 'o' => {
            let n = number(value, at)?;
            let (radix, prefix) = if code.kind == 'd' {
                (10.0, "")
            } else {
                (8.0, if code.alt { "0" } else { "" })
            };
            render_int(
                n <= -1.0,
                n.abs().floor(),
                zero_pad,
                int_precision,
                code.blank,
                code.plus,
                radix,
                prefix,
            )
        }
        'x' => render_hex(number(value, at)?.floor(), zero_pad, int_precision, code),
        'f' => render_float_dec(number(value, at)?, float_style(true, float_precision)),
        'e' => render_float_sci(
            number(value, at)?,
            float_style(true, float_precision),
            code.caps,
        ),
        'g' => {
            let n = number(value, at)?;
            let exponent = decimal_exponent(n)?;
            if exponent < -4.0 || exponent >= float_precision {
                render_float_sci(n, float_style(code.alt, float_precision - 1.0), code.caps)
            } else {
                let before_point = (exponent + 1.0).max(1.0);
                render_float_dec(n, float_style(code.alt, float_precision - before_point))
            }
        }
        'c' => match value {
            Val::Num(number) => {
                let n = number.get();
                if n > f64::from(0x10_ffff) {
                    bail!("Invalid unicode codepoint, got {n}");
                }
                if n < 0.0 {
                    bail!("Codepoints must be >= 0, got {n}");
                }
                // In 0..=0x10FFFF: the cast truncates, as Go's `rune(n)`.
                Ok(char::from_u32(n as u32)
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
                    .to_string())
            }
            Val::Str(text) => {
                let text = text.to_string();
                let length = text.chars().count();
                if length == 1 {
                    Ok(text)
                } else {
                    bail!("%c expected 1-sized string got: {length}")
                }
            }
            other => bail!("%c expected number / string, got: {}", type_name(other)),
        },
        other => bail!("Unknown code: {other}"),
    }
}

fn padded(text: &str, code: &Code, width: f64) -> String {
    if code.left {
        pad_right(text, width, ' ')
    } else {
        pad_left(text, width, ' ')
    }
}

fn width_value(value: &Val) -> Result<f64> {
    match value {
        Val::Num(number) => Ok(number.get()),
        other => bail!(
            "a `*` width or precision must be a number, got {}",
            type_name(other)
        ),
    }
}

fn format_array(parts: &[Part], values: &[Val]) -> Result<String> {
    let mut out = String::new();
    let mut j = 0;
    let take = |j: &mut usize, what: &str| -> Result<Val> {
        match values.get(*j) {
            Some(value) => {
                *j += 1;
                Ok(value.clone())
            }
            None => bail!(
                "Not enough values to format: {}, expected {what} {j}",
                values.len()
            ),
        }
    };
    for part in parts {
        let Some(code) = part.code_or_write(&mut out) else {
            continue;
        };
        let width = bounded(match code.width {
            Width::Star => width_value(&take(&mut j, "at least")?)?,
            Width::Fixed(width) => width,
        })?;
        let precision = match code.precision {
            Some(Width::Star) => Some(bounded(width_value(&take(&mut j, "at least")?)?)?),
            Some(Width::Fixed(precision)) => Some(bounded(precision)?),
            None => None,
        };
        let text = if code.kind == '%' {
            "%".to_owned()
        } else {
            let at = j.to_string();
            let value = take(&mut j, "more than")?;
            format_code(&value, code, width, precision, &at)?
        };
        out.push_str(&padded(&text, code, width));
    }
    if j < values.len() {
        bail!("Too many values to format: {}, expected {j}", values.len());
    }
    Ok(out)
}

fn format_object(parts: &[Part], object: &jrsonnet_evaluator::ObjValue) -> Result<String> {
    let mut out = String::new();
    for part in parts {
        let Some(code) = part.code_or_write(&mut out) else {
            continue;
        };
        let width = bounded(match code.width {
            Width::Star => bail!("Cannot use * field width with object."),
            Width::Fixed(width) => width,
        })?;
        let precision = match code.precision {
            Some(Width::Star) => bail!("Cannot use * precision with object."),
            Some(Width::Fixed(precision)) => Some(bounded(precision)?),
            None => None,
        };
        let text = if code.kind == '%' {
            "%".to_owned()
        } else {
            let Some(key) = &code.key else {
                bail!("Mapping keys required.");
            };
            let Some(value) = object.get(IStr::from(key.as_str()))? else {
                bail!("No such field: {key}");
            };
            format_code(&value, code, width, precision, key)?
        };
        out.push_str(&padded(&text, code, width));
    }
    Ok(out)
}

/// `std.format(format, values)` as go-jsonnet: `values` an array, an object (for
/// `%(key)s`), or one value.
pub(crate) fn format(format: &str, values: &Val) -> Result<String> {
    let parts = parse(format)?;
    match values {
        Val::Arr(items) => {
            let items = items.iter().collect::<Result<Vec<Val>>>()?;
            format_array(&parts, &items)
        }
        Val::Obj(object) => format_object(&parts, object),
        other => format_array(&parts, std::slice::from_ref(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(value: f64) -> Val {
        Val::try_num(value).unwrap()
    }

    #[test]
    fn digits_come_from_floating_point_division() {
        assert_eq!(digits(1e20, 10.0, false).unwrap(), "100000000000000000000");
        assert_eq!(digits(255.0, 16.0, true).unwrap(), "FF");
        assert_eq!(digits(8.0, 8.0, false).unwrap(), "10");
    }

    #[test]
    fn codes_are_parsed_with_flags_widths_and_keys() {
        let parts = parse("a%(k)-08.3lds%%").unwrap();
        assert_eq!(parts.len(), 5, "{parts:?}");
        let Part::Code(code) = &parts[1] else {
            panic!("{parts:?}")
        };
        assert_eq!(code.key.as_deref(), Some("k"));
        assert!(code.left && code.zero && !code.alt);
        assert_eq!(code.width, Width::Fixed(8.0));
        assert_eq!(code.precision, Some(Width::Fixed(3.0)));
        assert_eq!(code.kind, 'd');
        assert!(parse("%").is_err());
        assert!(parse("%5").is_err());
        assert!(parse("%(a").is_err());
        assert!(parse("%y").is_err());
    }

    #[test]
    fn absurd_widths_are_refused_not_allocated() {
        let error = format("%99999999999999999999d", &num(1.0)).unwrap_err();
        assert!(
            error.to_string().contains("larger than cfgupdate writes"),
            "{error}"
        );
        assert!(format("%.2000000d", &num(1.0)).is_err());
        assert!(
            format(
                "%(a)9999999999s",
                &Val::Obj(jrsonnet_evaluator::ObjValue::empty())
            )
            .is_err()
        );
        assert_eq!(format("%1000000d", &num(1.0)).unwrap().len(), 1_000_000);
    }

    #[test]
    fn large_numbers_are_written_in_full() {
        assert_eq!(format("%d", &num(1e20)).unwrap(), "100000000000000000000");
        assert_eq!(format("%5.1f|", &num(2.5)).unwrap(), "  2.5|");
        assert_eq!(format("%-6d|", &num(-3.0)).unwrap(), "-3    |");
    }
}
