//! Gathers the staunch attributes stacked on one function and arranges them in reading order.
//!
//! The topmost staunch attribute expands first and sees every attribute below it. Consecutive
//! staunch attributes form a group that expands together as one nested call chain, so that a
//! rejection travels outward as a `Rejected` and is converted to the function's error once, at
//! the group's outermost layer. Another attribute macro among them (`#[tracing::instrument]`)
//! must end up between the layers where it is written; rustc expands the topmost attribute
//! first, which would put it outside them all. So when there is one, the top attribute
//! re-emits the item with every group as a hidden continuation attribute and the foreign ones
//! between them, bottom first:
//!
//! ```text
//! #[retry] #[instrument] #[circuit_breaker] #[timeout] async fn f() { body }
//! // becomes
//! #[__stack(circuit_breaker, timeout)] #[instrument] #[__stack(retry)] async fn f() { body }
//! ```
//!
//! which rustc expands top down, innermost first: `retry(instrument(breaker(timeout(body))))`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, ItemFn, Meta, MetaList, Token};

use crate::errors::Errors;
use crate::expand::{self, Crossing};
use crate::layer::{self, Config, Kind, Layer};

/// Attributes that change nothing about the body and may sit anywhere among staunch's.
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

/// One staunch attribute as written: its kind, the span of its name and its arguments.
struct Written {
    kind: Kind,
    span: Span,
    args: TokenStream,
}

impl Written {
    /// Whether the layer can reject a call (a retry can, with a budget).
    fn can_reject(&self) -> bool {
        match self.kind {
            Kind::CircuitBreaker | Kind::Bulkhead | Kind::Timeout | Kind::RateLimit => true,
            Kind::Retry => parse_layer(self).is_ok_and(
                |layer| matches!(layer.config, Config::Retry(retry) if retry.budget.is_some()),
            ),
            Kind::Fallback | Kind::Hedge | Kind::Cache => false,
        }
    }
}

/// The attributes below the top one, in order: staunch groups between foreign attributes.
enum Segment {
    Group(Vec<Written>),
    Foreign(Box<Attribute>),
}

/// The entry point of every staunch attribute written by the user.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = match parse_function(kind, item) {
        Ok(function) => function,
        Err(error) => return error,
    };
    let mut errors = Errors::default();
    let mut kinds = vec![kind];
    let mut inert = Vec::new();
    let mut segments = vec![Segment::Group(vec![Written {
        kind,
        span: Span::call_site(),
        args,
    }])];
    for attr in std::mem::take(&mut function.attrs) {
        let Some(below) = staunch_kind(&attr) else {
            // Inner attributes live in the body, whatever the layers do.
            if is_inert(&attr) || matches!(attr.style, AttrStyle::Inner(_)) {
                inert.push(attr);
            } else {
                segments.push(Segment::Foreign(Box::new(attr)));
            }
            continue;
        };
        if kinds.contains(&below) {
            errors.add(
                name_span(&attr),
                format!(
                    "`#[staunch::{}]` is already applied to this function; each attribute may appear once",
                    below.name()
                ),
            );
            continue;
        }
        kinds.push(below);
        let written = Written {
            kind: below,
            span: name_span(&attr),
            args: match attr.meta {
                Meta::List(list) => list.tokens,
                _ => TokenStream::new(),
            },
        };
        match segments.last_mut() {
            Some(Segment::Group(group)) => group.push(written),
            _ => segments.push(Segment::Group(vec![written])),
        }
    }

    // Every layer is validated here, once, so that one mistake gives one message.
    let mut layers = Vec::new();
    for segment in &segments {
        if let Segment::Group(group) = segment {
            for written in group {
                if let Some(layer) = errors.keep(parse_layer(written)) {
                    layers.push(layer);
                }
            }
        }
    }
    check_signature(kind, &function, &mut errors);
    function.attrs = inert;
    if let Err(error) = errors.finish() {
        // The foreign attributes still apply, in their order; staunch's are left out.
        function
            .attrs
            .extend(segments.into_iter().filter_map(|segment| match segment {
                Segment::Foreign(attr) => Some(*attr),
                Segment::Group(_) => None,
            }));
        return with_error(function.into_token_stream(), &error);
    }
    if segments.len() == 1 {
        return expand_layers(function, &layers, Crossing::default());
    }
    // Bottom up: a group reads the rejections of the group below when that one can reject
    // (itself, or by passing on what it read); the group below then marks them for it.
    let mut crossings = vec![Crossing::default(); segments.len()];
    let mut below: Option<(usize, bool)> = None;
    for (i, segment) in segments.iter().enumerate().rev() {
        if let Segment::Group(group) = segment {
            if let Some((j, rejects)) = below {
                crossings[i].reads = rejects;
                crossings[j].marks = rejects;
            }
            let rejects = crossings[i].reads || group.iter().any(Written::can_reject);
            below = Some((i, rejects));
        }
    }
    // The innermost segment is expanded first: emitted bottom first, top last.
    for (segment, crossing) in segments.into_iter().zip(crossings).rev() {
        function.attrs.push(match segment {
            Segment::Foreign(attr) => *attr,
            Segment::Group(group) => continuation(&group, crossing),
        });
    }
    function.into_token_stream()
}

/// The entry point of a continuation attribute: one group of layers, already validated, whose
/// place among the other attributes the top staunch attribute has settled.
pub(crate) fn resume(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = Punctuated::<MetaList, Token![,]>::parse_terminated.parse2(args);
    let mut crossing = Crossing::default();
    let written: Vec<Written> = match parsed {
        Ok(lists) => lists
            .into_iter()
            .filter_map(|list| {
                let ident = list.path.get_ident()?;
                if ident == "crossing" {
                    let flags = Punctuated::<syn::LitBool, Token![,]>::parse_terminated
                        .parse2(list.tokens)
                        .ok()?;
                    let flag = |i: usize| flags.iter().nth(i).is_some_and(syn::LitBool::value);
                    crossing = Crossing {
                        reads: flag(0),
                        marks: flag(1),
                    };
                    return None;
                }
                let kind = Kind::ALL.into_iter().find(|k| ident == k.name())?;
                Some(Written {
                    kind,
                    span: ident.span(),
                    args: list.tokens,
                })
            })
            .collect(),
        Err(error) => return with_error(item, &error),
    };
    let Some(first) = written.first() else {
        return item;
    };
    let function = match parse_function(first.kind, item) {
        Ok(function) => function,
        Err(error) => return error,
    };
    let mut errors = Errors::default();
    let layers: Vec<Layer> = written
        .iter()
        .filter_map(|written| errors.keep(parse_layer(written)))
        .collect();
    // An attribute macro below may have changed the signature.
    if function.sig.asyncness.is_none() {
        errors.add(
            Span::call_site(),
            format!(
                "`#[staunch::{}]` needs an `async fn`, and an attribute macro written below it made `{}` a plain `fn` (as `#[tokio::test]` does): put the staunch attributes on an `async fn` of their own, and call it",
                first.kind.name(),
                function.sig.ident
            ),
        );
    } else {
        check_signature(first.kind, &function, &mut errors);
    }
    if let Err(error) = errors.finish() {
        return with_error(function.into_token_stream(), &error);
    }
    expand_layers(function, &layers, crossing)
}

fn parse_function(kind: Kind, item: TokenStream) -> Result<ItemFn, TokenStream> {
    syn::parse2(item.clone()).map_err(|_| {
        let error = syn::Error::new(
            Span::call_site(),
            format!(
                "`#[staunch::{}]` applies to an `async fn` with a body",
                kind.name()
            ),
        );
        with_error(item, &error)
    })
}

fn parse_layer(written: &Written) -> syn::Result<Layer> {
    layer::parse(written.kind, written.span, written.args.clone())
}

fn check_signature(kind: Kind, function: &ItemFn, errors: &mut Errors) {
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
}

fn expand_layers(function: ItemFn, layers: &[Layer], crossing: Crossing) -> TokenStream {
    match expand::function(function.clone(), layers, crossing) {
        Ok(tokens) => tokens,
        Err(error) => with_error(function.into_token_stream(), &error),
    }
}

/// `#[::staunch::__private::stack(retry(max = 3), timeout("1s"))]`, each layer's name keeping
/// the span of the attribute it came from, where errors about that layer point.
fn continuation(group: &[Written], crossing: Crossing) -> Attribute {
    let layers = group.iter().map(|written| {
        let name = syn::Ident::new(written.kind.name(), written.span);
        let args = &written.args;
        quote!(#name(#args))
    });
    let (reads, marks) = (crossing.reads, crossing.marks);
    syn::parse_quote!(#[::staunch::__private::stack(crossing(#reads, #marks), #(#layers),*)])
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
