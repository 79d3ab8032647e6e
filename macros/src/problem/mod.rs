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
//! facade expands to the HTTP integrations whose features are on. On a mistake, the errors come
//! with stub impls, so that uses of the type add no error of their own.

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
    Transparent(Field),
    Own(Own),
}

struct Own {
    status: u16,
    type_uri: Option<String>,
    title: Option<String>,
    expose: bool,
    transient: Option<bool>,
    failure: Option<bool>,
    /// Member name and field.
    extensions: Vec<(String, Field)>,
    retry_after: Option<Field>,
}

/// A field an answer reads, with its type for the spans of errors and the bounds of generics.
#[derive(Clone)]
struct Field {
    member: Member,
    ty: syn::Type,
}

/// What a case is, in messages.
#[derive(Clone, Copy)]
enum Kind {
    Variant,
    Struct,
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
        // A union can never be an `Error`, so a stub would only add a second error.
        Err(error) if matches!(input.data, Data::Union(_)) => error.to_compile_error(),
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
            let type_base = type_base(&defaults, errors);
            data.variants
                .iter()
                .filter_map(|variant| {
                    let ident = &variant.ident;
                    let options = attr::parse(&variant.attrs, Site::Variant, errors);
                    case(
                        quote!(Self::#ident),
                        (Kind::Variant, variant.ident.span()),
                        &options,
                        (&defaults, type_base),
                        &variant.fields,
                        errors,
                    )
                })
                .collect()
        }
        Data::Struct(data) => {
            let options = attr::parse(&input.attrs, Site::Struct, errors);
            let type_base = type_base(&options, errors);
            case(
                quote!(Self),
                (Kind::Struct, input.ident.span()),
                &options,
                (&options, type_base),
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

/// The type's `type_base`, checked once whatever uses it.
fn type_base<'a>(options: &'a Options, errors: &mut Errors) -> &'a str {
    match &options.type_base {
        Some(base) if uri::is_uri_reference(&base.value) => &base.value,
        Some(base) => {
            errors.add(
                base.span,
                format!(
                    "`type_base` \"{}\" is not a URI reference (RFC 3986): use a prefix like \"https://example.com/probs/\"",
                    base.value
                ),
            );
            ""
        }
        None => "",
    }
}

fn case(
    path: TokenStream,
    (kind, span): (Kind, Span),
    options: &Options,
    (defaults, type_base): (&Options, &str),
    fields: &Fields,
    errors: &mut Errors,
) -> Option<Case> {
    let what = match kind {
        Kind::Variant => "variant",
        Kind::Struct => "struct",
    };
    let field_options: Vec<(Field, Option<&syn::Ident>, Options)> = fields
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
            let options = attr::parse(&field.attrs, Site::Field, errors);
            let ty = field.ty.clone();
            (Field { member, ty }, field.ident.as_ref(), options)
        })
        .collect();

    if let Some(transparent) = options.transparent {
        if fields.len() != 1 {
            errors.add(
                transparent,
                format!(
                    "`#[problem(transparent)]` forwards to the one field of a {what}, but this one has {}",
                    fields.len()
                ),
            );
            return None;
        }
        for (given, key) in [
            (options.status.map(|s| s.span), "status"),
            (options.title.as_ref().map(|t| t.span), "title"),
            (options.type_uri.as_ref().map(|t| t.span), "type"),
            (options.type_base.as_ref().map(|t| t.span), "type_base"),
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
        let (field, _, field_options) = field_options.into_iter().next()?;
        for (given, key) in [
            (
                field_options.extension.as_ref().map(|e| e.span),
                "extension",
            ),
            (field_options.retry_after, "retry_after"),
        ] {
            if let Some(span) = given {
                errors.add(
                    span,
                    format!("`{key}` has no effect in a `transparent` {what}, which takes every answer from this field"),
                );
            }
        }
        return Some(Case {
            path,
            occurrence: Occurrence::Transparent(field),
        });
    }

    let status = match options.status.or(defaults.status) {
        Some(status) => Some(status.value),
        // The invalid or misspelt `status` is reported already.
        None if options.status_written || defaults.status_written => None,
        None => {
            errors.add(
                span,
                match kind {
                    Kind::Variant => "missing `#[problem(status = ...)]`: give this variant a status, or the enum a default one",
                    Kind::Struct => "missing `#[problem(status = ...)]` on this struct",
                },
            );
            None
        }
    };
    if let (Some(expose), Some(status)) = (options.expose, status)
        && status < 500
    {
        errors.add(
            expose,
            format!("`expose` has no effect on a {status}: only a 5xx hides its `Display` from the client"),
        );
    }
    let type_uri = options.type_uri.as_ref().and_then(|t| {
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
        Some(if absolute { t.value.clone() } else { format!("{type_base}{}", t.value) })
    });
    if let (Some(_), Some(permanent)) = (options.transient, options.permanent) {
        errors.add(
            permanent,
            "`transient` and `permanent` contradict each other; keep one",
        );
    }
    let mut extensions: Vec<(String, Field)> = Vec::new();
    let mut retry_after = None;
    for (field, ident, field_options) in field_options {
        if let Some(extension) = &field_options.extension {
            let name = extension
                .value
                .clone()
                .or_else(|| ident.map(ToString::to_string));
            match name {
                Some(name) if extensions.iter().any(|(n, _)| *n == name) => errors.add(
                    extension.span,
                    format!("two fields of this {what} are the extension member \"{name}\"; rename one with `#[problem(extension = \"name\")]`"),
                ),
                Some(name) if uri::is_member_name(&name) => extensions.push((name, field.clone())),
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
                errors.add(
                    span,
                    format!("only one field of a {what} can be `#[problem(retry_after)]`"),
                );
            }
            retry_after = Some(field);
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

/// `call(field)`, all spanned on the field's type, so that a type the call does not accept is
/// reported there and only there.
fn call_on(field: &Field, call: TokenStream) -> (Vec<Member>, TokenStream) {
    // Stable spans do not join, so a path's last segment names it best: `Error` of
    // `std::io::Error`, not `std`.
    let span = match &field.ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| field.ty.span(), |s| s.ident.span()),
        ty => ty.span(),
    };
    let mut binding = binding(&field.member);
    binding.set_span(span);
    let call = respan(call, span);
    (
        vec![field.member.clone()],
        quote_spanned!(span=> #call(#binding)),
    )
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = respanned.into();
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// `Problem::method(TransparentField::problem(field))`: the field's one bound, whose message
/// names the mistake, is the same for every method, so a field that is not a `Problem` is
/// reported once.
fn forward_problem(field: &Field, method: TokenStream) -> (Vec<Member>, TokenStream) {
    let (members, problem) = call_on(
        field,
        quote!(::staunch::__private::TransparentField::problem),
    );
    (members, quote!(::staunch::Problem::#method(#problem)))
}

fn expand(input: &DeriveInput, cases: &[Case]) -> TokenStream {
    let status = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => forward_problem(field, quote!(status)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(#status))
        }
    });
    let type_uri = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => forward_problem(field, quote!(type_uri)),
        Occurrence::Own(own) => {
            let uri = own.type_uri.as_deref().unwrap_or("about:blank");
            (Vec::new(), quote!(#uri))
        }
    });
    let title = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => forward_problem(field, quote!(title)),
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
        Occurrence::Transparent(field) => forward_problem(field, quote!(detail)),
        Occurrence::Own(own) if own.status >= 500 && !own.expose => (
            Vec::new(),
            quote!(::core::option::Option::Some(
                ::std::borrow::ToOwned::to_owned(::staunch::GENERIC_DETAIL)
            )),
        ),
        Occurrence::Own(_) => (
            Vec::new(),
            quote!(::staunch::__private::display_detail(self)),
        ),
    });
    let extensions = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => forward_problem(field, quote!(extensions)),
        Occurrence::Own(own) => {
            let members: Vec<Member> = own
                .extensions
                .iter()
                .map(|(_, f)| f.member.clone())
                .collect();
            let inserts = own.extensions.iter().map(|(name, field)| {
                let (_, value) =
                    call_on(field, quote!(::staunch::__private::ExtensionField::to_json));
                quote! {
                    __staunch_members.insert(::std::borrow::ToOwned::to_owned(#name), #value);
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
        Occurrence::Transparent(field) => call_on(field, quote!(::staunch::Classify::is_transient)),
        Occurrence::Own(Own {
            transient: Some(t), ..
        }) => (Vec::new(), quote!(#t)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(::staunch::status_is_transient(#status)))
        }
    });
    let is_failure = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => call_on(field, quote!(::staunch::Classify::is_failure)),
        Occurrence::Own(Own {
            failure: Some(f), ..
        }) => (Vec::new(), quote!(#f)),
        Occurrence::Own(own) => {
            let status = own.status;
            (Vec::new(), quote!(::staunch::status_is_failure(#status)))
        }
    });
    let retry_after = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => call_on(field, quote!(::staunch::Classify::retry_after)),
        Occurrence::Own(Own {
            retry_after: Some(field),
            ..
        }) => call_on(
            field,
            quote!(::staunch::__private::RetryAfterField::retry_after),
        ),
        Occurrence::Own(_) => (Vec::new(), quote!(::core::option::Option::None)),
    });

    let rejection = answer(cases, |case| match &case.occurrence {
        Occurrence::Transparent(field) => call_on(field, quote!(::staunch::Classify::rejection)),
        Occurrence::Own(_) => (Vec::new(), quote!(::core::option::Option::None)),
    });

    let name = &input.ident;
    let bounds = Bounds::of(input, cases);
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let (problem_where, classify_where, integrations_where) =
        (&bounds.problem, &bounds.classify, &bounds.integrations);
    quote! {
        #[automatically_derived]
        impl #impl_generics ::staunch::Problem for #name #ty_generics #problem_where {
            fn status(&self) -> u16 { #status }
            fn type_uri(&self) -> &str { #type_uri }
            fn title(&self) -> &str { #title }
            fn detail(&self) -> ::core::option::Option<::std::string::String> { #detail }
            fn extensions(&self) -> ::staunch::__private::JsonMap { #extensions }
        }

        #[automatically_derived]
        impl #impl_generics ::staunch::Classify for #name #ty_generics #classify_where {
            fn is_transient(&self) -> bool { #is_transient }
            fn is_failure(&self) -> bool { #is_failure }
            fn retry_after(&self) -> ::core::option::Option<::core::time::Duration> { #retry_after }
            fn rejection(&self) -> ::core::option::Option<&::staunch::Rejected> { #rejection }
        }

        ::staunch::__impl_problem_integrations! {
            [#impl_generics] [#name #ty_generics] [#integrations_where]
        }
    }
}

/// The where clauses of the impls. A generic type gets, like thiserror's, a bound on each field
/// type that names a type parameter, from what the field is used for:
///
/// ```text
/// enum E<T, W, P> { A { #[problem(extension)] v: T }, B(#[problem(retry_after)] W),
///                   #[problem(transparent)] C(P) }
/// impl<T, W, P> Classify for E<T, W, P> where W: RetryAfterField, P: Classify
/// impl<T, W, P> Problem for E<T, W, P> where W: RetryAfterField, P: Problem,
///                                            T: ExtensionField, E<T, W, P>: Error
/// integrations: the bounds of Problem and for<'__staunch> E<T, W, P>: Problem + 'static
/// ```
struct Bounds {
    classify: syn::WhereClause,
    problem: syn::WhereClause,
    integrations: syn::WhereClause,
}

impl Bounds {
    fn of(input: &DeriveInput, cases: &[Case]) -> Self {
        let params: Vec<&syn::Ident> = input.generics.type_params().map(|p| &p.ident).collect();
        let mut classify = input.generics.clone();
        let mut problem = input.generics.clone();
        if !params.is_empty() {
            let generic = |ty: &syn::Type| names_any(quote!(#ty), &params);
            let add = |generics: &mut syn::Generics, predicate: TokenStream| {
                let predicate: syn::WherePredicate = syn::parse_quote!(#predicate);
                generics.make_where_clause().predicates.push(predicate);
            };
            for case in cases {
                match &case.occurrence {
                    Occurrence::Transparent(Field { ty, .. }) if generic(ty) => {
                        add(&mut classify, quote!(#ty: ::staunch::Classify));
                        add(&mut problem, quote!(#ty: ::staunch::Problem));
                    }
                    Occurrence::Transparent(_) => {}
                    Occurrence::Own(own) => {
                        if let Some(Field { ty, .. }) = &own.retry_after
                            && generic(ty)
                        {
                            let bound = quote!(#ty: ::staunch::__private::RetryAfterField);
                            add(&mut classify, bound.clone());
                            add(&mut problem, bound);
                        }
                        for (_, Field { ty, .. }) in &own.extensions {
                            if generic(ty) {
                                add(
                                    &mut problem,
                                    quote!(#ty: ::staunch::__private::ExtensionField),
                                );
                            }
                        }
                    }
                }
            }
        }
        let name = &input.ident;
        let (_, ty_generics, _) = input.generics.split_for_impl();
        if !params.is_empty() {
            problem
                .make_where_clause()
                .predicates
                .push(syn::parse_quote!(#name #ty_generics: ::std::error::Error));
        }
        // The integrations' traits want `Display` too: proving it from this bound rather than
        // from the type means a type that is not an `Error` is reported once, by
        // `impl Problem`, not again by each integration or at each use. Higher-ranked, so that
        // rustc does not check it on its own as a trivial bound.
        let mut integrations = problem.clone();
        integrations
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(
                for<'__staunch> #name #ty_generics: ::staunch::Problem + 'static
            ));
        let clause = |generics: syn::Generics| {
            generics.where_clause.unwrap_or_else(|| syn::WhereClause {
                where_token: syn::token::Where::default(),
                predicates: syn::punctuated::Punctuated::new(),
            })
        };
        Bounds {
            classify: clause(classify),
            problem: clause(problem),
            integrations: clause(integrations),
        }
    }
}

/// Whether `tokens` contain one of `names`, so that a field's type depends on a parameter.
fn names_any(tokens: TokenStream, names: &[&syn::Ident]) -> bool {
    tokens.into_iter().any(|token| match token {
        proc_macro2::TokenTree::Ident(ident) => names.contains(&&ident),
        proc_macro2::TokenTree::Group(group) => names_any(group.stream(), names),
        _ => false,
    })
}

/// Impls that compile whatever the attributes said, emitted beside the errors.
fn stub(input: &DeriveInput) -> TokenStream {
    let name = &input.ident;
    let bounds = Bounds::of(input, &[]);
    let (impl_generics, ty_generics, _) = input.generics.split_for_impl();
    let (problem_where, classify_where, integrations_where) =
        (&bounds.problem, &bounds.classify, &bounds.integrations);
    let span = input.ident.span();
    quote_spanned! {span=>
        #[automatically_derived]
        impl #impl_generics ::staunch::Problem for #name #ty_generics #problem_where {
            fn status(&self) -> u16 { 500 }
        }
        #[automatically_derived]
        impl #impl_generics ::staunch::Classify for #name #ty_generics #classify_where {}
        ::staunch::__impl_problem_integrations! {
            [#impl_generics] [#name #ty_generics] [#integrations_where]
        }
    }
}
