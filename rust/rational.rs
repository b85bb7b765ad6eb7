//! Exact rational numbers on `i128` with checked arithmetic.
//!
//! Every operation either returns the exact, reduced result or `None` when a
//! numerator or denominator would leave the `i128` range; callers turn `None`
//! into a "too large" error, never into a wrong value.

use std::cmp::Ordering;
use std::fmt;

/// A reduced fraction `num / den` with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Rational {
    pub const ZERO: Rational = Rational { num: 0, den: 1 };

    pub fn integer(n: i128) -> Self {
        Rational { num: n, den: 1 }
    }

    /// `num / den`, reduced; `None` if `den == 0` or the sign flip overflows.
    pub fn new(num: i128, den: i128) -> Option<Self> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den);
        let (mut n, mut d) = (num / g, den / g);
        if d < 0 {
            n = n.checked_neg()?;
            d = d.checked_neg()?;
        }
        Some(Rational { num: n, den: d })
    }

    pub fn numer(&self) -> i128 {
        self.num
    }

    pub fn denom(&self) -> i128 {
        self.den
    }

    pub fn is_integer(&self) -> bool {
        self.den == 1
    }

    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn checked_add(self, o: Self) -> Option<Self> {
        // a/b + c/d = (a*(l/b) + c*(l/d)) / l with l = lcm(b, d): keeps operands small.
        let g = gcd(self.den, o.den);
        let l = (self.den / g).checked_mul(o.den)?;
        let a = self.num.checked_mul(l / self.den)?;
        let c = o.num.checked_mul(l / o.den)?;
        Rational::new(a.checked_add(c)?, l)
    }

    pub fn checked_sub(self, o: Self) -> Option<Self> {
        self.checked_add(Rational {
            num: o.num.checked_neg()?,
            den: o.den,
        })
    }

    pub fn checked_mul(self, o: Self) -> Option<Self> {
        // Cross-reduce first so the products stay as small as possible.
        let g1 = gcd(self.num, o.den);
        let g2 = gcd(o.num, self.den);
        let (g1, g2) = (g1.max(1), g2.max(1));
        let n = (self.num / g1).checked_mul(o.num / g2)?;
        let d = (self.den / g2).checked_mul(o.den / g1)?;
        Rational::new(n, d)
    }

    /// `None` on division by zero as well as on overflow; check `is_zero` first
    /// when the two must be told apart.
    pub fn checked_div(self, o: Self) -> Option<Self> {
        if o.num == 0 {
            return None;
        }
        self.checked_mul(Rational::new(o.den, o.num)?)
    }
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        // Exact comparison through i128 cross products, falling back to f64 only
        // when those overflow (never for Countdown-sized values).
        match (
            self.num.checked_mul(other.den),
            other.num.checked_mul(self.den),
        ) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn reduces_and_normalises_sign() {
        assert_eq!(r(6, -4), r(-3, 2));
        assert_eq!(r(0, -7), Rational::ZERO);
        assert!(Rational::new(1, 0).is_none());
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(r(1, 3).checked_add(r(1, 6)), Some(r(1, 2)));
        assert_eq!(r(1, 3).checked_sub(r(1, 2)), Some(r(-1, 6)));
        assert_eq!(r(8, 3).checked_mul(r(3, 4)), Some(r(2, 1)));
        assert_eq!(r(8, 1).checked_div(r(1, 3)), Some(r(24, 1)));
        assert_eq!(r(1, 1).checked_div(Rational::ZERO), None);
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let big = Rational::integer(i128::MAX / 2 + 1);
        assert_eq!(big.checked_add(big), None);
        assert_eq!(big.checked_mul(Rational::integer(3)), None);
    }

    #[test]
    fn ordering_is_exact() {
        assert!(r(1, 3) < r(1, 2));
        assert!(r(-1, 2) < r(-1, 3));
        assert_eq!(r(2, 4).cmp(&r(1, 2)), Ordering::Equal);
    }
}
