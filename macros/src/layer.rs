//! The attributes: their options, checked and turned into validated settings.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens as _;
use syn::spanned::Spanned as _;
use syn::{Expr, ExprPath, Ident};

use crate::args::{self, Arg};
use crate::errors::Errors;
use staunch_options::circuit_breaker::Trip;
use staunch_options::{self as options, Choice, Count, Name, Period, Ratio, Violation};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Retry,
    CircuitBreaker,
    Bulkhead,
    Timeout,
    Fallback,
    RateLimit,
    Hedge,
    Cache,
}

impl Kind {
    pub(crate) const ALL: [Kind; 8] = [
        Kind::Retry,
        Kind::CircuitBreaker,
        Kind::Bulkhead,
        Kind::Timeout,
        Kind::Fallback,
        Kind::RateLimit,
        Kind::Hedge,
        Kind::Cache,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Retry => "retry",
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Bulkhead => "bulkhead",
            Kind::Timeout => "timeout",
            Kind::Fallback => "fallback",
            Kind::RateLimit => "rate_limit",
            Kind::Hedge => "hedge",
            Kind::Cache => "cache",
        }
    }

    /// The option the attribute cannot do without, when it is a named one.
    fn required(self) -> Option<&'static str> {
        match self {
            Kind::Bulkhead => Some(options::bulkhead::LIMIT.name),
            Kind::RateLimit => Some(options::rate_limit::RATE),
            Kind::Cache => Some(options::cache::TTL.name),
            _ => None,
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Retry => options::retry::KEYS,
            Kind::CircuitBreaker => options::circuit_breaker::KEYS,
            Kind::Bulkhead => options::bulkhead::KEYS,
            Kind::Timeout => options::timeout::KEYS,
            Kind::Fallback => options::fallback::KEYS,
            Kind::RateLimit => options::rate_limit::KEYS,
            Kind::Hedge => options::hedge::KEYS,
            Kind::Cache => options::cache::KEYS,
        }
    }
}

pub(crate) struct Retry {
    pub(crate) max: u32,
    pub(crate) backoff: &'static str,
    pub(crate) base: Duration,
    pub(crate) factor: f64,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: &'static str,
    pub(crate) max_elapsed: Option<Duration>,
    pub(crate) when: Option<ExprPath>,
    pub(crate) budget: Option<String>,
}

pub(crate) struct CircuitBreaker {
    pub(crate) name: Option<String>,
    /// Only `name` (and a `failure` predicate) given: use the breaker of that name as it was
    /// configured elsewhere, with no complaint about differing settings.
    pub(crate) by_name_only: bool,
    pub(crate) trip: Trip,
    pub(crate) slow: Option<(Duration, u8)>,
    pub(crate) reset: Duration,
    pub(crate) half_open: u16,
    pub(crate) failure: Option<ExprPath>,
}

pub(crate) struct Bulkhead {
    pub(crate) name: Option<String>,
    pub(crate) limit: usize,
    pub(crate) max_wait: Duration,
}

pub(crate) struct RateLimit {
    pub(crate) name: Option<String>,
    pub(crate) rate: options::rate_limit::Rate,
    pub(crate) burst: u64,
    pub(crate) max_wait: Duration,
}

pub(crate) struct Hedge {
    pub(crate) name: Option<String>,
    pub(crate) delay: Duration,
    pub(crate) max: u32,
    pub(crate) when: Option<ExprPath>,
}

pub(crate) struct Cache {
    pub(crate) name: Option<String>,
    pub(crate) ttl: Duration,
    pub(crate) stale: Duration,
    pub(crate) capacity: u64,
    pub(crate) key: Option<ExprPath>,
}

pub(crate) struct Fallback {
    pub(crate) path: ExprPath,
    pub(crate) when: Option<ExprPath>,
}

pub(crate) enum Config {
    Retry(Retry),
    CircuitBreaker(CircuitBreaker),
    Bulkhead(Bulkhead),
    Timeout(Duration),
    Fallback(Fallback),
    RateLimit(RateLimit),
    Hedge(Hedge),
    Cache(Cache),
}

/// One parsed attribute of the stack.
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    /// The attribute's path, where errors about the layer as a whole point.
    pub(crate) span: Span,
    pub(crate) config: Config,
}

/// The named options of one attribute, each checked once.
struct Options {
    kind: Kind,
    named: Vec<(Ident, Expr)>,
    positional: Vec<Expr>,
    /// Whether a key not among the attribute's was written (and reported).
    unknown: bool,
}

impl Options {
    fn new(kind: Kind, parsed: Vec<Arg>, errors: &mut Errors) -> Self {
        let mut named: Vec<(Ident, Expr)> = Vec::new();
        let mut positional = Vec::new();
        let mut unknown = false;
        for arg in parsed {
            match arg {
                Arg::Named { key, value } => {
                    let text = key.to_string();
                    if !kind.keys().contains(&text.as_str()) {
                        unknown = true;
                        errors.add(key.span(), unknown_key(kind, &text));
                    } else if named.iter().any(|(k, _)| *k == key) {
                        errors.add(key.span(), format!("duplicate option `{key}`"));
                    } else {
                        named.push((key, value));
                    }
                }
                Arg::Positional(expr) => positional.push(expr),
            }
        }
        Self {
            kind,
            named,
            positional,
            unknown,
        }
    }

    fn get(&self, key: &str) -> Option<&Expr> {
        self.named.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.named
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, _)| k.span())
    }

    /// Reports positional values beyond the `allowed` first ones. The first is likely the
    /// value of the required option, when that is not written: the message says so.
    fn no_positional_after(&self, allowed: usize, errors: &mut Errors) {
        let mut unnamed = self.kind.required().filter(|key| self.get(key).is_none());
        for extra in self.positional.iter().skip(allowed) {
            let mut message = format!(
                "`#[staunch::{}]` takes `key = value` options here; valid keys: {}",
                self.kind.name(),
                self.kind.keys().join(", ")
            );
            if let Some(key) = unnamed.take() {
                message.push_str(&format!(
                    "; did you mean `{key} = {}`?",
                    extra.to_token_stream()
                ));
            }
            errors.add(extra.span(), message);
        }
    }

    /// Reports a required option that is not written, unless a mistake already reported may
    /// be that option: a key that is none of the attribute's (`tll = "30s"`), or a value
    /// without its key (`"30s"`) beyond the `allowed` positional ones. One mistake, one error.
    fn missing(&self, allowed: usize, span: Span, message: &str, errors: &mut Errors) {
        if !self.unknown && self.positional.len() <= allowed {
            errors.add(span, message);
        }
    }
}

fn unknown_key(kind: Kind, key: &str) -> String {
    let mut message = format!(
        "unknown option `{key}` for `#[staunch::{}]`; valid options: {}",
        kind.name(),
        kind.keys().join(", ")
    );
    if let Some(near) = options::nearest(key, kind.keys()) {
        message.push_str(&format!("; did you mean `{near}`?"));
    }
    message
}

/// The value of a check, or its violation reported at `span`.
fn checked<T>(result: Result<T, Violation>, span: Span, errors: &mut Errors) -> Option<T> {
    result.map_err(|violation| errors.add(span, violation)).ok()
}

/// A count option as written (`None` if absent or not an integer, already reported).
fn count<T: TryFrom<u64>>(options: &Options, def: &Count, errors: &mut Errors) -> Option<T> {
    let value = errors.keep(args::int(def.name, options.get(def.name)?))?;
    checked(def.check(value.value), value.span, errors).and_then(|v| T::try_from(v).ok())
}

/// A count option, its default when not written.
fn count_or_default<T: TryFrom<u64>>(
    options: &Options,
    def: &Count,
    errors: &mut Errors,
) -> Option<T> {
    match options.get(def.name) {
        Some(_) => count(options, def, errors),
        None => def.default.and_then(|v| T::try_from(v).ok()),
    }
}

/// A rate in percent, its default when not written.
fn percent(options: &Options, def: &Ratio, errors: &mut Errors) -> Option<u8> {
    let Some(expr) = options.get(def.name) else {
        return Some(def.default);
    };
    let value = errors.keep(args::int(def.name, expr))?;
    checked(def.check(value.value), value.span, errors)
}

/// A duration option as written.
fn period(options: &Options, def: &Period, errors: &mut Errors) -> Option<Duration> {
    let value = errors.keep(args::duration(def.name, options.get(def.name)?))?;
    checked(def.check(value.value), value.span, errors)
}

/// A duration option, its default when not written.
fn period_or_default(options: &Options, def: &Period, errors: &mut Errors) -> Option<Duration> {
    match options.get(def.name) {
        Some(_) => period(options, def, errors),
        None => def.default,
    }
}

fn choice(options: &Options, def: &Choice, errors: &mut Errors) -> Option<&'static str> {
    let Some(expr) = options.get(def.name) else {
        return Some(def.default);
    };
    let text = errors.keep(args::string(def.name, def.default, expr))?;
    checked(def.parse(&text.value), text.span, errors)
}

fn name(options: &Options, def: &Name, errors: &mut Errors) -> Option<String> {
    let value = errors.keep(args::string(def.name, "payments", options.get(def.name)?))?;
    // Reported, and kept: a blank name is one mistake, not a reason to report others.
    checked(def.check(&value.value), value.span, errors);
    Some(value.value)
}

/// Parses and validates one attribute's arguments.
pub(crate) fn parse(kind: Kind, span: Span, tokens: TokenStream) -> syn::Result<Layer> {
    let mut errors = Errors::default();
    let parsed = args::parse(tokens)?;
    let options = Options::new(kind, parsed, &mut errors);
    let config = match kind {
        Kind::Retry => retry(&options, &mut errors).map(Config::Retry),
        Kind::CircuitBreaker => circuit_breaker(&options, &mut errors).map(Config::CircuitBreaker),
        Kind::Bulkhead => bulkhead(&options, span, &mut errors).map(Config::Bulkhead),
        Kind::Timeout => timeout(&options, span, &mut errors).map(Config::Timeout),
        Kind::Fallback => fallback(&options, span, &mut errors).map(Config::Fallback),
        Kind::RateLimit => rate_limit(&options, span, &mut errors).map(Config::RateLimit),
        Kind::Hedge => hedge(&options, &mut errors).map(Config::Hedge),
        Kind::Cache => cache(&options, span, &mut errors).map(Config::Cache),
    };
    errors.finish()?;
    let config = config.ok_or_else(|| syn::Error::new(span, "invalid options"))?;
    Ok(Layer { kind, span, config })
}

fn retry(options: &Options, errors: &mut Errors) -> Option<Retry> {
    use options::retry::{BACKOFF, BASE, BUDGET, FACTOR, JITTER, MAX, MAX_DELAY, MAX_ELAPSED};
    options.no_positional_after(0, errors);
    let max = count_or_default(options, &MAX, errors);
    let backoff = choice(options, &BACKOFF, errors);
    let jitter = choice(options, &JITTER, errors);
    // `None` when not written; `Some(None)` when written but invalid (already reported).
    let base = options
        .get(BASE.name)
        .map(|_| period(options, &BASE, errors));
    let max_delay = options
        .get(MAX_DELAY.name)
        .map(|_| period(options, &MAX_DELAY, errors));
    let factor = match options.get(FACTOR.name) {
        Some(expr) => errors
            .keep(args::number(FACTOR.name, expr))
            .and_then(|factor| {
                if backoff.is_some_and(|b| b != "exp") {
                    errors.add(factor.span, options::retry::FACTOR_WITHOUT_EXP);
                }
                checked(FACTOR.check(factor.value), factor.span, errors)
            }),
        None => Some(FACTOR.default),
    };
    let max_elapsed = match options.get(MAX_ELAPSED.name) {
        Some(_) => period(options, &MAX_ELAPSED, errors).map(Some),
        None => Some(None),
    };
    let (base, max_delay) = match (base, max_delay) {
        (Some(None), _) | (_, Some(None)) => (None, None),
        (base, max_delay) => {
            let span = options.key_span(BASE.name).unwrap_or_else(Span::call_site);
            checked(
                options::retry::delays(base.flatten(), max_delay.flatten()),
                span,
                errors,
            )
            .unzip()
        }
    };
    let when = options
        .get("when")
        .and_then(|expr| errors.keep(args::path("when", expr)));
    let budget = options
        .get(BUDGET.name)
        .and_then(|_| name(options, &BUDGET, errors));
    Some(Retry {
        max: max?,
        backoff: backoff?,
        base: base?,
        factor: factor?,
        max_delay: max_delay?,
        jitter: jitter?,
        max_elapsed: max_elapsed?,
        when,
        budget,
    })
}

fn circuit_breaker(options: &Options, errors: &mut Errors) -> Option<CircuitBreaker> {
    use options::circuit_breaker::{
        FAIL_MAX, FAIL_MAX_WITH_WINDOW, FAILURE_RATE, HALF_OPEN, MIN_CALLS, NAME, RESET, SLOW_CALL,
        SLOW_RATE, SLOW_RATE_WITHOUT_SLOW_CALL, WINDOW, WINDOW_ONLY,
    };
    options.no_positional_after(0, errors);
    let name = name(options, &NAME, errors);
    let window = options
        .get(WINDOW.name)
        .map(|_| count::<u32>(options, &WINDOW, errors));
    if window.is_some() {
        if let Some(span) = options.key_span(FAIL_MAX.name) {
            errors.add(span, FAIL_MAX_WITH_WINDOW);
        }
    } else {
        for key in WINDOW_ONLY {
            if let Some(span) = options.key_span(key) {
                errors.add(span, options::circuit_breaker::requires_window(key));
            }
        }
    }
    // Every option is checked before any `?`, so that all mistakes are reported at once.
    let trip = match window {
        None => count_or_default(options, &FAIL_MAX, errors)
            .map(|fail_max| Trip::Consecutive { fail_max }),
        Some(window) => {
            let failure_rate = percent(options, &FAILURE_RATE, errors);
            let min_calls = match (options.get(MIN_CALLS.name), window) {
                (Some(expr), Some(window)) => errors
                    .keep(args::int(MIN_CALLS.name, expr))
                    .and_then(|min_calls| {
                        let checked_calls =
                            options::circuit_breaker::min_calls(Some(min_calls.value), window);
                        checked(checked_calls, min_calls.span, errors)
                    }),
                (Some(_), None) => None,
                (None, window) => window,
            };
            match (window, failure_rate, min_calls) {
                (Some(window), Some(failure_rate), Some(min_calls)) => Some(Trip::FailureRate {
                    window,
                    failure_rate,
                    min_calls,
                }),
                _ => None,
            }
        }
    };
    let slow = match (
        options.get(SLOW_CALL.name),
        options.key_span(SLOW_RATE.name),
    ) {
        (Some(_), _) => {
            let after = period(options, &SLOW_CALL, errors);
            let rate = percent(options, &SLOW_RATE, errors);
            after.zip(rate).map(Some)
        }
        // Without `window`, `slow_rate` is already reported.
        (None, Some(span)) if window.is_some() => {
            errors.add(span, SLOW_RATE_WITHOUT_SLOW_CALL);
            None
        }
        (None, _) => Some(None),
    };
    let reset = period_or_default(options, &RESET, errors);
    let half_open = count_or_default(options, &HALF_OPEN, errors);
    let failure = options
        .get("failure")
        .and_then(|expr| errors.keep(args::path("failure", expr)));
    let by_name_only = name.is_some()
        && options
            .named
            .iter()
            .all(|(key, _)| key == "name" || key == "failure");
    Some(CircuitBreaker {
        name,
        by_name_only,
        trip: trip?,
        slow: slow?,
        reset: reset?,
        half_open: half_open?,
        failure,
    })
}

fn bulkhead(options: &Options, span: Span, errors: &mut Errors) -> Option<Bulkhead> {
    use options::bulkhead::{LIMIT, MAX_WAIT, NAME};
    options.no_positional_after(0, errors);
    let name = name(options, &NAME, errors);
    let limit = if options.get(LIMIT.name).is_some() {
        count(options, &LIMIT, errors)
    } else {
        options.missing(
            0,
            span,
            "`#[staunch::bulkhead]` needs `limit = N`, the most calls in flight",
            errors,
        );
        None
    };
    let max_wait = period_or_default(options, &MAX_WAIT, errors);
    Some(Bulkhead {
        name,
        limit: limit?,
        max_wait: max_wait?,
    })
}

fn rate_limit(options: &Options, span: Span, errors: &mut Errors) -> Option<RateLimit> {
    use options::rate_limit::{self as rl, BURST, MAX_WAIT, NAME, RATE};
    options.no_positional_after(0, errors);
    let name = name(options, &NAME, errors);
    let rate = match options.get(RATE) {
        Some(expr) => errors
            .keep(args::string(RATE, "100/s", expr))
            .and_then(|text| {
                rl::parse(&text.value)
                    .map_err(|message| errors.add(text.span, message))
                    .ok()
            }),
        None => {
            options.missing(
                0,
                span,
                "`#[staunch::rate_limit]` needs `rate = \"N/period\"`, like `rate = \"100/s\"`",
                errors,
            );
            None
        }
    };
    let burst = match options.get(BURST.name) {
        Some(expr) => errors
            .keep(args::int(BURST.name, expr))
            .and_then(|burst| match rate {
                Some(rate) => checked(rl::burst(rate, burst.value), burst.span, errors),
                None => checked(BURST.check(burst.value), burst.span, errors),
            }),
        None => rate.map(|rate| rate.default_burst()),
    };
    let max_wait = match options.get(MAX_WAIT.name) {
        Some(expr) => errors
            .keep(args::duration(MAX_WAIT.name, expr))
            .and_then(|wait| checked(rl::max_wait(wait.value), wait.span, errors)),
        None => MAX_WAIT.default,
    };
    Some(RateLimit {
        name,
        rate: rate?,
        burst: burst?,
        max_wait: max_wait?,
    })
}

fn hedge(options: &Options, errors: &mut Errors) -> Option<Hedge> {
    use options::hedge::{DELAY, MAX, NAME};
    options.no_positional_after(0, errors);
    let name = name(options, &NAME, errors);
    let delay = period_or_default(options, &DELAY, errors);
    let max = count_or_default(options, &MAX, errors);
    let when = options
        .get("when")
        .and_then(|expr| errors.keep(args::path("when", expr)));
    Some(Hedge {
        name,
        delay: delay?,
        max: max?,
        when,
    })
}

fn cache(options: &Options, span: Span, errors: &mut Errors) -> Option<Cache> {
    use options::cache::{self as ch, CAPACITY, NAME, STALE, TTL};
    options.no_positional_after(0, errors);
    let name = name(options, &NAME, errors);
    let ttl = match options.get(TTL.name) {
        Some(expr) => errors
            .keep(args::duration(TTL.name, expr))
            .and_then(|ttl| checked(ch::ttl(ttl.value), ttl.span, errors)),
        None => {
            options.missing(
                0,
                span,
                "`#[staunch::cache]` needs `ttl = \"...\"`, how long an answer is served, like `ttl = \"30s\"`",
                errors,
            );
            None
        }
    };
    let stale = match options.get(STALE.name) {
        Some(expr) => errors
            .keep(args::duration(STALE.name, expr))
            .and_then(|stale| match ttl {
                Some(ttl) => checked(ch::stale(ttl, Some(stale.value)), stale.span, errors),
                None => checked(STALE.check(stale.value), stale.span, errors),
            }),
        None => ttl,
    };
    let capacity = count_or_default(options, &CAPACITY, errors);
    let key = options.get("key").and_then(|expr| {
        errors.keep(args::path("key", expr).map_err(|_| {
            syn::Error::new(
                expr.span(),
                "`key` takes a path to a function making the key from references to the arguments, like `key = Self::cache_key`",
            )
        }))
    });
    Some(Cache {
        name,
        ttl: ttl?,
        stale: stale?,
        capacity: capacity?,
        key,
    })
}

fn timeout(options: &Options, span: Span, errors: &mut Errors) -> Option<Duration> {
    options.no_positional_after(1, errors);
    let given = match (options.positional.first(), options.get("after")) {
        (Some(_), Some(_)) => {
            errors.add(
                options.key_span("after").unwrap_or(span),
                "give the duration once: `#[timeout(\"2s\")]` or `#[timeout(after = \"2s\")]`",
            );
            return None;
        }
        (Some(expr), None) | (None, Some(expr)) => expr,
        (None, None) => {
            options.missing(
                1,
                span,
                "`#[staunch::timeout]` needs a duration, like `#[timeout(\"2s\")]`",
                errors,
            );
            return None;
        }
    };
    let after = errors.keep(args::duration("after", given))?;
    let def = options::Period {
        name: "timeout",
        ..options::timeout::AFTER
    };
    checked(def.check(after.value), after.span, errors)
}

fn fallback(options: &Options, span: Span, errors: &mut Errors) -> Option<Fallback> {
    options.no_positional_after(1, errors);
    let when = options
        .get("when")
        .and_then(|expr| errors.keep(args::path("when", expr)));
    let Some(first) = options.positional.first() else {
        errors.add(
            span,
            "`#[staunch::fallback]` needs the function to call, like `#[fallback(cached_product)]`",
        );
        return None;
    };
    let path = errors.keep(args::path("fallback", first))?;
    Some(Fallback { path, when })
}
