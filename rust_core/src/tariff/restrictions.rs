//! TariffRestrictions (digest §4.1 table, §4.4): when an element's components are active.
//!
//! Bounds: start_time, start_date, min_* inclusive; end_time, end_date, max_* exclusive.
//! Calendar and time-of-day conditions are evaluated in the Location's local time.

use chrono::{Datelike, NaiveDate, Weekday};
use rust_decimal::Decimal;

use crate::model::ReservationKind;

pub const SECS_PER_DAY: u32 = 86_400;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restrictions {
    /// Seconds after local midnight.
    pub start_time: Option<u32>,
    pub end_time: Option<u32>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub min_kwh: Option<Decimal>,
    pub max_kwh: Option<Decimal>,
    pub min_current: Option<Decimal>,
    pub max_current: Option<Decimal>,
    pub min_power: Option<Decimal>,
    pub max_power: Option<Decimal>,
    /// Seconds since the session (charging) start.
    pub min_duration: Option<i64>,
    pub max_duration: Option<i64>,
    /// Bit `n` = weekday `n` (Monday = 0); 0 = every day.
    pub days: u8,
    pub reservation: Option<ReservationKind>,
}

/// What a restriction is evaluated against at one instant (the start of a priced piece).
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub local_date: NaiveDate,
    /// Local seconds after midnight.
    pub local_secs: u32,
    /// Energy charged before this instant in the session, kWh.
    pub kwh_before: Decimal,
    /// Microseconds since the session start.
    pub elapsed_micros: i64,
    /// Current and power, as the lowest and highest value seen in the period (A, kW).
    pub current: Range,
    pub power: Range,
}

/// A measured quantity during a period: lower and upper value, either may be unknown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub low: Option<Decimal>,
    pub high: Option<Decimal>,
}

/// Outcome of checking one element: matched, or not; `unknown` names a quantity the period
/// lacked (the restriction is then taken as not met, and the caller warns once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Match,
    NoMatch,
    Unknown(&'static str),
}

pub fn weekday_bit(w: Weekday) -> u8 {
    1 << w.num_days_from_monday()
}

impl Restrictions {
    pub fn has_time_of_day(&self) -> bool {
        self.start_time.is_some() || self.end_time.is_some()
    }

    pub fn has_calendar(&self) -> bool {
        self.start_date.is_some() || self.end_date.is_some() || self.days != 0
    }

    pub fn check(&self, c: &Context) -> Check {
        if self.has_time_of_day() && !self.time_window_contains(c.local_secs) {
            return Check::NoMatch;
        }
        if self.start_date.is_some_and(|d| c.local_date < d) || self.end_date.is_some_and(|d| c.local_date >= d) {
            return Check::NoMatch;
        }
        if self.days != 0 && self.days & weekday_bit(c.local_date.weekday()) == 0 {
            return Check::NoMatch;
        }
        if self.min_kwh.is_some_and(|v| c.kwh_before < v) || self.max_kwh.is_some_and(|v| c.kwh_before >= v) {
            return Check::NoMatch;
        }
        if self.min_duration.is_some_and(|v| c.elapsed_micros < v * 1_000_000)
            || self.max_duration.is_some_and(|v| c.elapsed_micros >= v * 1_000_000)
        {
            return Check::NoMatch;
        }
        // By reference: this runs per piece and dimension, mostly for elements without these bounds.
        for (min, max, range, what) in [
            (&self.min_current, &self.max_current, &c.current, "current"),
            (&self.min_power, &self.max_power, &c.power, "power"),
        ] {
            if min.is_none() && max.is_none() {
                continue;
            }
            if let Some(min) = *min {
                // Conservative (digest A-15): the condition holds through the period only if
                // even the lowest value met it.
                match range.low.or(range.high) {
                    Some(v) if v >= min => {}
                    Some(_) => return Check::NoMatch,
                    None => return Check::Unknown(what),
                }
            }
            if let Some(max) = *max {
                match range.high.or(range.low) {
                    Some(v) if v < max => {}
                    Some(_) => return Check::NoMatch,
                    None => return Check::Unknown(what),
                }
            }
        }
        Check::Match
    }

    /// `[start, end)` on the local clock; `end < start` wraps past midnight; `00:00` as end means
    /// end of day; an absent bound is open (digest §4.4, A-9).
    pub fn time_window_contains(&self, secs: u32) -> bool {
        let start = self.start_time.unwrap_or(0);
        let end = match self.end_time {
            None | Some(0) => SECS_PER_DAY,
            Some(e) => e,
        };
        if start <= end { start <= secs && secs < end } else { secs >= start || secs < end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::d;

    fn ctx(date: &str, secs: u32) -> Context {
        Context {
            local_date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            local_secs: secs,
            kwh_before: Decimal::ZERO,
            elapsed_micros: 0,
            current: Range::default(),
            power: Range::default(),
        }
    }

    #[test]
    fn time_window_bounds_and_midnight_wrap() {
        let r = Restrictions { start_time: Some(17 * 3600), end_time: Some(20 * 3600), ..Default::default() };
        assert!(!r.time_window_contains(17 * 3600 - 1));
        assert!(r.time_window_contains(17 * 3600));
        assert!(!r.time_window_contains(20 * 3600));
        let night = Restrictions { start_time: Some(22 * 3600), end_time: Some(6 * 3600), ..Default::default() };
        assert!(night.time_window_contains(23 * 3600));
        assert!(night.time_window_contains(0));
        assert!(night.time_window_contains(6 * 3600 - 1));
        assert!(!night.time_window_contains(6 * 3600));
        assert!(!night.time_window_contains(12 * 3600));
        let to_midnight = Restrictions { start_time: Some(20 * 3600), end_time: Some(0), ..Default::default() };
        assert!(to_midnight.time_window_contains(SECS_PER_DAY - 1));
        assert!(!to_midnight.time_window_contains(0));
    }

    #[test]
    fn dates_start_inclusive_end_exclusive() {
        let r = Restrictions {
            start_date: NaiveDate::from_ymd_opt(2024, 3, 1),
            end_date: NaiveDate::from_ymd_opt(2024, 3, 3),
            ..Default::default()
        };
        assert_eq!(r.check(&ctx("2024-02-29", 0)), Check::NoMatch);
        assert_eq!(r.check(&ctx("2024-03-01", 0)), Check::Match);
        assert_eq!(r.check(&ctx("2024-03-02", 86_399)), Check::Match);
        assert_eq!(r.check(&ctx("2024-03-03", 0)), Check::NoMatch);
    }

    #[test]
    fn weekdays() {
        let r = Restrictions { days: weekday_bit(Weekday::Sat) | weekday_bit(Weekday::Sun), ..Default::default() };
        assert_eq!(r.check(&ctx("2024-03-02", 0)), Check::Match); // Saturday
        assert_eq!(r.check(&ctx("2024-03-04", 0)), Check::NoMatch); // Monday
    }

    #[test]
    fn kwh_and_duration_bounds() {
        let r = Restrictions { min_kwh: Some(d("10")), max_kwh: Some(d("20")), ..Default::default() };
        let mut c = ctx("2024-03-04", 0);
        c.kwh_before = d("9.999");
        assert_eq!(r.check(&c), Check::NoMatch);
        c.kwh_before = d("10");
        assert_eq!(r.check(&c), Check::Match);
        c.kwh_before = d("20");
        assert_eq!(r.check(&c), Check::NoMatch);

        let r = Restrictions { min_duration: Some(1800), max_duration: Some(3600), ..Default::default() };
        c.kwh_before = Decimal::ZERO;
        c.elapsed_micros = 1_799_999_999;
        assert_eq!(r.check(&c), Check::NoMatch);
        c.elapsed_micros = 1_800_000_000;
        assert_eq!(r.check(&c), Check::Match);
        c.elapsed_micros = 3_599_999_999;
        assert_eq!(r.check(&c), Check::Match);
        c.elapsed_micros = 3_600_000_000;
        assert_eq!(r.check(&c), Check::NoMatch);
    }

    #[test]
    fn current_uses_low_for_min_and_high_for_max() {
        let r = Restrictions { min_current: Some(d("32")), ..Default::default() };
        let mut c = ctx("2024-03-04", 0);
        assert_eq!(r.check(&c), Check::Unknown("current"));
        c.current = Range { low: Some(d("30")), high: Some(d("40")) };
        assert_eq!(r.check(&c), Check::NoMatch);
        c.current = Range { low: Some(d("32")), high: Some(d("40")) };
        assert_eq!(r.check(&c), Check::Match);
        let r = Restrictions { max_current: Some(d("32")), ..Default::default() };
        assert_eq!(r.check(&c), Check::NoMatch);
        c.current = Range { low: Some(d("10")), high: Some(d("16")) };
        assert_eq!(r.check(&c), Check::Match);
    }
}
