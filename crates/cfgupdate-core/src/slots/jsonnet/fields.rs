//! Field slots: fields of the object a file evaluates to, found without evaluating it.
//!
//! The file's expression is followed through `local` bindings, parentheses, and `a + {...}` /
//! `a {...}` (whose right side wins); every object literal reached this way contributes its
//! fixed-name fields. Anything else (an import, a call, a comprehension) contributes nothing:
//! cfgupdate only edits what it can see in this file.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use jrsonnet_rowan_parser::nodes::{
    BinaryOperatorKind, Bind, Destruct, Expr, ExprBase, FieldName, Member, ObjBody,
    ObjBodyMemberList, Stmt, Suffix,
};
use jrsonnet_rowan_parser::{AstNode, AstToken, SyntaxKind};

use super::literal::StringToken;
use super::syntax::Source;
use super::{Holder, JsonnetSlotError, Site, SlotKind, looks};
use crate::names::ServiceName;
use crate::reference::Part;

/// How deep `local` indirections are followed; `local x = x; x` must not recurse forever.
const MAX_DEPTH: usize = 64;

/// The fields of the file's object, each with its definitions in order (a later one wins).
pub(super) struct TopFields {
    fields: BTreeMap<String, Vec<Definition>>,
}

struct Definition {
    /// `name+: value`: the value is added to what the left side defined.
    plus: bool,
    value: Expr,
}

/// What a field's value is, as far as slots care.
enum Shape {
    /// A string literal (the lexer token's index).
    Literal(usize),
    /// An object literal: its `ref`/`name`/`tag`/`digest` fields, and the names of its
    /// other fields (`[...]` for a computed one).
    Parts {
        parts: BTreeMap<Part, Expr>,
        others: Vec<String>,
    },
    /// Anything else, described for messages.
    Other(Expr),
}

type Env = Option<Rc<Frame>>;

/// The bindings of one `local` statement. A bound value is resolved in the frame that binds
/// it, because Jsonnet's locals may refer to themselves and to their siblings.
struct Frame {
    binds: Vec<(String, Expr)>,
    parent: Env,
}

fn lookup(env: &Env, name: &str) -> Option<(Expr, Rc<Frame>)> {
    let mut frame = env.as_ref()?;
    loop {
        if let Some((_, value)) = frame.binds.iter().rev().find(|(bound, _)| bound == name) {
            return Some((value.clone(), Rc::clone(frame)));
        }
        frame = frame.parent.as_ref()?;
    }
}

impl TopFields {
    /// Collects the fields of the object `source` evaluates to.
    pub(super) fn collect(source: &Source<'_>) -> Result<Self, JsonnetSlotError> {
        let mut objects = Vec::new();
        if let Some(expr) = source.tree()?.expr() {
            objects_of(&expr, &None, 0, &mut objects);
        }
        let mut fields: BTreeMap<String, Vec<Definition>> = BTreeMap::new();
        for object in objects {
            for member in object.members() {
                let Member::MemberFieldNormal(field) = member else {
                    continue;
                };
                let (Some(name), Some(value)) = (
                    field
                        .field_name()
                        .and_then(|name| fixed_name(source, &name)),
                    field.expr(),
                ) else {
                    continue;
                };
                fields.entry(name).or_default().push(Definition {
                    plus: field.plus_token().is_some(),
                    value,
                });
            }
        }
        Ok(TopFields { fields })
    }

    /// The slots of `service` when it is to be written: whatever its field holds, so that a
    /// field cfgupdate cannot write is reported (as a site whose holder says why) rather than
    /// skipped. A part whose literal does not look like that part is refused too.
    pub(super) fn for_writing(&self, source: &Source<'_>, service: &ServiceName) -> Vec<Site> {
        let Some(definitions) = self.fields.get(service.as_str()) else {
            return Vec::new();
        };
        match field_slots(source, service, definitions) {
            Ok(sites) => sites
                .into_iter()
                .map(|site| match &site.holder {
                    Holder::Literal(literal) => match looks::mismatch(site.part, &literal.value) {
                        Some(why) => Site {
                            holder: Holder::Other {
                                found: format!(
                                    "`{}`, {why}",
                                    source.excerpt(source.tokens[literal.token].range())
                                ),
                            },
                            ..site
                        },
                        None => site,
                    },
                    Holder::Other { .. } => site,
                })
                .collect(),
            Err(NotSlot { offset, found }) => vec![Site {
                service: service.clone(),
                part: Part::Ref,
                kind: SlotKind::Field,
                offset,
                holder: Holder::Other { found },
            }],
        }
    }

    /// The field slots reported when reading, for services without a marker: exactly the
    /// fields that [`TopFields::for_writing`] would write, by the same definition
    /// ([`field_slots`]), so that `namespace: 'default'` never enters an image set and
    /// nothing is written that reading would not see. (A part of an object of parts is
    /// reported whatever its value; putting the parts together then says what is wrong.)
    pub(super) fn for_reading(
        &self,
        source: &Source<'_>,
        skip: impl Fn(&ServiceName) -> bool,
    ) -> Vec<Site> {
        let mut sites = Vec::new();
        for (name, definitions) in &self.fields {
            let Ok(service) = ServiceName::parse(name) else {
                continue;
            };
            if skip(&service) {
                continue;
            }
            if let Ok(found) = field_slots(source, &service, definitions) {
                sites.extend(found);
            }
        }
        sites
    }
}

/// Why a field is not a slot: where, and what it holds (for a message).
struct NotSlot {
    offset: usize,
    found: String,
}

/// The one definition of a field slot (docs/slots.md#one-definition-for-reading-and-writing), for
/// reading and writing alike. A field `S` of the file's object is a slot when its value is
///
/// - a string literal that looks like a whole reference (with a tag or a digest) or is empty
///   (a placeholder), or
/// - an object literal all of whose fields are among `ref`, `name`, `tag` and `digest`, with
///   at least one of `ref`, `tag`, `digest` (so `metadata: { name: 'x' }` is not one); each of
///   those fields is a slot of its part.
///
/// An object with any other field, such as Renovate's `{ image: 'renovate/renovate', tag:
/// '43.1.0@sha256:...' }`, is refused by name rather than read in part: writing only its `tag`
/// would deploy a new tag of whatever `image` holds. Markers on its literals (`S:name`,
/// `S:tag`) make it a slot.
fn field_slots(
    source: &Source<'_>,
    service: &ServiceName,
    definitions: &[Definition],
) -> Result<Vec<Site>, NotSlot> {
    let last = &definitions[definitions.len() - 1].value;
    let not_slot = |value: &Expr, what: String| {
        let range = value.syntax().text_range();
        let range = usize::from(range.start())..usize::from(range.end());
        NotSlot {
            offset: range.start,
            found: format!("`{}`, {what}", source.excerpt(range)),
        }
    };
    match effective_shape(source, definitions) {
        Ok(Shape::Literal(index)) => {
            let site = literal_site(source, service, Part::Ref, index);
            match &site.holder {
                Holder::Literal(literal) => match looks::mismatch(Part::Ref, &literal.value) {
                    None => Ok(vec![site]),
                    Some(why) => Err(NotSlot {
                        offset: site.offset,
                        found: format!("`{}`, {why}", source.excerpt(source.tokens[index].range())),
                    }),
                },
                Holder::Other { found } => Err(NotSlot {
                    offset: site.offset,
                    found: found.clone(),
                }),
            }
        }
        Ok(Shape::Parts { parts, others }) => {
            if !others.is_empty() {
                let fields = others
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(not_slot(
                    last,
                    format!(
                        "an object with the field{} {fields}, which {} none of `ref`, `name`, `tag`, `digest`: cfgupdate cannot tell what it holds, and writing only the parts it knows would pair them with the old value of {fields}; mark each literal instead (`cfgupdate: {service}:name`, `cfgupdate: {service}:tag`)",
                        if others.len() == 1 { "" } else { "s" },
                        if others.len() == 1 { "is" } else { "are" },
                    ),
                ));
            }
            if ![Part::Ref, Part::Tag, Part::Digest]
                .iter()
                .any(|part| parts.contains_key(part))
            {
                return Err(not_slot(
                    last,
                    "an object without a `ref`, `tag` or `digest` field".to_owned(),
                ));
            }
            Ok(parts
                .into_iter()
                .map(|(part, value)| part_site(source, service, part, &value))
                .collect())
        }
        Ok(Shape::Other(value)) => {
            let found = describe(&value);
            Err(not_slot(&value, format!("{found}, not a string literal")))
        }
        Err(value) => Err(not_slot(
            &value,
            "a `+:` field that adds to an inherited value".to_owned(),
        )),
    }
}

/// Every name a fixed field of the file could have: the text of each identifier and the value
/// of each quoted string literal. A service spelled nowhere in the file has no field in it,
/// and finding that out in the tokens costs a small part of building the tree.
pub(super) fn spelled_names<'t>(source: &Source<'t>) -> HashSet<Cow<'t, str>> {
    let text: &'t str = source.text;
    source
        .tokens
        .iter()
        .filter_map(|token| {
            if token.kind == SyntaxKind::IDENT {
                return text.get(token.range()).map(Cow::Borrowed);
            }
            let StringToken::Quoted(style) = StringToken::of_kind(token.kind)? else {
                return None;
            };
            let content = text.get(style.content_range(token.range()))?;
            if content.contains(['\\', '\'', '"']) {
                style.unescape(content).map(Cow::Owned)
            } else {
                Some(Cow::Borrowed(content))
            }
        })
        .collect()
}

/// The object literals `expr` is made of, left to right.
fn objects_of(expr: &Expr, env: &Env, depth: usize, out: &mut Vec<ObjBodyMemberList>) {
    if depth > MAX_DEPTH || expr.suffixs().next().is_some() {
        return;
    }
    let mut env = env.clone();
    for stmt in expr.stmts() {
        let Stmt::StmtLocal(local) = stmt else {
            continue;
        };
        let binds = local
            .binds()
            .filter_map(|bind| match bind {
                Bind::BindDestruct(bind) => {
                    match jrsonnet_rowan_parser::nodes::BindDestruct::into(&bind)? {
                        Destruct::DestructFull(full) => {
                            Some((full.name()?.ident_lit()?.text().to_owned(), bind.value()?))
                        }
                        _ => None,
                    }
                }
                Bind::BindFunction(_) => None,
            })
            .collect();
        env = Some(Rc::new(Frame { binds, parent: env }));
    }
    match expr.expr_base() {
        Some(ExprBase::ExprObject(object)) => {
            if let Some(ObjBody::ObjBodyMemberList(members)) = object.obj_body() {
                out.push(members);
            }
        }
        Some(ExprBase::ExprParened(inner)) => {
            if let Some(inner) = inner.expr() {
                objects_of(&inner, &env, depth + 1, out);
            }
        }
        Some(ExprBase::ExprVar(var)) => {
            let name = var.name().and_then(|name| name.ident_lit());
            if let Some((value, frame)) = name.and_then(|name| lookup(&env, name.text())) {
                objects_of(&value, &Some(frame), depth + 1, out);
            }
        }
        Some(ExprBase::ExprBinary(binary)) => {
            let plus = binary
                .binary_operator()
                .is_some_and(|op| op.kind() == BinaryOperatorKind::Plus);
            if let (true, Some(lhs), Some(rhs)) = (plus, binary.lhs(), binary.rhs()) {
                objects_of(&lhs, &env, depth + 1, out);
                objects_of(&rhs, &env, depth + 1, out);
            }
        }
        Some(ExprBase::ExprObjExtend(extend)) => {
            if let (Some(lhs), Some(rhs)) = (extend.lhs(), extend.rhs()) {
                objects_of(&lhs, &env, depth + 1, out);
                objects_of(&rhs, &env, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// A field's name when it is fixed: `name`, `'name'` or `"name"`.
fn fixed_name(source: &Source<'_>, name: &FieldName) -> Option<String> {
    let FieldName::FieldNameFixed(fixed) = name else {
        return None;
    };
    if let Some(id) = fixed.id() {
        return Some(id.ident_lit()?.text().to_owned());
    }
    let text = fixed.text()?;
    let StringToken::Quoted(style) = StringToken::of_kind(text.syntax().kind())? else {
        return None;
    };
    let range = text.syntax().text_range();
    let content = style.content_range(range.start().into()..range.end().into());
    style.unescape(source.text.get(content)?)
}

/// `expr` without redundant parentheses.
fn unparen(expr: &Expr) -> Expr {
    let mut expr = expr.clone();
    while expr.stmts().next().is_none()
        && expr.suffixs().next().is_none()
        && let Some(ExprBase::ExprParened(inner)) = expr.expr_base()
        && let Some(inner) = inner.expr()
    {
        expr = inner;
    }
    expr
}

fn shape(source: &Source<'_>, expr: &Expr) -> Shape {
    let expr = unparen(expr);
    if expr.stmts().next().is_some() || expr.suffixs().next().is_some() {
        return Shape::Other(expr);
    }
    match expr.expr_base() {
        Some(ExprBase::ExprString(string)) => {
            let index = string
                .text()
                .and_then(|text| source.token_index(text.syntax().text_range().start().into()));
            match index {
                Some(index) => Shape::Literal(index),
                None => Shape::Other(expr),
            }
        }
        Some(ExprBase::ExprObject(object)) => match object.obj_body() {
            Some(ObjBody::ObjBodyMemberList(members)) => {
                let mut parts = BTreeMap::new();
                let mut others = Vec::new();
                for member in members.members() {
                    let field = match &member {
                        Member::MemberFieldNormal(field) => field,
                        Member::MemberFieldMethod(method) => {
                            let name = method.field_name().and_then(|n| fixed_name(source, &n));
                            others.push(name.unwrap_or_else(|| "[...]".to_owned()));
                            continue;
                        }
                        // `local` members and assertions hold no value of the object.
                        Member::MemberBindStmt(_) | Member::MemberAssertStmt(_) => continue,
                    };
                    let name = field
                        .field_name()
                        .and_then(|name| fixed_name(source, &name));
                    match (name.as_deref().and_then(Part::from_word), field.expr()) {
                        (Some(part), Some(value)) => {
                            parts.insert(part, value);
                        }
                        _ => others.push(name.unwrap_or_else(|| "[...]".to_owned())),
                    }
                }
                Shape::Parts { parts, others }
            }
            _ => Shape::Other(expr),
        },
        _ => Shape::Other(expr),
    }
}

/// The shape of a field after its definitions are combined: the last plain definition, with
/// later `+:` objects laid over it part by part. `Err` carries a `+:` value that cannot be
/// combined this way.
fn effective_shape(source: &Source<'_>, definitions: &[Definition]) -> Result<Shape, Expr> {
    let base = definitions
        .iter()
        .rposition(|definition| !definition.plus)
        .unwrap_or(0);
    let mut combined = shape(source, &definitions[base].value);
    for definition in &definitions[base + 1..] {
        match (&mut combined, shape(source, &definition.value)) {
            (
                Shape::Parts { parts, others },
                Shape::Parts {
                    parts: more,
                    others: more_others,
                },
            ) => {
                parts.extend(more);
                others.extend(more_others);
            }
            _ => return Err(definition.value.clone()),
        }
    }
    Ok(combined)
}

fn literal_site(source: &Source<'_>, service: &ServiceName, part: Part, index: usize) -> Site {
    let offset = source.tokens[index].start as usize;
    let holder = match super::literal_at(source, index) {
        Ok(holder) => holder,
        Err(why) => Holder::Other { found: why },
    };
    Site {
        service: service.clone(),
        part,
        kind: SlotKind::Field,
        offset,
        holder,
    }
}

fn other_site(
    source: &Source<'_>,
    service: &ServiceName,
    part: Part,
    value: &Expr,
    what: String,
) -> Site {
    let range = value.syntax().text_range();
    let range = usize::from(range.start())..usize::from(range.end());
    Site {
        service: service.clone(),
        part,
        kind: SlotKind::Field,
        offset: range.start,
        holder: Holder::Other {
            found: format!("`{}`, {what}", source.excerpt(range)),
        },
    }
}

fn part_site(source: &Source<'_>, service: &ServiceName, part: Part, value: &Expr) -> Site {
    match shape(source, value) {
        Shape::Literal(index) => literal_site(source, service, part, index),
        Shape::Parts { .. } => other_site(source, service, part, value, "an object".to_owned()),
        Shape::Other(value) => {
            let found = describe(&value);
            other_site(source, service, part, &value, found)
        }
    }
}

/// What a value that is not a string literal is, in words.
fn describe(expr: &Expr) -> String {
    let expr = unparen(expr);
    if expr.stmts().next().is_some() {
        return "an expression with `local` bindings".to_owned();
    }
    match expr.suffixs().last() {
        Some(Suffix::SuffixApply(_)) => return "a function call".to_owned(),
        Some(_) => return "a field or index access".to_owned(),
        None => {}
    }
    match expr.expr_base() {
        Some(ExprBase::ExprBinary(binary)) => match binary.binary_operator() {
            Some(op) => format!("a `{op}` expression"),
            None => "a binary expression".to_owned(),
        },
        Some(ExprBase::ExprVar(_)) => "a variable".to_owned(),
        Some(ExprBase::ExprImport(_)) => "an import".to_owned(),
        Some(ExprBase::ExprIfThenElse(_)) => "a conditional".to_owned(),
        Some(ExprBase::ExprFunction(_)) => "a function".to_owned(),
        Some(ExprBase::ExprNumber(_)) => "a number".to_owned(),
        Some(ExprBase::ExprLiteral(_)) => "a keyword literal".to_owned(),
        Some(ExprBase::ExprArray(_) | ExprBase::ExprArrayComp(_)) => "an array".to_owned(),
        Some(ExprBase::ExprObject(_)) => "an object comprehension".to_owned(),
        Some(ExprBase::ExprObjExtend(_)) => "an object extension".to_owned(),
        Some(ExprBase::ExprUnary(_)) => "a unary expression".to_owned(),
        Some(ExprBase::ExprError(_)) => "an `error` expression".to_owned(),
        Some(ExprBase::ExprString(_)) => "a text block (`|||`)".to_owned(),
        Some(ExprBase::ExprParened(_)) | None => "an expression".to_owned(),
    }
}
