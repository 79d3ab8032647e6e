//! Every option, written in the attribute and given to the builder: both accept the same
//! values, and refuse the same ones with the same message (the builder adds the value it got).

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use staunch_runtime::{
    Bulkhead, CircuitBreaker, CircuitBreakerBuilder, ConfigError, Hedge, RateLimiter, Retry,
};

use crate::layer::{self, Kind};

/// The attribute's verdict on `args`: `Ok`, or its first message.
fn attribute(kind: Kind, args: &str) -> Result<(), String> {
    let tokens: TokenStream = args.parse().expect("test arguments are tokens");
    layer::parse(kind, Span::call_site(), tokens)
        .map(drop)
        .map_err(|error| error.to_string())
}

#[track_caller]
fn agree<T>(kind: Kind, args: &str, builder: Result<T, ConfigError>) {
    let attribute = attribute(kind, args);
    match (&attribute, &builder) {
        (Ok(()), Ok(_)) => {}
        (Err(attribute), Err(builder)) => {
            let builder = builder.to_string();
            assert!(
                builder.starts_with(attribute.as_str()),
                "`{args}`: the attribute says {attribute:?}, the builder {builder:?}"
            );
        }
        _ => panic!(
            "`{args}`: the attribute says {attribute:?}, the builder {:?}",
            builder.as_ref().err()
        ),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn retry_options() {
    let retry = |args: &str, builder: Retry| agree(Kind::Retry, args, builder.build());
    let exp = Retry::exponential;
    for max in [0, 1, 3, u32::MAX] {
        retry(&format!("max = {max}"), exp().max_attempts(max));
    }
    for (factor, value) in [("0.5", 0.5), ("1", 1.0), ("2.5", 2.5)] {
        retry(&format!("factor = {factor}"), exp().factor(value));
    }
    retry(
        r#"backoff = "constant", factor = 2"#,
        Retry::constant().factor(2.0),
    );
    retry(r#"base = "20s""#, exp().base(Duration::from_secs(20)));
    retry(r#"base = "0s""#, exp().base(Duration::ZERO));
    retry(r#"max_delay = "50ms""#, exp().max_delay(ms(50)));
    retry(r#"max_delay = "0s""#, exp().max_delay(Duration::ZERO));
    retry(
        r#"base = "20s", max_delay = "5s""#,
        exp()
            .base(Duration::from_secs(20))
            .max_delay(Duration::from_secs(5)),
    );
    retry(
        r#"base = "5s", max_delay = "5s""#,
        exp()
            .base(Duration::from_secs(5))
            .max_delay(Duration::from_secs(5)),
    );
    retry(r#"max_elapsed = "0s""#, exp().max_elapsed(Duration::ZERO));
    retry(r#"max_elapsed = "1s""#, exp().max_elapsed(ms(1000)));
}

#[test]
fn circuit_breaker_options() {
    let breaker = |args: &str, builder: CircuitBreakerBuilder| {
        agree(Kind::CircuitBreaker, args, builder.config());
    };
    let b = || CircuitBreaker::builder("agreement");
    for n in [0, 1, u32::MAX] {
        breaker(&format!("fail_max = {n}"), b().fail_max(n));
    }
    for n in [0, 1, 1 << 20, (1 << 20) + 1] {
        breaker(&format!("window = {n}"), b().window(n));
    }
    for rate in [0, 1, 100, 101] {
        breaker(
            &format!("window = 10, failure_rate = {rate}"),
            b().window(10).failure_rate(rate),
        );
        breaker(
            &format!(r#"window = 10, slow_call = "1s", slow_rate = {rate}"#),
            b().window(10).slow_call(ms(1000)).slow_rate(rate),
        );
    }
    for n in [0, 1, 10, 11] {
        breaker(
            &format!("window = 10, min_calls = {n}"),
            b().window(10).min_calls(n),
        );
    }
    breaker(
        r#"window = 10, slow_call = "0s""#,
        b().window(10).slow_call(Duration::ZERO),
    );
    breaker(r#"reset = "0s""#, b().reset(Duration::ZERO));
    breaker(r#"reset = "1ms""#, b().reset(ms(1)));
    for n in [0, 1, u16::MAX] {
        breaker(&format!("half_open = {n}"), b().half_open(n));
    }
    breaker("fail_max = 3, window = 10", b().fail_max(3).window(10));
    for (option, builder) in [
        ("failure_rate = 50", b().failure_rate(50)),
        ("min_calls = 5", b().min_calls(5)),
        (r#"slow_call = "1s""#, b().slow_call(ms(1000))),
        ("slow_rate = 50", b().slow_rate(50)),
    ] {
        breaker(option, builder);
    }
    breaker("window = 10, slow_rate = 50", b().window(10).slow_rate(50));
    breaker(r#"name = """#, CircuitBreaker::builder(""));
}

#[test]
fn bulkhead_options() {
    let bulkhead = |args: &str, limit: usize, max_wait: Duration, name: &'static str| {
        agree(
            Kind::Bulkhead,
            args,
            Bulkhead::builder(limit)
                .name(name)
                .max_wait(max_wait)
                .build(),
        );
    };
    for limit in [0, 1, Bulkhead::MAX_LIMIT, Bulkhead::MAX_LIMIT + 1] {
        bulkhead(
            &format!("limit = {limit}"),
            limit,
            Duration::ZERO,
            "agreement",
        );
    }
    bulkhead(r#"limit = 1, max_wait = "50ms""#, 1, ms(50), "agreement");
    bulkhead(r#"limit = 1, name = " ""#, 1, Duration::ZERO, " ");
}

#[test]
fn rate_limit_options() {
    let limit = |args: &str, builder: staunch_runtime::RateLimiterBuilder| {
        agree(Kind::RateLimit, args, builder.build());
    };
    let per_second = |calls| RateLimiter::builder(calls, Duration::from_secs(1));
    limit(r#"rate = "100/s""#, per_second(100));
    limit(r#"rate = "0/s""#, per_second(0));
    limit(r#"rate = "2000000000/s""#, per_second(2_000_000_000));
    limit(
        r#"rate = "10/0s""#,
        RateLimiter::builder(10, Duration::ZERO),
    );
    limit(
        r#"rate = "1/9600h""#,
        RateLimiter::builder(1, Duration::from_secs(400 * 86_400)),
    );
    limit(
        r#"rate = "7/8760h""#,
        RateLimiter::builder(7, Duration::from_secs(8760 * 3600)),
    );
    for burst in [0, 1, 20, 3_153_600_000, 3_153_600_001] {
        limit(
            &format!(r#"rate = "100/s", burst = {burst}"#),
            per_second(100).burst(burst),
        );
    }
    for (wait, value) in [
        ("0s", Duration::ZERO),
        ("50ms", ms(50)),
        ("24h", Duration::from_secs(86_400)),
        ("25h", Duration::from_secs(90_000)),
    ] {
        limit(
            &format!(r#"rate = "100/s", max_wait = "{wait}""#),
            per_second(100).max_wait(value),
        );
    }
    limit(r#"rate = "100/s", name = " ""#, per_second(100).name(" "));
}

#[test]
fn hedge_options() {
    let hedge = |args: &str, builder: staunch_runtime::HedgeBuilder| {
        agree(Kind::Hedge, args, builder.build());
    };
    for max in [0, 1, 2, 16, 17] {
        hedge(&format!("max = {max}"), Hedge::builder().max(max));
    }
    hedge(r#"delay = "0s""#, Hedge::builder().delay(Duration::ZERO));
    hedge(
        r#"delay = "50ms", max = 3"#,
        Hedge::builder().delay(ms(50)).max(3),
    );
    hedge(r#"name = " ""#, Hedge::builder().name(" "));
}
