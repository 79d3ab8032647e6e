//! The five attributes: their options, checked and turned into validated settings.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned as _;
use syn::{Expr, ExprPath, Ident};

use crate::args::{self, Arg, Spanned};
use crate::errors::Errors;
use crate::suggest;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Retry,
    CircuitBreaker,
    Bulkhead,
    Timeout,
    Fallback,
}

impl Kind {
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Retry,
        Kind::CircuitBreaker,
        Kind::Bulkhead,
        Kind::Timeout,
        Kind::Fallback,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Retry => "retry",
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::Bulkhead => "bulkhead",
            Kind::Timeout => "timeout",
            Kind::Fallback => "fallback",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Retry => &[
                "max",
                "backoff",
                "base",
                "factor",
                "max_delay",
                "jitter",
                "max_elapsed",
                "when",
                "budget",
            ],
            Kind::CircuitBreaker => &[
                "name",
                "fail_max",
                "window",
                "failure_rate",
                "min_calls",
                "slow_call",
                "slow_rate",
                "reset",
                "half_open",
                "failure",
            ],
            Kind::Bulkhead => &["limit", "max_wait", "name"],
            Kind::Timeout => &["after"],
            Kind::Fallback => &["when"],
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

pub(crate) enum Trip {
    Consecutive {
        fail_max: u32,
    },
    FailureRate {
        window: u32,
        failure_rate: u8,
        min_calls: u32,
    },
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
}

impl Options {
    fn new(kind: Kind, parsed: Vec<Arg>, errors: &mut Errors) -> Self {
        let mut named: Vec<(Ident, Expr)> = Vec::new();
        let mut positional = Vec::new();
        for arg in parsed {
            match arg {
                Arg::Named { key, value } => {
                    let text = key.to_string();
                    if !kind.keys().contains(&text.as_str()) {
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

    /// Reports positional values beyond the `allowed` first ones.
    fn no_positional_after(&self, allowed: usize, errors: &mut Errors) {
        for extra in self.positional.iter().skip(allowed) {
            errors.add(
                extra.span(),
                format!(
                    "`#[staunch::{}]` takes `key = value` options here; valid keys: {}",
                    self.kind.name(),
                    self.kind.keys().join(", ")
                ),
            );
        }
    }
}

fn unknown_key(kind: Kind, key: &str) -> String {
    let mut message = format!(
        "unknown option `{key}` for `#[staunch::{}]`; valid options: {}",
        kind.name(),
        kind.keys().join(", ")
    );
    if let Some(near) = suggest::nearest(key, kind.keys()) {
        message.push_str(&format!("; did you mean `{near}`?"));
    }
    message
}

/// Checks `value` against `ok`, reporting `expected` at its span.
fn in_range<T: Copy>(
    key: &str,
    value: Spanned<T>,
    ok: bool,
    expected: &str,
    errors: &mut Errors,
) -> Option<T> {
    if ok {
        Some(value.value)
    } else {
        errors.add(value.span, format!("`{key}` must be {expected}"));
        None
    }
}

fn count<T: TryFrom<u64> + Copy>(
    options: &Options,
    key: &str,
    min: u64,
    max: u64,
    errors: &mut Errors,
) -> Option<T> {
    let value = errors.keep(args::int(key, options.get(key)?))?;
    let ok = (min..=max).contains(&value.value);
    let expected = if value.value < min {
        format!("at least {min}")
    } else {
        format!("at most {max}")
    };
    in_range(key, value, ok, &expected, errors).and_then(|v| T::try_from(v).ok())
}

/// A rate in percent, `default` when not given.
fn percent(options: &Options, key: &str, default: u8, errors: &mut Errors) -> Option<u8> {
    let Some(expr) = options.get(key) else {
        return Some(default);
    };
    let value = errors.keep(args::int(key, expr))?;
    let ok = (1..=100).contains(&value.value);
    in_range(key, value, ok, "a percentage between 1 and 100", errors)
        .and_then(|v| u8::try_from(v).ok())
}

fn positive_duration(options: &Options, key: &str, errors: &mut Errors) -> Option<Duration> {
    let value = errors.keep(args::duration(key, options.get(key)?))?;
    in_range(key, value, !value.value.is_zero(), "above zero", errors)
}

fn name(options: &Options, key: &str, errors: &mut Errors) -> Option<String> {
    let value = errors.keep(args::string(key, "payments", options.get(key)?))?;
    if value.value.trim().is_empty() {
        errors.add(value.span, format!("`{key}` must not be empty"));
    }
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
    };
    errors.finish()?;
    let config = config.ok_or_else(|| syn::Error::new(span, "invalid options"))?;
    Ok(Layer { kind, span, config })
}

/// `base` when none is written (capped by a smaller `max_delay`).
const DEFAULT_BASE: Duration = Duration::from_millis(100);
/// `max_delay` when none is written (raised to a larger `base`).
const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(10);

fn retry(options: &Options, errors: &mut Errors) -> Option<Retry> {
    options.no_positional_after(0, errors);
    let max = options.get("max").map_or(Some(3), |_| {
        count(options, "max", 1, u64::from(u32::MAX), errors)
    });
    let backoff = match options.get("backoff") {
        Some(expr) => errors
            .keep(args::choice(
                "backoff",
                &["exp", "constant", "linear"],
                expr,
            ))
            .map(|c| c.value),
        None => Some("exp"),
    };
    let jitter = match options.get("jitter") {
        Some(expr) => errors
            .keep(args::choice(
                "jitter",
                &["full", "equal", "decorrelated", "none"],
                expr,
            ))
            .map(|c| c.value),
        None => Some("full"),
    };
    // `None` when not written; `Some(None)` when written but invalid (already reported).
    let base = options
        .get("base")
        .map(|expr| errors.keep(args::duration("base", expr)).map(|d| d.value));
    let max_delay = options
        .get("max_delay")
        .map(|_| positive_duration(options, "max_delay", errors));
    let factor = match options.get("factor") {
        Some(expr) => errors
            .keep(args::number("factor", expr))
            .and_then(|factor| {
                if backoff.is_some_and(|b| b != "exp") {
                    errors.add(factor.span, "`factor` only applies to `backoff = \"exp\"`");
                }
                in_range(
                    "factor",
                    factor,
                    factor.value.is_finite() && factor.value >= 1.0,
                    "at least 1",
                    errors,
                )
            }),
        None => Some(2.0),
    };
    let max_elapsed = match options.get("max_elapsed") {
        Some(_) => positive_duration(options, "max_elapsed", errors).map(Some),
        None => Some(None),
    };
    // A default never makes a written value invalid: only two written values contradict.
    let (base, max_delay) = match (base, max_delay) {
        (Some(Some(base)), Some(Some(max_delay))) => {
            if base > max_delay {
                let span = options.key_span("base").unwrap_or_else(Span::call_site);
                errors.add(span, "`base` must not exceed `max_delay`");
            }
            (Some(base), Some(max_delay))
        }
        (Some(base), None) => (base, base.map(|base| DEFAULT_MAX_DELAY.max(base))),
        (None, Some(max_delay)) => (max_delay.map(|max| DEFAULT_BASE.min(max)), max_delay),
        (None, None) => (Some(DEFAULT_BASE), Some(DEFAULT_MAX_DELAY)),
        (Some(_), Some(_)) => (None, None),
    };
    let when = options
        .get("when")
        .and_then(|expr| errors.keep(args::path("when", expr)));
    let budget = options
        .get("budget")
        .and_then(|_| name(options, "budget", errors));
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
    options.no_positional_after(0, errors);
    let name = name(options, "name", errors);
    let window = options
        .get("window")
        .map(|_| count::<u32>(options, "window", 1, 1 << 20, errors));
    if window.is_some() {
        if let Some(span) = options.key_span("fail_max") {
            errors.add(
                span,
                "`fail_max` (consecutive failures) cannot be combined with `window` (failure rate); choose one",
            );
        }
    } else {
        for key in ["failure_rate", "min_calls", "slow_call", "slow_rate"] {
            if let Some(span) = options.key_span(key) {
                errors.add(
                    span,
                    format!("`{key}` requires `window = N` (a failure-rate breaker)"),
                );
            }
        }
    }
    // Every option is checked before any `?`, so that all mistakes are reported at once.
    let trip = match window {
        None => {
            let fail_max = match options.get("fail_max") {
                Some(_) => count(options, "fail_max", 1, u64::from(u32::MAX), errors),
                None => Some(5),
            };
            fail_max.map(|fail_max| Trip::Consecutive { fail_max })
        }
        Some(window) => {
            let failure_rate = percent(options, "failure_rate", 50, errors);
            let min_calls = match (options.get("min_calls"), window) {
                (Some(expr), Some(window)) => errors
                    .keep(args::int("min_calls", expr))
                    .and_then(|min_calls| {
                        let ok = (1..=u64::from(window)).contains(&min_calls.value);
                        let expected = format!("between 1 and `window` ({window})");
                        in_range("min_calls", min_calls, ok, &expected, errors)
                    })
                    .and_then(|v| u32::try_from(v).ok()),
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
    let slow = match (options.get("slow_call"), options.key_span("slow_rate")) {
        (Some(_), _) => {
            let after = positive_duration(options, "slow_call", errors);
            let rate = percent(options, "slow_rate", 100, errors);
            after.zip(rate).map(Some)
        }
        // Without `window`, `slow_rate` is already reported.
        (None, Some(span)) if window.is_some() => {
            errors.add(span, "`slow_rate` requires `slow_call = \"<duration>\"`");
            None
        }
        (None, _) => Some(None),
    };
    let reset = match options.get("reset") {
        Some(_) => positive_duration(options, "reset", errors),
        None => Some(Duration::from_secs(60)),
    };
    let half_open = match options.get("half_open") {
        Some(_) => count(options, "half_open", 1, u64::from(u16::MAX), errors),
        None => Some(1),
    };
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
    options.no_positional_after(0, errors);
    let name = name(options, "name", errors);
    let limit = if options.get("limit").is_some() {
        // `staunch::Bulkhead::MAX_LIMIT`, tokio's semaphore limit on every target.
        count(options, "limit", 1, 536_870_911, errors)
    } else {
        errors.add(
            span,
            "`#[staunch::bulkhead]` needs `limit = N`, the most calls in flight",
        );
        None
    };
    let max_wait = match options.get("max_wait") {
        Some(expr) => errors
            .keep(args::duration("max_wait", expr))
            .map(|d| d.value),
        None => Some(Duration::ZERO),
    };
    Some(Bulkhead {
        name,
        limit: limit?,
        max_wait: max_wait?,
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
            errors.add(
                span,
                "`#[staunch::timeout]` needs a duration, like `#[timeout(\"2s\")]`",
            );
            return None;
        }
    };
    let after = errors.keep(args::duration("after", given))?;
    in_range(
        "timeout",
        after,
        !after.value.is_zero(),
        "above zero",
        errors,
    )
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
