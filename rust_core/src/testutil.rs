use rust_decimal::Decimal;

/// An exact decimal from its text, for tests.
pub fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}
