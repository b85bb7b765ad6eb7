//! cogstar's core: exact Countdown expressions, solver, generator and reward.
//!
//! Pure Rust. The Python extension `cogstar._core` lives in [`python`] and is
//! compiled only with the `python` feature, so `cargo test` and `cargo bench`
//! never need libpython.
//!
//! * [`expr`]: strict parser, exact rational evaluation, printing, canonical form.
//! * [`pyeval`]: CPython `eval` semantics over TinyZero's answer alphabet.
//! * [`reward`]: `score` / `score_batch` with typed outcomes, `tinyzero` and `strict` modes.
//! * [`solver`]: first / all / count / solvable, `rational` and `classic` rules.
//! * [`generate`]: seeded puzzle generation and leakage-free splits.
//! * [`behaviors`]: the rule-based counter of the four cognitive behaviors.
//! * [`traces`]: behavior-conditioned reasoning traces from an actual search.

pub mod behaviors;
pub mod expr;
pub mod generate;
pub mod pyeval;
pub mod rational;
pub mod reward;
pub mod solver;
pub mod traces;
mod unicode_tables;

#[cfg(test)]
mod golden;

#[cfg(feature = "python")]
mod python;

pub use expr::{ExprError, ExprErrorKind, Node, Op};
pub use generate::{GenerateConfig, Puzzle};
pub use rational::Rational;
pub use reward::{Mode, Outcome, Score, ScoreConfig};
pub use solver::Rules;
