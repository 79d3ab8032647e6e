//! Gathers the staunch attributes stacked on one function and expands them together.
//!
//! The topmost staunch attribute expands first and sees the ones below it, so it takes them
//! all and emits one nested call chain: a rejection can then travel outward as a `Rejected`
//! and be converted to the function's error once, at the outermost layer. Collection stops at
//! the first attribute that is not staunch's and not inert (`#[tracing::instrument]`, say):
//! the staunch attributes below it expand on their own when it has run.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, Meta};

use crate::errors::Errors;
use crate::expand;
use crate::layer::{self, Kind};

/// Attributes that change nothing about the body and may sit between staunch attributes.
const INERT: &[&str] = &[
    "doc",
    "allow",
    "warn",
    "deny",
    "forbid",
    "expect",
    "must_use",
    "inline",
    "cold",
    "deprecated",
    "track_caller",
    "cfg",
];

pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[staunch::{}]` applies to an `async fn` with a body",
                    kind.name()
                ),
            );
            return with_error(item, &error);
        }
    };
    let mut errors = Errors::default();
    let mut layers = Vec::new();
    if let Some(layer) = errors.keep(layer::parse(kind, Span::call_site(), args)) {
        layers.push(layer);
    }
    let mut kinds = vec![kind];
    let mut kept = Vec::new();
    let mut collecting = true;
    for attr in std::mem::take(&mut function.attrs) {
        let below = staunch_kind(&attr);
        // Duplicates are found past a non-inert attribute too, though only collected up to it.
        if let Some(below) = below.filter(|below| kinds.contains(below)) {
            errors.add(
                name_span(&attr),
                format!(
                    "`#[staunch::{}]` is already applied to this function; each attribute may appear once",
                    below.name()
                ),
            );
            continue;
        }
        if let Some(below) = below {
            kinds.push(below);
        }
        match below.filter(|_| collecting) {
            Some(below) => {
                let span = name_span(&attr);
                let tokens = match attr.meta {
                    Meta::List(list) => list.tokens,
                    _ => TokenStream::new(),
                };
                if let Some(layer) = errors.keep(layer::parse(below, span, tokens)) {
                    layers.push(layer);
                }
            }
            None => {
                collecting &= is_inert(&attr);
                kept.push(attr);
            }
        }
    }
    function.attrs = kept;
    if function.sig.asyncness.is_none() {
        errors.add(
            function.sig.fn_token.span,
            format!(
                "`#[staunch::{}]` needs an `async fn`: make `{}` async",
                kind.name(),
                function.sig.ident
            ),
        );
    }
    if let syn::ReturnType::Default = function.sig.output {
        errors.add(
            function.sig.paren_token.span.join(),
            format!(
                "`#[staunch::{}]` needs a function returning `Result<T, E>`; `{}` returns `()`",
                kind.name(),
                function.sig.ident
            ),
        );
    }
    if let Err(error) = errors.finish() {
        return with_error(function.into_token_stream(), &error);
    }
    match expand::function(function.clone(), &layers) {
        Ok(tokens) => tokens,
        Err(error) => with_error(function.into_token_stream(), &error),
    }
}

/// The user's item unchanged (minus the staunch attributes), plus the errors: the IDE keeps
/// working and one mistake gives one message.
fn with_error(item: TokenStream, error: &syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

fn staunch_kind(attr: &Attribute) -> Option<Kind> {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    let name = match segments.as_slice() {
        [name] => name,
        [krate, name] if krate == "staunch" => name,
        _ => return None,
    };
    Kind::ALL.into_iter().find(|k| k.name() == name)
}

/// The attribute's name (`retry` in `staunch::retry`), where errors about the layer point.
fn name_span(attr: &Attribute) -> Span {
    attr.path()
        .segments
        .last()
        .map_or_else(|| attr.path().span(), |segment| segment.ident.span())
}

fn is_inert(attr: &Attribute) -> bool {
    attr.path()
        .get_ident()
        .is_some_and(|ident| INERT.iter().any(|inert| ident == inert))
}
