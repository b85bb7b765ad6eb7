//! The Python extension module `cogstar._core` — the only file that uses PyO3.
//!
//! Conventions: batch calls first turn every Python input into Rust data (or
//! borrow immutable `str` buffers the call keeps alive), then release the GIL
//! and work on all cores. Core errors become Python exceptions in one place,
//! the error classes below: `CogstarError` is the root of every error cogstar
//! raises, and the core raises its subclasses `ExpressionError` (an expression
//! that cannot be parsed or evaluated), `PuzzleError` (numbers and a target the
//! core cannot work with), `GenerateError` (generator settings that yield no
//! puzzles) and `ArgumentError` (any other argument outside what a function
//! accepts). The four are also `ValueError`s, as Python code expects of a bad
//! argument. `cogstar.errors` re-exports them beside the framework's own.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PySequence, PyString, PyTuple, PyType};

use crate::behaviors::{self, Analysis};
use crate::expr::{self, ExprError, Node};
use crate::generate::{self, GenerateConfig};
use crate::rational::Rational;
use crate::reward::{self, Mode, Outcome as CoreOutcome, ScoreConfig};
use crate::solver::{self, Rules};
use crate::traces::{self, Condition};

create_exception!(
    cogstar,
    CogstarError,
    PyException,
    "Base class of every error cogstar raises."
);

/// An error class under `CogstarError` that is also a `ValueError`, made once per
/// interpreter (PyO3's `create_exception!` takes a single base class).
struct ErrorClass {
    name: &'static str,
    doc: &'static str,
    class: PyOnceLock<Py<PyType>>,
}

impl ErrorClass {
    const fn new(name: &'static str, doc: &'static str) -> Self {
        ErrorClass {
            name,
            doc,
            class: PyOnceLock::new(),
        }
    }

    fn get<'py>(&'static self, py: Python<'py>) -> PyResult<&'static Py<PyType>> {
        self.class.get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [py.get_type::<CogstarError>(), py.get_type::<PyValueError>()],
            )?;
            let namespace = PyDict::new(py);
            namespace.set_item("__doc__", self.doc)?;
            namespace.set_item("__module__", "cogstar")?;
            let class = py
                .get_type::<PyType>()
                .call1((self.name, bases, namespace))?;
            Ok(class.cast_into::<PyType>()?.unbind())
        })
    }

    /// A Python exception of this class with `message`.
    fn err(&'static self, message: impl std::fmt::Display) -> PyErr {
        let message = message.to_string();
        Python::attach(|py| match self.get(py) {
            Ok(class) => PyErr::from_type(class.bind(py).clone(), message),
            Err(failed) => failed,
        })
    }
}

static EXPRESSION_ERROR: ErrorClass = ErrorClass::new(
    "ExpressionError",
    "An expression could not be parsed or evaluated; the message names the byte offset and the reason.",
);
static PUZZLE_ERROR: ErrorClass = ErrorClass::new(
    "PuzzleError",
    "Numbers and a target the core cannot work with (too few or too many numbers, a value out of range, no solution where one is needed).",
);
static GENERATE_ERROR: ErrorClass = ErrorClass::new(
    "GenerateError",
    "Generator settings that cannot yield the puzzles asked for; the message says what to widen.",
);
static ARGUMENT_ERROR: ErrorClass = ErrorClass::new(
    "ArgumentError",
    "An argument outside what a function accepts (an unknown mode, rules or condition, lists of different lengths, a negative count).",
);

fn expr_err(e: &ExprError) -> PyErr {
    EXPRESSION_ERROR.err(e)
}

fn puzzle_err(e: impl std::fmt::Display) -> PyErr {
    PUZZLE_ERROR.err(e)
}

fn generate_err(e: impl std::fmt::Display) -> PyErr {
    GENERATE_ERROR.err(e)
}

fn argument_err(e: impl std::fmt::Display) -> PyErr {
    ARGUMENT_ERROR.err(e)
}

fn parse_rules(rules: &str) -> PyResult<Rules> {
    Rules::parse(rules).ok_or_else(|| {
        argument_err(format!(
            "rules must be 'rational' or 'classic', got '{rules}'"
        ))
    })
}

fn parse_mode(mode: &str) -> PyResult<Mode> {
    Mode::parse(mode)
        .ok_or_else(|| argument_err(format!("mode must be 'tinyzero' or 'strict', got '{mode}'")))
}

fn fraction<'py>(py: Python<'py>, r: Rational) -> PyResult<Bound<'py, PyAny>> {
    py.import("fractions")?
        .getattr("Fraction")?
        .call1((r.numer(), r.denom()))
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

/// A parsed Countdown expression (strict grammar: integers, + - * /, parentheses).
#[pyclass(frozen, module = "cogstar._core")]
struct Expr {
    node: Node,
    value: Result<Rational, ExprError>,
}

#[pymethods]
impl Expr {
    /// The exact value as a `fractions.Fraction`; raises `ExpressionError` on division by zero.
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.value {
            Ok(v) => fraction(py, *v),
            Err(e) => Err(expr_err(e)),
        }
    }

    /// The integer literals, in the order written.
    #[getter]
    fn numbers(&self) -> Vec<u64> {
        expr::numbers(&self.node)
    }

    /// The form shared by every expression equal to this one up to commutativity and associativity.
    #[getter]
    fn canonical(&self) -> String {
        expr::canonical(&self.node)
    }

    fn __str__(&self) -> String {
        expr::print(&self.node)
    }

    fn __repr__(&self) -> String {
        format!("Expr({:?})", expr::print(&self.node))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Expr>()
            .is_ok_and(|o| o.get().node == self.node)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        expr::print(&self.node).hash(&mut h);
        h.finish()
    }
}

/// Parse (and exactly evaluate) a Countdown expression.
#[pyfunction]
fn parse_expression(text: &str) -> PyResult<Expr> {
    let node = expr::parse(text).map_err(|e| expr_err(&e))?;
    let value = expr::evaluate(&node);
    Ok(Expr { node, value })
}

/// The canonical form of an expression (see `Expr.canonical`).
#[pyfunction]
fn canonical_form(text: &str) -> PyResult<String> {
    expr::parse(text)
        .map(|n| expr::canonical(&n))
        .map_err(|e| expr_err(&e))
}

// ---------------------------------------------------------------------------
// Reward
// ---------------------------------------------------------------------------

/// What happened to one response; `str(outcome)` is its lowercase label.
#[pyclass(
    eq,
    eq_int,
    frozen,
    hash,
    skip_from_py_object,
    module = "cogstar._core"
)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    #[pyo3(name = "CORRECT")]
    Correct,
    #[pyo3(name = "WRONG_VALUE")]
    WrongValue,
    #[pyo3(name = "WRONG_NUMBERS")]
    WrongNumbers,
    #[pyo3(name = "UNPARSABLE")]
    Unparsable,
    #[pyo3(name = "EVAL_ERROR")]
    EvalError,
    #[pyo3(name = "TOO_LARGE")]
    TooLarge,
    #[pyo3(name = "NO_ANSWER")]
    NoAnswer,
    #[pyo3(name = "ANSWER_NOT_LAST_LINE")]
    AnswerNotOnLastLine,
    #[pyo3(name = "NO_ASSISTANT")]
    NoAssistant,
}

impl From<CoreOutcome> for Outcome {
    fn from(o: CoreOutcome) -> Self {
        match o {
            CoreOutcome::Correct => Outcome::Correct,
            CoreOutcome::WrongValue => Outcome::WrongValue,
            CoreOutcome::WrongNumbers => Outcome::WrongNumbers,
            CoreOutcome::Unparsable => Outcome::Unparsable,
            CoreOutcome::EvalError => Outcome::EvalError,
            CoreOutcome::TooLarge => Outcome::TooLarge,
            CoreOutcome::NoAnswer => Outcome::NoAnswer,
            CoreOutcome::AnswerNotOnLastLine => Outcome::AnswerNotOnLastLine,
            CoreOutcome::NoAssistant => Outcome::NoAssistant,
        }
    }
}

impl Outcome {
    /// Both enums list their variants in the same order (tests/test_core_api.py checks).
    fn core(self) -> CoreOutcome {
        CoreOutcome::ALL[self as usize]
    }
}

#[pymethods]
impl Outcome {
    fn __str__(&self) -> &'static str {
        self.core().label()
    }

    /// The lowercase label, e.g. ``"wrong_numbers"``.
    #[getter]
    fn label(&self) -> &'static str {
        self.core().label()
    }
}

/// The reward for one response.
#[pyclass(frozen, module = "cogstar._core")]
struct Score {
    inner: reward::Score,
    answer: Option<String>,
}

impl Score {
    fn new(inner: reward::Score, text: &str) -> Self {
        let answer = inner.answer(text).map(str::to_owned);
        Score { inner, answer }
    }
}

#[pymethods]
impl Score {
    #[getter]
    fn value(&self) -> f64 {
        self.inner.value
    }

    #[getter]
    fn outcome(&self) -> Outcome {
        self.inner.outcome.into()
    }

    #[getter]
    fn answer(&self) -> Option<&str> {
        self.answer.as_deref()
    }

    #[getter]
    fn result(&self) -> Option<f64> {
        self.inner.result
    }

    fn __repr__(&self) -> String {
        let answer = self
            .answer
            .as_ref()
            .map_or("None".to_string(), |a| format!("{a:?}"));
        let result = self
            .inner
            .result
            .map_or("None".to_string(), |r| format!("{r:?}"));
        format!(
            "Score(value={:?}, outcome=Outcome.{}, answer={answer}, result={result})",
            self.inner.value,
            self.inner.outcome.label().to_uppercase(),
        )
    }
}

/// The rewards for a batch: `.values` and `.outcomes` as lists, or index it for `Score`s.
#[pyclass(frozen, sequence, module = "cogstar._core")]
struct ScoreBatch {
    scores: Vec<reward::Score>,
    /// The scored texts, so answers are sliced out only when asked for.
    texts: Vec<Py<PyString>>,
}

#[pymethods]
impl ScoreBatch {
    #[getter]
    fn values(&self) -> Vec<f64> {
        self.scores.iter().map(|s| s.value).collect()
    }

    #[getter]
    fn outcomes(&self) -> Vec<Outcome> {
        self.scores.iter().map(|s| s.outcome.into()).collect()
    }

    /// Fraction of responses whose outcome is `CORRECT`.
    #[getter]
    fn accuracy(&self) -> f64 {
        if self.scores.is_empty() {
            return 0.0;
        }
        let n = self
            .scores
            .iter()
            .filter(|s| s.outcome == CoreOutcome::Correct)
            .count();
        n as f64 / self.scores.len() as f64
    }

    fn __len__(&self) -> usize {
        self.scores.len()
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Score> {
        let n = self.scores.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if !(0..n).contains(&i) {
            return Err(PyIndexError::new_err(format!(
                "ScoreBatch index {index} out of range for {n} scores"
            )));
        }
        let i = i as usize;
        let text = self.texts[i].bind(py).to_str()?;
        Ok(Score::new(self.scores[i].clone(), text))
    }

    fn __repr__(&self) -> String {
        format!(
            "ScoreBatch(len={}, accuracy={:.4})",
            self.scores.len(),
            self.accuracy()
        )
    }
}

fn config(mode: &str, format_score: f64, correct_score: f64) -> PyResult<ScoreConfig> {
    Ok(ScoreConfig {
        mode: parse_mode(mode)?,
        format_score,
        correct_score,
    })
}

/// Score one response against a puzzle.
#[pyfunction]
#[pyo3(signature = (text, numbers, target, *, mode = "tinyzero", format_score = 0.1, correct_score = 1.0))]
fn score(
    text: &str,
    numbers: Vec<i64>,
    target: i64,
    mode: &str,
    format_score: f64,
    correct_score: f64,
) -> PyResult<Score> {
    let cfg = config(mode, format_score, correct_score)?;
    Ok(Score::new(
        reward::score(text, &numbers, target, &cfg),
        text,
    ))
}

// Batch arguments as Python, numpy and pandas hand them over: lists (the fast path), tuples
// and other iterables, numpy arrays (2-D integer numbers, integer targets, arrays of str or
// object arrays of texts) and pandas Series (read through `.to_numpy()`). Arrays of numbers
// cross as one `tobytes()` copy; nothing loops in Python.

/// A pandas Series (or anything with `to_numpy` that is not a list or tuple) as its array.
fn unwrap_series<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyString>()
    {
        return Ok(obj.clone());
    }
    if obj.hasattr("to_numpy")? {
        return obj.call_method0("to_numpy");
    }
    Ok(obj.clone())
}

/// numpy's dtype kind of an array (`'i'`, `'u'`, `'f'`, `'U'`, `'O'`, ...) and its shape.
fn array_kind(obj: &Bound<'_, PyAny>) -> PyResult<Option<(char, Vec<usize>)>> {
    if !obj.hasattr("__array_interface__")? || !obj.hasattr("dtype")? {
        return Ok(None);
    }
    let kind: String = obj.getattr("dtype")?.getattr("kind")?.extract()?;
    let shape: Vec<usize> = obj.getattr("shape")?.extract()?;
    Ok(kind.chars().next().map(|k| (k, shape)))
}

/// The values of an integer array, in C order, through one `astype(int64).tobytes()`.
fn array_ints(obj: &Bound<'_, PyAny>, kind: char, what: &str) -> PyResult<Vec<i64>> {
    if kind != 'i' && kind != 'u' {
        return Err(argument_err(format!(
            "{what} must be integers, got a numpy array of dtype kind '{kind}'; cast it with \
             .astype(int) if its values are whole numbers"
        )));
    }
    let bytes = obj
        .call_method1("astype", ("<i8",))?
        .call_method0("tobytes")?;
    let bytes = bytes.cast::<PyBytes>()?.as_bytes();
    Ok(bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// One item's numbers: a list (fast), an integer array, or any iterable of integers.
fn row_ints(item: &Bound<'_, PyAny>, flat: &mut Vec<i64>, i: usize) -> PyResult<()> {
    if let Ok(list) = item.cast::<PyList>() {
        for x in list.iter() {
            flat.push(x.extract::<i64>()?);
        }
        return Ok(());
    }
    if let Some((kind, _)) = array_kind(item)? {
        flat.extend(array_ints(item, kind, &format!("numbers[{i}]"))?);
        return Ok(());
    }
    for x in item.try_iter()? {
        flat.push(x?.extract::<i64>()?);
    }
    Ok(())
}

/// Numbers of every item, flattened: `flat[offsets[i]..offsets[i + 1]]` is item `i`.
fn flatten_numbers(numbers: &Bound<'_, PyAny>, n: usize) -> PyResult<(Vec<i64>, Vec<usize>)> {
    let numbers = unwrap_series(numbers)?;
    let mismatch = |len: usize| {
        argument_err(format!(
            "numbers has {len} entries but there are {n} texts; give one list of numbers per text"
        ))
    };
    if let Some((kind, shape)) = array_kind(&numbers)? {
        if shape.len() == 2 {
            if shape[0] != n {
                return Err(mismatch(shape[0]));
            }
            let flat = array_ints(&numbers, kind, "numbers")?;
            let offsets = (0..=n).map(|i| i * shape[1]).collect();
            return Ok((flat, offsets));
        }
    }
    let mut flat = Vec::with_capacity(n * 4);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    if let Ok(list) = numbers.cast::<PyList>() {
        if list.len() != n {
            return Err(mismatch(list.len()));
        }
        for (i, item) in list.iter().enumerate() {
            row_ints(&item, &mut flat, i)?;
            offsets.push(flat.len());
        }
        return Ok((flat, offsets));
    }
    for (i, item) in numbers.try_iter()?.enumerate() {
        row_ints(&item?, &mut flat, i)?;
        offsets.push(flat.len());
    }
    if offsets.len() - 1 != n {
        return Err(mismatch(offsets.len() - 1));
    }
    Ok((flat, offsets))
}

/// One integer per item: a list, an integer array or Series, or any iterable.
fn batch_ints(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    let obj = unwrap_series(obj)?;
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().map(|x| x.extract::<i64>()).collect();
    }
    if let Some((kind, shape)) = array_kind(&obj)? {
        if shape.len() != 1 {
            return Err(argument_err(format!(
                "{what} must be one-dimensional, got an array of shape {shape:?}"
            )));
        }
        if kind != 'O' {
            return array_ints(&obj, kind, what);
        }
    }
    obj.try_iter()?.map(|x| x?.extract::<i64>()).collect()
}

/// The texts of a batch as Python strings: a list (fast), an array of str (`dtype` `<U`),
/// an object array, a Series or any iterable of `str`.
fn batch_texts<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyString>>> {
    let not_str = |i: usize, x: &Bound<'_, PyAny>| {
        argument_err(format!(
            "texts[{i}] is {}, not str; give one string per response",
            x.get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        ))
    };
    let obj = unwrap_series(obj)?;
    if obj.is_instance_of::<PyString>() {
        return Err(argument_err(
            "texts is one str; give a list of responses (wrap a single one in a list)",
        ));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return list
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.cast_into::<PyString>()
                    .map_err(|e| not_str(i, e.into_inner().as_any()))
            })
            .collect();
    }
    if let Some((kind, shape)) = array_kind(&obj)? {
        if kind == 'U' && shape.len() == 1 {
            // fixed-width UCS-4, NUL-padded: decoded here, one copy
            let width: usize = obj
                .getattr("dtype")?
                .getattr("itemsize")?
                .extract::<usize>()?
                / 4;
            let bytes = obj.call_method0("tobytes")?;
            let bytes = bytes.cast::<PyBytes>()?.as_bytes();
            let mut out = Vec::with_capacity(shape[0]);
            let mut text = String::new();
            for (i, cell) in bytes.chunks_exact(width.max(1) * 4).enumerate() {
                text.clear();
                for c in cell.chunks_exact(4) {
                    let code = u32::from_le_bytes(c.try_into().expect("4 bytes"));
                    if code == 0 {
                        break;
                    }
                    text.push(char::from_u32(code).ok_or_else(|| {
                        argument_err(format!("texts[{i}] holds an invalid code point {code:#x}"))
                    })?);
                }
                out.push(PyString::new(py, &text));
            }
            return Ok(out);
        }
    }
    obj.try_iter()?
        .enumerate()
        .map(|(i, x)| {
            let x = x?;
            x.cast_into::<PyString>()
                .map_err(|e| not_str(i, e.into_inner().as_any()))
        })
        .collect()
}

type Kernel = fn(&[&str], &[&[i64]], &[i64], &ScoreConfig) -> Vec<reward::Score>;

fn score_texts(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    numbers: &Bound<'_, PyAny>,
    targets: &Bound<'_, PyAny>,
    cfg: &ScoreConfig,
    kernel: Kernel,
) -> PyResult<ScoreBatch> {
    // Keep a strong reference to every str so the borrowed UTF-8 stays valid
    // while the GIL is released, whatever other threads do to the list.
    let owned = batch_texts(py, texts)?;
    let strs: Vec<&str> = owned.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?;
    let targets = batch_ints(targets, "targets")?;
    if targets.len() != strs.len() {
        return Err(argument_err(format!(
            "targets has {} entries but there are {} texts; give one target per text",
            targets.len(),
            strs.len()
        )));
    }
    let (flat, offsets) = flatten_numbers(numbers, strs.len())?;
    let scores = py.detach(|| {
        let groups: Vec<&[i64]> = offsets.windows(2).map(|w| &flat[w[0]..w[1]]).collect();
        kernel(&strs, &groups, &targets, cfg)
    });
    let texts = owned.into_iter().map(Bound::unbind).collect();
    Ok(ScoreBatch { scores, texts })
}

/// Score a batch in parallel with the GIL released; `numbers[i]`, `targets[i]` go with `texts[i]`.
#[pyfunction]
#[pyo3(signature = (texts, numbers, targets, *, mode = "tinyzero", format_score = 0.1, correct_score = 1.0))]
fn score_batch(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    numbers: &Bound<'_, PyAny>,
    targets: &Bound<'_, PyAny>,
    mode: &str,
    format_score: f64,
    correct_score: f64,
) -> PyResult<ScoreBatch> {
    let cfg = config(mode, format_score, correct_score)?;
    score_texts(py, texts, numbers, targets, &cfg, |t, n, g, c| {
        reward::score_batch(t, n, g, c)
    })
}

/// Score completions alone (the text after the prompt): the reward of the standard prompt +
/// completion, without the prompt. In parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (completions, numbers, targets, *, mode = "tinyzero", format_score = 0.1, correct_score = 1.0))]
fn score_completions(
    py: Python<'_>,
    completions: &Bound<'_, PyAny>,
    numbers: &Bound<'_, PyAny>,
    targets: &Bound<'_, PyAny>,
    mode: &str,
    format_score: f64,
    correct_score: f64,
) -> PyResult<ScoreBatch> {
    let cfg = config(mode, format_score, correct_score)?;
    score_texts(py, completions, numbers, targets, &cfg, |t, n, g, c| {
        reward::score_completions(t, n, g, c)
    })
}

// ---------------------------------------------------------------------------
// Solver and generator
// ---------------------------------------------------------------------------

/// Up to `limit` distinct solutions in canonical form (`limit=None`: all, sorted).
#[pyfunction]
#[pyo3(signature = (numbers, target, *, rules = "rational", limit = Some(1)), text_signature = "(numbers, target, *, rules='rational', limit=1)")]
fn solve(
    py: Python<'_>,
    numbers: Vec<i64>,
    target: i64,
    rules: &str,
    limit: Option<usize>,
) -> PyResult<Vec<String>> {
    let rules = parse_rules(rules)?;
    py.detach(|| solver::solve(&numbers, target, rules, limit))
        .map_err(puzzle_err)
}

/// How many distinct solutions (up to commutativity and associativity) the puzzle has.
#[pyfunction]
#[pyo3(signature = (numbers, target, *, rules = "rational"))]
fn count_solutions(py: Python<'_>, numbers: Vec<i64>, target: i64, rules: &str) -> PyResult<usize> {
    let rules = parse_rules(rules)?;
    py.detach(|| solver::count_solutions(&numbers, target, rules))
        .map_err(puzzle_err)
}

/// Whether the puzzle has a solution.
#[pyfunction]
#[pyo3(signature = (numbers, target, *, rules = "rational"))]
fn is_solvable(py: Python<'_>, numbers: Vec<i64>, target: i64, rules: &str) -> PyResult<bool> {
    let rules = parse_rules(rules)?;
    py.detach(|| solver::is_solvable(&numbers, target, rules))
        .map_err(puzzle_err)
}

/// A Countdown puzzle: reach `target` using each of `numbers` exactly once.
#[pyclass(frozen, eq, hash, ord, from_py_object, module = "cogstar._core")]
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Puzzle {
    inner: generate::Puzzle,
}

#[pymethods]
impl Puzzle {
    #[new]
    fn new(numbers: Vec<i64>, target: i64) -> Self {
        Puzzle {
            inner: generate::Puzzle { numbers, target },
        }
    }

    #[getter]
    fn numbers(&self) -> Vec<i64> {
        self.inner.numbers.clone()
    }

    #[getter]
    fn target(&self) -> i64 {
        self.inner.target
    }

    fn __getnewargs__(&self) -> (Vec<i64>, i64) {
        (self.inner.numbers.clone(), self.inner.target)
    }

    fn __repr__(&self) -> String {
        format!(
            "Puzzle(numbers={:?}, target={})",
            self.inner.numbers, self.inner.target
        )
    }
}

/// Seeded puzzles, deterministic per seed whatever the thread count.
#[pyfunction]
#[pyo3(signature = (
    count, *, seed, sizes = vec![3, 4], size_weights = None, value_range = (1, 100),
    target_range = (1, 100), rules = "rational", solvable = true, exclude = vec![],
    numbers_below_target = false,
), text_signature = "(count, *, seed, sizes=(3, 4), size_weights=None, value_range=(1, 100), \
    target_range=(1, 100), rules='rational', solvable=True, exclude=(), numbers_below_target=False)")]
#[allow(clippy::too_many_arguments)]
fn generate_puzzles(
    py: Python<'_>,
    count: i64,
    seed: u64,
    sizes: Vec<usize>,
    size_weights: Option<Vec<f64>>,
    value_range: (i64, i64),
    target_range: (i64, i64),
    rules: &str,
    solvable: bool,
    exclude: Vec<Vec<i64>>,
    numbers_below_target: bool,
) -> PyResult<Vec<Puzzle>> {
    if count < 0 {
        return Err(argument_err(format!("count must be >= 0, got {count}")));
    }
    let cfg = GenerateConfig {
        sizes,
        size_weights,
        value_range,
        target_range,
        rules: parse_rules(rules)?,
        solvable,
        exclude,
        numbers_below_target,
    };
    let puzzles = py
        .detach(|| generate::generate(count as usize, seed, &cfg))
        .map_err(generate_err)?;
    Ok(puzzles.into_iter().map(|inner| Puzzle { inner }).collect())
}

/// Split into (train, test): `test_size` distinct puzzles in test, no puzzle shared.
#[pyfunction]
#[pyo3(signature = (puzzles, test_size, *, seed = 0))]
fn split_puzzles(
    puzzles: Vec<Puzzle>,
    test_size: usize,
    seed: u64,
) -> PyResult<(Vec<Puzzle>, Vec<Puzzle>)> {
    let inner: Vec<generate::Puzzle> = puzzles.into_iter().map(|p| p.inner).collect();
    let (train, test) = generate::split(&inner, test_size, seed).map_err(generate_err)?;
    let wrap = |v: Vec<generate::Puzzle>| v.into_iter().map(|inner| Puzzle { inner }).collect();
    Ok((wrap(train), wrap(test)))
}

// ---------------------------------------------------------------------------
// Behaviors
// ---------------------------------------------------------------------------

/// Counts of the four behaviors in one text; `spans` locates each counted instance.
#[pyclass(frozen, module = "cogstar._core")]
struct BehaviorCounts {
    #[pyo3(get)]
    verification: u32,
    #[pyo3(get)]
    backtracking: u32,
    #[pyo3(get)]
    subgoal: u32,
    #[pyo3(get)]
    backward: u32,
    /// `(behavior, start, end)` in characters of the text, in text order.
    #[pyo3(get)]
    spans: Vec<(&'static str, usize, usize)>,
}

impl BehaviorCounts {
    fn new(a: Analysis, text: &str) -> Self {
        let ascii = text.is_ascii();
        let chars = |byte: usize| {
            if ascii {
                byte
            } else {
                text[..byte].chars().count()
            }
        };
        BehaviorCounts {
            verification: a.counts.verification,
            backtracking: a.counts.backtracking,
            subgoal: a.counts.subgoal,
            backward: a.counts.backward,
            spans: a
                .spans
                .iter()
                .map(|s| (s.behavior.name(), chars(s.start), chars(s.end)))
                .collect(),
        }
    }
}

#[pymethods]
impl BehaviorCounts {
    #[new]
    #[pyo3(signature = (verification = 0, backtracking = 0, subgoal = 0, backward = 0, spans = vec![]))]
    fn py_new(
        verification: u32,
        backtracking: u32,
        subgoal: u32,
        backward: u32,
        spans: Vec<(String, usize, usize)>,
    ) -> PyResult<Self> {
        let spans = spans
            .into_iter()
            .map(|(b, s, e)| {
                behaviors::Behavior::ALL
                    .iter()
                    .find(|x| x.name() == b)
                    .map(|x| (x.name(), s, e))
                    .ok_or_else(|| {
                        argument_err(format!(
                            "unknown behavior '{b}' in spans; use verification, backtracking, subgoal or backward"
                        ))
                    })
            })
            .collect::<PyResult<_>>()?;
        Ok(BehaviorCounts {
            verification,
            backtracking,
            subgoal,
            backward,
            spans,
        })
    }

    /// `{"verification": …, "backtracking": …, "subgoal": …, "backward": …}`
    fn as_dict(&self) -> std::collections::BTreeMap<&'static str, u32> {
        [
            ("verification", self.verification),
            ("backtracking", self.backtracking),
            ("subgoal", self.subgoal),
            ("backward", self.backward),
        ]
        .into_iter()
        .collect()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<BehaviorCounts>().is_ok_and(|o| {
            let o = o.get();
            (o.verification, o.backtracking, o.subgoal, o.backward)
                == (
                    self.verification,
                    self.backtracking,
                    self.subgoal,
                    self.backward,
                )
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "BehaviorCounts(verification={}, backtracking={}, subgoal={}, backward={})",
            self.verification, self.backtracking, self.subgoal, self.backward
        )
    }
}

/// Rule-based counts of the four behaviors in one text (see `cogstar.count_behaviors`).
#[pyfunction]
#[pyo3(signature = (text, numbers = None, target = None))]
fn count_behaviors_rules(
    text: &str,
    numbers: Option<Vec<i64>>,
    target: Option<i64>,
) -> BehaviorCounts {
    BehaviorCounts::new(
        behaviors::count_behaviors(text, numbers.as_deref(), target),
        text,
    )
}

/// `count_behaviors_rules` over many texts in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (texts, numbers = None, targets = None))]
fn count_behaviors_rules_batch(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    numbers: Option<&Bound<'_, PyAny>>,
    targets: Option<Vec<Option<i64>>>,
) -> PyResult<Vec<BehaviorCounts>> {
    let owned: Vec<Bound<'_, PyString>> = texts
        .cast::<PySequence>()?
        .try_iter()?
        .map(|t| Ok(t?.cast_into::<PyString>()?))
        .collect::<PyResult<_>>()?;
    let strs: Vec<&str> = owned.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?;
    let n = strs.len();
    let targets = targets.unwrap_or_else(|| vec![None; n]);
    if targets.len() != n {
        return Err(argument_err(format!(
            "targets has {} entries but texts has {n}; give one target (or None) per text",
            targets.len()
        )));
    }
    // Per item: Some(numbers) or None.
    let mut groups: Vec<Option<Vec<i64>>> = vec![None; n];
    if let Some(numbers) = numbers {
        let seq = numbers.cast::<PySequence>()?;
        if seq.len()? != n {
            return Err(argument_err(format!(
                "numbers has {} entries but texts has {n}; give one list of numbers (or None) per text",
                seq.len()?
            )));
        }
        for (slot, item) in groups.iter_mut().zip(seq.try_iter()?) {
            let item = item?;
            if !item.is_none() {
                *slot = Some(item.extract::<Vec<i64>>()?);
            }
        }
    }
    let counts = py.detach(|| {
        use rayon::prelude::*;
        (0..n)
            .into_par_iter()
            .map(|i| {
                BehaviorCounts::new(
                    behaviors::count_behaviors(strs[i], groups[i].as_deref(), targets[i]),
                    strs[i],
                )
            })
            .collect::<Vec<_>>()
    });
    Ok(counts)
}

// ---------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------

/// A synthesized reasoning trace with the ground-truth count of each behavior in it.
#[pyclass(frozen, module = "cogstar._core")]
struct Trace {
    /// The completion: `<think>` reasoning `</think>` then `<answer>expr</answer>`.
    #[pyo3(get)]
    text: String,
    /// The expression inside the answer tag.
    #[pyo3(get)]
    answer: String,
    #[pyo3(get)]
    numbers: Vec<i64>,
    #[pyo3(get)]
    target: i64,
    #[pyo3(get)]
    condition: &'static str,
    #[pyo3(get)]
    wrong_answer: bool,
    counts: behaviors::Counts,
}

#[pymethods]
impl Trace {
    /// Ground-truth counts (no spans).
    #[getter]
    fn counts(&self) -> BehaviorCounts {
        let c = self.counts;
        BehaviorCounts {
            verification: c.verification,
            backtracking: c.backtracking,
            subgoal: c.subgoal,
            backward: c.backward,
            spans: Vec::new(),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Trace(condition={:?}, numbers={:?}, target={}, {} chars, answer={:?})",
            self.condition,
            self.numbers,
            self.target,
            self.text.chars().count(),
            self.answer
        )
    }
}

fn parse_condition(name: &str) -> PyResult<Condition> {
    Condition::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Condition::ALL.iter().map(|c| c.name()).collect();
        argument_err(format!(
            "unknown condition '{name}'; choose one of {}",
            names.join(", ")
        ))
    })
}

fn wrap_trace(
    r: Result<traces::Trace, traces::TraceError>,
    numbers: Vec<i64>,
    target: i64,
    cond: Condition,
    wrong_answer: bool,
) -> PyResult<Trace> {
    let t = r.map_err(puzzle_err)?;
    Ok(Trace {
        text: t.text,
        answer: t.answer,
        numbers,
        target,
        condition: cond.name(),
        wrong_answer,
        counts: t.counts,
    })
}

/// One trace of `condition` for the puzzle, deterministic for `seed`.
#[pyfunction]
#[pyo3(signature = (numbers, target, condition, *, seed, wrong_answer = false, budget = None))]
fn synthesize_trace(
    numbers: Vec<i64>,
    target: i64,
    condition: &str,
    seed: u64,
    wrong_answer: bool,
    budget: Option<usize>,
) -> PyResult<Trace> {
    let cond = parse_condition(condition)?;
    let mut rng = generate::Rng::new(seed, 0);
    let r = traces::synthesize(&numbers, target, cond, &mut rng, wrong_answer, budget);
    wrap_trace(r, numbers, target, cond, wrong_answer)
}

/// One trace per puzzle in parallel (GIL released); trace `i` uses stream `i` of `seed`.
#[pyfunction]
#[pyo3(signature = (puzzles, condition, *, seed, wrong_answer = false, budget = None))]
fn synthesize_traces(
    py: Python<'_>,
    puzzles: Vec<Puzzle>,
    condition: &str,
    seed: u64,
    wrong_answer: bool,
    budget: Option<usize>,
) -> PyResult<Vec<Trace>> {
    let cond = parse_condition(condition)?;
    let items: Vec<(Vec<i64>, i64)> = puzzles
        .into_iter()
        .map(|p| (p.inner.numbers, p.inner.target))
        .collect();
    let results = py.detach(|| traces::synthesize_batch(&items, cond, seed, wrong_answer, budget));
    items
        .into_iter()
        .zip(results)
        .enumerate()
        .map(|(i, ((numbers, target), r))| {
            wrap_trace(r, numbers, target, cond, wrong_answer)
                .map_err(|e| puzzle_err(format!("puzzle {i}: {}", e.value(py))))
        })
        .collect()
}

#[pymodule]
#[pyo3(name = "_core")]
fn cogstar_core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CogstarError", py.get_type::<CogstarError>())?;
    for class in [
        &EXPRESSION_ERROR,
        &PUZZLE_ERROR,
        &GENERATE_ERROR,
        &ARGUMENT_ERROR,
    ] {
        m.add(class.name, class.get(py)?.bind(py))?;
    }
    let names: Vec<&str> = behaviors::Behavior::ALL.iter().map(|b| b.name()).collect();
    m.add("BEHAVIORS", PyTuple::new(py, names)?)?;
    m.add("MAX_EXPRESSION_BYTES", expr::MAX_LEN)?;
    m.add("MAX_EXPRESSION_DEPTH", expr::MAX_DEPTH)?;
    m.add_class::<Expr>()?;
    m.add_class::<Outcome>()?;
    m.add_class::<Score>()?;
    m.add_class::<ScoreBatch>()?;
    m.add_class::<Puzzle>()?;
    m.add_function(wrap_pyfunction!(parse_expression, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_form, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(score_batch, m)?)?;
    m.add_function(wrap_pyfunction!(score_completions, m)?)?;
    m.add_function(wrap_pyfunction!(solve, m)?)?;
    m.add_function(wrap_pyfunction!(count_solutions, m)?)?;
    m.add_function(wrap_pyfunction!(is_solvable, m)?)?;
    m.add_function(wrap_pyfunction!(generate_puzzles, m)?)?;
    m.add_function(wrap_pyfunction!(split_puzzles, m)?)?;
    m.add_class::<BehaviorCounts>()?;
    m.add_function(wrap_pyfunction!(count_behaviors_rules, m)?)?;
    m.add_function(wrap_pyfunction!(count_behaviors_rules_batch, m)?)?;
    m.add_class::<Trace>()?;
    m.add_function(wrap_pyfunction!(synthesize_trace, m)?)?;
    m.add_function(wrap_pyfunction!(synthesize_traces, m)?)?;
    Ok(())
}
