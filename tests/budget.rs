//! `RetryBudget` accounting on its own: the balance it starts with, its cap, what first attempts
//! earn, what each second refills, and the counters it reports.

use std::time::Duration;

use staunch::{BudgetMetrics, RetryBudget};
use tokio::time::advance;

fn budget(ratio: f64, min_per_sec: u32, max_balance: u32) -> RetryBudget {
    RetryBudget::new(
        RetryBudget::builder("budget")
            .ratio(ratio)
            .min_per_sec(min_per_sec)
            .max_balance(max_balance)
            .config()
            .unwrap(),
    )
}

/// Withdraws until refused; returns how many retries were there.
fn drain(budget: &RetryBudget) -> usize {
    // Bounded: a budget that never runs dry fails the test instead of hanging it.
    (0..10_000).take_while(|_| budget.try_withdraw()).count()
}

#[tokio::test(start_paused = true)]
async fn a_fresh_budget_holds_max_balance_and_deposits_never_raise_it_above() {
    let budget = budget(1.0, 0, 3);
    assert_eq!(budget.metrics().balance, 3.0);
    for _ in 0..10 {
        budget.deposit();
    }
    assert_eq!(budget.metrics().balance, 3.0, "capped at max_balance");
    assert_eq!((0..10).filter(|_| budget.try_withdraw()).count(), 3);
    assert_eq!(
        budget.metrics(),
        BudgetMetrics {
            balance: 0.0,
            spent: 3,
            refused: 7
        }
    );
}

#[tokio::test(start_paused = true)]
async fn each_first_attempt_earns_ratio_of_a_retry() {
    let budget = budget(0.25, 0, 10);
    assert_eq!(drain(&budget), 10);
    for _ in 0..3 {
        budget.deposit();
    }
    assert_eq!(budget.metrics().balance, 0.75);
    assert!(
        !budget.try_withdraw(),
        "three quarters of a retry is not a retry"
    );
    budget.deposit();
    assert_eq!(drain(&budget), 1);
    // A ratio of zero earns nothing.
    let stingy = self::budget(0.0, 0, 1);
    assert_eq!(drain(&stingy), 1);
    (0..1000).for_each(|_| stingy.deposit());
    assert_eq!(drain(&stingy), 0);
}

#[tokio::test(start_paused = true)]
async fn min_per_sec_refills_that_many_retries_each_second_up_to_the_cap() {
    let budget = budget(0.0, 4, 100);
    assert_eq!(drain(&budget), 100);
    advance(Duration::from_secs(1)).await;
    assert_eq!(drain(&budget), 4);
    advance(Duration::from_millis(250)).await;
    assert_eq!(drain(&budget), 1);
    advance(Duration::from_millis(100)).await;
    assert_eq!(drain(&budget), 0, "four tenths of a retry");
    advance(Duration::from_millis(150)).await;
    assert_eq!(drain(&budget), 1, "the fraction carries over");
    advance(Duration::from_secs(3600)).await;
    assert_eq!(
        drain(&budget),
        100,
        "a quiet hour banks no more than max_balance"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deposit_onto_a_fractional_balance_is_still_capped() {
    let budget = budget(1.0, 1, 1);
    assert_eq!(drain(&budget), 1);
    // A millisecond at one retry per second refills a thousandth of a retry.
    advance(Duration::from_millis(1)).await;
    assert!(!budget.try_withdraw());
    assert_eq!(budget.metrics().balance, 0.001);
    budget.deposit();
    assert_eq!(budget.metrics().balance, 1.0, "capped at max_balance");
}
