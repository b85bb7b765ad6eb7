//! Exact Countdown solver: first solution, all distinct solutions, counts and
//! solvability, under two rule sets.
//!
//! * [`Rules::Rational`]: any intermediate value (fractions, negatives); only
//!   division by zero is invalid. This is what the reward accepts.
//! * [`Rules::Classic`]: every intermediate is a non-negative integer and every
//!   division is exact (the paper's priming generator).
//!
//! Two solutions are the same when they have the same canonical form
//! ([`crate::expr::canonical`]): equal up to commutativity and associativity.
//!
//! The search combines two values at a time, but it only builds trees in a
//! normal form, so each canonical solution is met once (up to equal numbers):
//! * `+`/`-` chains are left-deep, positive terms first and then negative ones,
//!   each group in increasing order of its terms' smallest input index (and the
//!   same for `*`/`/` chains with numerator and denominator factors). Every
//!   canonical form has exactly one such tree, and under classic rules that tree
//!   is valid whenever any tree of the form is (adding before subtracting keeps
//!   partial sums at or above the result; multiplying before dividing keeps
//!   partial quotients integral).
//! * Independent merges happen in increasing order of their smallest input
//!   index, so one tree is not rebuilt in every order its subtrees allow.

use std::collections::HashSet;

use crate::expr::{self, Node, Op};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rules {
    Rational,
    Classic,
}

impl Rules {
    pub fn parse(name: &str) -> Option<Rules> {
        match name {
            "rational" => Some(Rules::Rational),
            "classic" => Some(Rules::Classic),
            _ => None,
        }
    }
}

pub const MIN_NUMBERS: usize = 2;
pub const MAX_NUMBERS: usize = 7;
/// Largest input number; keeps every exact intermediate far inside `i64`.
pub const MAX_VALUE: i64 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SolveError {
    Count(usize),
    Value(i64),
}

impl std::fmt::Display for SolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SolveError::Count(n) => write!(
                f,
                "a puzzle needs {MIN_NUMBERS} to {MAX_NUMBERS} numbers, got {n}"
            ),
            SolveError::Value(v) => {
                write!(
                    f,
                    "puzzle numbers must be between 0 and {MAX_VALUE}, got {v}"
                )
            }
        }
    }
}

impl std::error::Error for SolveError {}

fn check(numbers: &[i64]) -> Result<(), SolveError> {
    if !(MIN_NUMBERS..=MAX_NUMBERS).contains(&numbers.len()) {
        return Err(SolveError::Count(numbers.len()));
    }
    if let Some(&v) = numbers.iter().find(|&&v| !(0..=MAX_VALUE).contains(&v)) {
        return Err(SolveError::Value(v));
    }
    Ok(())
}

/// A value the search can hold. Rational values are kept unreduced
/// (numerator, positive denominator): equality is a cross-multiplication, so
/// no gcd is ever taken on the hot path.
trait Value: Copy {
    fn leaf(n: i64) -> Self;
    /// The results of `a op b` allowed by the rules, `None` when not allowed.
    fn apply(op: Op, a: Self, b: Self) -> Option<Self>;
    fn equals(self, target: i64) -> bool;
    /// Whether any single operation the rules allow turns `a`, `b` into `target`.
    fn pair_reaches(a: Self, b: Self, target: i64) -> bool;
}

#[derive(Clone, Copy, Debug)]
struct Frac {
    n: i64,
    d: i64,
}

impl Value for Frac {
    fn leaf(n: i64) -> Self {
        Frac { n, d: 1 }
    }

    fn apply(op: Op, a: Self, b: Self) -> Option<Self> {
        let (n, d) = match op {
            Op::Add => (
                a.n.checked_mul(b.d)?.checked_add(b.n.checked_mul(a.d)?)?,
                a.d.checked_mul(b.d)?,
            ),
            Op::Sub => (
                a.n.checked_mul(b.d)?.checked_sub(b.n.checked_mul(a.d)?)?,
                a.d.checked_mul(b.d)?,
            ),
            Op::Mul => (a.n.checked_mul(b.n)?, a.d.checked_mul(b.d)?),
            Op::Div => {
                if b.n == 0 {
                    return None;
                }
                let (n, d) = (a.n.checked_mul(b.d)?, a.d.checked_mul(b.n)?);
                if d < 0 {
                    (n.checked_neg()?, d.checked_neg()?)
                } else {
                    (n, d)
                }
            }
        };
        Some(reduce_if_large(n, d))
    }

    fn equals(self, target: i64) -> bool {
        target.checked_mul(self.d) == Some(self.n)
    }

    fn pair_reaches(a: Self, b: Self, target: i64) -> bool {
        // Cross-multiplied in i128, where any product of two i64 fits.
        let (an, ad, bn, bd) = (a.n as i128, a.d as i128, b.n as i128, b.d as i128);
        let t = target as i128;
        let (x, y, denom) = (an * bd, bn * ad, ad * bd); // a = x/denom, b = y/denom
                                                         // Both sides exact or the test fails: an overflowing side is never equal.
        let hits = |lhs: Option<i128>, rhs: Option<i128>| lhs.is_some() && lhs == rhs;
        let td = t.checked_mul(denom);
        hits(x.checked_add(y), td)
            || hits(x.checked_sub(y), td)
            || hits(y.checked_sub(x), td)
            || hits(Some(an * bn), td)
            || (bn != 0
                && hits(
                    Some(an * bd),
                    t.checked_mul(ad).and_then(|v| v.checked_mul(bn)),
                ))
            || (an != 0
                && hits(
                    Some(bn * ad),
                    t.checked_mul(bd).and_then(|v| v.checked_mul(an)),
                ))
    }
}

/// Keep unreduced fractions small enough that the next multiplication fits.
fn reduce_if_large(n: i64, d: i64) -> Frac {
    const LIMIT: i64 = 1 << 31;
    if n.abs() < LIMIT && d < LIMIT {
        return Frac { n, d };
    }
    let (mut a, mut b) = (n.unsigned_abs(), d as u64);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let g = a.max(1) as i64;
    Frac { n: n / g, d: d / g }
}

/// Classic values are plain non-negative integers.
#[derive(Clone, Copy, Debug)]
struct Whole(i64);

impl Value for Whole {
    fn leaf(n: i64) -> Self {
        Whole(n)
    }

    fn apply(op: Op, a: Self, b: Self) -> Option<Self> {
        match op {
            Op::Add => a.0.checked_add(b.0).map(Whole),
            Op::Sub => (a.0 >= b.0).then(|| Whole(a.0 - b.0)),
            Op::Mul => a.0.checked_mul(b.0).map(Whole),
            Op::Div => (b.0 != 0 && a.0 % b.0 == 0).then(|| Whole(a.0 / b.0)),
        }
    }

    fn equals(self, target: i64) -> bool {
        self.0 == target
    }

    fn pair_reaches(a: Self, b: Self, target: i64) -> bool {
        let (x, y, t) = (a.0 as i128, b.0 as i128, target as i128);
        x + y == t
            || x - y == t
            || y - x == t
            || x * y == t
            || (y != 0 && x == t * y)
            || (x != 0 && y == t * x)
    }
}

/// Shape of the node that produced a slot, for the chain normal form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Leaf,
    /// A `+`/`-` chain; `inverse` is true when its last term was subtracted.
    Sum {
        inverse: bool,
        last_key: u8,
    },
    /// A `*`/`/` chain; `inverse` is true when its last factor was a divisor.
    Product {
        inverse: bool,
        last_key: u8,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot<V> {
    value: V,
    node: u16,
    /// Smallest input index among the leaves below this slot.
    key: u8,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
struct Built {
    op: Op,
    left: u16,
    right: u16,
}

/// Whether `left op right` is the normal-form way to build this combination;
/// returns the new node's kind.
fn normal_form(op: Op, left: &Slot<impl Copy>, right: &Slot<impl Copy>) -> Option<Kind> {
    let additive = matches!(op, Op::Add | Op::Sub);
    let inverse = matches!(op, Op::Sub | Op::Div);
    let chain_of = |k: Kind| match k {
        Kind::Sum { inverse, last_key } if additive => Some((inverse, last_key)),
        Kind::Product { inverse, last_key } if !additive => Some((inverse, last_key)),
        _ => None,
    };
    // The right operand never continues the same chain (chains are left-deep).
    if chain_of(right.kind).is_some() {
        return None;
    }
    let ok = match chain_of(left.kind) {
        // Start a chain: a commutative pair in key order; `a - b`, `a / b` any way.
        None => inverse || left.key < right.key,
        // Extend: positives (in key order) before inverses (in key order).
        Some((last_inverse, last_key)) => match (last_inverse, inverse) {
            (false, false) | (true, true) => right.key > last_key,
            (false, true) => true,
            (true, false) => false,
        },
    };
    let kind = if additive {
        Kind::Sum {
            inverse,
            last_key: right.key,
        }
    } else {
        Kind::Product {
            inverse,
            last_key: right.key,
        }
    };
    ok.then_some(kind)
}

struct Search<'a, V> {
    numbers: &'a [i64],
    target: i64,
    nodes: Vec<Built>,
    /// Stop after this many distinct solutions (`usize::MAX`: all).
    limit: usize,
    found: Vec<String>,
    seen: HashSet<String>,
    /// For `is_solvable`: stop at the first tree, no canonical text needed.
    any: bool,
    hit: bool,
    _v: std::marker::PhantomData<V>,
}

impl<V: Value> Search<'_, V> {
    fn done(&self) -> bool {
        self.hit && (self.any || self.found.len() >= self.limit)
    }

    fn tree(&self, id: u16) -> Node {
        let n = self.numbers.len() as u16;
        if id < n {
            return Node::Num {
                value: self.numbers[id as usize] as u64,
                offset: 0,
            };
        }
        let b = self.nodes[(id - n) as usize];
        Node::Bin {
            op: b.op,
            offset: 0,
            left: Box::new(self.tree(b.left)),
            right: Box::new(self.tree(b.right)),
        }
    }

    fn record(&mut self, node: u16) {
        if self.any {
            self.hit = true;
            return;
        }
        let text = expr::canonical(&self.tree(node));
        if self.seen.insert(text.clone()) {
            self.found.push(text);
            self.hit = self.found.len() >= self.limit;
        }
    }

    /// `last`: (key of the previous merge, node it created).
    fn run(&mut self, slots: &mut Vec<Slot<V>>, last: Option<(u8, u16)>) {
        let m = slots.len();
        if m == 2 {
            // Six exact tests decide whether the last merge can hit at all; only
            // then does the normal-form loop below build the tree(s).
            let reaches = V::pair_reaches(slots[0].value, slots[1].value, self.target);
            if self.any || !reaches {
                self.hit |= reaches;
                return;
            }
        }
        if m == 1 {
            if slots[0].value.equals(self.target) {
                self.record(slots[0].node);
            }
            return;
        }
        for i in 0..m {
            for j in i + 1..m {
                let (a, b) = (slots[i], slots[j]);
                let key = a.key.min(b.key);
                if let Some((prev_key, prev_node)) = last {
                    let dependent = a.node == prev_node || b.node == prev_node;
                    if !dependent && key < prev_key {
                        continue;
                    }
                }
                for k in 0..8 {
                    let (op, l, r) = match k {
                        0 => (Op::Add, &a, &b),
                        1 => (Op::Add, &b, &a),
                        2 => (Op::Mul, &a, &b),
                        3 => (Op::Mul, &b, &a),
                        4 => (Op::Sub, &a, &b),
                        5 => (Op::Sub, &b, &a),
                        6 => (Op::Div, &a, &b),
                        _ => (Op::Div, &b, &a),
                    };
                    let Some(kind) = normal_form(op, l, r) else {
                        continue;
                    };
                    let Some(value) = V::apply(op, l.value, r.value) else {
                        continue;
                    };
                    let id = (self.numbers.len() + self.nodes.len()) as u16;
                    if m == 2 {
                        // Last merge: test it here instead of recursing into a one-slot state.
                        if value.equals(self.target) {
                            self.nodes.push(Built {
                                op,
                                left: l.node,
                                right: r.node,
                            });
                            self.record(id);
                            self.nodes.pop();
                            if self.done() {
                                return;
                            }
                        }
                        continue;
                    }
                    self.nodes.push(Built {
                        op,
                        left: l.node,
                        right: r.node,
                    });
                    let merged = Slot {
                        value,
                        node: id,
                        key,
                        kind,
                    };
                    // Replace i with the merge, j with the last slot; undo afterwards.
                    slots[i] = merged;
                    slots[j] = slots[m - 1];
                    slots.pop();
                    self.run(slots, Some((key, id)));
                    slots.push(b);
                    slots[m - 1] = slots[j];
                    slots[j] = b;
                    slots[i] = a;
                    self.nodes.pop();
                    if self.done() {
                        return;
                    }
                }
            }
        }
    }
}

/// What a search is asked for.
#[derive(Clone, Copy)]
enum Goal {
    /// Only whether a solution exists.
    Exists,
    /// Up to this many distinct canonical solutions.
    Solutions(usize),
}

/// Run one search; returns whether any solution exists and the canonical
/// solutions found (none are collected for [`Goal::Exists`]).
fn search<V: Value>(numbers: &[i64], target: i64, goal: Goal) -> (bool, Vec<String>) {
    let (any, limit) = match goal {
        Goal::Exists => (true, 1),
        Goal::Solutions(limit) => (false, limit),
    };
    let mut s: Search<V> = Search {
        numbers,
        target,
        nodes: Vec::with_capacity(numbers.len()),
        limit,
        found: Vec::new(),
        seen: HashSet::new(),
        any,
        hit: false,
        _v: std::marker::PhantomData,
    };
    let mut slots: Vec<Slot<V>> = numbers
        .iter()
        .enumerate()
        .map(|(i, &n)| Slot {
            value: V::leaf(n),
            node: i as u16,
            key: i as u8,
            kind: Kind::Leaf,
        })
        .collect();
    s.run(&mut slots, None);
    (s.hit || !s.found.is_empty(), s.found)
}

fn dispatch(numbers: &[i64], target: i64, rules: Rules, goal: Goal) -> (bool, Vec<String>) {
    match rules {
        Rules::Rational => search::<Frac>(numbers, target, goal),
        Rules::Classic if target < 0 => (false, Vec::new()),
        Rules::Classic => search::<Whole>(numbers, target, goal),
    }
}

/// Up to `limit` distinct solutions in canonical form (`None`: all of them,
/// sorted by length then text). Empty when the puzzle has none.
pub fn solve(
    numbers: &[i64],
    target: i64,
    rules: Rules,
    limit: Option<usize>,
) -> Result<Vec<String>, SolveError> {
    check(numbers)?;
    if limit == Some(0) {
        return Ok(Vec::new());
    }
    let (_, mut found) = dispatch(
        numbers,
        target,
        rules,
        Goal::Solutions(limit.unwrap_or(usize::MAX)),
    );
    if limit.is_none() {
        found.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    }
    Ok(found)
}

/// Number of distinct solutions (up to commutativity and associativity).
pub fn count_solutions(numbers: &[i64], target: i64, rules: Rules) -> Result<usize, SolveError> {
    check(numbers)?;
    Ok(
        dispatch(numbers, target, rules, Goal::Solutions(usize::MAX))
            .1
            .len(),
    )
}

/// Whether the puzzle has at least one solution.
pub fn is_solvable(numbers: &[i64], target: i64, rules: Rules) -> Result<bool, SolveError> {
    check(numbers)?;
    Ok(dispatch(numbers, target, rules, Goal::Exists).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{evaluate, parse};
    use crate::rational::Rational;

    fn all(numbers: &[i64], target: i64, rules: Rules) -> Vec<String> {
        solve(numbers, target, rules, None).unwrap()
    }

    #[test]
    fn known_puzzles() {
        assert_eq!(
            all(&[3, 3, 8, 8], 24, Rules::Rational),
            vec!["8 / (3 - 8 / 3)"]
        );
        assert!(all(&[3, 3, 8, 8], 24, Rules::Classic).is_empty());
        assert_eq!(
            solve(&[44, 19, 35], 98, Rules::Rational, Some(1)).unwrap(),
            vec!["44 + 35 + 19"]
        );
        assert!(!is_solvable(&[1, 1, 1], 100, Rules::Rational).unwrap());
        assert!(is_solvable(&[25, 50, 75, 100, 3, 6], 952, Rules::Classic).unwrap());
    }

    #[test]
    fn every_solution_is_exact_and_canonical() {
        for (numbers, target) in [
            (vec![1, 2, 3, 4], 24),
            (vec![2, 3, 5, 7, 11], 100),
            (vec![5, 5, 5, 1], 24),
        ] {
            for rules in [Rules::Rational, Rules::Classic] {
                let found = all(&numbers, target, rules);
                let mut unique = found.clone();
                unique.dedup();
                assert_eq!(unique.len(), found.len());
                for text in &found {
                    let tree = parse(text).unwrap();
                    assert_eq!(
                        evaluate(&tree).unwrap(),
                        Rational::integer(target as i128),
                        "{text}"
                    );
                    assert_eq!(&expr::canonical(&tree), text);
                    let mut used: Vec<i64> =
                        expr::numbers(&tree).iter().map(|&x| x as i64).collect();
                    let mut want = numbers.clone();
                    used.sort();
                    want.sort();
                    assert_eq!(used, want, "{text}");
                }
            }
        }
    }

    #[test]
    fn input_checks() {
        assert_eq!(
            solve(&[1], 1, Rules::Rational, Some(1)),
            Err(SolveError::Count(1))
        );
        assert_eq!(
            solve(&[1; 8], 1, Rules::Rational, Some(1)),
            Err(SolveError::Count(8))
        );
        assert_eq!(
            solve(&[1, -2], 1, Rules::Rational, Some(1)),
            Err(SolveError::Value(-2))
        );
    }
}
