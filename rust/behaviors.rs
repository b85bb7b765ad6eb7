//! Rule-based counter of the four cognitive behaviors in Countdown reasoning.
//!
//! The counter reads what a trace *does*, not which words it uses:
//!
//! * **Arithmetic.** Every written step is extracted with its operands and its
//!   stated result: `a op b = c`, chains (`9 + 68 = 77`, `24 - 51 + 37 = 10`),
//!   expressions followed by a result (`48 - 9 we get 39`, `67 - 65, which
//!   equals 2`), verbal steps (`subtract 85 from 95 to get 10`), LaTeX-ish
//!   operators (`\times`, `×`, `÷`) and the expressions inside `<answer>` tags.
//! * **Verification**: a sentence that holds a value against the target or a
//!   named subgoal and gives a verdict (`too high`, `far from 77`, `isn't 77`,
//!   `exactly what we need`, `which meets the criteria`). A verdict counts only
//!   when there is something new to judge since the last one (a step or a number),
//!   so repeating a verdict does not count twice; one per sentence at most.
//! * **Backtracking**: a line of work ends (a verdict, an abandonment such as
//!   `instead`, `let's try another`, `go back`, or a claimed answer) and the next
//!   step does not build on the line's last result: it starts from the original
//!   numbers or returns to an earlier partial result (a step written again).
//!   The first attempt does not count, and steps listed side by side without a
//!   verdict between them are exploration. Steps in a check (`let's verify`) and
//!   steps restating the current state are not new attempts.
//! * **Subgoal setting**: a named intermediate value other than the target
//!   (`we need 20 from 31 and 51`, `aim for 12`, `if we can make 8`,
//!   `65 (as a helper)`); each distinct value counts once.
//! * **Backward chaining**: a step that starts from the target, or from a value
//!   still needed (a subgoal or an earlier backward result), and derives what is
//!   needed (`72 - 52 = 20`, `we need 58 more to reach 98`); each distinct derived
//!   value counts once. A step whose result is a needed value is a forward step
//!   reaching it, and a reached subgoal stops being needed.
//!
//! Works on `<think>`/`<reasoning>`/untagged text, markdown, numbered lists and
//! truncated output. Everything is linear in the text length; there is no regex.

use std::collections::HashSet;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behavior {
    Verification,
    Backtracking,
    Subgoal,
    Backward,
}

impl Behavior {
    pub const ALL: [Behavior; 4] = [
        Behavior::Verification,
        Behavior::Backtracking,
        Behavior::Subgoal,
        Behavior::Backward,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behavior::Verification => "verification",
            Behavior::Backtracking => "backtracking",
            Behavior::Subgoal => "subgoal",
            Behavior::Backward => "backward",
        }
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Number of distinct instances of each behavior.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    pub verification: u32,
    pub backtracking: u32,
    pub subgoal: u32,
    pub backward: u32,
}

impl Counts {
    pub fn get(&self, b: Behavior) -> u32 {
        match b {
            Behavior::Verification => self.verification,
            Behavior::Backtracking => self.backtracking,
            Behavior::Subgoal => self.subgoal,
            Behavior::Backward => self.backward,
        }
    }

    pub fn add(&mut self, b: Behavior, n: u32) {
        match b {
            Behavior::Verification => self.verification += n,
            Behavior::Backtracking => self.backtracking += n,
            Behavior::Subgoal => self.subgoal += n,
            Behavior::Backward => self.backward += n,
        }
    }
}

/// Where one counted instance is: byte offsets into the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub behavior: Behavior,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub counts: Counts,
    pub spans: Vec<Span>,
}

// ---------------------------------------------------------------------------
// Lexing
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Num(f64),
    Op(u8),
    LParen,
    RParen,
    Eq,
    /// A word: `lo..hi` indexes the lowercase word buffer.
    Word(u32, u32),
    /// A weak break (comma, colon): ends a run of arithmetic, not a sentence.
    Comma,
    /// `<answer>` opens (true) or `</answer>` closes (false).
    Answer(bool),
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: u32,
    end: u32,
}

struct Lexed {
    tokens: Vec<Token>,
    /// Token index where each sentence starts; the last entry is `tokens.len()`.
    sentences: Vec<u32>,
    words: Vec<u8>,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

fn lex(text: &str) -> Lexed {
    let s = text.as_bytes();
    let n = s.len();
    let mut tokens: Vec<Token> = Vec::with_capacity(n / 3);
    let mut sentences: Vec<u32> = vec![0];
    let mut words: Vec<u8> = Vec::with_capacity(n);
    let mut line_start = true; // only whitespace/bullets since the last newline
    let mut i = 0;
    let stop = |tokens: &Vec<Token>, sentences: &mut Vec<u32>| {
        let t = tokens.len() as u32;
        if *sentences.last().unwrap() != t {
            sentences.push(t);
        }
    };
    while i < n {
        let b = s[i];
        let start = i as u32;
        if b == b'\n' {
            stop(&tokens, &mut sentences);
            line_start = true;
            i += 1;
            continue;
        }
        if b == b' ' || b == b'\t' || b == b'\r' {
            i += 1;
            continue;
        }
        if b.is_ascii_digit() {
            let mut j = i;
            while j < n && s[j].is_ascii_digit() {
                j += 1;
            }
            if j + 1 < n && s[j] == b'.' && s[j + 1].is_ascii_digit() {
                j += 1;
                while j < n && s[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < n && is_word_byte(s[j]) {
                // "3rd", "2x": not a number we can use.
                while j < n && (s[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                line_start = false;
                i = j;
                continue;
            }
            // List markers: "1. ", "2) " at the start of a line, "Step 3:".
            let marker_line = line_start
                && j + 1 < n
                && (s[j] == b'.' || s[j] == b')')
                && (s[j + 1] == b' ' || s[j + 1] == b'\n' || s[j + 1] == b'\t');
            let after_step = matches!(tokens.last(), Some(Token { kind: Kind::Word(lo, hi), .. })
                if &words[*lo as usize..*hi as usize] == b"step")
                && j < n
                && (s[j] == b':' || s[j] == b'.' || s[j] == b')');
            if marker_line || after_step {
                i = j + 1;
                line_start = false;
                continue;
            }
            let value: f64 = text[i..j].parse().unwrap_or(f64::NAN);
            tokens.push(Token {
                kind: Kind::Num(value),
                start,
                end: j as u32,
            });
            line_start = false;
            i = j;
            continue;
        }
        if is_word_byte(b) {
            let mut j = i;
            while j < n && is_word_byte(s[j]) {
                j += 1;
            }
            // Contractions: "isn't", "isn’t" → "is" "not"; "let's" → "let" "us".
            let mut k = j;
            let mut tail: &[u8] = b"";
            let apos = if k < n && s[k] == b'\'' {
                Some(1)
            } else if k + 2 < n && s[k] == 0xE2 && s[k + 1] == 0x80 && s[k + 2] == 0x99 {
                Some(3)
            } else {
                None
            };
            if let Some(w) = apos {
                let mut m = k + w;
                while m < n && is_word_byte(s[m]) {
                    m += 1;
                }
                let suffix = text[k + w..m].to_ascii_lowercase();
                if suffix == "t" && j - i >= 2 && (s[j - 1] | 0x20) == b'n' {
                    j -= 1; // "isn" → "is" + "not"; "can't" keeps "ca"
                    tail = b"not";
                } else if suffix == "s" {
                    tail = b"is";
                } else if suffix == "ll" {
                    tail = b"will";
                }
                k = m;
            }
            let lo = words.len() as u32;
            words.extend(s[i..j].iter().map(|c| c.to_ascii_lowercase()));
            let hi = words.len() as u32;
            let w = &words[lo as usize..hi as usize];
            // "x" between operands is multiplication.
            let is_times = w == b"x"
                && matches!(
                    tokens.last(),
                    Some(Token {
                        kind: Kind::Num(_) | Kind::RParen,
                        ..
                    })
                )
                && {
                    let mut m = k;
                    while m < n && s[m] == b' ' {
                        m += 1;
                    }
                    m < n && (s[m].is_ascii_digit() || s[m] == b'(')
                };
            if is_times {
                words.truncate(lo as usize);
                tokens.push(Token {
                    kind: Kind::Op(b'*'),
                    start,
                    end: k as u32,
                });
            } else {
                tokens.push(Token {
                    kind: Kind::Word(lo, hi),
                    start,
                    end: j as u32,
                });
                if !tail.is_empty() {
                    let lo2 = words.len() as u32;
                    words.extend_from_slice(tail);
                    tokens.push(Token {
                        kind: Kind::Word(lo2, words.len() as u32),
                        start: j as u32,
                        end: k as u32,
                    });
                }
            }
            line_start = false;
            i = k;
            continue;
        }
        line_start = line_start && matches!(b, b'-' | b'*' | b'#' | b'>' | b'+');
        match b {
            b'+' | b'/' => {
                tokens.push(Token {
                    kind: Kind::Op(b),
                    start,
                    end: start + 1,
                });
                i += 1;
            }
            b'-' => {
                if i + 1 < n && s[i + 1] == b'-' {
                    // "--" / "---": a dash or a rule, not arithmetic
                    while i < n && s[i] == b'-' {
                        i += 1;
                    }
                    tokens.push(Token {
                        kind: Kind::Comma,
                        start,
                        end: i as u32,
                    });
                } else if line_start && i + 1 < n && s[i + 1] == b' ' {
                    i += 1; // "- " bullet
                } else {
                    tokens.push(Token {
                        kind: Kind::Op(b'-'),
                        start,
                        end: start + 1,
                    });
                    i += 1;
                }
            }
            b'*' => {
                if i + 1 < n && s[i + 1] == b'*' {
                    i += 2; // markdown bold
                } else if line_start && i + 1 < n && s[i + 1] == b' ' {
                    i += 1; // "* " bullet
                } else {
                    tokens.push(Token {
                        kind: Kind::Op(b'*'),
                        start,
                        end: start + 1,
                    });
                    i += 1;
                }
            }
            b'(' => {
                tokens.push(Token {
                    kind: Kind::LParen,
                    start,
                    end: start + 1,
                });
                i += 1;
            }
            b')' => {
                tokens.push(Token {
                    kind: Kind::RParen,
                    start,
                    end: start + 1,
                });
                i += 1;
            }
            b'=' => {
                tokens.push(Token {
                    kind: Kind::Eq,
                    start,
                    end: start + 1,
                });
                i += 1;
            }
            b',' | b':' => {
                tokens.push(Token {
                    kind: Kind::Comma,
                    start,
                    end: start + 1,
                });
                i += 1;
            }
            b'.' | b'!' | b'?' | b';' => {
                stop(&tokens, &mut sentences);
                i += 1;
            }
            b'\\' => {
                // LaTeX: \times \cdot \div are operators; \[ \] \( \) are delimiters.
                let mut j = i + 1;
                while j < n && s[j].is_ascii_alphabetic() {
                    j += 1;
                }
                match &text[i + 1..j] {
                    "times" | "cdot" => tokens.push(Token {
                        kind: Kind::Op(b'*'),
                        start,
                        end: j as u32,
                    }),
                    "div" => tokens.push(Token {
                        kind: Kind::Op(b'/'),
                        start,
                        end: j as u32,
                    }),
                    "" if j < n && matches!(s[j], b'[' | b']' | b'(' | b')') => {
                        j += 1;
                    }
                    _ => {}
                }
                i = j.max(i + 1);
            }
            b'<' => {
                // Tags: <think>, </think>, <answer>, </answer>, <reasoning> …
                let mut j = i + 1;
                while j < n && j - i < 24 && s[j] != b'>' && s[j] != b'<' && s[j] != b'\n' {
                    j += 1;
                }
                if j < n && s[j] == b'>' {
                    let inner = text[i + 1..j].trim().to_ascii_lowercase();
                    stop(&tokens, &mut sentences);
                    if inner == "answer" {
                        tokens.push(Token {
                            kind: Kind::Answer(true),
                            start,
                            end: j as u32 + 1,
                        });
                    } else if inner == "/answer" {
                        tokens.push(Token {
                            kind: Kind::Answer(false),
                            start,
                            end: j as u32 + 1,
                        });
                        stop(&tokens, &mut sentences);
                    }
                    i = j + 1;
                } else {
                    tokens.push(Token {
                        kind: Kind::Comma,
                        start,
                        end: start + 1,
                    });
                    i += 1;
                }
            }
            0xC3 if i + 1 < n && (s[i + 1] == 0x97 || s[i + 1] == 0xB7) => {
                let op = if s[i + 1] == 0x97 { b'*' } else { b'/' }; // × ÷
                tokens.push(Token {
                    kind: Kind::Op(op),
                    start,
                    end: start + 2,
                });
                i += 2;
            }
            0xC2 if i + 1 < n && s[i + 1] == 0xB7 => {
                tokens.push(Token {
                    kind: Kind::Op(b'*'),
                    start,
                    end: start + 2,
                }); // ·
                i += 2;
            }
            0xE2 if i + 2 < n => {
                let kind = match (s[i + 1], s[i + 2]) {
                    (0x88, 0x92) => Some(Kind::Op(b'-')),             // −
                    (0x8B, 0x85) => Some(Kind::Op(b'*')),             // ⋅
                    (0x89, 0x88) => Some(Kind::Eq),                   // ≈
                    (0x80, 0x93) | (0x80, 0x94) => Some(Kind::Comma), // – —
                    _ => None,
                };
                if let Some(kind) = kind {
                    tokens.push(Token {
                        kind,
                        start,
                        end: start + 3,
                    });
                }
                i += 3;
            }
            _ => {
                i += 1;
            }
        }
    }
    let t = tokens.len() as u32;
    if *sentences.last().unwrap() != t {
        sentences.push(t);
    }
    Lexed {
        tokens,
        sentences,
        words,
    }
}

// ---------------------------------------------------------------------------
// Arithmetic extraction
// ---------------------------------------------------------------------------

/// One binary operation written in the text: `a op b = r`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Step {
    a: f64,
    op: u8,
    b: f64,
    r: f64,
    /// `a` / `b` are written numbers, not results of other steps in the expression.
    a_leaf: bool,
    b_leaf: bool,
}

#[derive(Clone, Debug)]
struct Calc {
    /// Token index where the calculation starts (for ordering with cues).
    at: u32,
    start: u32,
    end: u32,
    steps: Vec<Step>,
    result: f64,
    answer: bool,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
}

fn apply(a: f64, op: u8, b: f64) -> f64 {
    match op {
        b'+' => a + b,
        b'-' => a - b,
        b'*' => a * b,
        _ => a / b,
    }
}

/// A tiny precedence parser over one run segment; records every binary step.
struct ExprParser<'a> {
    toks: &'a [Token],
    pos: usize,
    steps: Vec<Step>,
    depth: u32,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<Kind> {
        self.toks.get(self.pos).map(|t| t.kind)
    }

    /// Value and whether it is a single written number.
    fn expr(&mut self) -> Option<(f64, bool)> {
        self.level(b"+-", Self::term)
    }

    fn term(&mut self) -> Option<(f64, bool)> {
        self.level(b"*/", Self::unary)
    }

    /// One precedence level: `next (op next)*`, left-associative, recording each step.
    fn level(
        &mut self,
        ops: &[u8],
        next: fn(&mut Self) -> Option<(f64, bool)>,
    ) -> Option<(f64, bool)> {
        let (mut v, mut leaf) = next(self)?;
        while let Some(Kind::Op(op)) = self.peek() {
            if !ops.contains(&op) {
                break;
            }
            self.pos += 1;
            let (w, wl) = next(self)?;
            let r = apply(v, op, w);
            self.steps.push(Step {
                a: v,
                op,
                b: w,
                r,
                a_leaf: leaf,
                b_leaf: wl,
            });
            (v, leaf) = (r, false);
        }
        Some((v, leaf))
    }

    fn unary(&mut self) -> Option<(f64, bool)> {
        match self.peek()? {
            Kind::Op(b'-') => {
                self.pos += 1;
                let (v, leaf) = self.unary()?;
                Some((-v, leaf))
            }
            Kind::Num(v) => {
                self.pos += 1;
                Some((v, true))
            }
            Kind::LParen => {
                self.depth += 1;
                if self.depth > 64 {
                    return None;
                }
                self.pos += 1;
                let v = self.expr()?;
                if self.peek() != Some(Kind::RParen) {
                    return None;
                }
                self.pos += 1;
                self.depth -= 1;
                Some(v)
            }
            _ => None,
        }
    }
}

/// Parse a whole segment; `None` unless every token is consumed.
fn parse_segment(toks: &[Token]) -> Option<(f64, Vec<Step>)> {
    // Trim a leading binary operator or dangling parentheses left by prose.
    let mut lo = 0;
    let mut hi = toks.len();
    while lo < hi && matches!(toks[lo].kind, Kind::Op(b'+' | b'*' | b'/')) {
        lo += 1;
    }
    while hi > lo && matches!(toks[hi - 1].kind, Kind::Op(_)) {
        hi -= 1;
    }
    let toks = &toks[lo..hi];
    if toks.is_empty() {
        return None;
    }
    let mut p = ExprParser {
        toks,
        pos: 0,
        steps: Vec::new(),
        depth: 0,
    };
    let (v, _) = p.expr()?;
    if p.pos == toks.len() {
        return Some((v, p.steps));
    }
    // "(52 - 12) + 30" is fine; "5 + (3" is not: retry without unbalanced outer parens.
    let opens = toks.iter().filter(|t| t.kind == Kind::LParen).count();
    let closes = toks.iter().filter(|t| t.kind == Kind::RParen).count();
    if opens != closes {
        let trimmed: Vec<Token> = toks
            .iter()
            .copied()
            .filter(|t| !matches!(t.kind, Kind::LParen | Kind::RParen))
            .collect();
        let mut p = ExprParser {
            toks: &trimmed,
            pos: 0,
            steps: Vec::new(),
            depth: 0,
        };
        let (v, _) = p.expr()?;
        if p.pos == trimmed.len() {
            return Some((v, p.steps));
        }
    }
    None
}

fn is_math(k: Kind) -> bool {
    matches!(
        k,
        Kind::Num(_) | Kind::Op(_) | Kind::LParen | Kind::RParen | Kind::Eq
    )
}

// ---------------------------------------------------------------------------
// Sentence view with word helpers
// ---------------------------------------------------------------------------

struct View<'a> {
    toks: &'a [Token],
    words: &'a [u8],
}

impl View<'_> {
    fn word(&self, i: usize) -> &[u8] {
        match self.toks.get(i).map(|t| t.kind) {
            Some(Kind::Word(lo, hi)) => &self.words[lo as usize..hi as usize],
            _ => b"",
        }
    }

    fn is(&self, i: usize, options: &[&[u8]]) -> bool {
        let w = self.word(i);
        !w.is_empty() && options.contains(&w)
    }

    fn num(&self, i: usize) -> Option<f64> {
        match self.toks.get(i).map(|t| t.kind) {
            Some(Kind::Num(v)) => Some(v),
            _ => None,
        }
    }

    /// The number at `i` stands alone (not the start of an expression).
    fn lone_num(&self, i: usize) -> Option<f64> {
        let v = self.num(i)?;
        match self.toks.get(i + 1).map(|t| t.kind) {
            Some(Kind::Op(_) | Kind::Eq) => None,
            _ => match i
                .checked_sub(1)
                .and_then(|j| self.toks.get(j))
                .map(|t| t.kind)
            {
                Some(Kind::Op(_) | Kind::Eq) => None,
                _ => Some(v),
            },
        }
    }
}

const NEGATIONS: &[&[u8]] = &[b"not", b"never", b"neither", b"none", b"nor", b"cannot"];
const VERDICT_AFTER_NEG: &[&[u8]] = &[
    b"right",
    b"correct",
    b"target",
    b"work",
    b"works",
    b"working",
    b"worked",
    b"equal",
    b"equals",
    b"reach",
    b"reaches",
    b"match",
    b"matches",
    b"solution",
    b"answer",
    b"helpful",
    b"help",
    b"close",
    b"closer",
    b"enough",
    b"fit",
    b"fits",
    b"what",
    b"solve",
    b"solves",
    b"achieve",
    b"hit",
    b"get",
];
const TOO_WHAT: &[&[u8]] = &[
    b"high", b"low", b"large", b"small", b"big", b"much", b"little", b"far", b"short", b"many",
];
const PURPOSE: &[&[u8]] = &[
    b"to", b"get", b"getting", b"be", b"hit", b"reach", b"want", b"try", b"trying", b"aim",
    b"come", b"can", b"could", b"might", b"if", b"goal", b"task", b"make",
];
const SWITCH_NOUNS: &[&[u8]] = &[
    b"approach",
    b"approaches",
    b"way",
    b"ways",
    b"combination",
    b"combinations",
    b"strategy",
    b"method",
    b"option",
    b"idea",
    b"attempt",
    b"order",
    b"path",
    b"route",
    b"operation",
    b"operations",
    b"pair",
    b"tack",
    b"plan",
    b"grouping",
    b"possibility",
];
const NEED: &[&[u8]] = &[
    b"need",
    b"needs",
    b"needed",
    b"require",
    b"requires",
    b"required",
];
const NEED_FILLER: &[&[u8]] = &[
    b"to", b"make", b"get", b"create", b"form", b"reach", b"find", b"obtain", b"produce", b"be",
    b"another", b"only", b"just", b"still", b"a", b"an", b"the", b"value", b"of", b"us",
    b"exactly", b"build", b"somehow",
];
const MAKE: &[&[u8]] = &[
    b"make",
    b"get",
    b"reach",
    b"form",
    b"create",
    b"build",
    b"produce",
    b"obtain",
    b"making",
    b"getting",
    b"reaching",
    b"forming",
    b"building",
];
const CHECK: &[&[u8]] = &[
    b"verify",
    b"verifying",
    b"check",
    b"checking",
    b"confirm",
    b"confirming",
    b"recheck",
    b"rechecking",
    b"double",
];
const RESULT_WORDS: &[&[u8]] = &[
    b"equals",
    b"equal",
    b"is",
    b"gives",
    b"give",
    b"giving",
    b"get",
    b"gets",
    b"yields",
    b"yield",
    b"results",
    b"makes",
    b"make",
    b"becomes",
    b"obtain",
    b"leaves",
    b"produces",
];
const RESULT_FILLER: &[&[u8]] = &[
    b"which",
    b"that",
    b"this",
    b"it",
    b"we",
    b"us",
    b"would",
    b"will",
    b"the",
    b"result",
    b"of",
    b"to",
    b"in",
    b"and",
    b"then",
    b"should",
    b"you",
    b"approximately",
    b"about",
    b"exactly",
    b"now",
    b"i",
    b"me",
    b"just",
    b"a",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cue {
    Verdict,
    Abandon,
    Check,
    /// A named subgoal; `backward` when it is derived from the target (`58 more to reach 98`).
    Need {
        value: f64,
        backward: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct CueAt {
    at: u32,
    start: u32,
    end: u32,
    cue: Cue,
}

struct Ctx {
    target: Option<f64>,
    /// The target is also one of the given numbers (so it is no sign of working backwards).
    target_given: bool,
    given: Vec<f64>,
}

impl Ctx {
    fn is_target(&self, v: f64) -> bool {
        self.target.is_some_and(|t| close(t, v))
    }
}

/// Cues of one sentence `view` (token offset `base`), in order.
fn sentence_cues(view: &View, base: u32, ctx: &Ctx, goals: &KeySet<i64>, out: &mut Vec<CueAt>) {
    let n = view.toks.len();
    let span =
        |i: usize, j: usize| -> (u32, u32) { (view.toks[i].start, view.toks[j.min(n - 1)].end) };
    let is_needed = |v: f64| ctx.is_target(v) || goals.contains(&key(v));
    let purpose_before = |i: usize| -> bool { (1..=2).any(|d| i >= d && view.is(i - d, PURPOSE)) };
    let mut i = 0;
    while i < n {
        let w = view.word(i);
        let mut push = |cue: Cue, i0: usize, i1: usize| {
            let (start, end) = span(i0, i1);
            out.push(CueAt {
                at: base + i0 as u32,
                start,
                end,
                cue,
            });
        };
        if w.is_empty() {
            i += 1;
            continue;
        }
        match w {
            b"too" if view.is(i + 1, TOO_WHAT) => push(Cue::Verdict, i, i + 1),
            b"far" | b"away" if view.is(i + 1, &[b"from", b"off"]) && !purpose_before(i) => {
                push(Cue::Verdict, i, i + 1)
            }
            b"off" if i >= 1 && view.is(i - 1, &[b"way", b"far", b"still", b"is"]) => {
                push(Cue::Verdict, i - 1, i)
            }
            b"close" | b"closer" | b"closest" | b"near" | b"nearly" | b"almost"
                if !purpose_before(i) =>
            {
                push(Cue::Verdict, i, i + 1)
            }
            b"exceed" | b"exceeds" | b"exceeding" | b"exceeded" | b"overshoot" | b"overshoots"
            | b"overshooting" | b"undershoot" | b"undershoots" | b"wrong" | b"incorrect"
            | b"indeed" | b"meets" | b"satisfies" | b"matches" | b"satisfy" => {
                push(Cue::Verdict, i, i)
            }
            b"short" if view.is(i + 1, &[b"of"]) => push(Cue::Verdict, i, i + 1),
            b"exactly" => {
                let once = view.is(i + 1, &[b"once", b"one", b"twice"]);
                if !once && !purpose_before(i) {
                    push(Cue::Verdict, i, i)
                }
            }
            b"correct" | b"right" => {
                let prev_ok = i >= 1
                    && view.is(
                        i - 1,
                        &[
                            b"is", b"be", b"the", b"seems", b"looks", b"not", b"that", b"it",
                            b"this", b"all", b"still", b"also",
                        ],
                    );
                if prev_ok && !(i >= 2 && view.is(i - 2, &[b"find", b"to", b"need"])) {
                    push(Cue::Verdict, i, i)
                }
            }
            b"works" | b"work" | b"worked"
                if i >= 1 && view.is(i - 1, &[b"that", b"this", b"it", b"which"]) =>
            {
                push(Cue::Verdict, i - 1, i)
            }
            b"target"
                if i >= 2
                    && view.is(i - 1, &[b"the", b"our"])
                    && view.is(
                        i - 2,
                        &[
                            b"is", b"equals", b"reaches", b"reached", b"hits", b"matches",
                            b"gives", b"reach", b"hit",
                        ],
                    )
                    && !(i >= 3 && view.is(i - 3, &[b"to", b"can", b"could"])) =>
            {
                push(Cue::Verdict, i - 2, i)
            }
            b"we" if view.is(i + 1, &[b"need", b"needed", b"want", b"wanted"]) => {
                // "which is the 8 we need" / "exactly what we need": the clause ends there.
                let next = view.toks.get(i + 2).map(|t| t.kind);
                let ends = matches!(next, None | Some(Kind::Comma))
                    || view.is(i + 2, &[b"for", b"and", b"here", b"so"]);
                if ends && i >= 1 && (view.num(i - 1).is_some() || view.is(i - 1, &[b"what"])) {
                    push(Cue::Verdict, i - 1, i + 1)
                }
            }
            _ => {}
        }
        if (w == b"equation" || w == b"expression")
            && i >= 1
            && view.is(
                i - 1,
                &[
                    b"the", b"this", b"our", b"first", b"second", b"third", b"final", b"last",
                ],
            )
        {
            // "the equation equals 15", "the second equation that equals 66": a claim checked
            let claim = (i + 1..(i + 5).min(n))
                .find(|&j| view.is(j, &[b"equals", b"equal", b"is", b"gives", b"makes"]));
            if let Some(j) = claim {
                let hit = (j + 1..(j + 3).min(n))
                    .any(|k| view.lone_num(k).is_some_and(|v| ctx.is_target(v)));
                if hit {
                    push(Cue::Verdict, i - 1, j + 1);
                }
            }
        }
        if w == b"but" {
            // "but our target is 73", "but 73 is what we need": a contrast with the goal
            let hit = (i + 1..(i + 5).min(n)).any(|j| {
                view.is(j, &[b"target"]) || view.lone_num(j).is_some_and(|v| ctx.is_target(v))
            });
            if hit {
                push(Cue::Verdict, i, (i + 4).min(n - 1));
            }
        }
        if NEGATIONS.contains(&w) {
            // A negation followed closely by the target, a needed value or a verdict word.
            let mut j = i + 1;
            let mut hit = false;
            while j < n && j <= i + 6 {
                if let Some(v) = view.lone_num(j) {
                    hit = is_needed(v);
                    break;
                }
                if view.is(j, VERDICT_AFTER_NEG) {
                    hit = true;
                    break;
                }
                if matches!(view.toks[j].kind, Kind::Op(_) | Kind::Eq) {
                    break;
                }
                j += 1;
            }
            if hit {
                push(Cue::Verdict, i, j);
            }
        }
        // Abandoning a line of work.
        let abandon = match w {
            b"instead" | b"alternatively" | b"backtrack" | b"backtracking" | b"rethink"
            | b"reconsider" | b"nowhere" | b"useless" | b"scratch" => true,
            b"another" | b"different" | b"new" | b"other" => view.is(i + 1, SWITCH_NOUNS),
            b"something" => view.is(i + 1, &[b"else"]),
            b"start" | b"starting" | b"started" => view.is(i + 1, &[b"over", b"again"]),
            b"back" => view.is(i + 1, &[b"to"]) || (i >= 1 && view.is(i - 1, &[b"go", b"going"])),
            b"dead" => view.is(i + 1, &[b"end", b"ends"]),
            b"try" | b"trying" => {
                (i >= 2 && view.is(i - 1, &[b"us"]) && view.is(i - 2, &[b"let"]))
                    || view.is(i + 1, &[b"another", b"again", b"other", b"different"])
            }
            b"useful" | b"helpful" | b"help" | b"work" | b"works" => {
                i >= 1 && (view.is(i - 1, NEGATIONS) || (i >= 2 && view.is(i - 2, NEGATIONS)))
            }
            _ => false,
        };
        if abandon {
            push(Cue::Abandon, i, i);
        }
        if CHECK.contains(&w) && !view.is(i + 1, &[b"if", b"whether"]) {
            push(Cue::Check, i, i);
        }
        // Subgoals.
        if NEED.contains(&w) {
            let mut j = i + 1;
            while j < n && j <= i + 5 && view.is(j, NEED_FILLER) {
                j += 1;
            }
            if let Some(v) = view.lone_num(j) {
                if !view.is(j + 1, &[b"numbers", b"number", b"times", b"operations"]) {
                    let more = view.is(j + 1, &[b"more", b"less", b"extra"]);
                    let reach = view.is(j + 1, &[b"to"])
                        && view.is(j + 2, &[b"reach", b"get", b"make", b"hit", b"arrive"])
                        && (j + 3..(j + 6).min(n))
                            .any(|k| view.num(k).is_some_and(|x| ctx.is_target(x)));
                    if !ctx.is_target(v) {
                        push(
                            Cue::Need {
                                value: v,
                                backward: more || reach,
                            },
                            i,
                            j,
                        );
                        if i >= 1 && view.is(i - 1, &[b"but"])
                            || i >= 2 && view.is(i - 2, &[b"but"])
                        {
                            push(Cue::Verdict, i, j);
                        }
                    }
                }
            }
        }
        if view.is(i, &[b"aim", b"aiming"]) && view.is(i + 1, &[b"for"]) {
            if let Some(v) = view.lone_num(i + 2) {
                if !ctx.is_target(v) {
                    push(
                        Cue::Need {
                            value: v,
                            backward: false,
                        },
                        i,
                        i + 2,
                    );
                }
            }
        }
        if MAKE.contains(&w) {
            if let Some(v) = view.lone_num(i + 1) {
                let follow = view.is(i + 2, &[b"first", b"from", b"using", b"out", b"with"]);
                let can = i >= 1 && view.is(i - 1, &[b"can", b"could"]);
                if (follow || can) && !ctx.is_target(v) {
                    push(
                        Cue::Need {
                            value: v,
                            backward: false,
                        },
                        i,
                        i + 1,
                    );
                }
            }
        }
        if view.is(
            i,
            &[
                b"helper",
                b"intermediate",
                b"subgoal",
                b"stepping",
                b"milestone",
            ],
        ) {
            // The value is a number right next to the word, or the step just before.
            let near = (i.saturating_sub(4)..(i + 4).min(n))
                .rev()
                .find_map(|k| view.lone_num(k).filter(|v| !ctx.is_target(*v)));
            let v = near.or_else(|| {
                (0..i).rev().find_map(|k| match view.toks[k].kind {
                    Kind::Num(v) if k >= 1 && view.toks[k - 1].kind == Kind::Eq => Some(v),
                    _ => None,
                })
            });
            if let Some(v) = v.filter(|v| !ctx.is_target(*v)) {
                push(
                    Cue::Need {
                        value: v,
                        backward: false,
                    },
                    i,
                    i,
                );
            }
        }
        i += 1;
    }
}

/// Extract the calculations of one sentence (token range `lo..hi`).
fn sentence_calcs(lexed: &Lexed, lo: usize, hi: usize, in_answer: &[bool], out: &mut Vec<Calc>) {
    let toks = &lexed.tokens[lo..hi];
    let view = View {
        toks,
        words: &lexed.words,
    };
    let mut used = vec![false; toks.len()];
    let mut i = 0;
    while i < toks.len() {
        if !is_math(toks[i].kind) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < toks.len() && is_math(toks[j].kind) {
            j += 1;
        }
        let run = &toks[i..j];
        let has_op = run.iter().any(|t| matches!(t.kind, Kind::Op(_)));
        if has_op {
            let segments: Vec<&[Token]> = run.split(|t| t.kind == Kind::Eq).collect();
            let mut lhs: Option<(f64, Vec<Step>)> = None;
            let mut stated: Option<f64> = None;
            let mut pre: Option<f64> = None; // "72 = 52 + 20"
            for (k, seg) in segments.iter().enumerate() {
                let seg_has_op = seg.iter().any(|t| matches!(t.kind, Kind::Op(_)));
                let parsed = parse_segment(seg);
                match parsed {
                    Some((v, steps)) if seg_has_op && !steps.is_empty() => {
                        if lhs.is_none() {
                            lhs = Some((v, steps));
                        } else if let Some((_, s)) = lhs.as_mut() {
                            // restatements like "= 92 - 1 = 91": keep their steps too
                            s.extend(steps);
                            stated = Some(v);
                        }
                    }
                    Some((v, _)) => {
                        if lhs.is_none() && k == 0 {
                            pre = Some(v);
                        } else if lhs.is_some() {
                            stated = Some(v);
                        }
                    }
                    None => {}
                }
            }
            let mut end_tok = j;
            if let Some((v, steps)) = lhs {
                // "67 - 65, which equals 2" / "48 - 9 we get 39"
                if stated.is_none() && segments.len() == 1 {
                    let mut k = j;
                    let mut saw_result_word = false;
                    while k < toks.len() && k < j + 8 {
                        match toks[k].kind {
                            Kind::Comma if k == j => {}
                            Kind::Word(..) if view.is(k, RESULT_WORDS) => saw_result_word = true,
                            Kind::Word(..) if view.is(k, RESULT_FILLER) => {}
                            Kind::Num(x) if saw_result_word && view.lone_num(k).is_some() => {
                                stated = Some(x);
                                end_tok = k + 1;
                                break;
                            }
                            _ => break,
                        }
                        k += 1;
                    }
                }
                let result = stated.or(pre).unwrap_or(v);
                let mut steps = steps;
                if let Some(last) = steps.last_mut() {
                    if stated.is_some() || pre.is_some() {
                        // the written result of the top step is what the trace goes on with
                        let top_r = last.r;
                        if close(top_r, v) {
                            last.r = result;
                        }
                    }
                }
                for u in used.iter_mut().take(end_tok).skip(i) {
                    *u = true;
                }
                out.push(Calc {
                    at: (lo + i) as u32,
                    start: toks[i].start,
                    end: toks[end_tok - 1].end,
                    steps,
                    result,
                    answer: in_answer[lo + i],
                });
            }
            i = end_tok.max(j);
        } else {
            i = j;
        }
    }
    // Verbal steps: "subtract 85 from 95 to get 10", "adding 9 to 40 gives us 49".
    let mut i = 0;
    while i < toks.len() {
        let w = view.word(i);
        let op = match w {
            b"add" | b"adding" | b"added" | b"plus" | b"sum" => b'+',
            b"subtract" | b"subtracting" | b"subtracted" | b"minus" | b"difference" => b'-',
            b"multiply" | b"multiplying" | b"multiplied" | b"product" => b'*',
            b"divide" | b"dividing" | b"divided" | b"quotient" => b'/',
            _ => {
                i += 1;
                continue;
            }
        };
        // two lone numbers, then a result word and a number, within a short window
        let mut nums: Vec<(usize, f64)> = Vec::new();
        let mut reversed = false; // "subtract A from B", "add A to B"
        let mut result: Option<(usize, f64)> = None;
        let mut k = i + 1;
        let mut saw_result_word = false;
        while k < toks.len() && k <= i + 14 {
            if used[k] {
                break;
            }
            match toks[k].kind {
                Kind::Num(v) if view.lone_num(k).is_some() => {
                    if nums.len() < 2 && !saw_result_word {
                        nums.push((k, v));
                    } else if nums.len() == 2 && saw_result_word {
                        result = Some((k, v));
                        break;
                    } else {
                        break;
                    }
                }
                Kind::Word(..) => {
                    if nums.len() == 1 && view.is(k, &[b"from", b"to"]) && op != b'*' && op != b'/'
                    {
                        reversed = true;
                    }
                    if nums.len() == 2 && view.is(k, RESULT_WORDS) {
                        saw_result_word = true;
                    }
                }
                Kind::Comma | Kind::LParen | Kind::RParen => {}
                _ => break,
            }
            k += 1;
        }
        if let (2, Some((rk, r))) = (nums.len(), result) {
            let (a, b) = if reversed {
                (nums[1].1, nums[0].1)
            } else {
                (nums[0].1, nums[1].1)
            };
            out.push(Calc {
                at: (lo + i) as u32,
                start: toks[i].start,
                end: toks[rk].end,
                steps: vec![Step {
                    a,
                    op,
                    b,
                    r,
                    a_leaf: true,
                    b_leaf: true,
                }],
                result: r,
                answer: in_answer[lo + i],
            });
            i = rk + 1;
        } else {
            i += 1;
        }
    }
    out.sort_by_key(|c| c.at);
}

fn infer_target(lexed: &Lexed) -> Option<f64> {
    let view = View {
        toks: &lexed.tokens,
        words: &lexed.words,
    };
    let n = lexed.tokens.len();
    for i in 0..n {
        if view.is(i, &[b"target"]) {
            for j in i + 1..(i + 5).min(n) {
                if let Some(v) = view.lone_num(j) {
                    return Some(v);
                }
            }
        }
    }
    for i in 0..n {
        if view.is(i, &[b"equals", b"equal", b"equaling", b"reach", b"make"]) {
            let j = if view.is(i + 1, &[b"to"]) {
                i + 2
            } else {
                i + 1
            };
            if let Some(v) = view.lone_num(j) {
                return Some(v);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The reading
// ---------------------------------------------------------------------------

#[derive(Default)]
struct State {
    counts: Counts,
    spans: Vec<Span>,
    has_line: bool,
    closed: bool,
    /// Values of the expression the line ended on when it ended on a claimed solution.
    claim: Vec<f64>,
    checking: bool,
    material: bool,
    last: Option<f64>,
    /// Every step written so far, by value (commutative operands in one order).
    seen: KeySet<(i64, u8, i64)>,
    /// Named subgoals of the current line not reached yet.
    goals: KeySet<i64>,
    /// Values derived backwards in the current line (they end with it).
    chain: KeySet<i64>,
    subgoals: KeySet<i64>,
    backward: KeySet<i64>,
}

/// Small integer keys need no DoS-resistant hashing: a multiply-rotate hash (Fx-style) keeps
/// the sets as cheap as the scans they replace on ordinary 1 KB traces.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
}

type KeySet<T> = HashSet<T, std::hash::BuildHasherDefault<KeyHasher>>;

/// A value as a set key: rounded to 1e-6, so sets stay O(1) per lookup on texts with
/// hundreds of thousands of steps (a linear scan per step would be quadratic).
fn key(v: f64) -> i64 {
    (v * 1e6).round() as i64
}

fn step_key(s: &Step) -> (i64, u8, i64) {
    let (a, b) = (key(s.a), key(s.b));
    if matches!(s.op, b'+' | b'*') && b < a {
        (b, s.op, a)
    } else {
        (a, s.op, b)
    }
}

fn has(xs: &[f64], v: f64) -> bool {
    xs.iter().any(|&x| close(x, v))
}

impl State {
    fn count(&mut self, b: Behavior, start: u32, end: u32) {
        self.counts.add(b, 1);
        self.spans.push(Span {
            behavior: b,
            start: start as usize,
            end: end as usize,
        });
    }

    fn seen_step(&self, s: &Step) -> bool {
        self.seen.contains(&step_key(s))
    }

    /// A line of work ends; what it was after (its subgoals, its backward chain) ends with it.
    fn end_line(&mut self) {
        if self.has_line {
            self.closed = true;
        }
        self.chain.clear();
        self.goals.clear();
    }

    /// A step that derives what is still needed from the target or a needed value.
    fn is_backward(&self, s: &Step, ctx: &Ctx) -> bool {
        if !s.r.is_finite() || ctx.is_target(s.r) {
            return false;
        }
        let target = |v: f64| ctx.is_target(v) && !ctx.target_given;
        let needed = |v: f64| self.goals.contains(&key(v)) || self.chain.contains(&key(v));
        let from_target = s.a_leaf && target(s.a) && matches!(s.op, b'-' | b'/');
        let gap_to_target = s.op == b'-' && s.a_leaf && s.b_leaf && target(s.b);
        let from_needed = s.a_leaf && needed(s.a) && s.op != b'*';
        from_target || gap_to_target || from_needed
    }

    fn calc(&mut self, c: &Calc, ctx: &Ctx) {
        let recompute = c.steps.iter().all(|s| self.seen_step(s));
        // Backward chaining and reached subgoals, step by step.
        for s in &c.steps {
            if self.goals.remove(&key(s.r)) || self.chain.remove(&key(s.r)) {
                continue; // a forward step reaching a needed value
            }
            if self.is_backward(s, ctx) {
                if self.backward.insert(key(s.r)) {
                    self.count(Behavior::Backward, c.start, c.end);
                }
                if !has(&ctx.given, s.r) {
                    self.chain.insert(key(s.r));
                }
            }
        }
        // Lines of work.
        let checks_claim = !self.claim.is_empty()
            && c.steps.iter().all(|s| {
                (!s.a_leaf || has(&self.claim, s.a)) && (!s.b_leaf || has(&self.claim, s.b))
                    || self.last.is_some_and(|l| close(s.a, l) || close(s.b, l))
            });
        if self.checking || (self.closed && checks_claim) {
            // re-computation inside a check, or spelling out the solution just claimed
        } else if recompute {
            let returns =
                self.closed && self.has_line && !self.last.is_some_and(|l| close(l, c.result));
            if returns && !c.answer {
                self.count(Behavior::Backtracking, c.start, c.end);
                self.closed = false;
                self.claim.clear();
            } else if self.closed && !c.answer && self.last.is_some_and(|l| close(l, c.result)) {
                self.closed = false; // restating where the line stands: it carries on
            }
        } else if !self.has_line {
            self.has_line = true;
        } else if self.closed {
            let builds = self
                .last
                .is_some_and(|l| c.steps.iter().any(|s| close(s.a, l) || close(s.b, l)));
            if !builds {
                self.count(Behavior::Backtracking, c.start, c.end);
            }
            self.closed = false;
            self.claim.clear();
        }
        self.seen.extend(c.steps.iter().map(step_key));
        self.last = Some(c.result);
        self.material = true;
        if ctx.is_target(c.result) || c.answer {
            // a claimed solution ends the line
            self.end_line();
            self.claim.clear();
            for s in &c.steps {
                self.claim.extend([s.a, s.b, s.r]);
            }
        }
    }

    fn cue(&mut self, c: &CueAt, ctx: &Ctx) {
        match c.cue {
            Cue::Verdict => {
                if self.material {
                    self.count(Behavior::Verification, c.start, c.end);
                    self.material = false;
                    self.checking = false;
                }
                self.end_line();
            }
            Cue::Abandon => {
                self.end_line();
                self.checking = false;
            }
            Cue::Check => {
                self.checking = true;
                self.material = false;
            }
            Cue::Need { value, backward } => {
                if !value.is_finite() || ctx.is_target(value) {
                    return;
                }
                if self.subgoals.insert(key(value)) {
                    self.count(Behavior::Subgoal, c.start, c.end);
                }
                if backward && self.backward.insert(key(value)) {
                    self.count(Behavior::Backward, c.start, c.end);
                }
                self.goals.insert(key(value));
            }
        }
    }
}

/// Count the four behaviors in `text`. `numbers` and `target` are the puzzle's
/// when known; a missing target is read from the text ("the target is 24").
pub fn count_behaviors(text: &str, numbers: Option<&[i64]>, target: Option<i64>) -> Analysis {
    let lexed = lex(text);
    let target = target.map(|t| t as f64).or_else(|| infer_target(&lexed));
    let target_given = match (numbers, target) {
        (Some(ns), Some(t)) => ns.iter().any(|&n| close(n as f64, t)),
        _ => false,
    };
    let given = numbers
        .map(|ns| ns.iter().map(|&n| n as f64).collect())
        .unwrap_or_default();
    let ctx = Ctx {
        target,
        target_given,
        given,
    };
    // Which tokens sit inside <answer> … </answer>.
    let mut in_answer = vec![false; lexed.tokens.len()];
    let mut inside = false;
    for (k, t) in lexed.tokens.iter().enumerate() {
        if let Kind::Answer(open) = t.kind {
            inside = open;
        }
        in_answer[k] = inside;
    }
    let mut st = State::default();
    let mut calcs: Vec<Calc> = Vec::new();
    let mut cues: Vec<CueAt> = Vec::new();
    for w in lexed.sentences.windows(2) {
        let (lo, hi) = (w[0] as usize, w[1] as usize);
        if lo == hi {
            continue;
        }
        calcs.clear();
        cues.clear();
        sentence_calcs(&lexed, lo, hi, &in_answer, &mut calcs);
        let view = View {
            toks: &lexed.tokens[lo..hi],
            words: &lexed.words,
        };
        sentence_cues(&view, lo as u32, &ctx, &st.goals, &mut cues);
        // A number other than the target is something to judge.
        let has_number = view.toks.iter().any(|t| match t.kind {
            Kind::Num(v) => !ctx.is_target(v),
            _ => false,
        });
        if has_number && calcs.is_empty() {
            st.material = true;
        }
        let (mut a, mut b) = (0, 0);
        while a < calcs.len() || b < cues.len() {
            let take_calc = b == cues.len() || (a < calcs.len() && calcs[a].at <= cues[b].at);
            if take_calc {
                st.calc(&calcs[a], &ctx);
                a += 1;
            } else {
                st.cue(&cues[b], &ctx);
                b += 1;
            }
        }
    }
    st.spans.sort_by_key(|s| (s.start, s.behavior as u8));
    Analysis {
        counts: st.counts,
        spans: st.spans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str, target: i64) -> [u32; 4] {
        let c = count_behaviors(text, None, Some(target)).counts;
        [c.verification, c.backtracking, c.subgoal, c.backward]
    }

    #[test]
    fn plain_steps_have_no_behaviors() {
        assert_eq!(
            counts("Step 1: 25 - 5 = 20\nStep 2: 20 * 3 = 60", 60),
            [0, 0, 0, 0]
        );
    }

    #[test]
    fn verdict_and_retry() {
        let t = "25 + 5 = 30, which is too high. Let's try 25 - 5 = 20. Then 20 * 3 = 60, exactly the target.";
        assert_eq!(counts(t, 60), [2, 1, 0, 0]);
    }

    #[test]
    fn backward_with_subgoal() {
        let t = "72 - 52 = 20. Then we need 20 from 31 and 51. 51 - 31 = 20.";
        assert_eq!(counts(t, 72), [0, 0, 1, 1]);
    }

    #[test]
    fn need_more_is_backward_and_subgoal() {
        let t = "10 * 4 = 40. We still need 58 more to reach 98.";
        assert_eq!(counts(t, 98), [0, 0, 1, 1]);
    }

    #[test]
    fn exploration_is_not_backtracking() {
        let t = "80 - 54 = 26, 80 - 38 = 42, 54 - 38 = 16.";
        assert_eq!(counts(t, 10), [0, 0, 0, 0]);
    }

    #[test]
    fn going_back_to_an_earlier_state_counts() {
        let t = "25 - 5 = 20. 20 + 3 = 23. That is a dead end. Going back to 25 - 5 = 20, try 20 * 3 = 60.";
        assert_eq!(counts(t, 60), [0, 1, 0, 0]);
    }

    #[test]
    fn exactly_once_is_not_a_verdict() {
        assert_eq!(
            counts("Use each of 3, 4 exactly once to make 7.", 7),
            [0, 0, 0, 0]
        );
    }

    #[test]
    fn spans_point_into_the_text() {
        let t = "25 + 5 = 30, which is too high.";
        let a = count_behaviors(t, None, Some(60));
        assert_eq!(a.spans.len(), 1);
        assert_eq!(&t[a.spans[0].start..a.spans[0].end], "too high");
    }

    #[test]
    fn target_is_inferred() {
        let t = "The target is 60. 25 + 5 = 30, which is not 60.";
        assert_eq!(count_behaviors(t, None, None).counts.verification, 1);
    }
}
