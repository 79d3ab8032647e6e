//! The breaker's store seam: what a breaker tells a `BreakerStore`, and a state decided
//! elsewhere taken in with `adopt`. Two registries stand for two replicas of one service, and a
//! store in this process plays the fleet, counting failures together as a shared store does.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use staunch::circuit_breaker::{BreakerStore, Record, SharedState};
use staunch::{CircuitBreaker, CircuitState, ConfigError, Registry};

mod support;
use support::{Error, secs};

static REPLICA_A: Registry = Registry::new();
static REPLICA_B: Registry = Registry::new();

/// Opens every member once `fail_max` failures were recorded in a row, fleet-wide.
#[derive(Debug)]
struct Fleet {
    fail_max: u32,
    state: Mutex<FleetState>,
}

#[derive(Debug, Default)]
struct FleetState {
    members: Vec<&'static CircuitBreaker>,
    failures: u32,
    records: Vec<Record>,
}

impl Fleet {
    fn new(fail_max: u32) -> Arc<Self> {
        Arc::new(Self {
            fail_max,
            state: Mutex::default(),
        })
    }

    fn join(self: &Arc<Self>, breaker: &'static CircuitBreaker) {
        breaker.share_through(self.clone()).unwrap();
        self.lock().members.push(breaker);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FleetState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn records(&self) -> Vec<Record> {
        std::mem::take(&mut self.lock().records)
    }
}

impl BreakerStore for Fleet {
    fn record(&self, _breaker: &'static str, record: Record) {
        let opened = {
            let mut fleet = self.lock();
            fleet.records.push(record);
            match record {
                Record::Call { failed: true, .. } => fleet.failures += 1,
                Record::Recovered => fleet.failures = 0,
                _ => {}
            }
            (fleet.failures >= self.fail_max).then(|| {
                fleet.failures = 0;
                fleet.members.clone()
            })
        };
        for member in opened.into_iter().flatten() {
            member.adopt(SharedState::Open {
                remaining: secs(30),
            });
        }
    }
}

fn replica(registry: &'static Registry, name: &str) -> &'static CircuitBreaker {
    CircuitBreaker::builder(name.to_owned())
        .fail_max(5)
        .reset(secs(30))
        .build_shared_in(registry)
        .unwrap()
}

async fn call(breaker: &CircuitBreaker, fails: bool) -> Result<(), Error> {
    breaker
        .call(|| async { if fails { Err(Error::Down) } else { Ok(()) } })
        .await
}

#[tokio::test(start_paused = true)]
async fn failures_spread_over_replicas_open_the_breaker_on_every_one() {
    let fleet = Fleet::new(3);
    let (a, b) = (
        replica(&REPLICA_A, "store-products"),
        replica(&REPLICA_B, "store-products"),
    );
    fleet.join(a);
    fleet.join(b);

    // Healthy calls tell the store nothing.
    for _ in 0..100 {
        call(a, false).await.unwrap();
        call(b, false).await.unwrap();
    }
    assert_eq!(fleet.records(), []);

    // A failure on each, then a success: the run of failures ended, fleet-wide.
    call(a, true).await.unwrap_err();
    call(b, false).await.unwrap();
    call(a, false).await.unwrap();
    assert_eq!(
        fleet.records(),
        [
            Record::Call {
                failed: true,
                slow: false
            },
            Record::Recovered,
        ]
    );

    // Three failures in a row across the fleet (each replica's own count stays under its
    // `fail_max` of 5): the store opens both.
    call(a, true).await.unwrap_err();
    call(b, true).await.unwrap_err();
    call(a, true).await.unwrap_err();
    assert_eq!(
        (a.state(), b.state()),
        (CircuitState::Open, CircuitState::Open)
    );
    // B turns away a call it never sent, with the fleet's deadline.
    let Err(Error::Rejected(staunch::Rejected::CircuitOpen { retry_in, .. })) =
        call(b, false).await
    else {
        panic!("B is open")
    };
    assert_eq!(retry_in, secs(30));
    // A state taken from the store is not told back to it.
    assert!(
        !fleet
            .records()
            .iter()
            .any(|r| matches!(r, Record::Transition { .. })),
    );

    // Past `reset`, B's trial is its own: its result and its transition are told.
    tokio::time::advance(secs(30)).await;
    call(b, false).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        fleet.records(),
        [
            // At admission, before the trial runs.
            Record::Transition {
                from: CircuitState::Open,
                to: CircuitState::HalfOpen,
                open_for: None,
            },
            Record::Trial {
                failed: false,
                slow: false
            },
            Record::Transition {
                from: CircuitState::HalfOpen,
                to: CircuitState::Closed,
                open_for: None,
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_on_its_own_tells_the_store_how_long() {
    let fleet = Fleet::new(u32::MAX);
    let breaker = CircuitBreaker::builder("store-alone")
        .fail_max(2)
        .reset(secs(20))
        .build_shared_in(&REPLICA_A)
        .unwrap();
    fleet.join(breaker);
    for _ in 0..2 {
        call(breaker, true).await.unwrap_err();
    }
    assert_eq!(
        fleet.records().last(),
        Some(&Record::Transition {
            from: CircuitState::Closed,
            to: CircuitState::Open,
            open_for: Some(secs(20)),
        })
    );
    // Forced states are the user's own: told too.
    breaker.force_open();
    breaker.force_closed();
    let told: Vec<_> = fleet
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Transition { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(told, [CircuitState::ForcedOpen, CircuitState::Closed]);
}

#[test]
fn a_breaker_shares_through_one_store() {
    let breaker = CircuitBreaker::builder("store-once").build().unwrap();
    assert!(!breaker.is_shared());
    breaker.share_through(Fleet::new(1)).unwrap();
    assert!(breaker.is_shared());
    assert!(matches!(
        breaker.share_through(Fleet::new(1)),
        Err(ConfigError::Conflict("store", _))
    ));
}

#[tokio::test(start_paused = true)]
async fn adopted_states_replace_the_local_one() {
    let breaker = CircuitBreaker::builder("store-adopted").build().unwrap();
    breaker.adopt(SharedState::Open {
        remaining: Duration::from_secs(5),
    });
    assert_eq!(breaker.state(), CircuitState::Open);
    // A later deadline from the fleet moves the open breaker's own.
    breaker.adopt(SharedState::Open {
        remaining: Duration::from_secs(60),
    });
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(matches!(
        call(&breaker, false).await,
        Err(Error::Rejected(_))
    ));
    breaker.adopt(SharedState::ForcedOpen);
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
    breaker.adopt(SharedState::Closed);
    assert_eq!(breaker.state(), CircuitState::Closed);
    call(&breaker, false).await.unwrap();
}

/// A store that panics on every record.
#[derive(Debug)]
struct Panicking;

impl BreakerStore for Panicking {
    fn record(&self, _breaker: &'static str, _record: Record) {
        panic!("store down");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_store_loses_its_records_not_the_breaker() {
    let breaker = CircuitBreaker::builder("store-panicking")
        .fail_max(1)
        .reset(secs(10))
        .build()
        .unwrap();
    breaker.share_through(Arc::new(Panicking)).unwrap();
    call(&breaker, true).await.unwrap_err();
    assert_eq!(breaker.state(), CircuitState::Open);
    // Its trial's slot is given back although telling the store of it panicked: the next
    // trial is admitted and closes the breaker.
    tokio::time::advance(secs(10)).await;
    call(&breaker, true).await.unwrap_err();
    tokio::time::advance(secs(10)).await;
    call(&breaker, false).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[test]
fn a_breaker_forced_open_here_stays_held_when_the_fleet_says_open() {
    let breaker = CircuitBreaker::builder("store-held").build().unwrap();
    breaker.force_open();
    breaker.adopt(SharedState::Open { remaining: secs(1) });
    assert_eq!(breaker.state(), CircuitState::ForcedOpen);
    breaker.adopt(SharedState::Closed);
    assert_eq!(breaker.state(), CircuitState::Closed);
}
