//! `#[problem(...)]` arguments on the type, its variants and its fields.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, Token};

use crate::args::Spanned as Value;
use crate::errors::Errors;
use staunch_options::nearest;

/// One `key` or `key = value`; keys may be keywords (`type`).
struct Item {
    key: Ident,
    value: Option<Expr>,
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Item { key, value })
    }
}

/// Where an attribute sits, which decides the keys it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Enum,
    Struct,
    Variant,
    Field,
}

impl Site {
    fn keys(self) -> &'static [&'static str] {
        const OCCURRENCE: &[&str] = &[
            "status",
            "title",
            "type",
            "expose",
            "transient",
            "permanent",
            "failure",
            "transparent",
        ];
        match self {
            Site::Enum => &["type_base", "status"],
            Site::Struct => &[
                "type_base",
                "status",
                "title",
                "type",
                "expose",
                "transient",
                "permanent",
                "failure",
                "transparent",
            ],
            Site::Variant => OCCURRENCE,
            Site::Field => &["extension", "retry_after"],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Site::Enum => "on an enum",
            Site::Struct => "on a struct",
            Site::Variant => "on a variant",
            Site::Field => "on a field",
        }
    }
}

/// Every `#[problem]` option at one site, each given at most once.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) type_base: Option<Value<String>>,
    pub(crate) status: Option<Value<u16>>,
    pub(crate) title: Option<Value<String>>,
    pub(crate) type_uri: Option<Value<String>>,
    pub(crate) expose: Option<Span>,
    pub(crate) transient: Option<Span>,
    pub(crate) permanent: Option<Span>,
    pub(crate) failure: Option<Value<bool>>,
    pub(crate) transparent: Option<Span>,
    /// `extension` or `extension = "member-name"`.
    pub(crate) extension: Option<Value<Option<String>>>,
    pub(crate) retry_after: Option<Span>,
    /// `status` was written, even if its value was invalid or its key misspelt: that mistake is
    /// already reported, so a missing status is not reported on top of it.
    pub(crate) status_written: bool,
}

pub(crate) fn parse(attrs: &[Attribute], site: Site, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    let mut seen: Vec<String> = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("problem")) {
        let items = match attr.meta.require_list().and_then(|list| {
            Punctuated::<Item, Token![,]>::parse_terminated.parse2(list.tokens.clone())
        }) {
            Ok(items) => items,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        for item in items {
            let key = item.key.to_string();
            let span = item.key.span();
            if key == "status" || nearest(&key, site.keys()) == Some("status") {
                options.status_written = true;
            }
            if !site.keys().contains(&key.as_str()) {
                errors.add(span, unknown(site, &key));
                continue;
            }
            if seen.contains(&key) {
                errors.add(span, format!("duplicate `#[problem]` option `{key}`"));
                continue;
            }
            seen.push(key.clone());
            options.set(&key, span, item.value.as_ref(), errors);
        }
    }
    options
}

fn unknown(site: Site, key: &str) -> String {
    let valid = format!(
        "valid options {}: {}",
        site.describe(),
        site.keys().join(", ")
    );
    if let Some(near) = nearest(key, site.keys()) {
        return format!(
            "unknown `#[problem]` option `{key}` {}; {valid}; did you mean `{near}`?",
            site.describe()
        );
    }
    let elsewhere: Vec<&str> = [Site::Enum, Site::Struct, Site::Variant, Site::Field]
        .into_iter()
        .filter(|s| s.keys().contains(&key))
        .map(Site::describe)
        .collect();
    if elsewhere.is_empty() {
        format!(
            "unknown `#[problem]` option `{key}` {}; {valid}",
            site.describe()
        )
    } else {
        format!(
            "`#[problem({key})]` goes {}, not {}; {valid}",
            elsewhere.join(" or "),
            site.describe()
        )
    }
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

impl Options {
    fn set(&mut self, key: &str, span: Span, value: Option<&Expr>, errors: &mut Errors) {
        let flag = |errors: &mut Errors| {
            if let Some(value) = value {
                errors.add(
                    value.span(),
                    format!("`{key}` is a flag: write `#[problem({key})]`"),
                );
            }
            Some(span)
        };
        let string = |errors: &mut Errors| match value.and_then(literal) {
            Some(Lit::Str(s)) => Some(Value {
                value: s.value(),
                span: s.span(),
            }),
            _ => {
                errors.add(
                    value.map_or(span, Spanned::span),
                    format!("`{key}` takes a string: `#[problem({key} = \"...\")]`"),
                );
                None
            }
        };
        match key {
            "type_base" => self.type_base = string(errors),
            "title" => self.title = string(errors),
            "type" => self.type_uri = string(errors),
            "status" => self.status = status(span, value, errors),
            "expose" => self.expose = flag(errors),
            "transient" => self.transient = flag(errors),
            "permanent" => self.permanent = flag(errors),
            "transparent" => self.transparent = flag(errors),
            "retry_after" => self.retry_after = flag(errors),
            "failure" => match value.and_then(literal) {
                Some(Lit::Bool(b)) => {
                    self.failure = Some(Value {
                        value: b.value,
                        span: b.span(),
                    });
                }
                _ => errors.add(
                    value.map_or(span, Spanned::span),
                    "`failure` takes a boolean: `#[problem(failure = false)]`",
                ),
            },
            "extension" => {
                self.extension = match value {
                    None => Some(Value { value: None, span }),
                    Some(_) => string(errors).map(|name| Value {
                        value: Some(name.value),
                        span: name.span,
                    }),
                };
            }
            _ => {}
        }
    }
}

fn status(span: Span, value: Option<&Expr>, errors: &mut Errors) -> Option<Value<u16>> {
    let Some(Lit::Int(int)) = value.and_then(literal) else {
        errors.add(
            value.map_or(span, Spanned::span),
            "`status` takes an HTTP status code: `#[problem(status = 404)]`",
        );
        return None;
    };
    match int.base10_parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Some(Value {
            value: code,
            span: int.span(),
        }),
        _ => {
            errors.add(
                int.span(),
                format!("`status` must be an HTTP status code in 100..=599, not {int}"),
            );
            None
        }
    }
}
