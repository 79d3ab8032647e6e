//! `#[derive(Problem)]`: RFC 9457 problem details and `Classify` from per-variant attributes.
//!
//! ```text
//! #[problem(type_base = "https://example.com/probs/")]
//! enum ApiError {
//!     #[problem(status = 404, title = "Product Not Found")] ProductNotFound(String),
//!     #[problem(transparent)] Rejected(staunch::Rejected),
//! }
//! ```
//! becomes `impl Problem` and `impl Classify` whose methods `match self` per variant (a
//! transparent variant forwards to its field), plus `__impl_problem_integrations!`, which the
//! facade expands to `IntoResponse` only when its `axum` feature is on.

mod attr;
mod uri;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Member};

use self::attr::{Options, Site};
use crate::errors::Errors;

/// One way the value can be (a variant, or the struct itself), with what it answers.
struct Case {
    /// `Self::Variant` or `Self`.
    path: TokenStream,
    occurrence: Occurrence,
}

enum Occurrence {
    /// Forwards every answer to the field.
    Transparent {
        member: Member,
    },
    Own(Own),
}

struct Own {
    status: u16,
    type_uri: Option<String>,
    title: Option<String>,
    expose: bool,
    transient: Option<bool>,
    failure: Option<bool>,
    extensions: Vec<(String, Member)>,
    retry_after: Option<Member>,
}

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let cases = cases(&input, &mut errors);
    match errors.finish() {
        Ok(()) => expand(&input, &cases),
        // A stub impl keeps uses of the type compiling, so each mistake gives one message.
        Err(error) => {
            let stub = stub(&input);
            let error = error.to_compile_error();
            quote!(#stub #error)
        }
    }
}

fn cases(input: &DeriveInput, errors: &mut Errors) -> Vec<Case> {
    match &input.data {
        Data::Enum(data) => {
            let defaults = attr::parse(&input.attrs, Site::Enum, errors);
            data.variants
                .iter()
                .filter_map(|variant| {
                    let ident = &variant.ident;
                    let options = attr::parse(&variant.attrs, Site::Variant, errors);
                    case(
                        quote!(Self::#ident),
                        variant.ident.span(),
                        &options,
                        &defaults,
                        &variant.fields,
                        errors,
                    )
                })
                .collect()
        }
        Data::Struct(data) => {
            let options = attr::parse(&input.attrs, Site::Struct, errors);
            case(
                quote!(Self),
                input.ident.span(),
                &options,
                &options,
                &data.fields,
                errors,
            )
            .into_iter()
            .collect()
        }
        Data::Union(data) => {
            errors.add(
                data.union_token.span,
                "`#[derive(Problem)]` applies to enums and structs, not unions",
            );
            Vec::new()
        }
    }
}

fn case(
    path: TokenStream,
    span: Span,
    options: &Options,
    defaults: &Options,
    fields: &Fields,
    errors: &mut Errors,
) -> Option<Case> {
    let field_options: Vec<(Member, &syn::Field, Options)> = fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let member = field.ident.clone().map_or_else(
                || {
                    Member::Unnamed(syn::Index {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        span: field.span(),
                    })
                },
                Member::Named,
            );
            (
                member,
                field,
                attr::parse(&field.attrs, Site::Field, errors),
            )
        })
        .collect();

    if let Some(transparent) = options.transparent {
        if fields.len() != 1 {
            errors.add(
                transparent,
                format!(
                    "`#[problem(transparent)]` forwards to the one field of a variant, but this one has {}",
                    fields.len()
                ),
            );
            return None;
        }
        for (given, key) in [
            (options.status.map(|s| s.span), "status"),
            (options.title.as_ref().map(|t| t.span), "title"),
            (options.type_uri.as_ref().map(|t| t.span), "type"),
            (options.expose, "expose"),
            (options.transient, "transient"),
            (options.permanent, "permanent"),
            (options.failure.map(|f| f.span), "failure"),
        ] {
            if let Some(span) = given {
                errors.add(
                    span,
                    format!("`{key}` has no effect with `transparent`, which forwards everything to the field"),
                );
            }
        }
        let (member, _, _) = field_options.into_iter().next()?;
        return Some(Case {
            path,
            occurrence: Occurrence::Transparent { member },
        });
    }

    let status = match options.status.or(defaults.status) {
        Some(status) => Some(status.value),
        None => {
            errors.add(
                span,
                "missing `#[problem(status = ...)]`: give this a status, or a default status on the enum",
            );
            None
        }
    };
    let type_uri = options.type_uri.as_ref().and_then(|t| {
        let base = defaults.type_base.as_ref().map_or("", |b| b.value.as_str());
        if let Some(base) = &defaults.type_base
            && !uri::is_uri_reference(&base.value)
        {
            errors.add(base.span, format!("`type_base` \"{}\" is not a URI reference", base.value));
            return None;
        }
        if !uri::is_uri_reference(&t.value) {
            errors.add(
                t.span,
                format!(
                    "`type` \"{}\" is not a URI reference (RFC 3986): use a URI like \"https://example.com/probs/out-of-credit\" or a path like \"out-of-credit\"",
                    t.value
                ),
            );
            return None;
        }
        let absolute = t.value.split(['/', '?', '#']).next().is_some_and(|h| h.contains(':'));
        Some(if absolute { t.value.clone() } else { format!("{base}{}", t.value) })
    });
    if let (Some(_), Some(permanent)) = (options.transient, options.permanent) {
        errors.add(
            permanent,
            "`transient` and `permanent` contradict each other; keep one",
        );
    }
    let mut extensions = Vec::new();
    let mut retry_after = None;
    for (member, field, field_options) in field_options {
        if let Some(extension) = field_options.extension {
            let name = extension
                .value
                .clone()
                .or_else(|| field.ident.as_ref().map(ToString::to_string));
            match name {
                Some(name) if uri::is_member_name(&name) => extensions.push((name, member.clone())),
                Some(name) => errors.add(
                    extension.span,
                    format!(
                        "\"{name}\" is not a valid extension member name (RFC 9457 §3.2: a letter, then letters, digits or `_`, three characters or more, not a standard member); rename it with `#[problem(extension = \"name\")]`"
                    ),
                ),
                None => errors.add(
                    extension.span,
                    "a tuple field needs a member name: `#[problem(extension = \"name\")]`",
                ),
            }
        }
        if let Some(span) = field_options.retry_after {
            if retry_after.is_some() {
                errors.add(span, "only one field can be `#[problem(retry_after)]`");
            }
            retry_after = Some(member);
        }
    }
    Some(Case {
        path,
        occurrence: Occurrence::Own(Own {
            status: status?,
            type_uri,
            title: options.title.as_ref().map(|t| t.value.clone()),
            expose: options.expose.is_some(),
            transient: options
                .transient
                .map(|_| true)
                .or(options.permanent.map(|_| false)),
            failure: options.failure.map(|f| f.value),
            extensions,
            retry_after,
        }),
    })
}

fn binding(member: &Member) -> syn::Ident {
    match member {
        Member::Named(ident) => format_ident!("__staunch_{}", ident),
        Member::Unnamed(index) => format_ident!("__staunch_{}", index.index),
    }
}

/// `match self { case => answer, ... }` with each case binding the fields its answer reads.
fn answer(
    cases: &[Case],
    mut each: impl FnMut(&Case) -> (Vec<Member>, TokenStream),
) -> TokenStream {
    let arms = cases.iter().map(|case| {
        let (members, body) = each(case);
        let path = &case.path;
        let bindings = members.iter().map(binding);
        quote!(#path { #(#members: #bindings,)* .. } => #body,)
    });
    quote! {
        #[allow(unused_variables)]
        match self { #(#arms)* }
    }
}

fn expand(input: &DeriveInput, cases: &[Case]) -> TokenStream {
    let forward = |member: &Member, call: TokenStream| {
        let field = binding(member);
        (vec![member.clone()], quote!(#call(#field)))
    };
    let status = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => forward(member, quote!(::staunch::Problem::status)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(#status))
        }
    });
    let type_uri = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => forward(member, quote!(::staunch::Problem::type_uri)),
        Occurrence::Own(own) => {
            let uri = own.type_uri.as_deref().unwrap_or("about:blank");
            (Vec::new(), quote!(#uri))
        }
    });
    let title = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => forward(member, quote!(::staunch::Problem::title)),
        Occurrence::Own(Own {
            title: Some(title), ..
        }) => (Vec::new(), quote!(#title)),
        // RFC 9457 §4.2.1: with no title of its own, the status's reason phrase.
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(::staunch::reason_phrase(#status)))
        }
    });
    let detail = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => forward(member, quote!(::staunch::Problem::detail)),
        Occurrence::Own(own) if own.status >= 500 && !own.expose => (
            Vec::new(),
            quote!(::core::option::Option::Some(
                ::std::borrow::ToOwned::to_owned(::staunch::GENERIC_DETAIL)
            )),
        ),
        Occurrence::Own(_) => (
            Vec::new(),
            quote!(::core::option::Option::Some(
                ::std::string::ToString::to_string(self)
            )),
        ),
    });
    let extensions = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => {
            forward(member, quote!(::staunch::Problem::extensions))
        }
        Occurrence::Own(own) => {
            let members: Vec<Member> = own.extensions.iter().map(|(_, m)| m.clone()).collect();
            let inserts = own.extensions.iter().map(|(name, member)| {
                let field = binding(member);
                quote! {
                    __staunch_members.insert(
                        ::std::borrow::ToOwned::to_owned(#name),
                        ::staunch::__private::to_json(#field),
                    );
                }
            });
            (
                members,
                quote! {{
                    #[allow(unused_mut)]
                    let mut __staunch_members = ::staunch::__private::JsonMap::new();
                    #(#inserts)*
                    __staunch_members
                }},
            )
        }
    });
    let is_transient = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => {
            forward(member, quote!(::staunch::Classify::is_transient))
        }
        Occurrence::Own(Own {
            transient: Some(t), ..
        }) => (Vec::new(), quote!(#t)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(::staunch::status_is_transient(#status)))
        }
    });
    let is_failure = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => {
            forward(member, quote!(::staunch::Classify::is_failure))
        }
        Occurrence::Own(Own {
            failure: Some(f), ..
        }) => (Vec::new(), quote!(#f)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(::staunch::status_is_failure(#status)))
        }
    });
    let retry_after = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent { member } => {
            forward(member, quote!(::staunch::Classify::retry_after))
        }
        Occurrence::Own(Own {
            retry_after: Some(member),
            ..
        }) => forward(
            member,
            quote!(::staunch::__private::RetryAfterField::retry_after),
        ),
        Occurrence::Own(_) => (Vec::new(), quote!(::core::option::Option::None)),
    });

    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics ::staunch::Problem for #name #ty_generics #where_clause {
            fn status(&self) -> u16 { #status }
            fn type_uri(&self) -> &str { #type_uri }
            fn title(&self) -> &str { #title }
            fn detail(&self) -> ::core::option::Option<::std::string::String> { #detail }
            fn extensions(&self) -> ::staunch::__private::JsonMap { #extensions }
        }

        #[automatically_derived]
        impl #impl_generics ::staunch::Classify for #name #ty_generics #where_clause {
            fn is_transient(&self) -> bool { #is_transient }
            fn is_failure(&self) -> bool { #is_failure }
            fn retry_after(&self) -> ::core::option::Option<::core::time::Duration> { #retry_after }
        }

        ::staunch::__impl_problem_integrations! {
            [#impl_generics] [#name #ty_generics] [#where_clause]
        }
    }
}

/// Impls that compile whatever the attributes said, emitted beside the errors.
fn stub(input: &DeriveInput) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let span = input.ident.span();
    quote_spanned! {span=>
        #[automatically_derived]
        impl #impl_generics ::staunch::Problem for #name #ty_generics #where_clause {
            fn status(&self) -> u16 { 500 }
        }
        #[automatically_derived]
        impl #impl_generics ::staunch::Classify for #name #ty_generics #where_clause {}
    }
}
