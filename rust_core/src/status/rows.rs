//! The rows the monitor is fed, checked field by field before anything is applied, so a bad
//! row refuses the whole call and the view is never half updated.

use rust_decimal::Decimal;

use super::totals::Amounts;
use super::{LocationKey, Session};
use crate::datetime::{Micros, parse_datetime};
use crate::error::InputError;
use crate::number::parse_decimal;

/// One session as the session engine reports it, borrowed from the caller: an update of a held
/// session allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionRow<'a> {
    pub session_id: &'a str,
    pub country_code: &'a str,
    pub party_id: &'a str,
    pub location_id: &'a str,
    pub evse_uid: &'a str,
    pub connector_id: &'a str,
    pub status: &'a str,
    pub kwh: &'a str,
    pub cost_excl: Option<&'a str>,
    pub cost_incl: Option<&'a str>,
    pub currency: &'a str,
    pub started_at: &'a str,
}

/// One EVSE status change.
#[derive(Debug, Clone, PartialEq)]
pub struct EvseStatusRow {
    pub country_code: String,
    pub party_id: String,
    pub location_id: String,
    pub evse_uid: String,
    pub status: String,
}

/// OCPI 2.2.1 SessionStatus values; only ACTIVE sessions are held.
const SESSION_STATUSES: [&str; 5] = ["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"];

/// OCPI 2.2.1 EVSE Status values.
const EVSE_STATUSES: [&str; 9] =
    ["AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"];

/// Bound on every amount: far beyond any session, and small enough that sums over any number of
/// sessions a process can hold stay far inside `Decimal`'s range.
const MAX_AMOUNT: Decimal = Decimal::from_parts(0x_A4C6_8000, 0x_38D7E, 0, false, 0); // 10^15

/// What a session row asks for: hold (or update) this active session, or forget the session.
#[allow(clippy::large_enum_variant)] // short-lived, one per row of a call
pub(crate) enum SessionChange<'a> {
    Active(CheckedSession<'a>),
    Ended(&'a str),
}

/// An ACTIVE row, checked, its figures parsed.
pub(crate) struct CheckedSession<'a> {
    pub row: SessionRow<'a>,
    pub amounts: Amounts<'a>,
    pub started_at: Micros,
}

impl CheckedSession<'_> {
    /// Held at the same EVSE of the same location.
    pub fn same_place(&self, s: &Session) -> bool {
        let r = &self.row;
        s.evse_uid == r.evse_uid && s.key.location_id == r.location_id && s.key.party_id == r.party_id && s.key.country_code == r.country_code
    }

    pub fn to_session(&self) -> Session {
        let r = &self.row;
        Session {
            id: r.session_id.to_string(),
            key: LocationKey { country_code: r.country_code.to_string(), party_id: r.party_id.to_string(), location_id: r.location_id.to_string() },
            evse_uid: r.evse_uid.to_string(),
            connector_id: r.connector_id.to_string(),
            kwh: self.amounts.kwh,
            excl: self.amounts.excl,
            incl: self.amounts.incl,
            currency: r.currency.to_string(),
            started_at: self.started_at,
        }
    }
}

pub(crate) fn check_session_rows<'a>(rows: &[SessionRow<'a>]) -> Result<Vec<SessionChange<'a>>, InputError> {
    rows.iter().enumerate().map(|(i, row)| check_session_row(*row).map_err(|e| e.within(&format!("[{i}]")))).collect()
}

fn check_session_row(row: SessionRow<'_>) -> Result<SessionChange<'_>, InputError> {
    text("session_id", row.session_id, 1, 36)?;
    text("country_code", row.country_code, 2, 2)?;
    text("party_id", row.party_id, 3, 3)?;
    text("location_id", row.location_id, 1, 36)?;
    text("evse_uid", row.evse_uid, 1, 36)?;
    text("connector_id", row.connector_id, 1, 36)?;
    if !SESSION_STATUSES.contains(&row.status) {
        return Err(InputError::new("status", format!("unknown session status {:?}; expected one of {}", row.status, SESSION_STATUSES.join(", "))));
    }
    let kwh = amount("kwh", row.kwh)?;
    let excl = row.cost_excl.map(|t| amount("cost_excl", t)).transpose()?;
    let incl = row.cost_incl.map(|t| amount("cost_incl", t)).transpose()?;
    text("currency", row.currency, 3, 3)?;
    let started_at = parse_datetime(row.started_at).map_err(|m| InputError::new("started_at", m))?;
    if row.status != "ACTIVE" {
        return Ok(SessionChange::Ended(row.session_id));
    }
    Ok(SessionChange::Active(CheckedSession { row, amounts: Amounts { kwh, excl, incl, currency: row.currency }, started_at }))
}

pub(crate) fn check_evse_rows(rows: Vec<EvseStatusRow>) -> Result<Vec<(LocationKey, String, &'static str)>, InputError> {
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let checked = (|| {
                let key = location_key(row.country_code, row.party_id, row.location_id)?;
                text("evse_uid", &row.evse_uid, 1, 36)?;
                let status = EVSE_STATUSES.iter().copied().find(|s| *s == row.status).ok_or_else(|| {
                    InputError::new("status", format!("unknown EVSE status {:?}; expected one of {}", row.status, EVSE_STATUSES.join(", ")))
                })?;
                Ok((key, row.evse_uid, status))
            })();
            checked.map_err(|e: InputError| e.within(&format!("[{i}]")))
        })
        .collect()
}

fn location_key(country_code: String, party_id: String, location_id: String) -> Result<LocationKey, InputError> {
    text("country_code", &country_code, 2, 2)?;
    text("party_id", &party_id, 3, 3)?;
    text("location_id", &location_id, 1, 36)?;
    Ok(LocationKey { country_code, party_id, location_id })
}

/// OCPI string fields: `min..=max` characters, printable.
fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), InputError> {
    let n = value.chars().count();
    if n < min || n > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(InputError::new(field, format!("must be {want} characters, found {n}")));
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::new(field, "must not hold control characters"));
    }
    Ok(())
}

fn amount(field: &str, value: &str) -> Result<Decimal, InputError> {
    let v = parse_decimal(value).map_err(|m| InputError::new(field, m))?;
    if v.is_sign_negative() && !v.is_zero() {
        return Err(InputError::new(field, format!("must not be negative, found {value}")));
    }
    if v > MAX_AMOUNT {
        return Err(InputError::new(field, format!("must be at most 10^15, found {value}")));
    }
    Ok(v)
}
