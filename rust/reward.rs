//! Countdown reward: one response in, a [`Score`] out — value, typed outcome,
//! the extracted answer and its numeric result. A malformed response is data
//! (an [`Outcome`]), never an error.
//!
//! Two modes:
//! * [`Mode::TinyZero`] reproduces the reward TinyZero (and so the paper) used,
//!   score for score, on every response the original finishes scoring: text
//!   after the first `Assistant:` (else `<|im_start|>assistant`), last line
//!   only, last `<answer>…</answer>` on it, Unicode-digit multiset check,
//!   character whitelist, Python `eval` semantics (see [`crate::pyeval`]),
//!   `|value - target| < 1e-5`. Where the original hangs or crashes it returns
//!   promptly with the format score and [`Outcome::TooLarge`].
//! * [`Mode::Strict`] is exact: the last `<answer>…</answer>` anywhere after the
//!   assistant marker (or in the whole text when there is none), surrounding
//!   whitespace ignored, parsed by the strict grammar of [`crate::expr`]
//!   (integers, `+ - * /`, parentheses), exact rational value equal to the target.

use std::sync::LazyLock;

use memchr::memmem;
use rayon::prelude::*;

use crate::expr;
use crate::pyeval::{self, Failure, Fast, PyValue};
use crate::unicode_tables::{DIGIT_ZEROS, PY_WHITESPACE};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    TinyZero,
    Strict,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Mode> {
        match name {
            "tinyzero" => Some(Mode::TinyZero),
            "strict" => Some(Mode::Strict),
            _ => None,
        }
    }
}

/// What happened to one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The answer uses the numbers exactly once and reaches the target.
    Correct,
    /// Well-formed answer with the right numbers, but another value.
    WrongValue,
    /// The answer's numbers are not exactly the puzzle's numbers.
    WrongNumbers,
    /// The answer is not an expression the mode accepts (syntax, characters).
    Unparsable,
    /// Evaluation failed: division by zero, or (TinyZero) a Python `TypeError`.
    EvalError,
    /// A value or expression beyond the limits, where the original overflows or hangs.
    TooLarge,
    /// No complete `<answer>…</answer>` where the mode looks for one.
    NoAnswer,
    /// TinyZero only: an answer exists, but not on the last line (it scores 0).
    AnswerNotOnLastLine,
    /// TinyZero only: neither `Assistant:` nor `<|im_start|>assistant` occurs.
    NoAssistant,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Correct,
        Outcome::WrongValue,
        Outcome::WrongNumbers,
        Outcome::Unparsable,
        Outcome::EvalError,
        Outcome::TooLarge,
        Outcome::NoAnswer,
        Outcome::AnswerNotOnLastLine,
        Outcome::NoAssistant,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::WrongValue => "wrong_value",
            Outcome::WrongNumbers => "wrong_numbers",
            Outcome::Unparsable => "unparsable",
            Outcome::EvalError => "eval_error",
            Outcome::TooLarge => "too_large",
            Outcome::NoAnswer => "no_answer",
            Outcome::AnswerNotOnLastLine => "answer_not_last_line",
            Outcome::NoAssistant => "no_assistant",
        }
    }
}

/// Reward settings shared by a batch.
#[derive(Clone, Copy, Debug)]
pub struct ScoreConfig {
    pub mode: Mode,
    pub format_score: f64,
    pub correct_score: f64,
}

impl ScoreConfig {
    /// The score for an outcome: its value follows from the outcome alone (correct
    /// score, 0 when no answer was found where the mode looks, format score otherwise).
    fn grade(
        &self,
        outcome: Outcome,
        answer_span: Option<(usize, usize)>,
        result: Option<f64>,
    ) -> Score {
        let value = match outcome {
            Outcome::Correct => self.correct_score,
            Outcome::NoAnswer | Outcome::AnswerNotOnLastLine | Outcome::NoAssistant => 0.0,
            _ => self.format_score,
        };
        Score {
            value,
            outcome,
            answer_span,
            result,
        }
    }
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            mode: Mode::TinyZero,
            format_score: 0.1,
            correct_score: 1.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub value: f64,
    pub outcome: Outcome,
    /// Byte range of the extracted (stripped) answer in the scored text, if one
    /// was found; [`Score::answer`] slices it out. A range, not a copy, so a
    /// batch allocates nothing per response.
    pub answer_span: Option<(usize, usize)>,
    /// The answer's numeric value as a float, when it evaluated to a real number.
    pub result: Option<f64>,
}

impl Score {
    /// The extracted answer, given the text this score was computed from.
    pub fn answer<'t>(&self, text: &'t str) -> Option<&'t str> {
        self.answer_span.map(|(s, e)| &text[s..e])
    }
}

/// Byte range of `part` (a subslice of `text`) within `text`.
fn span(text: &str, part: &str) -> (usize, usize) {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    (start, start + part.len())
}

const ASSISTANT: &[u8] = b"Assistant:";
const IM_ASSISTANT: &[u8] = b"<|im_start|>assistant";
const OPEN: &[u8] = b"<answer>";
const CLOSE: &[u8] = b"</answer>";

// Substring searchers are built once: building one costs about as much as a search.
static FIND_ASSISTANT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(ASSISTANT));
static FIND_IM_ASSISTANT: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(IM_ASSISTANT));
static FIND_OPEN: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(OPEN));
static FIND_CLOSE: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(CLOSE));

/// Score one response.
pub fn score(text: &str, numbers: &[i64], target: i64, cfg: &ScoreConfig) -> Score {
    match cfg.mode {
        Mode::TinyZero => score_tinyzero(text, numbers, target, cfg),
        Mode::Strict => score_strict(text, numbers, target, cfg),
    }
}

/// Score a completion alone: the reward of `prompt + completion` for any prompt that ends
/// after its `Assistant:` marker with no `<answer>` tag (cogstar's and TinyZero's prompts),
/// without searching for the marker. Spans are relative to `completion`.
pub fn score_completion(
    completion: &str,
    numbers: &[i64],
    target: i64,
    cfg: &ScoreConfig,
) -> Score {
    match cfg.mode {
        Mode::TinyZero => score_tinyzero_after(completion, completion, numbers, target, cfg),
        Mode::Strict => score_strict_after(completion, completion, numbers, target, cfg),
    }
}

/// Score a batch in parallel (rayon; `RAYON_NUM_THREADS` is respected).
/// `numbers[i]` and `targets[i]` belong to `texts[i]`.
pub fn score_batch<S: AsRef<str> + Sync, N: AsRef<[i64]> + Sync>(
    texts: &[S],
    numbers: &[N],
    targets: &[i64],
    cfg: &ScoreConfig,
) -> Vec<Score> {
    batch(texts, numbers, targets, cfg, score)
}

/// [`score_completion`] over a batch, in parallel as [`score_batch`].
pub fn score_completions<S: AsRef<str> + Sync, N: AsRef<[i64]> + Sync>(
    completions: &[S],
    numbers: &[N],
    targets: &[i64],
    cfg: &ScoreConfig,
) -> Vec<Score> {
    batch(completions, numbers, targets, cfg, score_completion)
}

fn batch<S: AsRef<str> + Sync, N: AsRef<[i64]> + Sync>(
    texts: &[S],
    numbers: &[N],
    targets: &[i64],
    cfg: &ScoreConfig,
    each: fn(&str, &[i64], i64, &ScoreConfig) -> Score,
) -> Vec<Score> {
    assert!(texts.len() == numbers.len() && texts.len() == targets.len());
    let one = |i: usize| each(texts[i].as_ref(), numbers[i].as_ref(), targets[i], cfg);
    // Small batches, or a pool of one thread: no hand-off to a worker at all.
    if texts.len() < 64 || rayon::current_num_threads() == 1 {
        return (0..texts.len()).map(one).collect();
    }
    (0..texts.len())
        .into_par_iter()
        .with_min_len(32)
        .map(one)
        .collect()
}

fn text_after_marker(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    if let Some(i) = FIND_ASSISTANT.find(b) {
        return Some(&text[i + ASSISTANT.len()..]);
    }
    FIND_IM_ASSISTANT
        .find(b)
        .map(|i| &text[i + IM_ASSISTANT.len()..])
}

/// Byte range of the last `<answer>(.*?)</answer>` group in `line`, as Python's
/// `re.finditer` would find it (`line` holds no `\n`, so `.` matches all of it).
fn last_answer_on_line(line: &str) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let (open, close) = (&*FIND_OPEN, &*FIND_CLOSE);
    let mut pos = 0;
    let mut last = None;
    while let Some(s) = open.find(&b[pos..]) {
        let start = pos + s + OPEN.len();
        match close.find(&b[start..]) {
            Some(e) => {
                last = Some((start, start + e));
                pos = start + e + CLOSE.len();
            }
            // No closing tag after this opening: none after any later one either.
            None => break,
        }
    }
    last
}

/// Whether some line of `text` holds `<answer>` followed on the same line by `</answer>`
/// (one pass over the opening tags, not a search per line).
fn answer_on_some_line(text: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(s) = FIND_OPEN.find(&text[pos..]) {
        let start = pos + s + OPEN.len();
        let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
        if FIND_CLOSE.find(&text[start..end]).is_some() {
            return true;
        }
        pos = start;
    }
    false
}

fn is_py_whitespace(c: char) -> bool {
    PY_WHITESPACE.binary_search(&(c as u32)).is_ok()
}

/// The value of `c` if it is a Unicode decimal digit (Python's `\d`).
fn digit_value(c: char) -> Option<u32> {
    let cp = c as u32;
    if c.is_ascii() {
        return c.to_digit(10);
    }
    let i = DIGIT_ZEROS.partition_point(|&z| z <= cp);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    (cp - zero < 10).then_some(cp - zero)
}

/// Python's `str.strip()` with no arguments.
fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

/// Puzzles this small are compared without touching the heap.
const STACK_NUMBERS: usize = 16;

/// Whether `found` (sorted in place) is exactly the multiset `numbers`.
fn same_numbers(found: &mut [u64], numbers: &[i64]) -> bool {
    if found.len() != numbers.len() || numbers.iter().any(|&n| n < 0) {
        return false;
    }
    found.sort_unstable();
    let (mut stack, mut heap) = ([0u64; STACK_NUMBERS], Vec::new());
    let want: &mut [u64] = if numbers.len() <= STACK_NUMBERS {
        &mut stack[..numbers.len()]
    } else {
        heap.resize(numbers.len(), 0);
        &mut heap
    };
    for (w, &n) in want.iter_mut().zip(numbers) {
        *w = n as u64;
    }
    want.sort_unstable();
    want == found
}

/// `sorted(int(r) for r in re.findall(r'\d+', answer)) == sorted(numbers)`.
fn numbers_match(answer: &str, numbers: &[i64]) -> bool {
    let (mut stack, mut heap) = ([0u64; STACK_NUMBERS], Vec::new());
    let found: &mut [u64] = if numbers.len() <= STACK_NUMBERS {
        &mut stack[..numbers.len()]
    } else {
        heap.resize(numbers.len(), 0);
        &mut heap
    };
    match digit_runs(answer, found) {
        Some(count) => same_numbers(&mut found[..count], numbers),
        None => false,
    }
}

/// CPython 3.11's `int(str)` refuses strings of more digits than this
/// (`sys.get_int_max_str_digits()`), which the original counts as a mismatch.
const PY_INT_MAX_STR_DIGITS: usize = 4300;

/// Values of the maximal runs of Unicode digits, into `out`; `None` when there
/// are more runs than `out` holds or a run exceeds u64 (then it equals no
/// number) or has more digits than Python's `int()` accepts.
fn digit_runs(answer: &str, out: &mut [u64]) -> Option<usize> {
    if answer.is_ascii() {
        digit_runs_of(answer.bytes().map(|b| (b as char).to_digit(10)), out)
    } else {
        digit_runs_of(answer.chars().map(digit_value), out)
    }
}

fn digit_runs_of(digits: impl Iterator<Item = Option<u32>>, out: &mut [u64]) -> Option<usize> {
    let mut count = 0;
    let mut current: Option<u64> = None; // Some while inside a run
    let mut overflow = false;
    let mut run_len = 0;
    for digit in digits {
        match digit {
            Some(d) => {
                run_len += 1;
                if run_len > PY_INT_MAX_STR_DIGITS {
                    return None;
                }
                let v = current.unwrap_or(0);
                match v.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
                    Some(v) => current = Some(v),
                    None => {
                        overflow = true;
                        current = Some(0);
                    }
                }
            }
            None => {
                run_len = 0;
                if let Some(v) = current.take() {
                    if overflow || count == out.len() {
                        return None;
                    }
                    out[count] = v;
                    count += 1;
                }
            }
        }
    }
    if let Some(v) = current {
        if overflow || count == out.len() {
            return None;
        }
        out[count] = v;
        count += 1;
    }
    Some(count)
}

/// `re.match(r'^[\d+\-*/().\s]+$', answer)`.
fn whitelisted(answer: &str) -> bool {
    if answer.is_ascii() {
        // The common case, byte by byte: ASCII digits, operators, ASCII whitespace
        // (Python's \s also takes \x1c-\x1f).
        return !answer.is_empty()
            && answer.bytes().all(|b| {
                matches!(
                    b,
                    b'0'..=b'9' | b'+' | b'-' | b'*' | b'/' | b'(' | b')' | b'.'
                ) || matches!(b, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
            });
    }
    !answer.is_empty()
        && answer.chars().all(|c| {
            matches!(c, '+' | '-' | '*' | '/' | '(' | ')' | '.')
                || digit_value(c).is_some()
                || is_py_whitespace(c)
        })
}

fn score_tinyzero(text: &str, numbers: &[i64], target: i64, cfg: &ScoreConfig) -> Score {
    let Some(rest) = text_after_marker(text) else {
        return cfg.grade(Outcome::NoAssistant, None, None);
    };
    score_tinyzero_after(text, rest, numbers, target, cfg)
}

/// The TinyZero reward of `text` whose response (what follows the marker) is `rest`, a
/// suffix of `text`.
fn score_tinyzero_after(
    text: &str,
    rest: &str,
    numbers: &[i64],
    target: i64,
    cfg: &ScoreConfig,
) -> Score {
    let miss = |outcome| cfg.grade(outcome, None, None);
    let line_start = memchr::memrchr(b'\n', rest.as_bytes()).map_or(0, |i| i + 1);
    let line = &rest[line_start..];
    let Some((s, e)) = last_answer_on_line(line) else {
        let elsewhere = answer_on_some_line(&rest.as_bytes()[..line_start]);
        return miss(if elsewhere {
            Outcome::AnswerNotOnLastLine
        } else {
            Outcome::NoAnswer
        });
    };
    let answer = py_strip(&line[s..e]);
    let fmt = |outcome, result| cfg.grade(outcome, Some(span(text, answer)), result);
    if !numbers_match(answer, numbers) {
        return fmt(Outcome::WrongNumbers, None);
    }
    if !whitelisted(answer) {
        return fmt(Outcome::Unparsable, None);
    }
    // abs(result - target) < 1e-5, as Python computes it for each type.
    let (close, result) = match pyeval::fast_eval(answer) {
        Some(Fast::I(i)) => (i == target, Some(i as f64)),
        Some(Fast::F(f)) => ((f - target as f64).abs() < 1e-5, Some(f)),
        None => match pyeval::eval(answer) {
            Ok(v) => match close_to_target(&v, target) {
                Ok(pair) => pair,
                Err(outcome) => return fmt(outcome, None),
            },
            Err(Failure::Syntax) => return fmt(Outcome::Unparsable, None),
            Err(Failure::Runtime) => return fmt(Outcome::EvalError, None),
            Err(Failure::TooLarge) => return fmt(Outcome::TooLarge, None),
        },
    };
    let outcome = if close {
        Outcome::Correct
    } else {
        Outcome::WrongValue
    };
    fmt(outcome, result)
}

/// Whether a fully evaluated value is within 1e-5 of the target (and its float
/// value when it has one), or the outcome when Python's comparison itself fails.
fn close_to_target(value: &PyValue, target: i64) -> Result<(bool, Option<f64>), Outcome> {
    match value {
        PyValue::Int(i) => Ok((
            *i == num_bigint::BigInt::from(target),
            pyeval::int_to_float(i).ok(),
        )),
        PyValue::Float(f) => Ok(((f - target as f64).abs() < 1e-5, Some(*f))),
        PyValue::Complex(re, im) => {
            let (dr, di) = (re - target as f64, *im);
            let d = dr.hypot(di);
            if d.is_infinite() && dr.is_finite() && di.is_finite() {
                return Err(Outcome::TooLarge); // "absolute value too large"
            }
            Ok((d < 1e-5, None))
        }
        // abs(() - target) is a TypeError.
        PyValue::Other => Err(Outcome::EvalError),
    }
}

fn score_strict(text: &str, numbers: &[i64], target: i64, cfg: &ScoreConfig) -> Score {
    score_strict_after(
        text,
        text_after_marker(text).unwrap_or(text),
        numbers,
        target,
        cfg,
    )
}

fn score_strict_after(
    text: &str,
    rest: &str,
    numbers: &[i64],
    target: i64,
    cfg: &ScoreConfig,
) -> Score {
    let b = rest.as_bytes();
    let found = memmem::rfind(b, CLOSE)
        .and_then(|e| memmem::rfind(&b[..e], OPEN).map(|s| (s + OPEN.len(), e)));
    let Some((s, e)) = found else {
        return cfg.grade(Outcome::NoAnswer, None, None);
    };
    let answer = rest[s..e].trim();
    let fmt = |outcome, result| cfg.grade(outcome, Some(span(text, answer)), result);
    let tree = match expr::parse(answer) {
        Ok(t) => t,
        Err(err)
            if matches!(
                err.kind,
                expr::ExprErrorKind::TooLong { .. } | expr::ExprErrorKind::TooDeep
            ) =>
        {
            return fmt(Outcome::TooLarge, None)
        }
        Err(_) => return fmt(Outcome::Unparsable, None),
    };
    if !same_numbers(&mut expr::numbers(&tree), numbers) {
        return fmt(Outcome::WrongNumbers, None);
    }
    match expr::evaluate(&tree) {
        Err(err) if err.kind == expr::ExprErrorKind::DivisionByZero => {
            fmt(Outcome::EvalError, None)
        }
        Err(_) => fmt(Outcome::TooLarge, None),
        Ok(v) => {
            let correct = v == crate::rational::Rational::integer(target as i128);
            let outcome = if correct {
                Outcome::Correct
            } else {
                Outcome::WrongValue
            };
            fmt(outcome, Some(v.to_f64()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(text: &str, numbers: &[i64], target: i64) -> (f64, &'static str) {
        let s = score(text, numbers, target, &ScoreConfig::default());
        (s.value, s.outcome.label())
    }

    fn strict(text: &str, numbers: &[i64], target: i64) -> (f64, &'static str) {
        let cfg = ScoreConfig {
            mode: Mode::Strict,
            ..ScoreConfig::default()
        };
        let s = score(text, numbers, target, &cfg);
        (s.value, s.outcome.label())
    }

    #[test]
    fn tinyzero_outcomes() {
        let n = [44, 19, 35];
        assert_eq!(
            tz("Assistant: <answer>(44 + 19) + 35</answer>", &n, 98),
            (1.0, "correct")
        );
        assert_eq!(
            tz("Assistant: <answer>44 + 19 - 35</answer>", &n, 98),
            (0.1, "wrong_value")
        );
        assert_eq!(
            tz("Assistant: <answer>44 + 19</answer>", &n, 98),
            (0.1, "wrong_numbers")
        );
        assert_eq!(
            tz("Assistant: <answer>44 + 19 + 35 x</answer>", &n, 98),
            (0.1, "unparsable")
        );
        assert_eq!(
            tz("Assistant: <answer>44 + (19 +) 35</answer>", &n, 98),
            (0.1, "unparsable")
        );
        assert_eq!(
            tz(
                "Assistant: <answer>44 / (19 - 19) + 35</answer>",
                &[44, 19, 19, 35],
                1
            ),
            (0.1, "eval_error")
        );
        assert_eq!(tz("Assistant: thinking", &n, 98), (0.0, "no_answer"));
        assert_eq!(
            tz("Assistant: <answer>44 + 19 + 35</answer>\n", &n, 98),
            (0.0, "answer_not_last_line")
        );
        assert_eq!(
            tz("<answer>44 + 19 + 35</answer>", &n, 98),
            (0.0, "no_assistant")
        );
        assert_eq!(
            tz(
                "<|im_start|>assistant\n<answer>44 + 19 + 35</answer>",
                &n,
                98
            ),
            (1.0, "correct")
        );
        assert_eq!(
            tz(
                "Assistant: <answer>76**61**51**20</answer>",
                &[76, 61, 51, 20],
                1
            ),
            (0.1, "too_large")
        );
    }

    #[test]
    fn tinyzero_quirks_are_kept() {
        // Glued decimals count as two numbers: 1.5 "uses" 1 and 5.
        assert_eq!(
            tz("Assistant: <answer>1.5 * 2</answer>", &[1, 5, 2], 3),
            (1.0, "correct")
        );
        // The last of several answers on the line wins.
        assert_eq!(
            tz(
                "Assistant: <answer>1+2</answer> <answer>1*2</answer>",
                &[1, 2],
                3
            ),
            (0.1, "wrong_value")
        );
        // Unicode digits pass the numbers check but are a syntax error for eval.
        assert_eq!(
            tz("Assistant: <answer>\u{663}+1</answer>", &[3, 1], 4),
            (0.1, "unparsable")
        );
        // Whitespace around the answer is stripped, including Python-only whitespace.
        assert_eq!(
            tz("Assistant: <answer>\x1c 1+2 \u{3000}</answer>", &[1, 2], 3),
            (1.0, "correct")
        );
        // Floor division and powers are Python's.
        assert_eq!(
            tz("Assistant: <answer>7//2</answer>", &[7, 2], 3),
            (1.0, "correct")
        );
        assert_eq!(
            tz("Assistant: <answer>2**3</answer>", &[2, 3], 8),
            (1.0, "correct")
        );
    }

    #[test]
    fn strict_outcomes() {
        let n = [44, 19, 35];
        assert_eq!(
            strict("<answer> 44 + 19 + 35 </answer>\n", &n, 98),
            (1.0, "correct")
        );
        assert_eq!(
            strict("Assistant: <answer>\n44 + 19 + 35\n</answer>\n\n", &n, 98),
            (1.0, "correct")
        );
        assert_eq!(
            strict("<answer>1.5 * 2</answer>", &[1, 5, 2], 3),
            (0.1, "unparsable")
        );
        assert_eq!(
            strict("<answer>2 ** 3</answer>", &[2, 3], 8),
            (0.1, "unparsable")
        );
        assert_eq!(
            strict("<answer>-44 + 19 + 35</answer>", &n, 10),
            (0.1, "unparsable")
        );
        assert_eq!(
            strict("<answer>44 + 19</answer>", &n, 63),
            (0.1, "wrong_numbers")
        );
        assert_eq!(
            strict("<answer>44 / (19 - 19) + 35</answer>", &[44, 19, 19, 35], 1),
            (0.1, "eval_error")
        );
        assert_eq!(strict("no tags", &n, 98), (0.0, "no_answer"));
        // Exact: 1/3 * 3 is 1, no float tolerance needed or allowed.
        assert_eq!(
            strict("<answer>1 / 3 * 3</answer>", &[1, 3, 3], 1),
            (1.0, "correct")
        );
    }

    #[test]
    fn batch_equals_map() {
        let texts: Vec<String> = (0..300)
            .map(|i| format!("Assistant: <answer>{} + {}</answer>", i % 7, i % 5))
            .collect();
        let numbers: Vec<Vec<i64>> = (0..300).map(|i| vec![i % 7, i % 5]).collect();
        let targets: Vec<i64> = (0..300).map(|i| (i % 11) as i64).collect();
        let cfg = ScoreConfig::default();
        let batch = score_batch(&texts, &numbers, &targets, &cfg);
        for i in 0..300 {
            assert_eq!(batch[i], score(&texts[i], &numbers[i], targets[i], &cfg));
        }
    }

    #[test]
    fn digit_table() {
        assert_eq!(digit_value('7'), Some(7));
        assert_eq!(digit_value('\u{663}'), Some(3));
        assert_eq!(digit_value('\u{FF19}'), Some(9));
        assert_eq!(digit_value('x'), None);
        assert_eq!(digit_value('\u{B2}'), None); // superscript two is not Nd
    }
}
