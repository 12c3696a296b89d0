//! Readers for OCPI JSON (2.1.1, 2.2.1, 2.3.0) and the enums they share. Each reader turns one
//! document into the internal model: `crate::tariff::Tariff` or `cdr::Cdr`.

pub mod cdr;
pub mod json;
pub mod tariff;

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
