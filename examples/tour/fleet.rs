//! `--redis`: the shop as two replicas, in two processes, whose breakers share their state
//! through Redis. Replica A is this process; replica B is this program run again with
//! `--replica`, calling A's upstream.

use std::io::BufRead as _;

use redis::Commands as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use staunch::redis::SharedThroughRedis;

/// The breaker whose sharing the phases show.
pub const SHOWN: &str = "products";

/// Shares every breaker of this process through the Redis at `url`, under `namespace`, and
/// waits (at most 5 s) until Redis answers.
pub async fn share(url: &str, namespace: &str) -> Result<SharedThroughRedis, String> {
    let shared = SharedThroughRedis::builder(url)
        .namespace(namespace)
        // A replica holds the breakers' HALF_OPEN trials for a second: the tour's reset is 3 s.
        .trial_lease(Duration::from_secs(1))
        .resync(Duration::from_secs(1))
        .start()
        .map_err(|e| format!("--redis {url}: {e}"))?;
    for _ in 0..50 {
        if shared.metrics().connected {
            return Ok(shared);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("--redis {url}: Redis does not answer"))
}

/// Deletes the keys of `namespace` (a scripted run's own) from the Redis at `url`.
pub fn clean(url: &str, namespace: &str) {
    let Ok(mut connection) = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
    else {
        return;
    };
    let pattern = format!("{namespace}:*");
    let keys: Vec<String> = connection
        .scan_match(&pattern)
        .map(|keys| keys.filter_map(Result::ok).collect())
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
    }
}

/// Replica B, killed when dropped.
pub struct Replica {
    child: Child,
    pub url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts replica B: this program with `--replica`, sharing through the same Redis and
/// namespace and calling `upstream`; its URL once it listens.
pub async fn spawn(
    redis: &str,
    namespace: &str,
    upstream: &str,
    config: Option<&str>,
) -> Result<Replica, String> {
    let mut command = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    command.args(["--replica", "--serve", "127.0.0.1:0", "--redis", redis]);
    command.args(["--namespace", namespace, "--upstream", upstream]);
    if let Some(path) = config {
        command.args(["--config", path]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("replica B: {e}"))?;
    let stdout = child.stdout.take().ok_or("replica B: no stdout")?;
    let mut replica = Replica {
        child,
        url: String::new(),
    };
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(15), line)
        .await
        .map_err(|_| "replica B did not start within 15 s".to_owned())?
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("replica B: {e}"))?;
    replica.url = line
        .strip_prefix("replica listening on ")
        .map(|url| url.trim().to_owned())
        .ok_or_else(|| format!("replica B said {line:?}"))?;
    Ok(replica)
}

/// A replica's counts of the shown breaker, from its `/resilience` endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub failures: u64,
    pub rejected: u64,
    /// Not closed (open, half-open or forced open).
    pub open: bool,
}

pub async fn counts(client: &reqwest::Client, shop_url: &str) -> Counts {
    let snapshot: Value = match client.get(format!("{shop_url}/resilience")).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let breaker = snapshot["instances"]
        .as_array()
        .and_then(|all| all.iter().find(|i| i["name"] == SHOWN));
    let field = |name: &str| breaker.and_then(|b| b[name].as_u64()).unwrap_or(0);
    Counts {
        failures: field("failures"),
        rejected: field("rejected_total"),
        open: breaker.is_some_and(|b| b["state"] != "closed"),
    }
}

/// What the phase shows of the sharing, from both replicas' counts before and after it.
pub fn explain(before: [Counts; 2], after: [Counts; 2], fail_max: u32) -> Option<String> {
    // Saturating: a replica that did not answer reads zeros.
    let failed = |i: usize| after[i].failures.saturating_sub(before[i].failures);
    let rejected = |i: usize| after[i].rejected.saturating_sub(before[i].rejected);
    let calls = |n: u64| {
        if n == 1 {
            "1 call".to_owned()
        } else {
            format!("{n} calls")
        }
    };
    let (a, b) = (failed(0), failed(1));
    let turned = format!(
        "replica B turned away {} it never sent, A {}",
        calls(rejected(1)),
        calls(rejected(0))
    );
    let was_open = before.iter().any(|c| c.open);
    let closed = after.iter().all(|c| !c.open);
    let line = if was_open && closed && rejected(0) + rejected(1) == 0 {
        format!("one trial for the fleet closed `{SHOWN}` on both replicas")
    } else if was_open && closed {
        format!("one trial for the fleet closed `{SHOWN}` on both replicas ({turned} until then)")
    } else if was_open {
        format!(
            "`{SHOWN}` stayed open on both replicas, its trials failing ({a} on A, {b} on B): {turned}"
        )
    } else if rejected(0) + rejected(1) > 0 && a.max(b) < u64::from(fail_max) {
        format!(
            "{turned}: their failures together ({a} on A, {b} on B; neither reached fail_max \
             {fail_max} alone) opened `{SHOWN}` for both"
        )
    } else if rejected(0) + rejected(1) > 0 {
        format!("{turned}: the fleet's failures ({a} on A, {b} on B) opened `{SHOWN}` for both")
    } else if a + b > 0 {
        format!("`{SHOWN}` failed {a} times on replica A and {b} on B, counted together")
    } else {
        return None;
    };
    Some(line)
}
