//! Readers for OCPI JSON (2.1.1, 2.2.1, 2.3.0) and the enums they share. Each reader turns one
//! document into the internal model: `crate::tariff::Tariff` or `cdr::Cdr`.

pub mod cdr;
pub mod json;
pub mod tariff;

use crate::datetime::{Micros, format_datetime, parse_datetime, parse_datetime_unpadded};
use crate::error::InputError;

/// The OCPI version a document was written in (detected from its shape, or given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V211,
    V221,
    V230,
}

impl Version {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "2.1.1" | "2.1" => Some(Self::V211),
            "2.2.1" | "2.2" => Some(Self::V221),
            "2.3.0" | "2.3" => Some(Self::V230),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V211 => "2.1.1",
            Self::V221 => "2.2.1",
            Self::V230 => "2.3.0",
        }
    }
}

/// TariffType (digest §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TariffType {
    AdHocPayment,
    ProfileCheap,
    ProfileFast,
    ProfileGreen,
    Regular,
}

impl TariffType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "AD_HOC_PAYMENT" => Some(Self::AdHocPayment),
            "PROFILE_CHEAP" => Some(Self::ProfileCheap),
            "PROFILE_FAST" => Some(Self::ProfileFast),
            "PROFILE_GREEN" => Some(Self::ProfileGreen),
            "REGULAR" => Some(Self::Regular),
            _ => None,
        }
    }
}

/// TariffDimensionType: what a price component prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TariffDimension {
    Energy,
    Flat,
    ParkingTime,
    Time,
}

impl TariffDimension {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ENERGY" => Some(Self::Energy),
            "FLAT" => Some(Self::Flat),
            "PARKING_TIME" => Some(Self::ParkingTime),
            "TIME" => Some(Self::Time),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Energy => "ENERGY",
            Self::Flat => "FLAT",
            Self::ParkingTime => "PARKING_TIME",
            Self::Time => "TIME",
        }
    }
}

/// ReservationRestrictionType (digest §4.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationKind {
    Reservation,
    ReservationExpires,
}

impl ReservationKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESERVATION" => Some(Self::Reservation),
            "RESERVATION_EXPIRES" => Some(Self::ReservationExpires),
            _ => None,
        }
    }
}

/// Upper-case OCPI enums compared case-sensitively, as the spec says; error text lists the values.
pub(crate) fn enum_error(what: &str, got: &str, allowed: &[&str]) -> String {
    format!("unknown {what} {got:?}; expected one of {}", allowed.join(", "))
}

/// How one document is read. Some input breaks the spec in ways other pricers accept: a tariff
/// dimension OCPI does not define, a bare-number `min_price`/`max_price`, a date-time without zero
/// padding, a CDR without `id`. Such input is read with a warning that says how, or refused as
/// the spec demands when `strict`.
pub(crate) struct Reading {
    pub strict: bool,
    /// The first date-time read without its zero padding (path, text, instant), and how many there were:
    /// reported once per document, not once per charging period.
    unpadded: Option<(String, String, Micros)>,
    unpadded_count: usize,
}

impl Reading {
    pub fn new(strict: bool) -> Self {
        Self { strict, unpadded: None, unpadded_count: 0 }
    }

    /// Accept what `error` describes (at `prefix` + its field) with a warning saying `reading`,
    /// or return the error when strict.
    pub fn tolerate(&self, warnings: &mut Vec<String>, prefix: &str, error: InputError, reading: &str) -> Result<(), InputError> {
        if self.strict {
            return Err(error);
        }
        warnings.push(format!("{}; {reading}", error.within(prefix)));
        Ok(())
    }

    /// A DateTime field; `field` is its path relative to the error's context, `path` its full
    /// path for the warning (both built only when needed).
    #[inline]
    pub fn datetime(&mut self, text: &str, field: &str, path: impl FnOnce() -> String) -> Result<Micros, InputError> {
        match parse_datetime(text) {
            Ok(t) => Ok(t),
            Err(message) => self.unpadded_datetime(text, field, path, message),
        }
    }

    /// The rare path, kept out of line: this runs for every period of every CDR.
    #[cold]
    #[inline(never)]
    fn unpadded_datetime(&mut self, text: &str, field: &str, path: impl FnOnce() -> String, message: String) -> Result<Micros, InputError> {
        match parse_datetime_unpadded(text) {
            Some(t) if !self.strict => {
                self.unpadded_count += 1;
                if self.unpadded.is_none() {
                    self.unpadded = Some((path(), text.to_string(), t));
                }
                Ok(t)
            }
            _ => Err(InputError::new(field, message)),
        }
    }

    /// Add the warnings collected while reading.
    pub fn finish(self, warnings: &mut Vec<String>) {
        if let Some((path, text, t)) = self.unpadded {
            let mut read_as = String::new();
            format_datetime(t, &mut read_as);
            let more = match self.unpadded_count {
                1 => String::new(),
                n => format!(" ({} more date-times like it)", n - 1),
            };
            warnings.push(format!("{path}: date-time {text:?} lacks zero padding; read as {read_as}{more}"));
        }
    }
}
