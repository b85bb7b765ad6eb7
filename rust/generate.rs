//! Seeded Countdown puzzle generation and train/test splitting.
//!
//! Puzzle `i` of a call is drawn from its own random stream, derived from
//! `(seed, i)`, so the output depends only on the arguments — never on how
//! many threads produced it.
//!
//! Sampling, as in the Stream-of-Search generator the paper's data descends from:
//! 1. the size, from `sizes` with `size_weights` (uniform by default);
//! 2. the target, uniform in `target_range`;
//! 3. the numbers, each uniform in `value_range` (capped below the target when
//!    `numbers_below_target`), with replacement, in sampled order — redrawn
//!    until they are not excluded (as a multiset) and, when `solvable`, the
//!    puzzle has a solution under `rules`. The size stays fixed; the target is
//!    redrawn only after [`TARGET_PATIENCE`] failed draws (it is then all but
//!    unreachable, e.g. a large prime from two small numbers).
//!
//! So sizes follow `size_weights`, targets are uniform over the reachable ones,
//! and given both the numbers are uniform among those that solve the puzzle. With the defaults
//! this is the RL distribution (3–4 numbers, values and targets in 1..100);
//! `target_range=(10, 25), numbers_below_target=True, rules=Classic` is the
//! priming distribution.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::solver::{self, Rules};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Puzzle {
    pub numbers: Vec<i64>,
    pub target: i64,
}

impl Puzzle {
    /// The identity used for de-duplication: sorted numbers and the target.
    pub fn key(&self) -> (Vec<i64>, i64) {
        let mut n = self.numbers.clone();
        n.sort_unstable();
        (n, self.target)
    }
}

#[derive(Clone, Debug)]
pub struct GenerateConfig {
    pub sizes: Vec<usize>,
    pub size_weights: Option<Vec<f64>>,
    pub value_range: (i64, i64),
    pub target_range: (i64, i64),
    pub rules: Rules,
    pub solvable: bool,
    /// Number multisets that must not appear (compared sorted).
    pub exclude: Vec<Vec<i64>>,
    pub numbers_below_target: bool,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            sizes: vec![3, 4],
            size_weights: None,
            value_range: (1, 100),
            target_range: (1, 100),
            rules: Rules::Rational,
            solvable: true,
            exclude: Vec::new(),
            numbers_below_target: false,
        }
    }
}

/// How many candidates one puzzle may reject before we give up on the config.
pub const MAX_ATTEMPTS: u32 = 100_000;
/// How many draws of numbers one target gets before it is redrawn.
pub const TARGET_PATIENCE: u32 = 1_000;

#[derive(Clone, Debug, PartialEq)]
pub enum GenerateError {
    Invalid(String),
    Exhausted { attempts: u32 },
}

impl std::fmt::Display for GenerateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerateError::Invalid(msg) => write!(f, "{msg}"),
            GenerateError::Exhausted { attempts } => write!(
                f,
                "no acceptable puzzle after {attempts} candidates; widen value_range or \
                 target_range, add sizes, or relax solvable/exclude"
            ),
        }
    }
}

impl std::error::Error for GenerateError {}

/// SplitMix64: tiny, fast, and good enough to drive uniform draws.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        let mixed = r.next_u64() ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        Rng(mixed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (Lemire's multiply-shift; bias below 2^-40 here).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64 + 1;
        lo + ((self.next_u64() as u128 * span as u128) >> 64) as i64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

fn validate(cfg: &GenerateConfig) -> Result<(), GenerateError> {
    let invalid = |m: String| Err(GenerateError::Invalid(m));
    if cfg.sizes.is_empty() {
        return invalid("sizes must name at least one puzzle size".into());
    }
    if let Some(&s) = cfg
        .sizes
        .iter()
        .find(|&&s| !(solver::MIN_NUMBERS..=solver::MAX_NUMBERS).contains(&s))
    {
        return invalid(format!(
            "sizes must be between {} and {}, got {s}",
            solver::MIN_NUMBERS,
            solver::MAX_NUMBERS
        ));
    }
    if let Some(w) = &cfg.size_weights {
        if w.len() != cfg.sizes.len() {
            return invalid(format!(
                "size_weights has {} entries but sizes has {}; give one weight per size",
                w.len(),
                cfg.sizes.len()
            ));
        }
        if w.iter().any(|&x| !(x >= 0.0 && x.is_finite())) || w.iter().sum::<f64>() <= 0.0 {
            return invalid("size_weights must be non-negative, finite and not all zero".into());
        }
    }
    let (vlo, vhi) = cfg.value_range;
    if vlo > vhi || vlo < 0 || vhi > solver::MAX_VALUE {
        return invalid(format!(
            "value_range must satisfy 0 <= low <= high <= {}, got ({vlo}, {vhi})",
            solver::MAX_VALUE
        ));
    }
    let (tlo, thi) = cfg.target_range;
    if tlo > thi {
        return invalid(format!(
            "target_range must satisfy low <= high, got ({tlo}, {thi})"
        ));
    }
    if cfg.numbers_below_target && thi - 1 < vlo {
        return invalid(format!(
            "numbers_below_target needs a target above value_range's low end: every target in \
             ({tlo}, {thi}) is <= {vlo}"
        ));
    }
    Ok(())
}

fn one(
    seed: u64,
    index: u64,
    cfg: &GenerateConfig,
    exclude: &HashSet<Vec<i64>>,
) -> Result<Puzzle, GenerateError> {
    let mut rng = Rng::new(seed, index);
    let total: f64 = cfg.size_weights.as_ref().map_or(0.0, |w| w.iter().sum());
    let size = match &cfg.size_weights {
        None => cfg.sizes[rng.range(0, cfg.sizes.len() as i64 - 1) as usize],
        Some(w) => {
            let mut u = rng.unit() * total;
            let mut pick = cfg.sizes.len() - 1;
            for (k, &wk) in w.iter().enumerate() {
                if u < wk {
                    pick = k;
                    break;
                }
                u -= wk;
            }
            cfg.sizes[pick]
        }
    };
    // With numbers_below_target, a target must exceed the smallest allowed number.
    let low_target = if cfg.numbers_below_target {
        cfg.target_range.0.max(cfg.value_range.0 + 1)
    } else {
        cfg.target_range.0
    };
    let mut numbers = vec![0; size];
    let mut target = 0;
    let mut hi = 0;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt % TARGET_PATIENCE == 0 {
            // A target no draw of numbers reaches is practically unreachable: move on.
            target = rng.range(low_target, cfg.target_range.1);
            hi = if cfg.numbers_below_target {
                cfg.value_range.1.min(target - 1)
            } else {
                cfg.value_range.1
            };
        }
        for n in numbers.iter_mut() {
            *n = rng.range(cfg.value_range.0, hi);
        }
        if !exclude.is_empty() {
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            if exclude.contains(&sorted) {
                continue;
            }
        }
        if cfg.solvable && !solver::is_solvable(&numbers, target, cfg.rules).unwrap_or(false) {
            continue;
        }
        return Ok(Puzzle { numbers, target });
    }
    Err(GenerateError::Exhausted {
        attempts: MAX_ATTEMPTS,
    })
}

/// `count` puzzles, deterministic in `(seed, cfg)` and independent of threads.
pub fn generate(
    count: usize,
    seed: u64,
    cfg: &GenerateConfig,
) -> Result<Vec<Puzzle>, GenerateError> {
    validate(cfg)?;
    let exclude: HashSet<Vec<i64>> = cfg
        .exclude
        .iter()
        .map(|e| {
            let mut s = e.clone();
            s.sort_unstable();
            s
        })
        .collect();
    (0..count)
        .into_par_iter()
        .with_min_len(64)
        .map(|i| one(seed, i as u64, cfg, &exclude))
        .collect()
}

/// Split into (train, test) with `test_size` distinct puzzles in test and no
/// puzzle key (sorted numbers, target) shared between the two. Test keys are
/// drawn uniformly (seeded) among the distinct keys; test keeps one puzzle per
/// key, train keeps every puzzle whose key is not in test. Both keep input order.
pub fn split(
    puzzles: &[Puzzle],
    test_size: usize,
    seed: u64,
) -> Result<(Vec<Puzzle>, Vec<Puzzle>), GenerateError> {
    let mut first: HashMap<(Vec<i64>, i64), usize> = HashMap::new();
    let mut keys: Vec<(Vec<i64>, i64)> = Vec::new();
    for (i, p) in puzzles.iter().enumerate() {
        let k = p.key();
        if !first.contains_key(&k) {
            first.insert(k.clone(), i);
            keys.push(k);
        }
    }
    if test_size > keys.len() {
        return Err(GenerateError::Invalid(format!(
            "test_size is {test_size} but there are only {} distinct puzzles",
            keys.len()
        )));
    }
    // Partial Fisher–Yates: the first `test_size` keys after shuffling.
    let mut rng = Rng::new(seed, u64::MAX);
    for i in 0..test_size {
        let j = rng.range(i as i64, keys.len() as i64 - 1) as usize;
        keys.swap(i, j);
    }
    let test_keys: HashSet<&(Vec<i64>, i64)> = keys[..test_size].iter().collect();
    let mut test_idx: Vec<usize> = keys[..test_size].iter().map(|k| first[k]).collect();
    test_idx.sort_unstable();
    let test = test_idx.iter().map(|&i| puzzles[i].clone()).collect();
    let train = puzzles
        .iter()
        .filter(|p| !test_keys.contains(&p.key()))
        .cloned()
        .collect();
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_solvable() {
        let cfg = GenerateConfig::default();
        let a = generate(500, 7, &cfg).unwrap();
        let b = generate(500, 7, &cfg).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, generate(500, 8, &cfg).unwrap());
        for p in &a {
            assert!(matches!(p.numbers.len(), 3 | 4));
            assert!(p.numbers.iter().all(|&n| (1..=100).contains(&n)));
            assert!((1..=100).contains(&p.target));
            assert!(solver::is_solvable(&p.numbers, p.target, Rules::Rational).unwrap());
        }
    }

    #[test]
    fn priming_distribution() {
        let cfg = GenerateConfig {
            target_range: (10, 25),
            numbers_below_target: true,
            rules: Rules::Classic,
            ..GenerateConfig::default()
        };
        for p in generate(300, 1, &cfg).unwrap() {
            assert!(p.numbers.iter().all(|&n| n < p.target));
            assert!(solver::is_solvable(&p.numbers, p.target, Rules::Classic).unwrap());
        }
    }

    #[test]
    fn split_shares_no_key() {
        let puzzles = generate(2000, 3, &GenerateConfig::default()).unwrap();
        let (train, test) = split(&puzzles, 100, 0).unwrap();
        assert_eq!(test.len(), 100);
        let test_keys: HashSet<_> = test.iter().map(Puzzle::key).collect();
        assert_eq!(test_keys.len(), 100);
        assert!(train.iter().all(|p| !test_keys.contains(&p.key())));
    }

    #[test]
    fn bad_configs_are_named() {
        let bad = GenerateConfig {
            sizes: vec![],
            ..GenerateConfig::default()
        };
        assert!(generate(1, 0, &bad)
            .unwrap_err()
            .to_string()
            .contains("sizes"));
        let bad = GenerateConfig {
            value_range: (10, 1),
            ..GenerateConfig::default()
        };
        assert!(generate(1, 0, &bad)
            .unwrap_err()
            .to_string()
            .contains("value_range"));
    }
}
