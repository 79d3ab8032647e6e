//! What the expansion needs to know about the annotated function's parameters.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Type};

/// How the function takes `self`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    None,
    /// `&self`: each call borrows it again.
    Shared,
    /// `&mut self`: each call reborrows it, as `&mut *self`, so that the future holds a
    /// `&mut Self` (`Send` when `Self` is) rather than a shared borrow of one.
    Unique,
    /// `self`: retry and fallback need a clone per call.
    Owned,
}

/// How a binding holds its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holding {
    Owned,
    Shared,
    Unique,
}

pub(crate) struct Binding {
    pub(crate) ident: Ident,
    /// The `mut` taken off the parameter, re-emitted where the expansion rebinds it.
    pub(crate) mutability: Option<syn::Token![mut]>,
    pub(crate) holding: Holding,
}

/// A parameter other than `self`.
pub(crate) struct Param {
    pub(crate) bindings: Vec<Binding>,
    /// The identifier when the pattern is just one (fallback passes it on).
    pub(crate) simple: Option<Ident>,
    pub(crate) span: Span,
}

pub(crate) struct Params {
    pub(crate) receiver: Receiver,
    /// Where `self` is written, for errors about it.
    pub(crate) receiver_span: Span,
    /// The `mut` of `mut self`, taken off the signature and re-emitted where the expansion
    /// binds its copy of `self`.
    pub(crate) receiver_mutability: Option<syn::Token![mut]>,
    pub(crate) params: Vec<Param>,
}

impl Params {
    pub(crate) fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.params.iter().flat_map(|p| &p.bindings)
    }
}

/// Reads the parameters, removing `mut` from their patterns: the expansion rebinds each
/// parameter inside the call, `mut` included, so the original binding is never mutated.
pub(crate) fn params(sig: &mut syn::Signature) -> Params {
    let mut receiver = Receiver::None;
    let mut receiver_span = Span::call_site();
    let mut receiver_mutability = None;
    let mut params = Vec::new();
    for input in &mut sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                receiver_span = r.self_token.span;
                receiver = match &r.reference {
                    Some(_) if r.mutability.is_some() => Receiver::Unique,
                    Some(_) => Receiver::Shared,
                    None => {
                        receiver_mutability = r.mutability.take();
                        Receiver::Owned
                    }
                };
            }
            FnArg::Typed(typed) => {
                let holding = match &*typed.ty {
                    Type::Reference(r) if r.mutability.is_some() => Holding::Unique,
                    Type::Reference(_) => Holding::Shared,
                    _ => Holding::Owned,
                };
                let simple = match &*typed.pat {
                    Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => {
                        Some(p.ident.clone())
                    }
                    _ => None,
                };
                let mut bindings = Vec::new();
                collect(&mut typed.pat, holding, &mut bindings);
                params.push(Param {
                    bindings,
                    simple,
                    span: typed.pat.span(),
                });
            }
        }
    }
    Params {
        receiver,
        receiver_span,
        receiver_mutability,
        params,
    }
}

fn collect(pat: &mut Pat, holding: Holding, out: &mut Vec<Binding>) {
    match pat {
        Pat::Ident(p) => {
            out.push(Binding {
                ident: p.ident.clone(),
                // `ref mut x` keeps its `mut`: it is how the reference is taken, not the binding.
                mutability: if p.by_ref.is_none() {
                    p.mutability.take()
                } else {
                    None
                },
                // `ref x` borrows from the parameter, which the expansion owns.
                holding: if p.by_ref.is_some() {
                    Holding::Owned
                } else {
                    holding
                },
            });
            if let Some((_, sub)) = &mut p.subpat {
                collect(sub, holding, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter_mut().for_each(|p| collect(p, holding, out)),
        Pat::TupleStruct(t) => t.elems.iter_mut().for_each(|p| collect(p, holding, out)),
        Pat::Struct(s) => s
            .fields
            .iter_mut()
            .for_each(|f| collect(&mut f.pat, holding, out)),
        Pat::Slice(s) => s.elems.iter_mut().for_each(|p| collect(p, holding, out)),
        // `&x: &T` binds the value behind the reference, not the reference.
        Pat::Reference(r) => collect(&mut r.pat, Holding::Owned, out),
        Pat::Paren(p) => collect(&mut p.pat, holding, out),
        Pat::Type(t) => collect(&mut t.pat, holding, out),
        _ => {}
    }
}
