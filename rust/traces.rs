//! Behavior-conditioned reasoning traces, written from an actual search of the puzzle.
//!
//! A trace is a record of moves the synthesiser really makes on the puzzle, under
//! classic rules (non-negative integers, exact division), so every arithmetic step
//! written is correct:
//!
//! * **dead ends**: a random forward line that uses up the numbers without reaching
//!   the target; the trace then starts again from the original numbers or *goes
//!   back* to the state after an earlier step of that line (backtracking);
//! * **verdicts**: the value a line ends on held against the target (`31 is too
//!   high`), or a value against the subgoal being pursued (verification);
//! * **subgoals**: an intermediate value that would finish the puzzle with one
//!   remaining number, named and then pursued (`let's aim for 12 first`); a failed
//!   pursuit is a real attempt that misses it;
//! * **backward steps**: undoing the last operation from the target (`24 / 3 = 8`),
//!   repeatedly while a number can be peeled off; a dead backward line ends on a
//!   needed value that the remaining numbers cannot make (checked by the solver);
//! * the **solution**: a line that reaches the target, found by a seeded search.
//!
//! With `wrong_answer` (the `no_positive` control), a behavior condition's trace is
//! the same attempt ending on a line that reaches the target *from the numbers used
//! wrongly*: one (or two) left out, or one used more often than given. It is
//! written, checked (`..., exactly the target`) and answered as a solution is, so
//! the trace believes it has succeeded, and every step is still true arithmetic.
//! Only a puzzle that allows neither slip settles on a near miss instead.
//! `negative_control`'s wrong variant is a plain line that misses.
//!
//! Each condition uses only the moves it asks for (see [`Condition`]). The counts
//! of each behavior are kept as the moves are made; they are the ground truth
//! that the rule-based counter ([`crate::behaviors`]) must read back exactly.

use crate::behaviors::Counts;
use crate::generate::Rng;
use crate::solver::{self, Rules};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    AllStrategies,
    OnlyBacktracking,
    BacktrackingVerification,
    BacktrackingSubgoal,
    BacktrackingBackward,
    NegativeControl,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::AllStrategies,
        Condition::OnlyBacktracking,
        Condition::BacktrackingVerification,
        Condition::BacktrackingSubgoal,
        Condition::BacktrackingBackward,
        Condition::NegativeControl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::AllStrategies => "all_strategies",
            Condition::OnlyBacktracking => "only_backtracking",
            Condition::BacktrackingVerification => "backtracking_verification",
            Condition::BacktrackingSubgoal => "backtracking_subgoal",
            Condition::BacktrackingBackward => "backtracking_backward",
            Condition::NegativeControl => "negative_control",
        }
    }

    pub fn parse(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.name() == name)
    }

    fn verification(self) -> bool {
        matches!(
            self,
            Condition::AllStrategies | Condition::BacktrackingVerification
        )
    }

    fn subgoal(self) -> bool {
        matches!(
            self,
            Condition::AllStrategies | Condition::BacktrackingSubgoal
        )
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Condition::AllStrategies | Condition::BacktrackingBackward
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The completion: `<think>` reasoning `</think>` then `<answer>expr</answer>`.
    pub text: String,
    /// Ground-truth number of each behavior in `text`.
    pub counts: Counts,
    /// The expression inside the answer tag.
    pub answer: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceError {
    Numbers(String),
    Unsolvable { numbers: Vec<i64>, target: i64 },
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::Numbers(m) => f.write_str(m),
            TraceError::Unsolvable { numbers, target } => write!(
                f,
                "{numbers:?} cannot reach {target} under classic rules (non-negative integers, \
                 exact division); traces are written for solvable puzzles only"
            ),
        }
    }
}

impl std::error::Error for TraceError {}

/// Traces are for priming-sized puzzles: small numbers, few of them.
pub const MAX_TRACE_NUMBERS: usize = 6;
pub const MAX_TRACE_VALUE: i64 = 10_000;
const MAX_VALUE: i64 = 1_000_000;

// ---------------------------------------------------------------------------
// Expression trees under classic rules
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Tree {
    Leaf(i64),
    Node(Box<Tree>, u8, Box<Tree>, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct St {
    a: i64,
    op: u8,
    b: i64,
    r: i64,
}

impl St {
    fn text(&self) -> String {
        format!("{} {} {} = {}", self.a, self.op as char, self.b, self.r)
    }
}

impl Tree {
    fn value(&self) -> i64 {
        match self {
            Tree::Leaf(v) => *v,
            Tree::Node(_, _, _, v) => *v,
        }
    }

    fn print(&self) -> String {
        match self {
            Tree::Leaf(v) => v.to_string(),
            Tree::Node(a, op, b, _) => {
                let side = |t: &Tree| match t {
                    Tree::Leaf(v) => v.to_string(),
                    node => format!("({})", node.print()),
                };
                format!("{} {} {}", side(a), *op as char, side(b))
            }
        }
    }

    /// The steps in the order they are computed (post-order).
    fn steps(&self, out: &mut Vec<St>) {
        if let Tree::Node(a, op, b, r) = self {
            a.steps(out);
            b.steps(out);
            out.push(St {
                a: a.value(),
                op: *op,
                b: b.value(),
                r: *r,
            });
        }
    }

    fn leaves(&self, out: &mut Vec<i64>) {
        match self {
            Tree::Leaf(v) => out.push(*v),
            Tree::Node(a, _, b, _) => {
                a.leaves(out);
                b.leaves(out);
            }
        }
    }
}

/// `a op b` under classic rules. Unless `trivial`, skip moves that leave an operand
/// unchanged or make 0 (`x * 1`, `x - x`): solutions may need them, dead ends never do.
fn combine(a: i64, op: u8, b: i64, trivial: bool) -> Option<i64> {
    let r = match op {
        b'+' => a + b,
        b'-' if a >= b => a - b,
        b'*' => a * b,
        b'/' if b > 0 && a % b == 0 => a / b,
        _ => return None,
    };
    let plain = r != a && r != b && r > 0;
    ((trivial || plain) && r <= MAX_VALUE).then_some(r)
}

/// Every legal merge of two items: `(i, j, op, result)` with `items[i] op items[j]`.
fn merges(items: &[Tree], trivial: bool) -> Vec<(usize, usize, u8, i64)> {
    let mut out = Vec::new();
    for i in 0..items.len() {
        for j in 0..items.len() {
            if i == j {
                continue;
            }
            let (a, b) = (items[i].value(), items[j].value());
            for op in [b'+', b'-', b'*', b'/'] {
                if matches!(op, b'+' | b'*') && i > j {
                    continue;
                }
                if let Some(r) = combine(a, op, b, trivial) {
                    out.push((i, j, op, r));
                }
            }
        }
    }
    out
}

fn merged(items: &[Tree], i: usize, j: usize, op: u8, r: i64) -> Vec<Tree> {
    let mut rest: Vec<Tree> = items
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != i && *k != j)
        .map(|(_, t)| t.clone())
        .collect();
    rest.push(Tree::Node(
        Box::new(items[i].clone()),
        op,
        Box::new(items[j].clone()),
        r,
    ));
    rest
}

fn shuffle<T>(xs: &mut [T], rng: &mut Rng) {
    for i in (1..xs.len()).rev() {
        let j = rng.range(0, i as i64) as usize;
        xs.swap(i, j);
    }
}

/// A solution found by a seeded depth-first search (random move order). With `clean`,
/// no step before the last may already make the target (a reader would take it for
/// the end of the line).
fn find_solution(
    items: &[Tree],
    target: i64,
    rng: &mut Rng,
    budget: &mut u32,
    clean: bool,
) -> Option<Tree> {
    find_solution_where(items, target, rng, budget, clean, &|_| true)
}

/// [`find_solution`] restricted to solutions that `accept` takes.
fn find_solution_where(
    items: &[Tree],
    target: i64,
    rng: &mut Rng,
    budget: &mut u32,
    clean: bool,
    accept: &dyn Fn(&Tree) -> bool,
) -> Option<Tree> {
    if items.len() == 1 {
        return (items[0].value() == target && accept(&items[0])).then(|| items[0].clone());
    }
    let mut moves = merges(items, true);
    shuffle(&mut moves, rng);
    for (i, j, op, r) in moves {
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        if clean && items.len() > 2 && r == target {
            continue;
        }
        let next = merged(items, i, j, op, r);
        if let Some(t) = find_solution_where(&next, target, rng, budget, clean, accept) {
            return Some(t);
        }
    }
    None
}

/// Whether `values` can make `x` under classic rules (every number used).
fn reachable(values: &[i64], x: i64) -> bool {
    match values.len() {
        0 => false,
        1 => values[0] == x,
        _ => solver::is_solvable(values, x, Rules::Classic).unwrap_or(true),
    }
}

/// A random forward line from `items` that uses them all and never produces a value in
/// `avoid` (the target, needed values); its first step does not touch `first_avoid`.
fn dead_line(items: &[Tree], avoid: &[i64], first_avoid: &[i64], rng: &mut Rng) -> Option<Tree> {
    'attempt: for _ in 0..24 {
        let mut state = items.to_vec();
        let mut first = true;
        while state.len() > 1 {
            let mut moves: Vec<_> = merges(&state, false)
                .into_iter()
                .filter(|&(i, j, _, r)| {
                    !avoid.contains(&r)
                        && !(first
                            && (first_avoid.contains(&state[i].value())
                                || first_avoid.contains(&state[j].value())
                                || first_avoid.contains(&r)))
                })
                .collect();
            if moves.is_empty() {
                continue 'attempt;
            }
            shuffle(&mut moves, rng);
            let (i, j, op, r) = moves[0];
            state = merged(&state, i, j, op, r);
            first = false;
        }
        return Some(state.pop().unwrap());
    }
    None
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

fn pick<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options[rng.range(0, options.len() as i64 - 1) as usize]
}

fn list(values: &[i64]) -> String {
    match values {
        [] => String::new(),
        [v] => v.to_string(),
        _ => {
            let head: Vec<String> = values[..values.len() - 1]
                .iter()
                .map(i64::to_string)
                .collect();
            format!("{} and {}", head.join(", "), values[values.len() - 1])
        }
    }
}

fn fill(template: &str, pairs: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in pairs {
        s = s.replace(k, v);
    }
    s
}

struct Writer<'r> {
    rng: &'r mut Rng,
    cond: Condition,
    target: i64,
    numbers: Vec<i64>,
    text: String,
    counts: Counts,
    /// A line of work has been written and ended (so the next new line is a backtrack).
    line_ended: bool,
    has_line: bool,
    /// The value the last written step produced.
    last: Option<i64>,
    subgoals: Vec<i64>,
    backward: Vec<i64>,
    written: Vec<St>,
}

impl Writer<'_> {
    fn say(&mut self, sentence: &str) {
        if !self.text.ends_with('\n') && !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(sentence);
    }

    fn newline(&mut self) {
        self.text.push('\n');
    }

    /// Start a new line of work; counts a backtrack when one has ended, unless the new
    /// line's first step simply carries on from the value the last one reached.
    fn open_line_with(&mut self, first: Option<St>) {
        let carries_on = match (first, self.last) {
            // the reader's rule: a restated step returns to its result; a new one builds
            // on the last value when it uses it
            (Some(s), Some(l)) if self.was_written(s) => s.r == l,
            (Some(s), Some(l)) => s.a == l || s.b == l,
            _ => false,
        };
        if self.has_line && self.line_ended && !carries_on {
            self.counts.backtracking += 1;
        }
        self.has_line = true;
        self.line_ended = false;
    }

    fn open_line(&mut self) {
        self.open_line_with(None);
    }

    fn end_line(&mut self) {
        self.line_ended = true;
    }

    /// The same operation on the same values was written before (a restatement).
    fn was_written(&self, s: St) -> bool {
        self.written.iter().any(|w| {
            w.op == s.op
                && ((w.a == s.a && w.b == s.b)
                    || (matches!(s.op, b'+' | b'*') && w.a == s.b && w.b == s.a))
        })
    }

    fn step(&mut self, st: St, first_in_line: bool) {
        let s = st.text();
        let sentence = if first_in_line {
            fill(
                pick(
                    self.rng,
                    &["{S}.", "Try {S}.", "Start with {S}.", "First, {S}."],
                ),
                &[("{S}", s)],
            )
        } else {
            fill(
                pick(self.rng, &["Then {S}.", "Next, {S}.", "{S}.", "And {S}."]),
                &[("{S}", s)],
            )
        };
        self.say(&sentence);
        self.last = Some(st.r);
        self.written.push(st);
    }

    /// Write a whole forward line (as a new line of work).
    fn forward(&mut self, line: &Tree) {
        let mut steps = Vec::new();
        line.steps(&mut steps);
        self.open_line_with(steps.first().copied());
        for (k, st) in steps.iter().enumerate() {
            self.step(*st, k == 0);
        }
    }

    fn verdict_vs_target(&mut self, r: i64) {
        let t = self.target;
        let options: &[&str] = if r > t {
            &[
                "{R} is too high.",
                "That overshoots {T}.",
                "{R} is too big compared with {T}.",
                "{R} is not {T}.",
            ]
        } else {
            &[
                "{R} is too low.",
                "That falls short of {T}.",
                "{R} is too small compared with {T}.",
                "{R} is not {T}.",
            ]
        };
        let s = fill(
            pick(self.rng, options),
            &[("{R}", r.to_string()), ("{T}", t.to_string())],
        );
        self.say(&s);
        self.counts.verification += 1;
    }

    fn abandon(&mut self) {
        let s = pick(
            self.rng,
            &[
                "Let me try something else.",
                "That leads nowhere.",
                "This is a dead end.",
                "Let me start over.",
            ],
        );
        self.say(s);
    }

    /// End a dead line: a verdict where the condition checks, an abandonment otherwise.
    fn dead_end(&mut self, r: i64) {
        if self.cond.verification() {
            self.verdict_vs_target(r);
            if self.rng.unit() < 0.4 {
                self.abandon();
            }
        } else {
            self.abandon();
        }
        self.end_line();
        self.newline();
    }

    fn name_subgoal(&mut self, x: i64, finisher: i64, rest: &[i64]) {
        let s = fill(
            pick(
                self.rng,
                &[
                    "Let's aim for {X} first, since {X} and {N} can give {T}.",
                    "If we can make {X} from {REST}, {N} finishes it.",
                ],
            ),
            &[
                ("{REST}", list(rest)),
                ("{X}", x.to_string()),
                ("{N}", finisher.to_string()),
                ("{T}", self.target.to_string()),
            ],
        );
        self.say(&s);
        if !self.subgoals.contains(&x) {
            self.subgoals.push(x);
            self.counts.subgoal += 1;
        }
    }

    fn backward_step(&mut self, st: St, first: bool) {
        let s = st.text();
        let sentence = if first {
            fill(
                pick(
                    self.rng,
                    &[
                        "Working backwards, {S}.",
                        "From the target, {S}.",
                        "Undo the last step: {S}.",
                    ],
                ),
                &[("{S}", s)],
            )
        } else {
            fill(
                pick(self.rng, &["Then {S}.", "Undo another step: {S}."]),
                &[("{S}", s)],
            )
        };
        self.say(&sentence);
        self.last = Some(st.r);
        self.written.push(st);
        if !self.backward.contains(&st.r) {
            self.backward.push(st.r);
            self.counts.backward += 1;
        }
    }
}

/// One backward step: undo `node`'s operation from `need`, peeling a leaf number.
/// Returns (the written step, the subtree still to build, the peeled number).
fn peel(node: &Tree, need: i64, from_target: bool) -> Option<(St, Tree, i64)> {
    let Tree::Node(a, op, b, _) = node else {
        return None;
    };
    match (a.as_ref(), *op, b.as_ref()) {
        // C + n = need  →  need - n = C ;  n + C likewise
        (c, b'+', Tree::Leaf(n)) | (Tree::Leaf(n), b'+', c) => Some((
            St {
                a: need,
                op: b'-',
                b: *n,
                r: need - n,
            },
            c.clone(),
            *n,
        )),
        // C * n = need  →  need / n = C
        (c, b'*', Tree::Leaf(n)) | (Tree::Leaf(n), b'*', c) => Some((
            St {
                a: need,
                op: b'/',
                b: *n,
                r: need / n,
            },
            c.clone(),
            *n,
        )),
        // C / n = need  →  need * n = C: a product is not read as backward, so stop
        // n - C = target  →  n - target = C (the gap between a number and the target)
        (Tree::Leaf(n), b'-', c) if from_target => Some((
            St {
                a: *n,
                op: b'-',
                b: need,
                r: n - need,
            },
            c.clone(),
            *n,
        )),
        // C - n = need  →  need + n = C: read as forward, so stop
        _ => None,
    }
}

fn remove_one(values: &mut Vec<i64>, v: i64) {
    if let Some(k) = values.iter().position(|&x| x == v) {
        values.swap_remove(k);
    }
}

/// Synthesize one trace. `budget` is the rough length in characters (None: drawn
/// from 350–1,500 by the seed); `wrong_answer` keeps the behaviors and ends on a
/// wrong final answer (see the module notes: a line that reaches the target from
/// numbers used wrongly, rarely a near miss).
pub fn synthesize(
    numbers: &[i64],
    target: i64,
    cond: Condition,
    rng: &mut Rng,
    wrong_answer: bool,
    budget: Option<usize>,
) -> Result<Trace, TraceError> {
    if !(2..=MAX_TRACE_NUMBERS).contains(&numbers.len()) {
        return Err(TraceError::Numbers(format!(
            "traces are written for 2 to {MAX_TRACE_NUMBERS} numbers, got {}",
            numbers.len()
        )));
    }
    if let Some(v) = numbers
        .iter()
        .chain([&target])
        .find(|&&v| !(1..=MAX_TRACE_VALUE).contains(&v))
    {
        return Err(TraceError::Numbers(format!(
            "trace numbers and targets must be between 1 and {MAX_TRACE_VALUE}, got {v}"
        )));
    }
    let leaves: Vec<Tree> = numbers.iter().map(|&v| Tree::Leaf(v)).collect();
    let mut search_budget = 200_000;
    let solution = find_solution(&leaves, target, rng, &mut search_budget, true)
        .or_else(|| {
            let mut search_budget = 200_000;
            find_solution(&leaves, target, rng, &mut search_budget, false)
        })
        .ok_or_else(|| TraceError::Unsolvable {
            numbers: numbers.to_vec(),
            target,
        })?;
    // Backward conditions work back from the target: among a few solutions the search
    // finds, prefer one whose last operation can be undone by peeling off a number.
    let peelable =
        |t: &Tree| peel(t, target, true).is_some_and(|(st, _, _)| st.r > 0 && st.r != target);
    let mut solution = solution;
    if cond.backward() && !peelable(&solution) {
        let mut search_budget = 600;
        if let Some(t) =
            find_solution_where(&leaves, target, rng, &mut search_budget, true, &peelable)
        {
            solution = t;
        }
    }
    let budget = budget.unwrap_or_else(|| rng.range(350, 1500) as usize);
    let mut w = Writer {
        rng,
        cond,
        target,
        numbers: numbers.to_vec(),
        text: String::from("<think>\n"),
        counts: Counts::default(),
        line_ended: false,
        has_line: false,
        last: None,
        subgoals: Vec::new(),
        backward: Vec::new(),
        written: Vec::new(),
    };
    // The target is a given number: working from it is no sign of backward chaining.
    let target_given = numbers.contains(&target);

    let answer_tree: Tree = if cond == Condition::NegativeControl {
        let line = if wrong_answer {
            dead_line(&leaves, &[target], &[], w.rng).unwrap_or_else(|| solution.clone())
        } else {
            solution.clone()
        };
        let mut steps = Vec::new();
        line.steps(&mut steps);
        for (k, st) in steps.iter().enumerate() {
            w.text.push_str(&format!("Step {}: {}\n", k + 1, st.text()));
        }
        line
    } else {
        let pre = fill(
            pick(
                w.rng,
                &[
                    "We have {NUMS} and need to reach {T}.",
                    "The numbers are {NUMS} and the target is {T}.",
                    "Let me combine {NUMS} into {T}.",
                ],
            ),
            &[("{NUMS}", list(numbers)), ("{T}", target.to_string())],
        );
        w.say(&pre);
        w.newline();
        // Dead ends until the budget is spent (at least one; at most twelve).
        let reserve = 160 + 60 * numbers.len();
        let (mut dead, mut tries) = (0, 0);
        let mut kinds: Vec<u8> = vec![b'f'];
        if cond.subgoal() {
            kinds.push(b's');
        }
        if cond.backward() && !target_given {
            kinds.push(b'b');
        }
        while (dead == 0 || (w.text.len() + reserve < budget && dead < 12)) && tries < 40 {
            let kind = kinds[w.rng.range(0, kinds.len() as i64 - 1) as usize];
            let ok = match kind {
                b's' => dead_subgoal(&mut w, &leaves),
                b'b' => dead_backward(&mut w, &leaves),
                _ => dead_forward(&mut w, &leaves),
            };
            tries += 1;
            dead += usize::from(ok);
        }
        if wrong_answer {
            final_slip(&mut w, &leaves, target_given)
        } else {
            final_solution(&mut w, &solution, target_given);
            solution.clone()
        }
    };
    w.text.push_str("</think>\n<answer>");
    let answer = answer_tree.print();
    w.text.push_str(&answer);
    w.text.push_str("</answer>");
    Ok(Trace {
        text: w.text,
        counts: w.counts,
        answer,
    })
}

/// A forward line that misses; sometimes a second try from a step of it ("going back").
fn dead_forward(w: &mut Writer, leaves: &[Tree]) -> bool {
    let avoid = [w.target];
    let first_avoid: Vec<i64> = w
        .last
        .into_iter()
        .chain(w.subgoals.iter().copied())
        .collect();
    let Some(line) = dead_line(leaves, &avoid, &first_avoid, w.rng) else {
        return false;
    };
    w.forward(&line);
    let end = line.value();
    w.dead_end(end);
    // Go back to the state after the first step and change what follows.
    let mut steps = Vec::new();
    line.steps(&mut steps);
    if steps.len() >= 2 && w.rng.unit() < 0.5 {
        let first = steps[0];
        if first.r != end {
            let mut state: Vec<Tree> = leaves.to_vec();
            let (i, j) = find_pair(&state, first.a, first.b);
            state = merged(&state, i, j, first.op, first.r);
            let second = steps[1];
            for _ in 0..6 {
                let Some(rest_line) = dead_line(&state, &[w.target], &[], w.rng) else {
                    break;
                };
                let mut more = Vec::new();
                rest_line.steps(&mut more);
                if let Some(k) = more.iter().position(|s| *s == first) {
                    more.remove(k);
                }
                let resumes = more
                    .first()
                    .is_some_and(|s| *s != second && (s.a == first.r || s.b == first.r));
                if !resumes || rest_line.value() == end {
                    continue;
                }
                w.open_line();
                let lead = fill(
                    pick(w.rng, &["Going back to {S},", "Back to {S},"]),
                    &[("{S}", first.text())],
                );
                w.say(&lead);
                w.text.push_str(&format!(" {}.", more[0].text()));
                w.last = Some(more[0].r);
                w.written.push(more[0]);
                for st in &more[1..] {
                    w.step(*st, false);
                }
                w.dead_end(rest_line.value());
                break;
            }
        }
    }
    true
}

fn find_pair(state: &[Tree], a: i64, b: i64) -> (usize, usize) {
    let i = state.iter().position(|t| t.value() == a).unwrap();
    let j = state
        .iter()
        .enumerate()
        .position(|(k, t)| k != i && t.value() == b)
        .unwrap();
    (i, j)
}

/// Name a subgoal that one number would finish, pursue it and miss.
fn dead_subgoal(w: &mut Writer, leaves: &[Tree]) -> bool {
    let t = w.target;
    let mut candidates = Vec::new();
    for &n in &w.numbers {
        for x in [t - n, t + n, if n > 1 && t % n == 0 { t / n } else { 0 }] {
            if x > 1 && x != t && !w.numbers.contains(&x) && !w.subgoals.contains(&x) {
                candidates.push((x, n));
            }
        }
    }
    shuffle(&mut candidates, w.rng);
    for (x, n) in candidates {
        let mut rest = w.numbers.clone();
        remove_one(&mut rest, n);
        if rest.len() < 2 || reachable(&rest, x) {
            continue;
        }
        let rest_leaves: Vec<Tree> = rest.iter().map(|&v| Tree::Leaf(v)).collect();
        let mut avoid = vec![t, x];
        avoid.extend(w.subgoals.iter().copied());
        let first_avoid: Vec<i64> = w
            .last
            .into_iter()
            .chain(w.subgoals.iter().copied())
            .chain([x])
            .collect();
        let Some(line) = dead_line(&rest_leaves, &avoid, &first_avoid, w.rng) else {
            continue;
        };
        w.name_subgoal(x, n, &rest);
        w.forward(&line);
        if w.cond.verification() {
            let s = format!("{} is not {}.", line.value(), x);
            w.say(&s);
            w.counts.verification += 1;
        }
        w.abandon();
        w.end_line();
        w.newline();
        let _ = leaves;
        return true;
    }
    false
}

/// Work backwards from the target to a needed value the other numbers cannot make.
fn dead_backward(w: &mut Writer, leaves: &[Tree]) -> bool {
    let t = w.target;
    let mut candidates = Vec::new();
    for &n in &w.numbers {
        candidates.push(St {
            a: t,
            op: b'-',
            b: n,
            r: t - n,
        });
        if n > 1 && t % n == 0 {
            candidates.push(St {
                a: t,
                op: b'/',
                b: n,
                r: t / n,
            });
        }
    }
    shuffle(&mut candidates, w.rng);
    for st in candidates {
        if st.r <= 0 || w.backward.contains(&st.r) || Some(st.b) == w.last || Some(t) == w.last {
            continue;
        }
        let mut rest = w.numbers.clone();
        remove_one(&mut rest, st.b);
        if reachable(&rest, st.r) || w.numbers.contains(&st.r) {
            continue;
        }
        w.open_line();
        w.backward_step(st, true);
        let s = format!("{} is out of reach with {}.", st.r, list(&rest));
        w.say(&s);
        let s = pick(
            w.rng,
            &["Back to the target.", "Let me try something else."],
        );
        w.say(s);
        w.end_line();
        w.newline();
        let _ = leaves;
        return true;
    }
    false
}

/// The solution, written the way the condition reasons.
fn final_solution(w: &mut Writer, solution: &Tree, target_given: bool) {
    let t = w.target;
    // Backward conditions: peel numbers off the target while possible.
    let mut chain: Vec<(St, i64)> = Vec::new();
    let mut node = solution.clone();
    let mut need = t;
    if w.cond.backward() && !target_given {
        while let Some((st, sub, n)) = peel(&node, need, chain.is_empty()) {
            let collides = Some(st.a) == w.last && chain.is_empty()
                || Some(st.b) == w.last && chain.is_empty()
                || st.r == t
                || w.backward.contains(&st.r) && !chain.is_empty();
            // `x / 1`, `x - 0` undo nothing: a reader sees the needed value reached, not derived
            if collides || st.r <= 0 || st.r == need {
                break;
            }
            chain.push((st, n));
            need = st.r;
            node = sub;
            // A needed value that is also a given number is not tracked as needed by a
            // reader, so the chain stops there.
            if matches!(node, Tree::Leaf(_)) || w.numbers.contains(&need) {
                break;
            }
        }
    }
    // The forward steps that follow the backward ones: build what is left, then climb back.
    let mut build = Vec::new();
    node.steps(&mut build);
    let mut climb = Vec::new();
    let mut value = node.value();
    for (st, n) in chain.iter().rev() {
        let fwd = match st.op {
            b'/' => St {
                a: value,
                op: b'*',
                b: *n,
                r: value * n,
            },
            _ if st.a == *n => St {
                a: *n,
                op: b'-',
                b: value,
                r: n - value,
            }, // n - C
            _ => St {
                a: value,
                op: b'+',
                b: *n,
                r: value + n,
            },
        };
        climb.push(fwd);
        value = fwd.r;
    }
    let forward: Vec<St> = build.iter().chain(&climb).copied().collect();
    let chain_values: Vec<i64> = chain
        .iter()
        .map(|(st, _)| st.r)
        .filter(|r| !w.numbers.contains(r))
        .collect();
    let mut name_need = w.cond.subgoal() && !chain.is_empty();
    if name_need {
        let mut needed = chain_values.clone();
        needed.push(chain[0].0.r);
        name_need = !reads_as_backward(&forward, &needed, t);
    }
    if !name_need && reads_as_backward(&forward, &chain_values, t) {
        chain.clear(); // the forward part would read as more backward steps: write it forwards
    }
    if !chain.is_empty() {
        w.open_line_with(Some(chain[0].0));
        for (k, (st, _)) in chain.iter().enumerate() {
            w.backward_step(*st, k == 0);
            if k == 0 && name_need {
                let mut rest = Vec::new();
                node_leaves_after(solution, &chain[..1], &mut rest);
                let s = format!("So we need {} from {}.", st.r, list(&rest));
                w.say(&s);
                if !w.subgoals.contains(&st.r) {
                    w.subgoals.push(st.r);
                    w.counts.subgoal += 1;
                }
            }
        }
        if build.is_empty() {
            let s = format!("{} is one of our numbers.", node.value());
            w.say(&s);
        }
        for st in &build {
            w.step(*st, false);
        }
        if w.cond.verification() && !build.is_empty() && name_need && chain.len() == 1 {
            let s = format!("That gives {}, exactly the subgoal.", node.value());
            w.say(&s);
            w.counts.verification += 1;
        }
        for st in &climb {
            w.step(*st, false);
        }
    } else if w.cond.subgoal() {
        // Name the value the last operation needs, reach it, finish.
        let Tree::Node(a, _, b, _) = solution else {
            unreachable!("a solution has a step")
        };
        let (part, other) =
            if matches!(b.as_ref(), Tree::Leaf(_)) || !matches!(a.as_ref(), Tree::Leaf(_)) {
                (a.as_ref(), b.as_ref())
            } else {
                (b.as_ref(), a.as_ref())
            };
        let x = part.value();
        let usable = !matches!(part, Tree::Leaf(_))
            && x != t
            && !w.numbers.contains(&x)
            && Some(x) != w.last;
        let mut all = Vec::new();
        solution.steps(&mut all);
        if usable {
            let mut rest = Vec::new();
            part.leaves(&mut rest);
            let finisher = match other {
                Tree::Leaf(v) => *v,
                node => node.value(),
            };
            // Only name the subgoal when no forward step would read as starting from it.
            if !reads_as_backward(&all, &[x], t) {
                w.name_subgoal(x, finisher, &rest);
            }
        }
        w.forward(solution);
    } else {
        w.forward(solution);
    }
    if w.cond.verification() {
        let s = fill(
            pick(
                w.rng,
                &[
                    "{T}, exactly the target.",
                    "That matches the target.",
                    "That hits the target.",
                ],
            ),
            &[("{T}", t.to_string())],
        );
        w.say(&s);
        w.counts.verification += 1;
    }
    w.newline();
}

/// Whether a reader tracking `needed` values would take one of these forward steps
/// for a backward one: it starts from a needed value without reaching one.
fn reads_as_backward(steps: &[St], needed: &[i64], target: i64) -> bool {
    let mut needed = needed.to_vec();
    for s in steps {
        if let Some(k) = needed.iter().position(|&x| x == s.r) {
            needed.swap_remove(k);
        } else if s.r != target && s.op != b'*' && needed.contains(&s.a) {
            return true;
        }
    }
    false
}

/// Leaves of `solution` other than the numbers peeled by `chain`.
fn node_leaves_after(solution: &Tree, chain: &[(St, i64)], out: &mut Vec<i64>) {
    solution.leaves(out);
    for (_, n) in chain {
        remove_one(out, *n);
    }
    out.sort_unstable();
}

/// How a `wrong_answer` ending uses the numbers wrongly while reaching the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slip {
    /// Leaves a number (or two) out.
    Omits,
    /// Uses a number more often than it is given (alongside, or instead of, another).
    Reuses,
}

/// Sorted multisets a `slip` answer may be built from, shuffled, the more plausible
/// first: leaving one number out before leaving two out.
fn slip_multisets(numbers: &[i64], slip: Slip, rng: &mut Rng) -> Vec<Vec<i64>> {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let mut distinct = sorted.clone();
    distinct.dedup();
    let tiers: Vec<Vec<Vec<i64>>> = match slip {
        Slip::Omits => {
            let without = |drop: &[i64]| {
                let mut rest = sorted.clone();
                for &d in drop {
                    remove_one(&mut rest, d);
                }
                rest.sort_unstable();
                rest
            };
            let one: Vec<Vec<i64>> = distinct.iter().map(|&d| without(&[d])).collect();
            let mut two = Vec::new();
            for (k, &a) in sorted.iter().enumerate() {
                for &b in &sorted[k + 1..] {
                    two.push(without(&[a, b]));
                }
            }
            vec![one, two]
        }
        Slip::Reuses => {
            let mut all = Vec::new();
            for &v in &distinct {
                let mut more = sorted.clone();
                more.push(v);
                all.push(more);
                for &m in distinct.iter().filter(|&&m| m != v) {
                    let mut swapped = sorted.clone();
                    remove_one(&mut swapped, m);
                    swapped.push(v);
                    all.push(swapped);
                }
            }
            // then, less likely slips: any other multiset of the given values (up to one
            // more than given) that uses one more often than given
            let mut more = Vec::new();
            let max = (sorted.len() + 1).min(5);
            let mut stack: Vec<Vec<i64>> = vec![vec![]];
            while let Some(m) = stack.pop() {
                if m.len() >= 2 {
                    let over = m.iter().any(|v| {
                        m.iter().filter(|x| *x == v).count()
                            > sorted.iter().filter(|x| *x == v).count()
                    });
                    if over {
                        more.push(m.clone());
                    }
                }
                if m.len() < max {
                    for &v in distinct
                        .iter()
                        .filter(|&&v| m.last().map_or(true, |&l| v >= l))
                    {
                        let mut next = m.clone();
                        next.push(v);
                        stack.push(next);
                    }
                }
            }
            for m in &mut all {
                m.sort_unstable();
            }
            more.retain(|m| !all.contains(m));
            vec![all, more]
        }
    };
    let mut out: Vec<Vec<i64>> = Vec::new();
    for mut tier in tiers {
        for m in &mut tier {
            m.sort_unstable();
        }
        tier.sort();
        tier.dedup();
        tier.retain(|m| (solver::MIN_NUMBERS..=solver::MAX_NUMBERS).contains(&m.len()));
        shuffle(&mut tier, rng);
        out.extend(tier);
    }
    out
}

/// A line that reaches the target from numbers used wrongly (`slip`), found like a
/// solution and taken only if `accept` takes it (preferring one that `prefer` takes
/// too); `None` when there is none.
fn slip_line(
    numbers: &[i64],
    target: i64,
    slip: Slip,
    accept: &dyn Fn(&Tree) -> bool,
    prefer: &dyn Fn(&Tree) -> bool,
    rng: &mut Rng,
) -> Option<Tree> {
    for multiset in slip_multisets(numbers, slip, rng) {
        if !solver::is_solvable(&multiset, target, Rules::Classic).unwrap_or(false) {
            continue;
        }
        let leaves: Vec<Tree> = multiset.iter().map(|&v| Tree::Leaf(v)).collect();
        let both = |t: &Tree| accept(t) && prefer(t);
        let search = |accept: &dyn Fn(&Tree) -> bool, budget, rng: &mut Rng| {
            let mut budget = budget;
            find_solution_where(&leaves, target, rng, &mut budget, true, accept)
        };
        // Clean lines only: a step that made the target before the last would read as
        // the end of the line.
        let found = search(&both, 600, rng).or_else(|| search(accept, 20_000, rng));
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Whether a line spends numbers to no end: a step makes 1 from one number
/// (`9 / 9`), or a part of it makes one of its own numbers again.
fn spends(t: &Tree) -> bool {
    let Tree::Node(a, op, b, r) = t else {
        return false;
    };
    let mut leaves = Vec::new();
    t.leaves(&mut leaves);
    (*op == b'/' && a.value() == b.value()) || leaves.contains(r) || spends(a) || spends(b)
}

/// `wrong_answer` for the behavior conditions: an attempt that believes it has
/// succeeded. The final line reaches the target with correct arithmetic but uses the
/// numbers wrongly (one left out, or one used more often than given; the kind drawn
/// among those the puzzle allows) and is written, checked and answered exactly as a
/// solution is.
/// Only when the puzzle allows neither does the trace settle on a near miss.
fn final_slip(w: &mut Writer, leaves: &[Tree], target_given: bool) -> Tree {
    let (numbers, target, backward) = (w.numbers.clone(), w.target, w.cond.backward());
    // No step that leaves a value unchanged or makes 0 (`1 - 1 = 0`, `2 + 0 = 2`): a
    // trick to spend a number is no slip a solver makes.
    let plain = |t: &Tree| {
        let mut steps = Vec::new();
        t.steps(&mut steps);
        steps.iter().all(|s| s.r != s.a && s.r != s.b && s.r > 0)
    };
    // Nor, where another line exists: making 1 from one number (`9 / 9 = 1`), getting
    // a number back (`6 * 14 = 84`, `84 / 6 = 14`), or making a value the trace has
    // called out of reach (a dead backward line's): the trace would contradict itself.
    let out_of_reach = w.backward.clone();
    let fits = |t: &Tree| {
        let mut steps = Vec::new();
        t.steps(&mut steps);
        !steps.iter().any(|s| out_of_reach.contains(&s.r))
    };
    let natural = |t: &Tree| plain(t) && fits(t) && !spends(t);
    // Backward conditions prefer a line whose last operation peels a number off.
    let prefer = move |t: &Tree| {
        !backward || peel(t, target, true).is_some_and(|(st, _, _)| st.r > 0 && st.r != target)
    };
    // Most puzzles allow a reuse, about half allow an omission: try the omission first
    // more often, so that neither kind dominates the set.
    let kinds = if w.rng.unit() < 0.7 {
        [Slip::Omits, Slip::Reuses]
    } else {
        [Slip::Reuses, Slip::Omits]
    };
    let mut line = None;
    for accept in [&natural as &dyn Fn(&Tree) -> bool, &plain] {
        line = kinds
            .into_iter()
            .find_map(|slip| slip_line(&numbers, target, slip, accept, &prefer, w.rng));
        if line.is_some() {
            break;
        }
    }
    match line {
        Some(line) => {
            final_solution(w, &line, target_given);
            line
        }
        None => final_wrong(w, leaves),
    }
}

/// The near-miss fallback of `wrong_answer`: settle on a line that misses.
fn final_wrong(w: &mut Writer, leaves: &[Tree]) -> Tree {
    let first_avoid: Vec<i64> = w
        .last
        .into_iter()
        .chain(w.subgoals.iter().copied())
        .collect();
    let line = dead_line(leaves, &[w.target], &first_avoid, w.rng)
        .or_else(|| dead_line(leaves, &[w.target], &[], w.rng))
        .expect("a puzzle with a solution has other lines too");
    w.forward(&line);
    if w.cond.verification() {
        let s = format!(
            "{} is the closest to {} I can find.",
            line.value(),
            w.target
        );
        w.say(&s);
        w.counts.verification += 1;
    } else {
        w.say("I will go with this.");
    }
    w.newline();
    line
}

/// Traces for many puzzles, trace `i` from stream `i` of `seed`.
pub fn synthesize_batch(
    puzzles: &[(Vec<i64>, i64)],
    cond: Condition,
    seed: u64,
    wrong_answer: bool,
    budget: Option<usize>,
) -> Vec<Result<Trace, TraceError>> {
    use rayon::prelude::*;
    puzzles
        .par_iter()
        .enumerate()
        .map(|(i, (numbers, target))| {
            let mut rng = Rng::new(seed, i as u64);
            synthesize(numbers, *target, cond, &mut rng, wrong_answer, budget)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviors::count_behaviors;
    use crate::expr::{evaluate, numbers as expr_numbers, parse};
    use crate::generate::{generate, GenerateConfig};
    use crate::rational::Rational;
    use crate::reward::{score, Outcome, ScoreConfig};

    fn priming_puzzles(n: usize, seed: u64) -> Vec<(Vec<i64>, i64)> {
        let cfg = GenerateConfig {
            sizes: vec![3, 4],
            size_weights: None,
            value_range: (1, 100),
            target_range: (10, 25),
            rules: Rules::Classic,
            solvable: true,
            exclude: vec![],
            numbers_below_target: true,
        };
        generate(n, seed, &cfg)
            .unwrap()
            .into_iter()
            .map(|p| (p.numbers, p.target))
            .collect()
    }

    #[test]
    fn counter_reads_back_the_ground_truth() {
        let puzzles = priming_puzzles(400, 7);
        let mut bad = Vec::new();
        for cond in Condition::ALL {
            for wrong in [false, true] {
                for (k, r) in synthesize_batch(&puzzles, cond, 11, wrong, None)
                    .into_iter()
                    .enumerate()
                {
                    let tr = r.unwrap();
                    let (ns, t) = &puzzles[k];
                    let got = count_behaviors(&tr.text, Some(ns), Some(*t)).counts;
                    if got != tr.counts {
                        bad.push(format!(
                            "{cond:?} wrong={wrong} {ns:?}->{t}\ntruth {:?}\ngot   {:?}\n{}",
                            tr.counts, got, tr.text
                        ));
                    }
                }
            }
        }
        assert!(
            bad.is_empty(),
            "{} mismatches; first:\n{}",
            bad.len(),
            bad[0]
        );
    }

    #[test]
    fn answers_are_right_or_wrong_as_asked() {
        let puzzles = priming_puzzles(200, 3);
        let cfg = ScoreConfig::default();
        for cond in Condition::ALL {
            for wrong in [false, true] {
                for (k, r) in synthesize_batch(&puzzles, cond, 5, wrong, None)
                    .into_iter()
                    .enumerate()
                {
                    let tr = r.unwrap();
                    let (ns, t) = &puzzles[k];
                    let prompt = "Assistant: Let me solve this step by step.\n";
                    let s = score(&format!("{prompt}{}", tr.text), ns, *t, &cfg);
                    assert_eq!(s.value == 1.0, !wrong, "{cond:?} {ns:?}->{t}\n{}", tr.text);
                }
            }
        }
    }

    /// What a wrong answer does with the numbers: reaches the target using one more
    /// often than given (`Reuses`), or from a part of them (`Omits`); `None`: a near miss.
    fn slip_of(answer: &str, numbers: &[i64], target: i64) -> Option<Slip> {
        let node = parse(answer).unwrap();
        if evaluate(&node).unwrap() != Rational::integer(target.into()) {
            return None;
        }
        let used: Vec<i64> = expr_numbers(&node).into_iter().map(|n| n as i64).collect();
        let times = |xs: &[i64], v: i64| xs.iter().filter(|&&x| x == v).count();
        let mut sorted = used.clone();
        sorted.sort_unstable();
        let mut given = numbers.to_vec();
        given.sort_unstable();
        assert_ne!(sorted, given, "{answer} uses {numbers:?} right");
        if used.iter().any(|&u| times(&used, u) > times(numbers, u)) {
            Some(Slip::Reuses)
        } else {
            Some(Slip::Omits)
        }
    }

    /// Every `a op b = c` written in `text` (operands and result whole numbers).
    fn written_steps(text: &str) -> Vec<(i64, char, i64, i64)> {
        let words: Vec<&str> = text
            .split_whitespace()
            .map(|w| w.trim_end_matches(['.', ',', ':']))
            .collect();
        let int = |w: &str| w.parse::<i64>().ok();
        words
            .windows(5)
            .filter_map(|w| {
                let op = match w[1] {
                    "+" => '+',
                    "-" => '-',
                    "*" => '*',
                    "/" => '/',
                    _ => return None,
                };
                (w[3] == "=").then_some(())?;
                Some((int(w[0])?, op, int(w[2])?, int(w[4])?))
            })
            .collect()
    }

    const CHECKS: [&str; 3] = [
        ", exactly the target.",
        "That matches the target.",
        "That hits the target.",
    ];

    #[test]
    fn wrong_endings_reach_the_target_from_numbers_used_wrongly() {
        let puzzles = priming_puzzles(400, 21);
        let cfg = ScoreConfig::default();
        let (mut omits, mut reuses, mut misses, mut checked) = (0, 0, 0, 0);
        for (k, r) in synthesize_batch(&puzzles, Condition::AllStrategies, 13, true, None)
            .into_iter()
            .enumerate()
        {
            let tr = r.unwrap();
            let (ns, t) = &puzzles[k];
            let prompt = "Assistant: Let me solve this step by step.\n";
            let s = score(&format!("{prompt}{}", tr.text), ns, *t, &cfg);
            assert_ne!(s.outcome, Outcome::Correct, "{ns:?}->{t}\n{}", tr.text);
            let no_format = ScoreConfig {
                format_score: 0.0,
                ..cfg
            };
            let s = score(&format!("{prompt}{}", tr.text), ns, *t, &no_format);
            assert_eq!(s.value, 0.0, "{ns:?}->{t}\n{}", tr.text);
            let steps = written_steps(&tr.text);
            assert!(steps.len() >= 2, "{}", tr.text);
            for (a, op, b, c) in steps {
                let value = match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => {
                        assert_eq!(a % b, 0, "{a} / {b} in\n{}", tr.text);
                        a / b
                    }
                };
                assert_eq!(value, c, "{a} {op} {b} = {c} in\n{}", tr.text);
            }
            let thoughts = tr.text.split("</think>").next().unwrap().trim_end();
            let ends_checked = CHECKS.iter().any(|c| thoughts.ends_with(c));
            match slip_of(&tr.answer, ns, *t) {
                Some(Slip::Omits) => omits += 1,
                Some(Slip::Reuses) => reuses += 1,
                None => misses += 1,
            }
            if ends_checked {
                checked += 1;
                assert!(slip_of(&tr.answer, ns, *t).is_some(), "{}", tr.text);
            }
        }
        let n = puzzles.len();
        eprintln!("omits {omits}, reuses {reuses}, near misses {misses}, checked {checked} of {n}");
        // both kinds are common (measured: 30% and 69%), the near miss is rare (under 1%),
        // and every slip ends on the check that correct traces end on (99%)
        assert!(
            omits * 5 > n && reuses * 5 > n,
            "omits {omits}, reuses {reuses} of {n}"
        );
        assert!(misses * 50 <= n, "{misses} near misses of {n}");
        assert_eq!(checked, omits + reuses);
    }

    #[test]
    fn wrong_endings_are_deterministic_and_leave_right_traces_alone() {
        let puzzles = priming_puzzles(60, 4);
        for cond in Condition::ALL {
            let once = synthesize_batch(&puzzles, cond, 2, true, None);
            assert_eq!(once, synthesize_batch(&puzzles, cond, 2, true, None));
            // the wrong ending replaces only the last line of a behavior condition's trace
            let right = synthesize_batch(&puzzles, cond, 2, false, None);
            for (w, r) in once.iter().zip(&right) {
                let (w, r) = (&w.as_ref().unwrap().text, &r.as_ref().unwrap().text);
                if cond != Condition::NegativeControl {
                    let cut = |t: &str| {
                        let body = t.split("</think>").next().unwrap().trim_end();
                        body[..body.rfind('\n').unwrap()].to_string()
                    };
                    assert_eq!(cut(w), cut(r));
                }
            }
        }
    }

    #[test]
    fn behaviors_appear_only_where_asked() {
        let puzzles = priming_puzzles(300, 9);
        for cond in Condition::ALL {
            let traces: Vec<Trace> = synthesize_batch(&puzzles, cond, 1, false, None)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            let with = |f: fn(&Counts) -> u32| traces.iter().filter(|t| f(&t.counts) > 0).count();
            let v = with(|c| c.verification);
            let b = with(|c| c.backtracking);
            let s = with(|c| c.subgoal);
            let bc = with(|c| c.backward);
            let n = traces.len();
            assert_eq!(
                v > 0,
                cond.verification(),
                "{cond:?} verification in {v}/{n}"
            );
            assert_eq!(s > 0, cond.subgoal(), "{cond:?} subgoal in {s}/{n}");
            assert_eq!(bc > 0, cond.backward(), "{cond:?} backward in {bc}/{n}");
            assert_eq!(
                b > 0,
                cond != Condition::NegativeControl,
                "{cond:?} backtracking in {b}/{n}"
            );
        }
    }
}
