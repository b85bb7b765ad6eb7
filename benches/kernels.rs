//! Criterion benches of the Rust kernels, no Python involved.
//!
//!     cargo bench --bench kernels
//!
//! The responses are built like RL rollouts: prompt, 200–800 characters of
//! reasoning, then an answer of one of several kinds (about 1.3 KB each).

use std::hint::black_box;
use std::time::Duration;

use cogstar::behaviors;
use cogstar::generate::{self, GenerateConfig, Rng};
use cogstar::reward::{self, ScoreConfig};
use cogstar::solver::{self, Rules};
use cogstar::traces::{self, Condition};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn responses(n: usize) -> (Vec<String>, Vec<Vec<i64>>, Vec<i64>) {
    let puzzles = generate::generate(n.min(2000), 11, &GenerateConfig::default()).unwrap();
    let mut rng = Rng::new(5, 0);
    let (mut texts, mut nums, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let p = &puzzles[i % puzzles.len()];
        let solution = solver::solve(&p.numbers, p.target, Rules::Rational, Some(1)).unwrap();
        let answer = match rng.range(0, 4) {
            0 | 1 => solution[0].clone(),
            2 => format!("{} + 1", solution[0]),
            3 => p
                .numbers
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" * "),
            _ => "(1 + 2".to_string(),
        };
        let reasoning_len = rng.range(200, 800) as usize;
        let reasoning: String = "Let me try 44 + 19 = 63, that is not 98. "
            .chars()
            .cycle()
            .take(reasoning_len)
            .collect();
        texts.push(format!(
            "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. \
             The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\n\
             User: Using the numbers {:?}, create an equation that equals {}. You can use basic arithmetic operations \
             (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the \
             final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\n\
             Assistant: Let me solve this step by step.\n<think>{reasoning}</think>\n<answer>{answer}</answer>",
            p.numbers, p.target
        ));
        nums.push(p.numbers.clone());
        targets.push(p.target);
    }
    (texts, nums, targets)
}

fn bench_score(c: &mut Criterion) {
    let (texts, nums, targets) = responses(10_000);
    let bytes: usize = texts.iter().map(String::len).sum();
    let cfg = ScoreConfig::default();
    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("tinyzero_serial_10k_responses", |b| {
        b.iter(|| {
            for i in 0..texts.len() {
                black_box(reward::score(&texts[i], &nums[i], targets[i], &cfg));
            }
        })
    });
    g.bench_function("tinyzero_batch_10k_responses_all_threads", |b| {
        b.iter(|| black_box(reward::score_batch(&texts, &nums, &targets, &cfg)))
    });
    g.finish();
    eprintln!("mean response length: {} bytes", bytes / texts.len());
}

fn bench_solve(c: &mut Criterion) {
    let mut g = c.benchmark_group("solve_first");
    for size in [4usize, 5, 6] {
        let cfg = GenerateConfig {
            sizes: vec![size],
            ..GenerateConfig::default()
        };
        let puzzles = generate::generate(50, 3, &cfg).unwrap();
        g.throughput(Throughput::Elements(puzzles.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("rational_solvable", size),
            &puzzles,
            |b, ps| {
                b.iter(|| {
                    for p in ps {
                        black_box(
                            solver::solve(&p.numbers, p.target, Rules::Rational, Some(1)).unwrap(),
                        );
                    }
                })
            },
        );
    }
    g.finish();
    let mut g = c.benchmark_group("solve_all");
    g.bench_function("classic_25_50_75_100_3_6_to_952", |b| {
        b.iter(|| {
            black_box(solver::solve(&[25, 50, 75, 100, 3, 6], 952, Rules::Classic, None).unwrap())
        })
    });
    g.finish();
}

fn bench_generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("rl_distribution_1000", |b| {
        b.iter(|| black_box(generate::generate(1000, 1, &GenerateConfig::default()).unwrap()))
    });
    let priming = GenerateConfig {
        target_range: (10, 25),
        numbers_below_target: true,
        rules: Rules::Classic,
        ..GenerateConfig::default()
    };
    g.bench_function("priming_distribution_1000", |b| {
        b.iter(|| black_box(generate::generate(1000, 1, &priming).unwrap()))
    });
    g.finish();
}

fn bench_behaviors(c: &mut Criterion) {
    // ~1 KB all_strategies traces of the priming distribution (one thread: a plain loop).
    let priming = GenerateConfig {
        target_range: (10, 25),
        numbers_below_target: true,
        rules: Rules::Classic,
        ..GenerateConfig::default()
    };
    let puzzles: Vec<(Vec<i64>, i64)> = generate::generate(1000, 3, &priming)
        .unwrap()
        .into_iter()
        .map(|p| (p.numbers, p.target))
        .collect();
    let traces: Vec<(String, Vec<i64>, i64)> = puzzles
        .iter()
        .enumerate()
        .map(|(i, (ns, t))| {
            let mut rng = Rng::new(5, i as u64);
            let tr = traces::synthesize(
                ns,
                *t,
                Condition::AllStrategies,
                &mut rng,
                false,
                Some(1150),
            )
            .unwrap();
            (tr.text, ns.clone(), *t)
        })
        .collect();
    let bytes: usize = traces.iter().map(|t| t.0.len()).sum();
    let mut g = c.benchmark_group("behaviors");
    g.throughput(Throughput::Elements(traces.len() as u64));
    g.bench_function(
        format!("count_1000_traces_mean_{}_bytes", bytes / traces.len()),
        |b| {
            b.iter(|| {
                for (text, ns, t) in &traces {
                    black_box(behaviors::count_behaviors(text, Some(ns), Some(*t)));
                }
            })
        },
    );
    g.bench_function("synthesize_1000_all_strategies_budget_1000", |b| {
        b.iter(|| {
            for (i, (ns, t)) in puzzles.iter().enumerate() {
                let mut rng = Rng::new(9, i as u64);
                black_box(
                    traces::synthesize(
                        ns,
                        *t,
                        Condition::AllStrategies,
                        &mut rng,
                        false,
                        Some(1000),
                    )
                    .unwrap(),
                );
            }
        })
    });
    g.bench_function("synthesize_1000_negative_control", |b| {
        b.iter(|| {
            for (i, (ns, t)) in puzzles.iter().enumerate() {
                let mut rng = Rng::new(9, i as u64);
                black_box(
                    traces::synthesize(ns, *t, Condition::NegativeControl, &mut rng, false, None)
                        .unwrap(),
                );
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = kernels;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench_score, bench_solve, bench_generate, bench_behaviors
}
criterion_main!(kernels);
