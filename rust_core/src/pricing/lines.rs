//! Priced lines: which component priced which volume of which piece, and what it cost.

use rust_decimal::Decimal;

use super::MissingVat;
use crate::money::Money;
use crate::tariff::{Component, ComponentRef, TaxBasis};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Energy,
    Time,
    Parking,
    /// Reservation time, priced by the TIME component of a reservation element.
    Reservation,
    /// The session's FLAT fee.
    Flat,
    /// A reservation element's FLAT fee.
    ReservationFlat,
}

impl LineKind {
    pub fn dimension_name(self) -> &'static str {
        match self {
            Self::Energy => "ENERGY",
            Self::Time => "TIME",
            Self::Parking => "PARKING_TIME",
            Self::Reservation => "RESERVATION_TIME",
            Self::Flat | Self::ReservationFlat => "FLAT",
        }
    }

    /// Volumes in seconds (shown as hours), rather than kWh or a count.
    pub fn is_time(self) -> bool {
        matches!(self, Self::Time | Self::Parking | Self::Reservation)
    }
}

#[derive(Debug, Clone)]
pub struct Line {
    pub piece: usize,
    pub kind: LineKind,
    pub tariff: usize,
    pub component: ComponentRef,
    /// kWh for energy, seconds for time, 1 for a FLAT fee.
    pub volume: Decimal,
    /// Volume after step_size rounding.
    pub billed: Decimal,
    pub cost: Money,
    /// The component's terms, kept for the breakdown.
    pub unit_price: Decimal,
    pub vat: Option<Decimal>,
    pub step_size: u32,
    /// The component's index in its element's `price_components` in the tariff document.
    pub position: u16,
}

const SECS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);
const HUNDRED: Decimal = Decimal::ONE_HUNDRED;
/// 0.01, exact: multiplying by it avoids a division per line.
const PERCENT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

impl Line {
    pub fn new(piece: usize, kind: LineKind, tariff: usize, component: ComponentRef, volume: Decimal) -> Self {
        Self { piece, kind, tariff, component, volume, billed: volume, cost: Money::ZERO, unit_price: Decimal::ZERO, vat: None, step_size: 0, position: 0 }
    }

    /// Cost of the billed volume at the component's price, with its tax (digest §4.6).
    pub fn price_with(&mut self, c: &Component, missing_vat: MissingVat) {
        self.unit_price = c.price;
        self.vat = c.vat;
        self.step_size = c.step_size;
        self.position = c.position;
        let gross = if self.kind.is_time() { self.billed * c.price / SECS_PER_HOUR } else { self.billed * c.price };
        self.cost = match (c.tax, c.vat) {
            (TaxBasis::NotApplicable, _) | (TaxBasis::Excluded | TaxBasis::Included, None) => Money::excl_only(gross, false),
            (TaxBasis::ExcludedVatOptional, None) => Money::excl_only(gross, missing_vat == MissingVat::Unknown && !gross.is_zero()),
            (TaxBasis::ExcludedUnknownIfAbsent, None) => Money::excl_only(gross, !gross.is_zero()),
            (TaxBasis::Excluded | TaxBasis::ExcludedVatOptional | TaxBasis::ExcludedUnknownIfAbsent, Some(vat)) => Money::with_tax(gross, vat, gross * vat * PERCENT),
            (TaxBasis::Included, Some(vat)) => {
                let excl = gross * HUNDRED / (HUNDRED + vat);
                Money::with_tax(excl, vat, gross - excl)
            }
        };
    }
}
