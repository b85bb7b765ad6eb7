//! CPython 3.11 `eval` semantics over the character set TinyZero's reward lets
//! through (`[\d+\-*/().\s]`), without ever running Python.
//!
//! The original reward calls `eval` on model output. Over that alphabet Python
//! can still express more than Countdown: unary signs, `**`, `//`, float
//! literals (`1.`, `.5`, `012.5`), the empty tuple `()`, the `...` literal and
//! calls such as `2(3)`. This module reproduces what CPython does with each of
//! them: the tokenizer's rules (leading zeros, 200 nested parentheses, `\r`
//! inside brackets), the grammar (`-2**2 == -4`, right-associative `**`), the
//! numeric tower (unbounded ints, IEEE floats, complex results of negative
//! bases to fractional powers) and the error each case raises.
//!
//! Where CPython would hang or exhaust memory (`76**61**51**20`), the evaluator
//! stops at a resource guard instead and reports [`Failure::TooLarge`]:
//! * every int result is limited to [`MAX_INT_BITS`] bits;
//! * `int ** int` refuses exponents whose result certainly exceeds that limit;
//! * a run of more than [`MAX_UNARY_RUN`] unary signs is refused (CPython's own
//!   limit there depends on its recursion depth: it raises `RecursionError`
//!   around 3,000 signs at top level, `MemoryError` beyond).
//!
//! Nothing here allocates more than a few times the input, and parsing is
//! iterative except for parentheses, which CPython caps at 200 levels.

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// Largest int (in bits) the evaluator will hold; CPython would go on.
pub const MAX_INT_BITS: u64 = 65_536;
/// Longest run of unary `+`/`-` signs the evaluator accepts.
pub const MAX_UNARY_RUN: usize = 1_000;
/// CPython's tokenizer limit on nested brackets (`MAXLEVEL`).
pub const MAX_PAREN_DEPTH: usize = 200;
/// Answers with more tokens are refused (after the tokenizer has checked all of
/// the text): CPython's compiler fails on such expressions long before, and the
/// cap bounds memory for a 10 MB answer.
pub const MAX_TOKENS: usize = 100_000;

/// A Python value the expression can produce.
#[derive(Clone, Debug)]
pub enum PyValue {
    Int(BigInt),
    Float(f64),
    Complex(f64, f64),
    /// `()` or `...`: valid syntax, but no arithmetic accepts it.
    Other,
}

/// Why evaluation did not produce a value, in CPython's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `SyntaxError` (tokenizer or parser).
    Syntax,
    /// `ZeroDivisionError` or `TypeError` at run time.
    Runtime,
    /// `OverflowError`, or one of our resource guards.
    TooLarge,
}

#[derive(Clone, Debug)]
enum Tok {
    Int(BigInt),
    Float(f64),
    Plus,
    Minus,
    Star,
    Slash,
    DoubleStar,
    DoubleSlash,
    LParen,
    RParen,
    Ellipsis,
}

/// Tokenize like CPython's tokenizer; any error is a `SyntaxError`.
fn tokenize(text: &str) -> Result<Vec<Tok>, Failure> {
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut too_many = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | 0x0c => i += 1,
            b'\r' => {
                // Python reads "\r" as a line break: inside brackets a line break
                // is whitespace; outside it ends the expression, and since the
                // answer is stripped something always follows: a SyntaxError.
                if depth == 0 {
                    return Err(Failure::Syntax);
                }
                i += 1;
            }
            b'0'..=b'9' => i = number(text, i, &mut toks)?,
            b'.' => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i = number(text, i, &mut toks)?;
                } else if b.get(i + 1) == Some(&b'.') && b.get(i + 2) == Some(&b'.') {
                    toks.push(Tok::Ellipsis);
                    i += 3;
                } else {
                    // A lone "." starts an attribute access, which needs a name.
                    return Err(Failure::Syntax);
                }
            }
            b'+' => {
                toks.push(Tok::Plus);
                i += 1;
            }
            b'-' => {
                toks.push(Tok::Minus);
                i += 1;
            }
            b'*' | b'/' => {
                let double = b.get(i + 1) == Some(&c);
                toks.push(match (c, double) {
                    (b'*', false) => Tok::Star,
                    (b'*', true) => Tok::DoubleStar,
                    (_, false) => Tok::Slash,
                    (_, true) => Tok::DoubleSlash,
                });
                i += if double { 2 } else { 1 };
            }
            b'(' => {
                if depth >= MAX_PAREN_DEPTH {
                    return Err(Failure::Syntax); // "too many nested parentheses"
                }
                depth += 1;
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                if depth == 0 {
                    return Err(Failure::Syntax); // "unmatched ')'"
                }
                depth -= 1;
                toks.push(Tok::RParen);
                i += 1;
            }
            // Everything else the whitelist admits (other Unicode whitespace,
            // non-ASCII digits, control characters) is an invalid character.
            _ => return Err(Failure::Syntax),
        }
        if toks.len() > MAX_TOKENS {
            // Keep scanning for tokenizer errors (they win) without storing more.
            too_many = true;
            toks.clear();
        }
    }
    if too_many {
        return Err(Failure::TooLarge);
    }
    Ok(toks)
}

/// Read one numeric literal starting at `start`; returns the index after it.
fn number(text: &str, start: usize, toks: &mut Vec<Tok>) -> Result<usize, Failure> {
    let b = text.as_bytes();
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_part = &text[start..i];
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        // Rust's float parser wants digits on both sides of the point.
        let lit = &text[start..i];
        let mut s = String::with_capacity(lit.len() + 2);
        if lit.starts_with('.') {
            s.push('0');
        }
        s.push_str(lit);
        if lit.ends_with('.') {
            s.push('0');
        }
        let v: f64 = s.parse().map_err(|_| Failure::Syntax)?;
        toks.push(Tok::Float(v));
        return Ok(i);
    }
    // "0", "00", "000" are fine; a non-zero integer with leading zeros is not.
    if int_part.len() > 1 && int_part.starts_with('0') && int_part.bytes().any(|d| d != b'0') {
        return Err(Failure::Syntax);
    }
    let v = int_part.parse::<BigInt>().map_err(|_| Failure::Syntax)?;
    toks.push(Tok::Int(v));
    Ok(i)
}

/// Largest magnitude below which an i64 converts to f64 exactly.
const EXACT_F64: i64 = 1 << 53;

/// A value from [`fast_eval`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fast {
    I(i64),
    F(f64),
}

/// Exact fast path for the common answer shape: ASCII integers (no leading
/// zeros), `+ - * /`, unary signs, parentheses, spaces and tabs, with every int
/// inside i64 and every int/float conversion exact. It returns a value only
/// when that value is certainly what [`eval`] returns; anything else (errors,
/// overflow, `**`, `//`, decimals, calls, `()`) yields `None` and the caller
/// falls back to the full evaluator, which also decides the error outcome.
pub fn fast_eval(text: &str) -> Option<Fast> {
    let mut p = FastParser {
        b: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let v = p.expr()?;
    p.skip_ws();
    if p.pos != p.b.len() {
        return None;
    }
    Some(v)
}

impl From<Fast> for PyValue {
    fn from(v: Fast) -> Self {
        match v {
            Fast::I(i) => PyValue::Int(BigInt::from(i)),
            Fast::F(f) => PyValue::Float(f),
        }
    }
}

struct FastParser<'a> {
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

fn exact_float(v: Fast) -> Option<f64> {
    match v {
        Fast::F(f) => Some(f),
        Fast::I(i) if i.abs() <= EXACT_F64 => Some(i as f64),
        Fast::I(_) => None,
    }
}

fn fast_binop(op: u8, a: Fast, b: Fast) -> Option<Fast> {
    if let (Fast::I(x), Fast::I(y)) = (a, b) {
        return match op {
            b'+' => x.checked_add(y).map(Fast::I),
            b'-' => x.checked_sub(y).map(Fast::I),
            b'*' => x.checked_mul(y).map(Fast::I),
            _ => {
                // CPython divides exactly representable ints as floats.
                if y == 0 || x.abs() > EXACT_F64 || y.abs() > EXACT_F64 {
                    return None;
                }
                Some(Fast::F(x as f64 / y as f64))
            }
        };
    }
    let (x, y) = (exact_float(a)?, exact_float(b)?);
    Some(Fast::F(match op {
        b'+' => x + y,
        b'-' => x - y,
        b'*' => x * y,
        _ if y == 0.0 => return None,
        _ => x / y,
    }))
}

impl FastParser<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.b.get(self.pos).copied()
    }

    fn expr(&mut self) -> Option<Fast> {
        let mut v = self.term()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.pos += 1;
            let r = self.term()?;
            v = fast_binop(op, v, r)?;
        }
        Some(v)
    }

    fn term(&mut self) -> Option<Fast> {
        let mut v = self.factor()?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            if self.b.get(self.pos + 1) == Some(&op) {
                return None; // ** or //
            }
            self.pos += 1;
            let r = self.factor()?;
            v = fast_binop(op, v, r)?;
        }
        Some(v)
    }

    fn factor(&mut self) -> Option<Fast> {
        let mut negate = false;
        let mut signs = 0;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            negate ^= c == b'-';
            signs += 1;
            if signs > MAX_UNARY_RUN {
                return None; // the full evaluator's guard decides; stop scanning now
            }
            self.pos += 1;
        }
        let v = self.atom()?;
        if matches!(self.peek(), Some(b'(') | Some(b'.')) || self.b[self.pos..].starts_with(b"**") {
            return None; // a call, attribute or power: leave it to the full evaluator
        }
        match (v, negate) {
            (v, false) => Some(v),
            (Fast::I(i), true) => i.checked_neg().map(Fast::I),
            (Fast::F(f), true) => Some(Fast::F(-f)),
        }
    }

    fn atom(&mut self) -> Option<Fast> {
        match self.peek()? {
            b'(' => {
                if self.depth == MAX_PAREN_DEPTH {
                    return None;
                }
                self.depth += 1;
                self.pos += 1;
                let v = self.expr()?;
                if self.peek()? != b')' {
                    return None;
                }
                self.pos += 1;
                self.depth -= 1;
                Some(v)
            }
            b'0'..=b'9' => {
                let start = self.pos;
                let mut v: i64 = 0;
                while let Some(&d @ b'0'..=b'9') = self.b.get(self.pos) {
                    v = v.checked_mul(10)?.checked_add((d - b'0') as i64)?;
                    self.pos += 1;
                }
                let leading_zero = self.b[start] == b'0' && self.pos - start > 1;
                if leading_zero || self.b.get(self.pos) == Some(&b'.') {
                    return None;
                }
                Some(Fast::I(v))
            }
            _ => None,
        }
    }
}

/// Evaluate `text` as CPython 3.11 would `eval` it, under the guards above.
pub fn eval(text: &str) -> Result<PyValue, Failure> {
    let toks = tokenize(text)?;
    let mut p = Evaluator {
        toks: &toks,
        pos: 0,
        runtime: None,
        compile: None,
    };
    let v = p.expr()?;
    if p.pos != toks.len() {
        return Err(Failure::Syntax);
    }
    // CPython compiles the whole expression before running any of it, so syntax
    // errors beat compile-time refusals, which beat run-time errors.
    if let Some(f) = p.compile {
        return Err(f);
    }
    if let Some(f) = p.runtime {
        return Err(f);
    }
    Ok(v.expect("no value only after a recorded failure"))
}

/// Recursive-descent parser that evaluates as it goes. A run-time failure is
/// latched (the first one in evaluation order wins) and parsing continues so a
/// later syntax error can still take precedence.
struct Evaluator<'a> {
    toks: &'a [Tok],
    pos: usize,
    runtime: Option<Failure>,
    compile: Option<Failure>,
}

type Val = Option<PyValue>; // None: evaluation already failed

impl Evaluator<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn fail(&mut self, f: Failure) -> Val {
        if self.runtime.is_none() {
            self.runtime = Some(f);
        }
        None
    }

    fn apply(&mut self, r: Result<PyValue, Failure>) -> Val {
        match r {
            Ok(v) => Some(v),
            Err(f) => self.fail(f),
        }
    }

    fn binary(&mut self, op: BinOp, a: Val, b: Val) -> Val {
        match (a, b) {
            (Some(a), Some(b)) => {
                let r = binop(op, a, b);
                self.apply(r)
            }
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Val, Failure> {
        let mut v = self.term()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => BinOp::Add,
                Some(Tok::Minus) => BinOp::Sub,
                _ => return Ok(v),
            };
            self.pos += 1;
            let r = self.term()?;
            v = self.binary(op, v, r);
        }
    }

    fn term(&mut self) -> Result<Val, Failure> {
        let mut v = self.factor()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => BinOp::Mul,
                Some(Tok::Slash) => BinOp::Div,
                Some(Tok::DoubleSlash) => BinOp::FloorDiv,
                _ => return Ok(v),
            };
            self.pos += 1;
            let r = self.factor()?;
            v = self.binary(op, v, r);
        }
    }

    /// Unary signs in front of a power; returns them outermost first.
    fn signs(&mut self) -> Vec<bool> {
        let mut negs = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Minus) => negs.push(true),
                Some(Tok::Plus) => negs.push(false),
                _ => break,
            }
            self.pos += 1;
        }
        if negs.len() > MAX_UNARY_RUN && self.compile.is_none() {
            self.compile = Some(Failure::TooLarge);
        }
        negs
    }

    fn apply_signs(&mut self, signs: &[bool], mut v: Val) -> Val {
        // The sign nearest the operand applies first.
        for &neg in signs.iter().rev() {
            let x = v?;
            v = match x {
                PyValue::Int(i) if neg => Some(PyValue::Int(-i)),
                PyValue::Float(f) if neg => Some(PyValue::Float(-f)),
                PyValue::Complex(re, im) if neg => Some(PyValue::Complex(-re, -im)),
                PyValue::Other => self.fail(Failure::Runtime),
                same => Some(same),
            };
        }
        v
    }

    /// factor := ('+'|'-')* power, with power := primary ('**' factor)?.
    /// A chain `a ** -b ** c` is read iteratively: all primaries are evaluated
    /// left to right, then the powers are applied right to left.
    fn factor(&mut self) -> Result<Val, Failure> {
        let lead = self.signs();
        let mut operands = vec![self.primary()?];
        let mut inner_signs: Vec<Vec<bool>> = Vec::new();
        while matches!(self.peek(), Some(Tok::DoubleStar)) {
            self.pos += 1;
            inner_signs.push(self.signs());
            operands.push(self.primary()?);
        }
        let mut acc = operands.pop().expect("at least one operand");
        while let Some(base) = operands.pop() {
            let signs = inner_signs.pop().expect("one sign run per exponent");
            let exponent = self.apply_signs(&signs, acc);
            acc = self.binary(BinOp::Pow, base, exponent);
        }
        Ok(self.apply_signs(&lead, acc))
    }

    /// primary := atom ('(' [('*' | '**')? expr] ')')*  — calls always fail at run time.
    fn primary(&mut self) -> Result<Val, Failure> {
        let mut v = self.atom()?;
        while matches!(self.peek(), Some(Tok::LParen)) {
            self.pos += 1;
            if !matches!(self.peek(), Some(Tok::RParen)) {
                if matches!(self.peek(), Some(Tok::Star | Tok::DoubleStar)) {
                    self.pos += 1;
                }
                let arg = self.expr()?;
                if !matches!(self.peek(), Some(Tok::RParen)) {
                    return Err(Failure::Syntax);
                }
                if arg.is_none() {
                    v = None;
                }
            }
            self.pos += 1;
            // int, float, complex, tuple and Ellipsis are not callable: TypeError.
            v = match v {
                Some(_) => self.fail(Failure::Runtime),
                None => None,
            };
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<Val, Failure> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            Some(Tok::Int(i)) => Ok(Some(PyValue::Int(i))),
            Some(Tok::Float(f)) => Ok(Some(PyValue::Float(f))),
            Some(Tok::Ellipsis) => Ok(Some(PyValue::Other)),
            Some(Tok::LParen) => {
                if matches!(self.peek(), Some(Tok::RParen)) {
                    self.pos += 1;
                    return Ok(Some(PyValue::Other)); // the empty tuple
                }
                let v = self.expr()?;
                if !matches!(self.peek(), Some(Tok::RParen)) {
                    return Err(Failure::Syntax);
                }
                self.pos += 1;
                Ok(v)
            }
            _ => Err(Failure::Syntax),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Pow,
}

fn check_int(i: BigInt) -> Result<PyValue, Failure> {
    if i.bits() > MAX_INT_BITS {
        Err(Failure::TooLarge)
    } else {
        Ok(PyValue::Int(i))
    }
}

/// 2^exp as a float, exact for any `exp` whose result is a normal or infinite float.
fn ldexp(mut x: f64, mut exp: i64) -> f64 {
    // Scale in steps that keep each factor a finite power of two.
    while exp > 1000 {
        x *= 2f64.powi(1000);
        exp -= 1000;
        if x.is_infinite() {
            return x;
        }
    }
    while exp < -1000 {
        x *= 2f64.powi(-1000);
        exp += 1000;
        if x == 0.0 {
            return x;
        }
    }
    x * 2f64.powi(exp as i32)
}

/// Python's `float(int)`: correctly rounded, `OverflowError` past the float range.
pub fn int_to_float(i: &BigInt) -> Result<f64, Failure> {
    let bits = i.bits();
    let mag = i.magnitude();
    let f = if bits <= 64 {
        mag.to_u64().expect("fits in 64 bits") as f64
    } else {
        let shift = bits - 64;
        let mut top = (mag >> shift).to_u64().expect("64 bits after the shift");
        if mag.trailing_zeros().unwrap_or(0) < shift {
            top |= 1; // sticky bit: the dropped bits were not all zero
        }
        ldexp(top as f64, shift as i64)
    };
    if f.is_infinite() {
        return Err(Failure::TooLarge);
    }
    Ok(if i.sign() == Sign::Minus { -f } else { f })
}

/// Python's `int / int`: the correctly rounded quotient.
fn int_true_div(a: &BigInt, b: &BigInt) -> Result<f64, Failure> {
    if b.is_zero() {
        return Err(Failure::Runtime);
    }
    const EXACT: u64 = 53;
    if a.bits() <= EXACT && b.bits() <= EXACT {
        // Both exactly representable: IEEE division is already correctly rounded.
        return Ok(a.to_f64().unwrap() / b.to_f64().unwrap());
    }
    let negative = (a.sign() == Sign::Minus) != (b.sign() == Sign::Minus);
    let (na, nb) = (a.magnitude().clone(), b.magnitude().clone());
    if na.is_zero() {
        return Ok(if negative { -0.0 } else { 0.0 });
    }
    // Scale so the integer quotient has 55 or 56 bits, then fold the remainder
    // into a sticky bit: converting that to f64 rounds exactly once, correctly.
    let shift = 55 + nb.bits() as i64 - na.bits() as i64;
    let (num, den) = if shift >= 0 {
        (na << shift as u64, nb)
    } else {
        (na, nb << (-shift) as u64)
    };
    let (q, r) = num.div_rem(&den);
    let mut q = q.to_u64().expect("at most 56 bits");
    if !r.is_zero() {
        q |= 1;
    }
    let f = ldexp(q as f64, -shift);
    if f.is_infinite() {
        return Err(Failure::TooLarge); // "integer division result too large for a float"
    }
    Ok(if negative { -f } else { f })
}

fn as_float(v: &PyValue) -> Result<f64, Failure> {
    match v {
        PyValue::Int(i) => int_to_float(i),
        PyValue::Float(f) => Ok(*f),
        _ => unreachable!("only called on real numbers"),
    }
}

fn as_complex(v: &PyValue) -> Result<(f64, f64), Failure> {
    match v {
        PyValue::Complex(re, im) => Ok((*re, *im)),
        other => Ok((as_float(other)?, 0.0)),
    }
}

fn binop(op: BinOp, a: PyValue, b: PyValue) -> Result<PyValue, Failure> {
    use PyValue::*;
    match (&a, &b) {
        (Other, _) | (_, Other) => Err(Failure::Runtime),
        (Int(x), Int(y)) => int_op(op, x, y),
        (Complex(..), _) | (_, Complex(..)) => {
            let (x, y) = (as_complex(&a)?, as_complex(&b)?);
            complex_op(op, x, y)
        }
        _ => {
            let (x, y) = (as_float(&a)?, as_float(&b)?);
            float_op(op, x, y)
        }
    }
}

fn int_op(op: BinOp, x: &BigInt, y: &BigInt) -> Result<PyValue, Failure> {
    match op {
        BinOp::Add => check_int(x + y),
        BinOp::Sub => check_int(x - y),
        BinOp::Mul => check_int(x * y),
        BinOp::Div => int_true_div(x, y).map(PyValue::Float),
        BinOp::FloorDiv => {
            if y.is_zero() {
                Err(Failure::Runtime)
            } else {
                check_int(x.div_floor(y))
            }
        }
        BinOp::Pow => {
            if y.is_negative() {
                // int ** negative int is computed in floats.
                let (fx, fy) = (int_to_float(x)?, int_to_float(y)?);
                return float_pow(fx, fy);
            }
            if x.is_zero() || x.abs().is_one() {
                let odd = y.is_odd();
                return Ok(PyValue::Int(if y.is_zero() {
                    BigInt::one()
                } else if x.is_zero() {
                    BigInt::zero()
                } else if x.is_negative() && odd {
                    -BigInt::one()
                } else {
                    BigInt::one()
                }));
            }
            // |x| >= 2: the result has more than y * (bits(x) - 1) bits.
            let e = match y.to_u64() {
                Some(e) if e.saturating_mul(x.bits() - 1).saturating_add(1) <= MAX_INT_BITS => e,
                _ => return Err(Failure::TooLarge),
            };
            check_int(x.pow(e as u32))
        }
    }
}

fn is_odd_integer(x: f64) -> bool {
    (x.abs() % 2.0) == 1.0
}

/// CPython's `float_pow`, special cases included.
fn float_pow(iv: f64, iw: f64) -> Result<PyValue, Failure> {
    let float = |x: f64| Ok(PyValue::Float(x));
    if iw == 0.0 {
        return float(1.0);
    }
    if iv.is_nan() {
        return float(iv);
    }
    if iw.is_nan() {
        return float(if iv == 1.0 { 1.0 } else { iw });
    }
    if iw.is_infinite() {
        let a = iv.abs();
        return float(if a == 1.0 {
            1.0
        } else if (iw > 0.0) == (a > 1.0) {
            iw.abs()
        } else {
            0.0
        });
    }
    if iv.is_infinite() {
        let odd = is_odd_integer(iw);
        return float(if iw > 0.0 {
            if odd {
                iv
            } else {
                iv.abs()
            }
        } else if odd {
            0f64.copysign(iv)
        } else {
            0.0
        });
    }
    if iv == 0.0 {
        if iw < 0.0 {
            return Err(Failure::Runtime); // "0.0 cannot be raised to a negative power"
        }
        return float(if is_odd_integer(iw) { iv } else { 0.0 });
    }
    let mut base = iv;
    let mut negate = false;
    if iv < 0.0 {
        if iw != iw.floor() {
            // Negative base, fractional exponent: Python hands over to complex.
            return complex_pow((iv, 0.0), (iw, 0.0));
        }
        base = -iv;
        negate = is_odd_integer(iw);
    }
    if base == 1.0 {
        return float(if negate { -1.0 } else { 1.0 });
    }
    let r = base.powf(iw);
    if r.is_infinite() {
        return Err(Failure::TooLarge); // errno ERANGE -> OverflowError
    }
    float(if negate { -r } else { r })
}

/// CPython's float floor division (`float_floor_div` via `_float_div_mod`).
fn float_floor_div(vx: f64, wx: f64) -> f64 {
    let m = vx % wx; // C fmod
    let mut div = (vx - m) / wx;
    if m != 0.0 && ((wx < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let mut floordiv = div.floor();
        if div - floordiv > 0.5 {
            floordiv += 1.0;
        }
        floordiv
    } else {
        0f64.copysign(vx / wx)
    }
}

fn float_op(op: BinOp, x: f64, y: f64) -> Result<PyValue, Failure> {
    Ok(PyValue::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(Failure::Runtime);
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(Failure::Runtime);
            }
            float_floor_div(x, y)
        }
        BinOp::Pow => return float_pow(x, y),
    }))
}

type C = (f64, f64);

fn c_prod(a: C, b: C) -> C {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// CPython's `_Py_c_quot`; `None` on division by zero.
fn c_quot(a: C, b: C) -> Option<C> {
    let (abs_br, abs_bi) = (b.0.abs(), b.1.abs());
    if abs_br >= abs_bi {
        if abs_br == 0.0 {
            return None;
        }
        let ratio = b.1 / b.0;
        let denom = b.0 + b.1 * ratio;
        Some(((a.0 + a.1 * ratio) / denom, (a.1 - a.0 * ratio) / denom))
    } else if abs_bi >= abs_br {
        let ratio = b.0 / b.1;
        let denom = b.0 * ratio + b.1;
        Some(((a.0 * ratio + a.1) / denom, (a.1 * ratio - a.0) / denom))
    } else {
        Some((f64::NAN, f64::NAN))
    }
}

fn complex_op(op: BinOp, x: C, y: C) -> Result<PyValue, Failure> {
    let c = |(re, im): C| Ok(PyValue::Complex(re, im));
    match op {
        BinOp::Add => c((x.0 + y.0, x.1 + y.1)),
        BinOp::Sub => c((x.0 - y.0, x.1 - y.1)),
        BinOp::Mul => c(c_prod(x, y)),
        BinOp::Div => c_quot(x, y).map_or(Err(Failure::Runtime), c),
        BinOp::FloorDiv => Err(Failure::Runtime), // TypeError: can't floor a complex
        BinOp::Pow => complex_pow(x, y),
    }
}

/// CPython's `complex_pow`: small integral exponents by repeated squaring,
/// everything else through polar form.
fn complex_pow(a: C, b: C) -> Result<PyValue, Failure> {
    let int_exp = b.0 as i64; // C's (long) truncation
    let p = if b.1 == 0.0 && b.0 == int_exp as f64 && int_exp.abs() <= 100 {
        if int_exp > 0 {
            c_powu(a, int_exp as u64)
        } else {
            match c_quot((1.0, 0.0), c_powu(a, (-int_exp) as u64)) {
                Some(r) => r,
                None => return Err(Failure::Runtime),
            }
        }
    } else if b.0 == 0.0 && b.1 == 0.0 {
        (1.0, 0.0)
    } else if a.0 == 0.0 && a.1 == 0.0 {
        if b.1 != 0.0 || b.0 < 0.0 {
            return Err(Failure::Runtime); // "0.0 to a negative or complex power"
        }
        (0.0, 0.0)
    } else {
        let vabs = a.0.hypot(a.1);
        let mut len = vabs.powf(b.0);
        let at = a.1.atan2(a.0);
        let mut phase = at * b.0;
        if b.1 != 0.0 {
            len /= (at * b.1).exp();
            phase += b.1 * vabs.ln();
        }
        (len * phase.cos(), len * phase.sin())
    };
    if p.0.is_infinite() || p.1.is_infinite() {
        return Err(Failure::TooLarge); // "complex exponentiation"
    }
    Ok(PyValue::Complex(p.0, p.1))
}

fn c_powu(x: C, n: u64) -> C {
    let (mut r, mut p) = ((1.0, 0.0), x);
    let mut mask = 1u64;
    while mask > 0 && n >= mask {
        if n & mask != 0 {
            r = c_prod(r, p);
        }
        mask <<= 1;
        p = c_prod(p, p);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str) -> f64 {
        match eval(text) {
            Ok(PyValue::Float(x)) => x,
            Ok(PyValue::Int(i)) => i.to_f64().unwrap(),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn int(text: &str) -> i64 {
        match eval(text) {
            Ok(PyValue::Int(i)) => i.to_i64().unwrap(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn python_grammar() {
        assert_eq!(int("-2**2"), -4);
        assert_eq!(int("2**3**2"), 512);
        assert_eq!(f("2**-1"), 0.5);
        assert_eq!(int("7//2"), 3);
        assert_eq!(int("-7//2"), -4);
        assert_eq!(f("7.5//2"), 3.0);
        assert_eq!(int("- - + 5"), 5);
        assert_eq!(int("00"), 0);
        assert_eq!(f("012."), 12.0);
        assert_eq!(f(".5 + 1."), 1.5);
        assert_eq!(int("(1+\r2)"), 3);
    }

    #[test]
    fn python_errors() {
        for (text, want) in [
            ("012", Failure::Syntax),
            ("1+\r2", Failure::Syntax),
            ("1\x0b+2", Failure::Syntax),
            ("1..2", Failure::Syntax),
            ("1/0", Failure::Runtime),
            ("1.0//0", Failure::Runtime),
            ("2(3)", Failure::Runtime),
            ("()+1", Failure::Runtime),
            ("...", Failure::Runtime),
            ("0**-1", Failure::Runtime),
            ("76**61**51**20", Failure::TooLarge),
            ("1/0 + )", Failure::Syntax),
        ] {
            let got = eval(text).and_then(|v| match v {
                PyValue::Other => Err(Failure::Runtime),
                v => Ok(v),
            });
            assert_eq!(got.err(), Some(want), "{text:?}");
        }
    }

    #[test]
    fn paren_limit_matches_cpython() {
        let ok = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(int(&ok), 1);
        let bad = format!("{}1{}", "(".repeat(201), ")".repeat(201));
        assert_eq!(eval(&bad).err(), Some(Failure::Syntax));
    }

    #[test]
    fn complex_results() {
        match eval("(0-8)**(1/3)") {
            Ok(PyValue::Complex(re, im)) => {
                assert_eq!(re, 1.0000000000000002);
                assert_eq!(im, 1.7320508075688772);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn big_int_division_is_correctly_rounded() {
        let a: BigInt = BigInt::from(10).pow(400u32) + 1;
        let b: BigInt = BigInt::from(10).pow(399u32);
        assert_eq!(int_true_div(&a, &b), Ok(10.0));
        let huge: BigInt = BigInt::from(2).pow(2000u32);
        assert_eq!(
            int_true_div(&huge, &BigInt::from(3)),
            Err(Failure::TooLarge)
        );
        assert_eq!(int_to_float(&(BigInt::from(1) << 80u32)), Ok(2f64.powi(80)));
        // 2^53 + 1 rounds to even (2^53); 2^54 + 3 rounds up.
        assert_eq!(
            int_to_float(&((BigInt::from(1) << 53u32) + 1)),
            Ok(2f64.powi(53))
        );
    }

    fn same(a: &PyValue, b: &PyValue) -> bool {
        match (a, b) {
            (PyValue::Int(x), PyValue::Int(y)) => x == y,
            (PyValue::Float(x), PyValue::Float(y)) => x.to_bits() == y.to_bits(),
            _ => false,
        }
    }

    #[test]
    fn fast_path_agrees_with_full_evaluator() {
        use crate::generate::Rng;
        let mut rng = Rng::new(99, 0);
        let alphabet = b"0123456789+-*/() \t.";
        let mut checked = 0;
        for _ in 0..200_000 {
            // Half random strings over the alphabet, half well-formed expressions.
            let text: String = if rng.range(0, 1) == 0 {
                let len = rng.range(1, 14) as usize;
                (0..len)
                    .map(|_| alphabet[rng.range(0, alphabet.len() as i64 - 1) as usize] as char)
                    .collect()
            } else {
                let mut t = String::new();
                for k in 0..rng.range(1, 5) {
                    if k > 0 {
                        t.push_str(["+", "-", "*", "/", " - ", " / "][rng.range(0, 5) as usize]);
                    }
                    if rng.range(0, 3) == 0 {
                        t.push_str(["-", "(", "- -", "+"][rng.range(0, 3) as usize]);
                    }
                    let hi = [9, 100, 1 << 20, i64::MAX][rng.range(0, 3) as usize];
                    t.push_str(&rng.range(0, hi).to_string());
                }
                t
            };
            if let Some(fast) = fast_eval(&text).map(PyValue::from) {
                let full =
                    eval(&text).unwrap_or_else(|e| panic!("{text:?}: fast {fast:?}, full {e:?}"));
                assert!(same(&fast, &full), "{text:?}: fast {fast:?}, full {full:?}");
                checked += 1;
            }
        }
        assert!(checked > 50_000, "only {checked} cases took the fast path");
    }
}
