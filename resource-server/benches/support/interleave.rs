//! Timing several cases from one machine state: each case runs in turn,
//! round after round, and each gets the median of its rounds. Shared by
//! the benches that print ratios between cases.

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;

/// A named case: a call that answers whether it succeeded.
pub type Case<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);

/// Median nanoseconds per call of each case, timed in interleaved rounds.
pub fn interleaved(cases: &[Case<'_>], rounds: usize, per_round: usize) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(rounds); cases.len()];
    for _ in 0..rounds {
        for (index, (_, run)) in cases.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..per_round {
                assert!(black_box(run()));
            }
            samples[index].push(start.elapsed().as_nanos() as f64 / per_round as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

/// Checks that every case succeeds, lets Criterion report each under
/// `group`, then returns [`interleaved`]'s medians (31 rounds of 400
/// calls), for the bench to print its ratios from.
pub fn measure(group: &str, cases: &[Case<'_>]) -> Vec<f64> {
    for (name, run) in cases {
        assert!(run(), "{name} must succeed before it is timed");
    }
    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group(group);
        for (name, run) in cases {
            group.bench_function(*name, |b| b.iter(run));
        }
        group.finish();
    }
    criterion.final_summary();
    let medians = interleaved(cases, ROUNDS, PER_ROUND);
    println!("\nsame run, interleaved, median of {ROUNDS} rounds of {PER_ROUND} calls:");
    medians
}

const ROUNDS: usize = 31;
const PER_ROUND: usize = 400;
