//! Options of one pricing call.

use chrono_tz::Tz;

use crate::model::{TariffType, Version};
use crate::money::Rounding;

/// How charging periods are evaluated against restrictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitMode {
    /// Split a period where a time-of-day, date, weekday, duration or kWh restriction switches,
    /// sharing its volumes out in proportion to time (digest §4.3 step 1).
    #[default]
    AtBoundaries,
    /// Evaluate each period only at its start, as many reference implementations do.
    PeriodStart,
}

/// What a 2.2.1 price component without `vat` means (digest §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingVat {
    /// No VAT applies: its amount incl. VAT equals the amount excl. VAT. This is how 2.3.0 words
    /// it, how real CDRs carry it and how other pricers read it.
    #[default]
    NoVat,
    /// The VAT is not known: every total the component adds to has no `incl_vat` (the reading
    /// of a 2.2.1 example that was later removed).
    Unknown,
}

#[derive(Debug, Clone)]
pub struct PricingOptions {
    /// Location time zone used when the CDR carries none (digest §4.4, A-12).
    pub time_zone: Option<Tz>,
    pub split: SplitMode,
    pub rounding: Rounding,
    /// The session's tariff type when choosing among tariffs (default REGULAR, §4.2).
    pub tariff_type: Option<TariffType>,
    /// Include the per-period breakdown in the result.
    pub breakdown: bool,
    /// Write the result in this version's shape (default: the CDR's own).
    pub version: Option<Version>,
    /// Refuse input that is otherwise read with a warning: a tariff dimension OCPI does not
    /// define, a bare-number min/max price, a date-time without zero padding, a CDR without id.
    pub strict: bool,
    pub missing_vat: MissingVat,
}

impl Default for PricingOptions {
    fn default() -> Self {
        Self {
            time_zone: None,
            split: SplitMode::default(),
            rounding: Rounding::default(),
            tariff_type: None,
            breakdown: true,
            version: None,
            strict: false,
            missing_vat: MissingVat::default(),
        }
    }
}
