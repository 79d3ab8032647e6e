//! Code generation: one annotated function becomes a chain of runtime calls.
//!
//! ```text
//! #[fallback(cached)] #[retry(max = 4)] #[circuit_breaker(fail_max = 5)] #[timeout("2s")]
//! async fn fetch(id: Id) -> Result<Product, ApiError> { body }
//! ```
//! becomes, schematically,
//! ```text
//! async fn fetch(id: Id) -> Result<Product, ApiError> {
//!     static RETRY, BREAKER;                                  // resolved once per call site
//!     let outcome = finish(loop {                              // retry
//!         let id = clone_arg(&id);                             //   fresh arguments per attempt
//!         outcome = circuit_breaker(BREAKER.get(),             //   breaker
//!             timeout(2s, Attempt { body: async { let id = id; body } }),
//!             is_failure).await;                               //   one future, awaited once
//!         match attempts.next(outcome, verdict) { Done(r) => break r, Wait(d) => sleep(d).await }
//!     });
//!     match outcome { Err(e) => cached(id, e).await, ok => ok }   // fallback
//! }
//! ```
//! Rejections travel as `Failure::Rejected` until `finish` converts them with `E::from`.

use proc_macro2::{Delimiter, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use std::time::Duration;
use syn::spanned::Spanned;
use syn::{AttrStyle, ExprPath, Ident, ItemFn, ReturnType, Type};

use crate::errors::Errors;
use crate::layer::{self, Config, Kind, Layer};
use crate::signature::{self, Holding, Params, Receiver};
use staunch_options::circuit_breaker::Trip;

/// The renamed `self` of a method taking `self` by value, so that it can be cloned per call.
const SELF_COPY: &str = "__staunch_self";

/// What the expression built so far yields.
#[derive(Clone, Copy)]
enum Level {
    /// `Result<T, E>`: the function's own result.
    Plain,
    /// `Result<T, Failure<E, R>>`, where `R` is `Rejected` once a layer that rejects is inside.
    Lifted { rejecting: Option<Span> },
}

struct Expr {
    tokens: TokenStream,
    level: Level,
    /// `Some` when `tokens` is a future not yet awaited: the layers nest as futures, one inside
    /// the other, and the stack is awaited once rather than through an async block per layer.
    /// The span is the return type's: a return type that is not a `Result` makes the future
    /// unawaitable, and the error on it is then the one already reported there.
    future: Option<Span>,
}

impl Expr {
    /// A future yielding the lifted result.
    fn lifted_future(self) -> TokenStream {
        if self.future.is_some() {
            // Only layers build futures, and every layer's future yields a lifted result.
            return self.tokens;
        }
        let value = self.lifted();
        quote!(async { #value })
    }

    /// The lifted result.
    fn lifted(self) -> TokenStream {
        let level = self.level;
        let tokens = self.awaited();
        match level {
            Level::Plain => quote!(::staunch::__private::lift(#tokens)),
            Level::Lifted { .. } => tokens,
        }
    }

    fn awaited(self) -> TokenStream {
        let tokens = self.tokens;
        match self.future {
            Some(span) => quote_spanned!(span=> #tokens.await),
            None => tokens,
        }
    }

    fn rejecting(&self) -> Option<Span> {
        match self.level {
            Level::Plain => None,
            Level::Lifted { rejecting } => rejecting,
        }
    }

    /// Back to the function's result; the conversion of a rejection is spanned on the
    /// outermost attribute that can reject, where a missing `From<Rejected>` is reported.
    /// `marks`: a group of layers above, across another attribute macro, is told which error
    /// was a rejection.
    fn plain(self, marks: bool) -> TokenStream {
        let level = self.level;
        let tokens = self.awaited();
        match level {
            Level::Plain => tokens,
            Level::Lifted { rejecting } => {
                let span = rejecting.unwrap_or_else(Span::call_site);
                let result = quote_spanned!(span=> __staunch_result);
                let finish = if marks {
                    quote!(finish_crossing)
                } else {
                    quote!(finish)
                };
                quote! {{
                    let __staunch_result = #tokens;
                    ::staunch::__private::#finish(#result)
                }}
            }
        }
    }
}

/// Where a group of layers sits among other attribute macros (see `stack`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Crossing {
    /// A group below, across another attribute macro, notes its rejections: read them.
    pub(crate) reads: bool,
    /// A group above, across another attribute macro, reads this one's rejections.
    pub(crate) marks: bool,
}

pub(crate) fn function(
    mut function: ItemFn,
    layers: &[Layer],
    crossing: Crossing,
) -> syn::Result<TokenStream> {
    let params = signature::params(&mut function.sig);
    let ReturnType::Type(_, ret) = function.sig.output.clone() else {
        return Err(syn::Error::new(
            function.sig.paren_token.span.join(),
            "staunch attributes need a function returning `Result<T, E>`",
        ));
    };
    let ret: &Type = &ret;
    if layers.iter().any(|l| l.kind == Kind::Cache) {
        not_generic(&function.sig)?;
    }
    let reinvoked = layers
        .iter()
        .any(|l| matches!(l.kind, Kind::Retry | Kind::Fallback | Kind::Hedge));
    let copies_self = params.receiver == Receiver::Owned && reinvoked;
    // The user's statements in a scope of the expansion's own: with the user's braces, a body
    // of one expression would warn as `unused_braces` once it sits at the end of another block.
    let stmts = &function.block.stmts;
    let mut block = quote!({ #(#stmts)* });
    // The body works on the attempt's own binding of `self` (see `Plan::body`).
    if matches!(params.receiver, Receiver::Owned | Receiver::Unique) {
        block = rename_self(block);
    }

    // Spanned at the call site: a type built by the expansion is not the user's to lint
    // (`clippy::type_complexity` would otherwise point at their return type).
    let error_type = quote!(<#ret as ::staunch::__private::ReturnsResult>::Err);
    let fn_name = function.sig.ident.to_string();
    let default_name = quote!(::core::concat!(::core::module_path!(), "::", #fn_name));
    let plan = Plan {
        params: &params,
        copies_self,
        error_type: &error_type,
        default_name: &default_name,
        ret_span: ret.span(),
        crossing,
        owned_attempts: layers.iter().any(|l| l.kind == Kind::Hedge),
    };

    let mut errors = Errors::default();
    let mut statics = TokenStream::new();
    let mut expr = Expr {
        tokens: plan.body(ret, &block),
        // Rejections read from below are converted where this group's first layer says.
        level: Level::Lifted {
            rejecting: crossing
                .reads
                .then(|| layers.first().map(|l| l.span))
                .flatten(),
        },
        future: Some(plan.ret_span),
    };
    for (depth, layer) in layers.iter().enumerate().rev() {
        let retry_inside = layers[depth + 1..].iter().any(|l| l.kind == Kind::Retry);
        expr = match &layer.config {
            Config::Timeout(after) => plan.timeout(expr, *after, layer.span),
            Config::Bulkhead(config) => {
                statics.extend(plan.bulkhead_static(config));
                statics.extend(plan.declare(
                    "Bulkhead",
                    "__STAUNCH_BULKHEAD",
                    config.name.is_some(),
                ));
                let slot = plan.slot("__STAUNCH_BULKHEAD", config.name.is_some());
                plan.bulkhead(expr, &slot, layer.span)
            }
            Config::Hedge(config) => {
                statics.extend(plan.hedge_static(config));
                statics.extend(plan.declare("Hedge", "__STAUNCH_HEDGE", config.name.is_some()));
                let slot = plan.slot("__STAUNCH_HEDGE", config.name.is_some());
                match plan.hedge(expr, config, &slot) {
                    Ok(expr) => expr,
                    Err(error) => {
                        errors.push(error);
                        return errors.finish().map(|()| TokenStream::new());
                    }
                }
            }
            Config::Cache(config) => {
                statics.extend(plan.cache_static(config));
                statics.extend(plan.declare("Cache", "__STAUNCH_CACHE", config.name.is_some()));
                let slot = plan.slot("__STAUNCH_CACHE", config.name.is_some());
                match plan.cache(expr, config, &slot, ret) {
                    Ok(expr) => expr,
                    Err(error) => {
                        errors.push(error);
                        return errors.finish().map(|()| TokenStream::new());
                    }
                }
            }
            Config::RateLimit(config) => {
                statics.extend(plan.rate_limit_static(config));
                statics.extend(plan.declare(
                    "RateLimit",
                    "__STAUNCH_RATE_LIMIT",
                    config.name.is_some(),
                ));
                let slot = plan.slot("__STAUNCH_RATE_LIMIT", config.name.is_some());
                plan.rate_limit(expr, &slot, layer.span)
            }
            Config::CircuitBreaker(config) => {
                statics.extend(plan.breaker_static(config));
                statics.extend(plan.declare(
                    "CircuitBreaker",
                    "__STAUNCH_BREAKER",
                    config.name.is_some(),
                ));
                let slot = plan.slot("__STAUNCH_BREAKER", config.name.is_some());
                plan.breaker(expr, &slot, config.failure.as_ref(), layer.span)
            }
            Config::Retry(config) => {
                statics.extend(plan.retry_static(config));
                statics.extend(plan.declare("Retry", "__STAUNCH_RETRY", true));
                if config.budget.is_some() {
                    statics.extend(plan.declare("RetryBudget", "__STAUNCH_BUDGET", true));
                }
                plan.retry(expr, config, layer.span)
            }
            Config::Fallback(config) => match plan.fallback(expr, config, retry_inside) {
                Ok(expr) => expr,
                Err(error) => {
                    errors.push(error);
                    return errors.finish().map(|()| TokenStream::new());
                }
            },
        };
    }
    // Back to the declared return type, every step spanned on it: when it is not a `Result`,
    // `ReturnsResult` reports that once, and the types inside the expansion stay unknown
    // rather than mismatched.
    let result = expr.plain(crossing.marks);
    let body = quote_spanned! {ret.span()=>
        #[allow(clippy::type_complexity)]
        let __staunch_result: ::core::result::Result<
            <#ret as ::staunch::__private::ReturnsResult>::Ok,
            #error_type,
        > = #result;
        <#ret as ::staunch::__private::ReturnsResult>::from_result(__staunch_result)
    };

    let (inner, outer): (Vec<_>, Vec<_>) = function
        .attrs
        .iter()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));
    let self_copy = copies_self.then(|| {
        let copy = format_ident!("{}", SELF_COPY);
        quote!(let #copy = self;)
    });
    let check_result = quote_spanned!(ret.span()=> ::staunch::__private::returns_result::<#ret>(););
    let vis = &function.vis;
    let sig = &function.sig;
    // The body keeps the user's braces: the `dead_code` lint skips a function whose span ends
    // inside the expansion.
    let mut tokens = quote!(#(#outer)* #vis #sig);
    function.block.brace_token.surround(&mut tokens, |tokens| {
        tokens.extend(quote! {
            #(#inner)*
            #statics
            #check_result
            #self_copy
            #body
        });
    });
    Ok(tokens)
}

struct Plan<'a> {
    params: &'a Params,
    copies_self: bool,
    error_type: &'a TokenStream,
    default_name: &'a TokenStream,
    /// The return type's span, where the layers' futures are awaited: see [`Expr::future`].
    ret_span: Span,
    crossing: Crossing,
    /// A hedge makes attempts that run side by side, each an owned future: the body moves
    /// what it uses in (`async move`) rather than borrowing it from the closure that made it.
    owned_attempts: bool,
}

impl Plan<'_> {
    /// The user's body as one attempt, a future of the lifted result: an async block whose
    /// `return`s end the attempt, with every parameter moved in (as `async move` would) and a
    /// fake return edge that gives the block the function's return type before the body is
    /// checked, so `?` and type errors land on the user's code.
    fn body(&self, ret: &Type, block: &TokenStream) -> TokenStream {
        let rebinds = self.params.bindings().map(|b| {
            let ident = &b.ident;
            let mutability = &b.mutability;
            match b.holding {
                Holding::Unique => quote!(let #mutability #ident = &mut *#ident;),
                Holding::Owned | Holding::Shared => quote!(let #mutability #ident = #ident;),
            }
        });
        // `self` as the attempt holds it: moved in (a per-call copy under retry or fallback),
        // with the `mut` of `mut self`; or reborrowed from `&mut self`.
        let copy = format_ident!("{}", SELF_COPY);
        let mutability = &self.params.receiver_mutability;
        let self_copy = match self.params.receiver {
            Receiver::Owned if self.copies_self => Some(quote!(let #mutability #copy = #copy;)),
            Receiver::Owned => Some(quote!(let #mutability #copy = self;)),
            Receiver::Unique => Some(quote!(let #copy = &mut *self;)),
            Receiver::None | Receiver::Shared => None,
        };
        let fake_return = quote_spanned! {ret.span()=>
            #[allow(
                unreachable_code,
                clippy::diverging_sub_expression,
                clippy::empty_loop,
                clippy::needless_return,
                clippy::unreachable
            )]
            if false {
                let __staunch_fake_return: #ret = loop {};
                return __staunch_fake_return;
            }
        };
        let capture = self.owned_attempts.then(|| quote!(move));
        let body = quote! {
            async #capture {
                #(#rebinds)*
                #self_copy
                #fake_return
                #block
            }
        };
        let attempt = if self.crossing.reads {
            quote!(Crossing)
        } else {
            quote!(Attempt)
        };
        quote_spanned!(ret.span()=> ::staunch::__private::#attempt { body: #body })
    }

    /// Fresh copies of the owned arguments for one more call.
    fn copies(&self) -> TokenStream {
        let mut copies: Vec<TokenStream> = self
            .params
            .bindings()
            .filter(|b| b.holding == Holding::Owned)
            .map(|b| clone_arg(&b.ident, b.ident.span()))
            .collect();
        if self.copies_self {
            let copy = format_ident!("{}", SELF_COPY);
            copies.push(clone_arg(&copy, self.params.receiver_span));
        }
        quote!(#(#copies)*)
    }

    fn timeout(&self, inner: Expr, after: Duration, span: Span) -> Expr {
        let rejecting = Some(span);
        let after = duration(after);
        let inner = inner.lifted_future();
        Expr {
            tokens: quote!(::staunch::__private::timeout(#after, #inner)),
            level: Level::Lifted { rejecting },
            future: Some(self.ret_span),
        }
    }

    /// The instance of the static `slot`. An unnamed one of a method belongs to that method of
    /// that type: its name says `Self`, so `Primary::fetch` and `Secondary::fetch` of one
    /// module never share one.
    fn slot(&self, slot: &str, named: bool) -> TokenStream {
        let slot = format_ident!("{}", slot);
        if named || self.params.receiver == Receiver::None {
            quote!(#slot.get())
        } else {
            quote!(#slot.get_in(::core::any::type_name::<Self>))
        }
    }

    /// Declares the site's instance before `main`, so that settings applied at startup find
    /// it by name: when its name is known at compile time (an unnamed method's is qualified
    /// by its type at its first call).
    fn declare(&self, variant: &str, slot: &str, named: bool) -> TokenStream {
        if !named && self.params.receiver != Receiver::None {
            return TokenStream::new();
        }
        let ty = format_ident!(
            "{}",
            match variant {
                "CircuitBreaker" => "BreakerSlot",
                "Bulkhead" => "BulkheadSlot",
                "RateLimit" => "RateLimiterSlot",
                "Hedge" => "HedgeSlot",
                "Cache" => "CacheSlot",
                "Retry" => "RetryPolicy",
                _ => "BudgetSlot",
            }
        );
        let variant = format_ident!("{}", variant);
        let slot = format_ident!("{}", slot);
        // Through a function rather than the static's address in data: a retry policy whose
        // address the declaration holds costs its calls (measured: the stack of five layers
        // ran 40 % slower).
        quote! {
            ::staunch::__private::inventory::submit! {
                ::staunch::__private::Site::#variant({
                    fn __staunch_site() -> &'static ::staunch::__private::#ty {
                        &#slot
                    }
                    __staunch_site
                })
            }
        }
    }

    fn bulkhead(&self, inner: Expr, slot: &TokenStream, span: Span) -> Expr {
        let rejecting = Some(span);
        let inner = inner.lifted_future();
        Expr {
            tokens: quote!(::staunch::__private::bulkhead(#slot, #inner)),
            level: Level::Lifted { rejecting },
            future: Some(self.ret_span),
        }
    }

    /// Attempts side by side: each made by a closure from fresh copies of the arguments, as an
    /// owned future (`async move`), so that several can be in flight at once.
    fn hedge(&self, inner: Expr, config: &layer::Hedge, slot: &TokenStream) -> syn::Result<Expr> {
        const SIDE_BY_SIDE: &str = "`#[staunch::hedge]` runs attempts side by side, so";
        if self.params.receiver == Receiver::Unique {
            return Err(syn::Error::new(
                self.params.receiver_span,
                format!("{SIDE_BY_SIDE} it cannot take `&mut self`: take `&self`"),
            ));
        }
        if let Some(unique) = self
            .params
            .bindings()
            .find(|b| b.holding == Holding::Unique)
        {
            return Err(syn::Error::new(
                unique.ident.span(),
                format!(
                    "{SIDE_BY_SIDE} it cannot take `{}` by `&mut`: take it by `&` or by value",
                    unique.ident
                ),
            ));
        }
        let rejecting = inner.rejecting();
        // A future of the layers inside as it is (its body moves what it uses in); anything
        // else, awaited in an `async move` block of its own.
        let inner = if inner.future.is_some() {
            inner.tokens
        } else {
            let value = inner.lifted();
            quote!(async move { #value })
        };
        let copies = self.copies();
        let error_type = self.error_type;
        let when = match &config.when {
            Some(path) => predicate(path, error_type, &quote!(__staunch_e)),
            None => probe(&quote!(staunch_transient)),
        };
        Ok(Expr {
            tokens: quote! {
                ::staunch::__private::hedge(
                    #slot,
                    move || {
                        #copies
                        #inner
                    },
                    |__staunch_e: &#error_type| #when,
                )
            },
            level: Level::Lifted { rejecting },
            future: Some(self.ret_span),
        })
    }

    /// A lookup by the arguments (borrowed: a hit clones none of them), then on a miss the
    /// layers inside, made only then: they take the arguments.
    fn cache(
        &self,
        inner: Expr,
        config: &layer::Cache,
        slot: &TokenStream,
        ret: &Type,
    ) -> syn::Result<Expr> {
        let key = match &config.key {
            Some(path) => self.key_of(path)?,
            None => {
                let parts: Vec<TokenStream> = self
                    .params
                    .bindings()
                    .map(|b| key_part(&b.ident, b.holding))
                    .collect();
                quote!(::staunch::__private::Args((#(#parts,)*)))
            }
        };
        // The key, or each of its parts, goes through `Checked`: its methods come from these.
        let probes = (config.key.is_some() || self.params.bindings().next().is_some()).then(|| {
            quote!(
                use ::staunch::__private::{ViaKeyPart as _, ViaNoKey as _};
            )
        });
        let rejecting = inner.rejecting();
        let inner = inner.lifted_future();
        let error_type = self.error_type;
        let is_failure = probe(&quote!(staunch_failure));
        // A function answering `Cached<T>` gets the freshness in it.
        let answer = if answers_cached(ret) {
            quote!(__flatten)
        } else {
            quote!(into_inner)
        };
        Ok(Expr {
            tokens: quote! {{
                #probes
                let __staunch_looked = #slot.lookup(&#key);
                match __staunch_looked {
                    ::staunch::__private::Looked::Hit(__staunch_hit) => {
                        ::core::result::Result::Ok(__staunch_hit)
                    }
                    ::staunch::__private::Looked::Miss(__staunch_miss) => {
                        __staunch_miss
                            .run(#inner, |__staunch_e: &#error_type| #is_failure)
                            .await
                    }
                }
                .map(::staunch::__private::Cached::#answer)
            }},
            level: Level::Lifted { rejecting },
            future: None,
        })
    }

    /// `Whole(&path(&self, &a, &b))`: the key a `key = path` function makes from references
    /// to every argument, the receiver first; through `made_key`, which reports a value that
    /// cannot be a key at `path`, once.
    fn key_of(&self, path: &ExprPath) -> syn::Result<TokenStream> {
        let mut args = Vec::new();
        match self.params.receiver {
            Receiver::None => {}
            Receiver::Shared => args.push(quote!(self)),
            Receiver::Unique => args.push(quote!(&*self)),
            // `self` itself, unless a retry, hedge or fallback moved it into its copy.
            Receiver::Owned if self.copies_self => {
                let copy = format_ident!("{}", SELF_COPY);
                args.push(quote!(&#copy));
            }
            Receiver::Owned => args.push(quote!(&self)),
        }
        for param in &self.params.params {
            let Some(ident) = &param.simple else {
                return Err(syn::Error::new(
                    param.span,
                    "`#[staunch::cache(key = ...)]` passes each argument to the key function, so it must be a plain name, not a pattern",
                ));
            };
            let holding = param.bindings.first().map_or(Holding::Owned, |b| b.holding);
            args.push(match holding {
                Holding::Owned => quote!(&#ident),
                Holding::Shared => quote!(#ident),
                Holding::Unique => quote!(&*#ident),
            });
        }
        let inside = Span::call_site().located_at(path.span());
        let key = quote_spanned!(path.span()=> #path(#(#args),*));
        Ok(quote_spanned! {inside=>
            ::staunch::__private::Whole((&::staunch::__private::made_key(&#key)).part())
        })
    }

    fn rate_limit(&self, inner: Expr, slot: &TokenStream, span: Span) -> Expr {
        let rejecting = Some(span);
        let inner = inner.lifted_future();
        Expr {
            tokens: quote!(::staunch::__private::rate_limit(#slot, #inner)),
            level: Level::Lifted { rejecting },
            future: Some(self.ret_span),
        }
    }

    fn breaker(
        &self,
        inner: Expr,
        slot: &TokenStream,
        failure: Option<&ExprPath>,
        span: Span,
    ) -> Expr {
        let rejecting = Some(span);
        let inner = inner.lifted_future();
        let error_type = self.error_type;
        let is_failure = match failure {
            Some(path) => predicate(path, error_type, &quote!(__staunch_e)),
            None => probe(&quote!(staunch_failure)),
        };
        Expr {
            tokens: quote! {
                ::staunch::__private::circuit_breaker(
                    #slot,
                    #inner,
                    |__staunch_e: &#error_type| #is_failure,
                )
            },
            level: Level::Lifted { rejecting },
            future: Some(self.ret_span),
        }
    }

    fn retry(&self, inner: Expr, config: &layer::Retry, span: Span) -> Expr {
        // A budget can end the call with `BudgetExhausted`: the rejections are widened to
        // `Rejected`, and the error type needs `From<Rejected>` (reported on this attribute
        // unless an outer one can reject too).
        let rejecting = if config.budget.is_some() {
            Some(span)
        } else {
            inner.rejecting()
        };
        let mut inner = inner.lifted();
        if config.budget.is_some() {
            inner = quote!(::staunch::__private::widen(#inner));
        }
        let copies = self.copies();
        let error_type = self.error_type;
        let retry = match &config.when {
            Some(path) => predicate(path, error_type, &quote!(__staunch_e)),
            None => probe(&quote!(staunch_transient)),
        };
        let budget = config
            .budget
            .as_ref()
            .map(|_| quote!(.with_budget(__STAUNCH_BUDGET.get())));
        let after = probe(&quote!(staunch_retry_after));
        Expr {
            tokens: quote! {{
                let mut __staunch_attempts =
                    ::staunch::__private::Attempts::registered(&__STAUNCH_RETRY)#budget;
                // Function pointers, not closures: the runtime's retry steps are then compiled
                // once per error type rather than once per function.
                let __staunch_verdict: fn(&#error_type) -> ::staunch::__private::Verdict =
                    |__staunch_e: &#error_type| ::staunch::__private::Verdict {
                        retry: #retry,
                        after: #after,
                    };
                let __staunch_describe: ::staunch::__private::Describe<#error_type> =
                    |__staunch_e: &#error_type, __staunch_f: &mut ::core::fmt::Formatter<'_>| {
                        use ::staunch::__private::{ViaDebug as _, ViaTypeName as _};
                        (&::staunch::__private::Probe(__staunch_e)).staunch_fmt(__staunch_f)
                    };
                loop {
                    let __staunch_outcome = { #copies #inner };
                    match __staunch_attempts.next(
                        __staunch_outcome,
                        __staunch_verdict,
                        __staunch_describe,
                    ) {
                        ::staunch::__private::Next::Done(__staunch_result) => break __staunch_result,
                        ::staunch::__private::Next::Wait(__staunch_delay) => {
                            ::staunch::__private::sleep(__staunch_delay).await;
                        }
                    }
                }
            }},
            level: Level::Lifted { rejecting },
            future: None,
        }
    }

    fn fallback(
        &self,
        inner: Expr,
        config: &layer::Fallback,
        retry_inside: bool,
    ) -> syn::Result<Expr> {
        let mut args = Vec::new();
        match self.params.receiver {
            Receiver::None => {}
            Receiver::Shared | Receiver::Unique => args.push(quote!(self)),
            Receiver::Owned => args.push(format_ident!("{}", SELF_COPY).to_token_stream()),
        }
        for param in &self.params.params {
            match &param.simple {
                Some(ident) => args.push(ident.to_token_stream()),
                None => {
                    return Err(syn::Error::new(
                        param.span,
                        "`#[staunch::fallback]` passes each argument on to the fallback, so it must be a plain name, not a pattern",
                    ));
                }
            }
        }
        // A retry inside already works on copies; otherwise the first call gets copies and
        // the fallback the originals.
        let copies = if retry_inside {
            TokenStream::new()
        } else {
            self.copies()
        };
        let marks = self.crossing.marks;
        let inner = inner.plain(marks);
        let path = &config.path;
        // What the fallback answers is its own: not a rejection for the group above, whatever
        // was noted before or while it ran.
        let answered = marks.then(|| quote!(::staunch::__private::clear_crossing();));
        // Through `Fallback`, so that a fallback taking other arguments is reported on `path`
        // as one signature mismatch.
        let call = quote_spanned! {path.span()=> {
            let __staunch_fallback = #path;
            let __staunch_answer =
                ::staunch::__private::fallback((#(#args,)*), __staunch_e, __staunch_fallback).await;
            #answered
            __staunch_answer
        }};
        let guard = config.when.as_ref().map(|when| {
            let test = predicate(when, self.error_type, &quote!(&__staunch_e));
            quote!(if #test)
        });
        Ok(Expr {
            tokens: quote! {{
                let __staunch_outcome = { #copies #inner };
                match __staunch_outcome {
                    ::core::result::Result::Err(__staunch_e) #guard => #call,
                    __staunch_other => __staunch_other,
                }
            }},
            level: Level::Plain,
            future: None,
        })
    }

    fn retry_static(&self, config: &layer::Retry) -> TokenStream {
        let name = self.default_name;
        let max = config.max;
        let backoff = match config.backoff {
            "constant" => quote!(::staunch::__private::Backoff::Constant),
            "linear" => quote!(::staunch::__private::Backoff::Linear),
            _ => {
                let factor = Literal::f64_suffixed(config.factor);
                quote!(::staunch::__private::Backoff::Exponential { factor: #factor })
            }
        };
        let jitter = format_ident!(
            "{}",
            match config.jitter {
                "equal" => "Equal",
                "decorrelated" => "Decorrelated",
                "none" => "None",
                _ => "Full",
            }
        );
        let base = duration(config.base);
        let max_delay = duration(config.max_delay);
        let max_elapsed = option(config.max_elapsed.map(duration));
        let budget = config.budget.as_ref().map(|name| {
            quote! {
                static __STAUNCH_BUDGET: ::staunch::__private::BudgetSlot =
                    ::staunch::__private::BudgetSlot::new(#name);
            }
        });
        quote! {
            #budget
            static __STAUNCH_RETRY: ::staunch::__private::RetryPolicy =
                ::staunch::__private::RetryPolicy::__validated(
                    #name,
                    #max,
                    #backoff,
                    #base,
                    #max_delay,
                    #max_elapsed,
                    ::staunch::__private::Jitter::#jitter,
                );
        }
    }

    fn breaker_static(&self, config: &layer::CircuitBreaker) -> TokenStream {
        let name = config
            .name
            .as_ref()
            .map_or_else(|| self.default_name.clone(), |n| quote!(#n));
        let trip = match config.trip {
            Trip::Consecutive { fail_max } => {
                quote!(::staunch::__private::Trip::Consecutive { fail_max: #fail_max })
            }
            Trip::FailureRate {
                window,
                failure_rate,
                min_calls,
            } => quote! {
                ::staunch::__private::Trip::FailureRate {
                    window: #window,
                    failure_rate: #failure_rate,
                    min_calls: #min_calls,
                }
            },
        };
        let slow = option(config.slow.map(|(after, rate)| {
            let after = duration(after);
            quote!(::staunch::__private::SlowCalls { after: #after, rate: #rate })
        }));
        let reset = duration(config.reset);
        let half_open = config.half_open;
        let slot = if config.by_name_only {
            quote!(by_name)
        } else if config.name.is_none() {
            quote!(unnamed)
        } else {
            quote!(new)
        };
        quote! {
            static __STAUNCH_BREAKER: ::staunch::__private::BreakerSlot =
                ::staunch::__private::BreakerSlot::#slot(
                    ::staunch::__private::BreakerConfig::__validated(
                        #name, #trip, #slow, #reset, #half_open,
                    ),
                );
        }
    }

    fn hedge_static(&self, config: &layer::Hedge) -> TokenStream {
        let delay = duration(config.delay);
        let max = config.max;
        self.slot_static(
            ["__STAUNCH_HEDGE", "HedgeSlot", "HedgeConfig"],
            config.name.as_ref(),
            &quote!(#delay, #max),
        )
    }

    fn cache_static(&self, config: &layer::Cache) -> TokenStream {
        let ttl = duration(config.ttl);
        let stale = duration(config.stale);
        let capacity = config.capacity;
        self.slot_static(
            ["__STAUNCH_CACHE", "CacheSlot", "CacheConfig"],
            config.name.as_ref(),
            &quote!(#ttl, #stale, #capacity),
        )
    }

    fn rate_limit_static(&self, config: &layer::RateLimit) -> TokenStream {
        let calls = config.rate.calls;
        let per = duration(config.rate.per);
        let burst = config.burst;
        let max_wait = duration(config.max_wait);
        self.slot_static(
            ["__STAUNCH_RATE_LIMIT", "RateLimiterSlot", "RateLimitConfig"],
            config.name.as_ref(),
            &quote!(#calls, #per, #burst, #max_wait),
        )
    }

    fn bulkhead_static(&self, config: &layer::Bulkhead) -> TokenStream {
        let limit = config.limit;
        let max_wait = duration(config.max_wait);
        self.slot_static(
            ["__STAUNCH_BULKHEAD", "BulkheadSlot", "BulkheadConfig"],
            config.name.as_ref(),
            &quote!(#limit, #max_wait),
        )
    }

    /// `static STATIC: Slot = Slot::new(Config::__validated(name, settings))` for a site named
    /// `name = "..."`; `Slot::unnamed`, under the function's path, without one.
    fn slot_static(
        &self,
        [statik, slot, config]: [&str; 3],
        name: Option<&String>,
        settings: &TokenStream,
    ) -> TokenStream {
        let (constructor, name) = match name {
            Some(name) => (quote!(new), quote!(#name)),
            None => (quote!(unnamed), self.default_name.clone()),
        };
        let (statik, slot, config) = (
            format_ident!("{}", statik),
            format_ident!("{}", slot),
            format_ident!("{}", config),
        );
        quote! {
            static #statik: ::staunch::__private::#slot =
                ::staunch::__private::#slot::#constructor(
                    ::staunch::__private::#config::__validated(#name, #settings),
                );
        }
    }
}

/// `let x = clone_arg(&x);`, reported at `span` (the parameter). The tokens are located there
/// but belong to the expansion, so rustc does not suggest editing the parameter into `&x`.
fn clone_arg(ident: &Ident, span: Span) -> TokenStream {
    let inside = Span::call_site().located_at(span);
    let mut arg = ident.clone();
    arg.set_span(inside);
    quote_spanned!(inside=> let #ident = <_ as ::staunch::__private::ArgClone>::clone_arg(&#arg);)
}

/// `(&key_part(&x)).part()`, reported at the parameter `ident` when `x` cannot be part of a
/// key, and only there (see the runtime's `Checked`). As in [`clone_arg`], the tokens are
/// located there but belong to the expansion.
fn key_part(ident: &Ident, holding: Holding) -> TokenStream {
    let inside = Span::call_site().located_at(ident.span());
    let mut arg = ident.clone();
    arg.set_span(inside);
    let part = match holding {
        Holding::Owned => quote_spanned!(inside=> &#arg),
        Holding::Shared => quote_spanned!(inside=> #arg),
        Holding::Unique => quote_spanned!(inside=> &*#arg),
    };
    quote_spanned!(inside=> (&::staunch::__private::key_part(#part)).part())
}

/// A cache is one static of one key and answer type: refuses type and const parameters, and
/// `impl Trait` arguments, which would make several of one function.
fn not_generic(sig: &syn::Signature) -> syn::Result<()> {
    const ONE: &str = "`#[staunch::cache]` keeps one cache per function, of one key and answer type, so the function cannot be generic";
    let param = sig.generics.params.iter().find_map(|param| match param {
        syn::GenericParam::Type(t) => Some(t.ident.span()),
        syn::GenericParam::Const(c) => Some(c.ident.span()),
        syn::GenericParam::Lifetime(_) => None,
    });
    if let Some(span) = param {
        return Err(syn::Error::new(
            span,
            format!("{ONE} over types or constants"),
        ));
    }
    let impl_trait = sig.inputs.iter().find_map(|input| match input {
        syn::FnArg::Typed(typed) if mentions_impl_trait(&typed.ty) => Some(typed.ty.span()),
        _ => None,
    });
    match impl_trait {
        Some(span) => Err(syn::Error::new(
            span,
            format!("{ONE}: take a concrete type (or `&dyn Trait`) rather than `impl Trait`"),
        )),
        None => Ok(()),
    }
}

/// Whether `impl` appears in the type, anywhere (`Vec<impl Display>` too).
fn mentions_impl_trait(ty: &Type) -> bool {
    fn finds(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => finds(group.stream()),
            _ => false,
        })
    }
    finds(ty.to_token_stream())
}

/// Whether the return type's `Ok` type is written `Cached<T>`.
fn answers_cached(ret: &Type) -> bool {
    let Type::Path(path) = ret else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    matches!(
        args.args.first(),
        Some(syn::GenericArgument::Type(Type::Path(ok)))
            if ok.path.segments.last().is_some_and(|s| s.ident == "Cached")
    )
}

/// `path(error)`, through a trait that reports a predicate of the wrong shape on `path`.
fn predicate(path: &ExprPath, error_type: &TokenStream, error: &TokenStream) -> TokenStream {
    quote_spanned! {path.span()=>
        <_ as ::staunch::__private::Predicate<#error_type>>::test(&#path, #error)
    }
}

/// `(&Probe(e)).method()`: the error's `Classify` answer, or "every error counts" without one.
fn probe(method: &TokenStream) -> TokenStream {
    quote! {{
        use ::staunch::__private::{ViaClassify as _, ViaEveryError as _};
        (&::staunch::__private::Probe(__staunch_e)).#method()
    }}
}

fn duration(d: Duration) -> TokenStream {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    quote!(::core::time::Duration::new(#secs, #nanos))
}

fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

/// Replaces the value `self` with the attempt's binding throughout a body (macro arguments
/// included). What is not that value keeps its `self`: a path through the module
/// (`self::item`), a `use` declaration (`use std::io::{self, Write};`), a visibility
/// (`pub(self)`), and the items of a nested `impl` or `trait`, whose `self` is their own.
fn rename_self(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let starts_path = |i: usize| {
        matches!(
            (trees.get(i + 1), trees.get(i + 2)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                if a.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint && b.as_char() == ':'
        )
    };
    let mut renamed = TokenStream::new();
    // While `Some`, tokens are copied as they are, up to the end of a `use` (its `;`) or of a
    // nested item (its braces).
    let mut verbatim: Option<Verbatim> = None;
    for (i, tree) in trees.iter().enumerate() {
        if let Some(until) = verbatim {
            let ends = match (until, tree) {
                (Verbatim::Use, TokenTree::Punct(p)) => p.as_char() == ';',
                (Verbatim::Item, TokenTree::Group(g)) => g.delimiter() == Delimiter::Brace,
                _ => false,
            };
            renamed.extend([tree.clone()]);
            if ends {
                verbatim = None;
            }
            continue;
        }
        let copied = match tree {
            TokenTree::Ident(ident) if ident == "use" => {
                verbatim = Some(Verbatim::Use);
                tree.clone()
            }
            TokenTree::Ident(ident) if ident == "impl" || ident == "trait" => {
                verbatim = Some(Verbatim::Item);
                tree.clone()
            }
            TokenTree::Ident(ident) if ident == "self" && !starts_path(i) => {
                TokenTree::Ident(proc_macro2::Ident::new(SELF_COPY, ident.span()))
            }
            // `pub(self)`, `pub(in self::inner)`: a visibility, not the value.
            TokenTree::Group(group)
                if group.delimiter() == Delimiter::Parenthesis
                    && matches!(i.checked_sub(1).and_then(|p| trees.get(p)), Some(TokenTree::Ident(p)) if p == "pub") =>
            {
                tree.clone()
            }
            TokenTree::Group(group) => {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), rename_self(group.stream()));
                inner.set_span(group.span());
                TokenTree::Group(inner)
            }
            other => other.clone(),
        };
        renamed.extend([copied]);
    }
    renamed
}

/// What [`rename_self`] copies without renaming.
#[derive(Clone, Copy)]
enum Verbatim {
    Use,
    Item,
}
