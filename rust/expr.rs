//! Countdown expressions: a strict parser, exact evaluation, printing and the
//! canonical form used to tell solutions apart.
//!
//! Grammar (ASCII only; spaces, tabs and newlines between tokens are ignored):
//!
//! ```text
//! expr := term (('+' | '-') term)*
//! term := atom (('*' | '/') atom)*
//! atom := INTEGER | '(' expr ')'
//! ```
//!
//! There is no unary minus (or plus): Countdown's four operations are binary,
//! and a sign would let an answer negate a number no puzzle gives it. Decimals,
//! `**`, `//` and non-ASCII digits are rejected with a precise error.
//!
//! Hard limits keep every input cheap: at most [`MAX_LEN`] bytes, parentheses
//! nested at most [`MAX_DEPTH`] deep, literals of at most [`MAX_LITERAL_DIGITS`]
//! digits; values are exact rationals on `i128` and an overflow is an error.

use std::fmt;

use crate::rational::Rational;

/// Longest accepted expression, in bytes.
pub const MAX_LEN: usize = 10_000;
/// Deepest accepted parenthesis nesting.
pub const MAX_DEPTH: usize = 100;
/// Longest accepted integer literal, in digits.
pub const MAX_LITERAL_DIGITS: usize = 18;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

impl Op {
    pub fn symbol(self) -> char {
        match self {
            Op::Add => '+',
            Op::Sub => '-',
            Op::Mul => '*',
            Op::Div => '/',
        }
    }

    fn precedence(self) -> u8 {
        match self {
            Op::Add | Op::Sub => 1,
            Op::Mul | Op::Div => 2,
        }
    }
}

/// An expression tree. Literals keep the byte offset where they were written so
/// evaluation errors can point at the operator that failed.
#[derive(Clone, Debug)]
pub enum Node {
    Num {
        value: u64,
        offset: usize,
    },
    Bin {
        op: Op,
        offset: usize,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl PartialEq for Node {
    /// Structural equality; offsets are where the text came from, not part of the tree.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Node::Num { value: a, .. }, Node::Num { value: b, .. }) => a == b,
            (
                Node::Bin {
                    op: o1,
                    left: l1,
                    right: r1,
                    ..
                },
                Node::Bin {
                    op: o2,
                    left: l2,
                    right: r2,
                    ..
                },
            ) => o1 == o2 && l1 == l2 && r1 == r2,
            _ => false,
        }
    }
}

impl Eq for Node {}

/// Why an expression was rejected, with the byte offset it happened at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub kind: ExprErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprErrorKind {
    Empty,
    TooLong { len: usize },
    UnexpectedChar(char),
    ExpectedOperand { found: String },
    ExpectedOperator { found: String },
    UnclosedParen,
    UnmatchedParen,
    UnaryOperator(char),
    Decimal,
    NonAsciiDigit(char),
    UnsupportedOperator(&'static str),
    TooDeep,
    LiteralTooLong,
    DivisionByZero,
    Overflow,
}

impl ExprError {
    fn new(offset: usize, kind: ExprErrorKind) -> Self {
        ExprError { offset, kind }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ExprErrorKind::*;
        match &self.kind {
            Empty => write!(f, "empty expression")?,
            TooLong { len } => write!(f, "expression is {len} bytes long; the limit is {MAX_LEN}")?,
            UnexpectedChar(c) => write!(f, "unexpected character {c:?}")?,
            ExpectedOperand { found } => write!(f, "expected a number or '(' but found {found}")?,
            ExpectedOperator { found } => {
                write!(f, "expected an operator or ')' but found {found}")?
            }
            UnclosedParen => write!(f, "'(' is never closed")?,
            UnmatchedParen => write!(f, "unmatched ')'")?,
            UnaryOperator(c) => write!(
                f,
                "unary '{c}' is not allowed: Countdown's operations are binary"
            )?,
            Decimal => write!(f, "decimal numbers are not allowed")?,
            NonAsciiDigit(c) => write!(f, "non-ASCII digit {c:?}")?,
            UnsupportedOperator(op) => {
                write!(f, "'{op}' is not a Countdown operation (use + - * /)")?
            }
            TooDeep => write!(f, "parentheses nested deeper than {MAX_DEPTH}")?,
            LiteralTooLong => write!(f, "integer literal longer than {MAX_LITERAL_DIGITS} digits")?,
            DivisionByZero => write!(f, "division by zero")?,
            Overflow => write!(f, "value exceeds the exact 128-bit rational range")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for ExprError {}

fn describe_at(text: &str, pos: usize) -> String {
    match text[pos..].chars().next() {
        None => "end of input".to_string(),
        Some(c) => format!("{c:?}"),
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len()
            && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some(b'+') => Op::Add,
                Some(b'-') => Op::Sub,
                _ => return Ok(left),
            };
            let offset = self.pos;
            self.pos += 1;
            let right = self.term()?;
            left = Node::Bin {
                op,
                offset,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn term(&mut self) -> Result<Node, ExprError> {
        let mut left = self.atom()?;
        loop {
            let op = match self.peek() {
                Some(b'*') => Op::Mul,
                Some(b'/') => Op::Div,
                _ => return Ok(left),
            };
            let offset = self.pos;
            // `**` and `//` are Python operators people (and models) write; name them.
            if let Some(&next) = self.bytes.get(offset + 1) {
                if next == self.bytes[offset] {
                    let name = if next == b'*' { "**" } else { "//" };
                    return Err(ExprError::new(
                        offset,
                        ExprErrorKind::UnsupportedOperator(name),
                    ));
                }
            }
            self.pos += 1;
            let right = self.atom()?;
            left = Node::Bin {
                op,
                offset,
                left: Box::new(left),
                right: Box::new(right),
            };
        }
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let start = {
            self.skip_ws();
            self.pos
        };
        match self.bytes.get(start) {
            Some(b'0'..=b'9') => self.number(),
            Some(b'(') => {
                if self.depth == MAX_DEPTH {
                    return Err(ExprError::new(start, ExprErrorKind::TooDeep));
                }
                self.depth += 1;
                self.pos += 1;
                let inner = self.expr()?;
                match self.peek() {
                    Some(b')') => {
                        self.pos += 1;
                        self.depth -= 1;
                        Ok(inner)
                    }
                    None => Err(ExprError::new(start, ExprErrorKind::UnclosedParen)),
                    Some(_) => Err(self.unexpected_after_operand()),
                }
            }
            Some(&c @ (b'-' | b'+')) => Err(ExprError::new(
                start,
                ExprErrorKind::UnaryOperator(c as char),
            )),
            Some(b'.') => Err(ExprError::new(start, ExprErrorKind::Decimal)),
            _ => {
                if let Some(c) = self.text[start..].chars().next() {
                    if c.is_numeric() {
                        return Err(ExprError::new(start, ExprErrorKind::NonAsciiDigit(c)));
                    }
                    if !is_known_char(c) {
                        return Err(ExprError::new(start, ExprErrorKind::UnexpectedChar(c)));
                    }
                }
                Err(ExprError::new(
                    start,
                    ExprErrorKind::ExpectedOperand {
                        found: describe_at(self.text, start),
                    },
                ))
            }
        }
    }

    fn number(&mut self) -> Result<Node, ExprError> {
        let start = self.pos;
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if self.pos - start > MAX_LITERAL_DIGITS {
            return Err(ExprError::new(start, ExprErrorKind::LiteralTooLong));
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            return Err(ExprError::new(start, ExprErrorKind::Decimal));
        }
        if let Some(c) = self.text[self.pos..].chars().next() {
            if !c.is_ascii() && c.is_numeric() {
                return Err(ExprError::new(self.pos, ExprErrorKind::NonAsciiDigit(c)));
            }
        }
        let value = self.text[start..self.pos]
            .parse::<u64>()
            .expect("at most 18 ASCII digits");
        Ok(Node::Num {
            value,
            offset: start,
        })
    }

    /// The error for whatever follows a complete operand where an operator was expected.
    fn unexpected_after_operand(&self) -> ExprError {
        let pos = self.pos;
        match self.text[pos..].chars().next() {
            Some(')') => ExprError::new(pos, ExprErrorKind::UnmatchedParen),
            Some('.') => ExprError::new(pos, ExprErrorKind::Decimal),
            Some(c) if !c.is_ascii() && c.is_numeric() => {
                ExprError::new(pos, ExprErrorKind::NonAsciiDigit(c))
            }
            Some(c) if !is_known_char(c) => ExprError::new(pos, ExprErrorKind::UnexpectedChar(c)),
            _ => ExprError::new(
                pos,
                ExprErrorKind::ExpectedOperator {
                    found: describe_at(self.text, pos),
                },
            ),
        }
    }
}

fn is_known_char(c: char) -> bool {
    c.is_ascii_digit() || "+-*/() \t\n\r".contains(c)
}

/// Parse `text` under the strict grammar (no evaluation).
pub fn parse(text: &str) -> Result<Node, ExprError> {
    if text.len() > MAX_LEN {
        return Err(ExprError::new(
            MAX_LEN,
            ExprErrorKind::TooLong { len: text.len() },
        ));
    }
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    if p.peek().is_none() {
        return Err(ExprError::new(p.pos, ExprErrorKind::Empty));
    }
    let node = p.expr()?;
    if p.peek().is_some() {
        return Err(p.unexpected_after_operand());
    }
    Ok(node)
}

/// Exact value of a tree.
pub fn evaluate(node: &Node) -> Result<Rational, ExprError> {
    match node {
        Node::Num { value, .. } => Ok(Rational::integer(*value as i128)),
        Node::Bin {
            op,
            offset,
            left,
            right,
        } => {
            let a = evaluate(left)?;
            let b = evaluate(right)?;
            let overflow = || ExprError::new(*offset, ExprErrorKind::Overflow);
            match op {
                Op::Add => a.checked_add(b).ok_or_else(overflow),
                Op::Sub => a.checked_sub(b).ok_or_else(overflow),
                Op::Mul => a.checked_mul(b).ok_or_else(overflow),
                Op::Div if b.is_zero() => {
                    Err(ExprError::new(*offset, ExprErrorKind::DivisionByZero))
                }
                Op::Div => a.checked_div(b).ok_or_else(overflow),
            }
        }
    }
}

/// The integer literals in the order they are written.
pub fn numbers(node: &Node) -> Vec<u64> {
    fn walk(node: &Node, out: &mut Vec<u64>) {
        match node {
            Node::Num { value, .. } => out.push(*value),
            Node::Bin { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(node, &mut out);
    out
}

/// The tree written with single spaces around operators and only the
/// parentheses its shape needs: `parse(print(t)) == t` for every tree.
pub fn print(node: &Node) -> String {
    fn walk(node: &Node, out: &mut String) {
        match node {
            Node::Num { value, .. } => out.push_str(&value.to_string()),
            Node::Bin {
                op, left, right, ..
            } => {
                // Left operands need parentheses only at a lower precedence; right
                // operands also at equal precedence, since the grammar is left-associative.
                let wrap_left =
                    matches!(**left, Node::Bin { op: l, .. } if l.precedence() < op.precedence());
                let wrap_right =
                    matches!(**right, Node::Bin { op: r, .. } if r.precedence() <= op.precedence());
                write_wrapped(left, wrap_left, out);
                out.push(' ');
                out.push(op.symbol());
                out.push(' ');
                write_wrapped(right, wrap_right, out);
            }
        }
    }
    fn write_wrapped(node: &Node, wrap: bool, out: &mut String) {
        if wrap {
            out.push('(');
            walk(node, out);
            out.push(')');
        } else {
            walk(node, out);
        }
    }
    let mut out = String::new();
    walk(node, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Canonical form: equality up to commutativity and associativity.
// ---------------------------------------------------------------------------

/// One term of a flattened sum or factor of a flattened product, already printed.
struct Part {
    leaf: Option<u64>,
    /// The part's own canonical text, which orders it.
    key: String,
    /// What is written: `key`, wrapped in parentheses where precedence needs it.
    text: String,
}

fn sort_parts(parts: &mut [Part]) {
    // Compound parts first, by their text; then numbers, largest first.
    parts.sort_by(|a, b| match (a.leaf, b.leaf) {
        (None, None) => a.key.cmp(&b.key),
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => y.cmp(&x),
    });
}

fn collect(node: &Node, positive: bool, additive: bool, pos: &mut Vec<Part>, neg: &mut Vec<Part>) {
    if let Node::Bin {
        op, left, right, ..
    } = node
    {
        let same_family = if additive {
            matches!(op, Op::Add | Op::Sub)
        } else {
            matches!(op, Op::Mul | Op::Div)
        };
        if same_family {
            collect(left, positive, additive, pos, neg);
            let flips = matches!(op, Op::Sub | Op::Div);
            collect(right, positive != flips, additive, pos, neg);
            return;
        }
    }
    let part = match node {
        Node::Num { value, .. } => Part {
            leaf: Some(*value),
            key: String::new(),
            text: value.to_string(),
        },
        Node::Bin { op, .. } => {
            let inner = canonical(node);
            // A sum inside a product needs parentheses; a product inside a sum does not.
            let needs_parens = !additive && matches!(op, Op::Add | Op::Sub);
            let text = if needs_parens {
                format!("({inner})")
            } else {
                inner.clone()
            };
            Part {
                leaf: None,
                key: inner,
                text,
            }
        }
    };
    if positive {
        pos.push(part);
    } else {
        neg.push(part);
    }
}

/// The canonical text of a tree: `+`/`-` chains flattened into signed terms and
/// `*`/`/` chains into factors with exponent ±1, each group sorted (compound
/// parts by their own canonical text, then numbers from largest to smallest), positives before
/// negatives. Two trees have the same canonical text exactly when they are
/// equal up to commutativity and associativity; the text parses back to a tree
/// with the same value.
pub fn canonical(node: &Node) -> String {
    let Node::Bin { op, .. } = node else {
        return print(node);
    };
    let additive = matches!(op, Op::Add | Op::Sub);
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    collect(node, true, additive, &mut pos, &mut neg);
    sort_parts(&mut pos);
    sort_parts(&mut neg);
    let (join, inverse) = if additive {
        (" + ", " - ")
    } else {
        (" * ", " / ")
    };
    let mut out = String::new();
    for (i, p) in pos.iter().enumerate() {
        if i > 0 {
            out.push_str(join);
        }
        out.push_str(&p.text);
    }
    for p in &neg {
        out.push_str(inverse);
        out.push_str(&p.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text)
            .and_then(|n| evaluate(&n).map(|_| n))
            .unwrap_err()
            .to_string()
    }

    fn value(text: &str) -> Rational {
        evaluate(&parse(text).unwrap()).unwrap()
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(value("2 + 3 * 4"), Rational::integer(14));
        assert_eq!(value("10 - 4 - 3"), Rational::integer(3));
        assert_eq!(value("64 / 4 / 2"), Rational::integer(8));
        assert_eq!(value("8 / (3 - 8 / 3)"), Rational::integer(24));
        assert_eq!(value("(1 + 2) / 3"), Rational::integer(1));
        assert_eq!(value("1 / 3"), Rational::new(1, 3).unwrap());
    }

    #[test]
    fn error_messages_name_the_byte_and_reason() {
        assert_eq!(err(""), "empty expression at byte 0");
        assert_eq!(
            err("1 +"),
            "expected a number or '(' but found end of input at byte 3"
        );
        assert_eq!(err("(1 + 2"), "'(' is never closed at byte 0");
        assert_eq!(err("1 + 2)"), "unmatched ')' at byte 5");
        assert_eq!(
            err("-3 + 5"),
            "unary '-' is not allowed: Countdown's operations are binary at byte 0"
        );
        assert_eq!(err("1.5 * 2"), "decimal numbers are not allowed at byte 0");
        assert_eq!(
            err("2 ** 3"),
            "'**' is not a Countdown operation (use + - * /) at byte 2"
        );
        assert_eq!(
            err("7 // 2"),
            "'//' is not a Countdown operation (use + - * /) at byte 2"
        );
        assert_eq!(err("1 + x"), "unexpected character 'x' at byte 4");
        assert_eq!(err("1 + \u{663}"), "non-ASCII digit '\u{663}' at byte 4");
        assert_eq!(err("4 / (2 - 2)"), "division by zero at byte 2");
        assert_eq!(
            err("1 2"),
            "expected an operator or ')' but found '2' at byte 2"
        );
        assert_eq!(
            err("1234567890123456789"),
            "integer literal longer than 18 digits at byte 0"
        );
    }

    #[test]
    fn limits_hold() {
        let deep = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&deep).is_ok());
        let too_deep = format!(
            "{}1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(
            err(&too_deep),
            format!("parentheses nested deeper than {MAX_DEPTH} at byte {MAX_DEPTH}")
        );
        let long = "1+".repeat(MAX_LEN);
        assert!(err(&long).starts_with("expression is 20000 bytes long"));
        let big = ["999999999999999999"; 9].join(" * ");
        assert_eq!(
            err(&big),
            "value exceeds the exact 128-bit rational range at byte 40"
        );
    }

    #[test]
    fn print_round_trips_shape() {
        for text in [
            "1 - (2 - 3)",
            "(1 - 2) - 3",
            "1 / (2 * 3)",
            "(1 + 2) * (3 + 4)",
            "1 + 2 * 3 - 4 / 5",
        ] {
            let tree = parse(text).unwrap();
            let printed = print(&tree);
            assert_eq!(parse(&printed).unwrap(), tree, "{text} -> {printed}");
        }
        assert_eq!(print(&parse("((1)) + ((2 * 3))").unwrap()), "1 + 2 * 3");
        assert_eq!(print(&parse("1 - (2 - 3)").unwrap()), "1 - (2 - 3)");
    }

    #[test]
    fn canonical_forms() {
        let c = |t: &str| canonical(&parse(t).unwrap());
        assert_eq!(c("(3 + 5) * 4"), "(5 + 3) * 4");
        assert_eq!(c("4 * (5 + 3)"), "(5 + 3) * 4");
        assert_eq!(c("10 - (2 - 1)"), "10 + 1 - 2");
        assert_eq!(c("8 / (3 - 8 / 3)"), "8 / (3 - 8 / 3)");
        assert_eq!(c("2 * (3 * 4)"), "4 * 3 * 2");
        assert_eq!(c("6 / (4 / 2)"), "6 * 2 / 4");
        assert_eq!(c("(1 + 2) * (3 + 4)"), "(2 + 1) * (4 + 3)");
        assert_eq!(c("100 - 4 * 3"), "100 - 4 * 3");
        assert_eq!(c("7"), "7");
        assert_eq!(
            c("a - (b + c)"
                .replace('a', "9")
                .replace('b', "2")
                .replace('c', "3")
                .as_str()),
            "9 - 3 - 2"
        );
    }
}
