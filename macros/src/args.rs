//! The arguments of one attribute: `key = value` pairs and positional values, with spans.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprLit, ExprPath, Ident, Lit, Token};

/// One argument as written.
pub(crate) enum Arg {
    Named { key: Ident, value: Expr },
    Positional(Expr),
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::Named {
                key,
                value: input.parse()?,
            })
        } else {
            Ok(Arg::Positional(input.parse()?))
        }
    }
}

pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    Punctuated::<Arg, Token![,]>::parse_terminated
        .parse2(tokens)
        .map(|args| args.into_iter().collect())
}

/// A value with the span of the tokens it came from.
#[derive(Clone, Copy)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

pub(crate) fn int(key: &str, expr: &Expr) -> syn::Result<Spanned<u64>> {
    match literal(expr) {
        Some(Lit::Int(int)) => Ok(Spanned {
            value: int.base10_parse()?,
            span: int.span(),
        }),
        _ => Err(syn::Error::new(
            expr.span(),
            format!("`{key}` takes an integer, like `{key} = 5`"),
        )),
    }
}

pub(crate) fn number(key: &str, expr: &Expr) -> syn::Result<Spanned<f64>> {
    match literal(expr) {
        Some(Lit::Int(int)) => Ok(Spanned {
            value: int.base10_parse()?,
            span: int.span(),
        }),
        Some(Lit::Float(float)) => Ok(Spanned {
            value: float.base10_parse()?,
            span: float.span(),
        }),
        _ => Err(syn::Error::new(
            expr.span(),
            format!("`{key}` takes a number, like `{key} = 2` or `{key} = 1.5`"),
        )),
    }
}

pub(crate) fn string(key: &str, example: &str, expr: &Expr) -> syn::Result<Spanned<String>> {
    match literal(expr) {
        Some(Lit::Str(s)) => Ok(Spanned {
            value: s.value(),
            span: s.span(),
        }),
        _ => Err(syn::Error::new(
            expr.span(),
            format!("`{key}` takes a string, like `{key} = \"{example}\"`"),
        )),
    }
}

pub(crate) fn duration(key: &str, expr: &Expr) -> syn::Result<Spanned<std::time::Duration>> {
    let text = string(key, "2s", expr)?;
    staunch_options::duration::parse(&text.value)
        .map(|value| Spanned {
            value,
            span: text.span,
        })
        .map_err(|message| syn::Error::new(text.span, message))
}

pub(crate) fn path(key: &str, expr: &Expr) -> syn::Result<ExprPath> {
    match expr {
        Expr::Path(path) => Ok(path.clone()),
        Expr::Group(group) => self::path(key, &group.expr),
        _ => Err(syn::Error::new(
            expr.span(),
            format!("`{key}` takes a path to a function, like `{key} = is_transient`"),
        )),
    }
}
