//! Money: an amount before tax plus tax lines per rate (the 2.3.0 model; 2.2.1's excl/incl VAT
//! is one view of it), and the output rounding policy.

use rust_decimal::Decimal;
#[cfg(test)]
use rust_decimal::RoundingStrategy;

/// Distinct tax rates one amount can carry; more than this marks the amount incomplete.
const MAX_RATES: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Money {
    pub excl: Decimal,
    taxes: [(Decimal, Decimal); MAX_RATES],
    n_taxes: u8,
    /// Some tax is not known (a priced 2.2.1 component without `vat`, read with
    /// `MissingVat::Unknown`, or more rates than fit): no incl amount.
    pub incomplete: bool,
}

impl Money {
    pub const ZERO: Money = Money { excl: Decimal::ZERO, taxes: [(Decimal::ZERO, Decimal::ZERO); MAX_RATES], n_taxes: 0, incomplete: false };

    pub fn excl_only(excl: Decimal, incomplete: bool) -> Money {
        Money { excl, incomplete, ..Money::ZERO }
    }

    /// `rate` in percent.
    pub fn with_tax(excl: Decimal, rate: Decimal, amount: Decimal) -> Money {
        let mut m = Money::excl_only(excl, false);
        m.add_tax(rate, amount);
        m
    }

    pub fn taxes(&self) -> &[(Decimal, Decimal)] {
        &self.taxes[..self.n_taxes as usize]
    }

    pub fn tax_total(&self) -> Decimal {
        self.taxes().iter().map(|t| t.1).sum()
    }

    /// The amount after tax, when every tax is known.
    pub fn incl(&self) -> Option<Decimal> {
        (!self.incomplete).then(|| self.excl + self.tax_total())
    }

    fn add_tax(&mut self, rate: Decimal, amount: Decimal) {
        let n = self.n_taxes as usize;
        if let Some(t) = self.taxes[..n].iter_mut().find(|t| t.0 == rate) {
            t.1 += amount;
        } else if n < MAX_RATES {
            self.taxes[n] = (rate, amount);
            self.n_taxes += 1;
        } else {
            self.incomplete = true;
        }
    }

    pub fn add(&mut self, other: &Money) {
        self.excl += other.excl;
        for &(rate, amount) in other.taxes() {
            self.add_tax(rate, amount);
        }
        self.incomplete |= other.incomplete;
    }

    pub fn negated(&self) -> Money {
        let mut m = *self;
        m.excl = -m.excl;
        for t in &mut m.taxes[..m.n_taxes as usize] {
            t.1 = -t.1;
        }
        m
    }

    /// Set the after-tax amount to `incl`, spreading the change over the tax lines in proportion
    /// (the last line takes the remainder so the lines add up exactly).
    pub fn set_incl(&mut self, incl: Decimal) {
        let target = incl - self.excl;
        let n = self.n_taxes as usize;
        if n == 0 {
            if !target.is_zero() {
                self.taxes[0] = (Decimal::ZERO, target);
                self.n_taxes = 1;
            }
            return;
        }
        let current = self.tax_total();
        let mut given = Decimal::ZERO;
        for i in 0..n {
            let amount = if i + 1 == n {
                target - given
            } else if current.is_zero() {
                Decimal::ZERO
            } else {
                self.taxes[i].1 * target / current
            };
            self.taxes[i].1 = amount;
            given += amount;
        }
    }
}

/// How numbers are rounded on output. Internally nothing is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    pub decimals: u32,
    pub mode: RoundingMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    HalfUp,
    HalfEven,
    Down,
    Up,
}

impl RoundingMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "half_up" => Some(Self::HalfUp),
            "half_even" | "bankers" => Some(Self::HalfEven),
            "down" => Some(Self::Down),
            "up" => Some(Self::Up),
            _ => None,
        }
    }

    /// rust_decimal's strategy for the mode; `Rounding::apply` does the same in integers.
    #[cfg(test)]
    fn strategy(self) -> RoundingStrategy {
        match self {
            Self::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Self::HalfEven => RoundingStrategy::MidpointNearestEven,
            Self::Down => RoundingStrategy::ToZero,
            Self::Up => RoundingStrategy::AwayFromZero,
        }
    }
}

impl Default for Rounding {
    /// Digest §4.6: OCPI numbers carry 4 decimals; half-up is what the spec's examples use.
    fn default() -> Self {
        Self { decimals: 4, mode: RoundingMode::HalfUp }
    }
}

/// Digits kept before output rounding: far below any output precision, far above the residue
/// of the few inexact divisions (by 3600 s/h, by VAT factors), so e.g. 0.125 computed as
/// 0.12499…9 (28 digits) still rounds as 0.125.
const GUARD_DECIMALS: u32 = 20;

impl Rounding {
    /// Round to `decimals` (after the guard rounding) and normalize. Done in integers: every
    /// output number comes here, and rust_decimal's general path costs several times more.
    /// Exactly `round_dp_with_strategy(GUARD_DECIMALS, MidpointNearestEven)`, then
    /// `round_dp_with_strategy(decimals, mode)`, then `normalize()` (the test checks it).
    pub fn apply(&self, v: Decimal) -> Decimal {
        // Magnitude below 2^96: every step fits u128.
        let mut m = v.mantissa().unsigned_abs();
        let mut scale = v.scale();
        if scale > GUARD_DECIMALS {
            m = round_int(m, scale - GUARD_DECIMALS, RoundingMode::HalfEven);
            scale = GUARD_DECIMALS;
        }
        if scale > self.decimals {
            m = round_int(m, scale - self.decimals, self.mode);
            scale = self.decimals;
        }
        if m == 0 {
            return Decimal::ZERO;
        }
        // Trailing zeros off (normalize); in u64 when it fits, as after rounding to a few decimals.
        if let Ok(mut small) = u64::try_from(m) {
            while scale > 0 && small % 10 == 0 {
                small /= 10;
                scale -= 1;
            }
            m = u128::from(small);
        }
        while scale > 0 && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, v.is_sign_negative(), scale)
    }
}

/// `m / 10^digits`, rounded by `mode` (on the magnitude, as rust_decimal's strategies are).
fn round_int(m: u128, digits: u32, mode: RoundingMode) -> u128 {
    let p = 10u128.pow(digits);
    let (q, r) = if m <= u128::from(u64::MAX) && digits < 20 {
        let (m, p) = (m as u64, p as u64);
        (u128::from(m / p), u128::from(m % p))
    } else {
        (m / p, m % p)
    };
    let half = p / 2;
    let up = match mode {
        RoundingMode::HalfUp => r >= half,
        RoundingMode::HalfEven => r > half || (r == half && q % 2 == 1),
        RoundingMode::Down => false,
        RoundingMode::Up => r != 0,
    };
    q + u128::from(up)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::d;

    #[test]
    fn rounding_modes() {
        let r = |dp, m| Rounding { decimals: dp, mode: m };
        assert_eq!(r(2, RoundingMode::HalfUp).apply(d("5.125")), d("5.13"));
        assert_eq!(r(2, RoundingMode::HalfEven).apply(d("5.125")), d("5.12"));
        assert_eq!(r(2, RoundingMode::HalfUp).apply(d("4.997")), d("5.00"));
        assert_eq!(r(4, RoundingMode::HalfUp).apply(d("0.66666666666")), d("0.6667"));
        assert_eq!(r(2, RoundingMode::Down).apply(d("1.239")), d("1.23"));
        assert_eq!(r(2, RoundingMode::Up).apply(d("1.231")), d("1.24"));
        // A residue of an inexact division does not flip a midpoint.
        let third = Decimal::ONE / Decimal::from(3);
        assert_eq!(r(2, RoundingMode::HalfUp).apply(third * d("0.375") * Decimal::from(3)), d("0.38"));
        assert_eq!(Rounding::default().apply(d("5.50000")).to_string(), "5.5");
    }

    /// The integer rounding agrees with rust_decimal's, two-step guard included, on every mode.
    #[test]
    fn rounding_agrees_with_rust_decimal() {
        let reference = |r: Rounding, v: Decimal| {
            v.round_dp_with_strategy(GUARD_DECIMALS, RoundingStrategy::MidpointNearestEven)
                .round_dp_with_strategy(r.decimals, r.mode.strategy())
                .normalize()
        };
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut values: Vec<Decimal> = ["0", "-0", "0.00005", "-0.00005", "0.00015", "0.00025", "-0.00025", "2.5", "-3.5", "0.99995",
            "79228162514264337593543950335", "7.9228162514264337593543950335", "-0.0000000000000000000000000001"]
            .iter().map(|s| d(s)).collect();
        for _ in 0..20_000 {
            let (a, b) = (next(), next());
            let bits = (a % 97) as u32;
            let m = (u128::from(a) << 64 | u128::from(b)) & ((1u128 << bits.min(96)) - 1);
            let scale = (b % 29) as u32;
            values.push(Decimal::from_parts(m as u32, (m >> 32) as u32, (m >> 64) as u32, a % 2 == 0, scale));
            // Exact midpoints and near-midpoints at 4 decimals.
            let mid = Decimal::new((a % 1_000_000) as i64 * 10 + 5 - (b % 3) as i64 + 1, 5);
            values.push(if a % 3 == 0 { -mid } else { mid });
        }
        for v in values {
            for mode in [RoundingMode::HalfUp, RoundingMode::HalfEven, RoundingMode::Down, RoundingMode::Up] {
                for decimals in [0, 2, 4, 6, 19, 20, 24] {
                    let r = Rounding { decimals, mode };
                    let (got, want) = (r.apply(v), reference(r, v));
                    assert_eq!((got, got.scale(), got.is_sign_negative()), (want, want.scale(), want.is_sign_negative()), "{v} {decimals} {mode:?}");
                }
            }
        }
    }

    #[test]
    fn taxes_by_rate() {
        let mut m = Money::with_tax(d("10"), d("21"), d("2.1"));
        m.add(&Money::with_tax(d("5"), d("9"), d("0.45")));
        m.add(&Money::with_tax(d("1"), d("21"), d("0.21")));
        assert_eq!(m.taxes(), &[(d("21"), d("2.31")), (d("9"), d("0.45"))]);
        assert_eq!(m.incl(), Some(d("18.76")));
        m.add(&Money::excl_only(d("1"), true));
        assert_eq!(m.incl(), None);
    }

    #[test]
    fn set_incl_spreads_over_rates() {
        let mut m = Money::with_tax(d("10"), d("20"), d("2"));
        m.add(&Money::with_tax(d("10"), d("10"), d("1")));
        m.set_incl(d("26"));
        assert_eq!(m.incl(), Some(d("26")));
        assert_eq!(m.taxes()[0].1, d("4"));
        assert_eq!(m.taxes()[1].1, d("2"));
    }
}
