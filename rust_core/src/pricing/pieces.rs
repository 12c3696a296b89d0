//! Charging periods → priced pieces: each period's time and volumes, split where a restriction
//! of its tariff can switch, with the context restrictions are evaluated against.

use chrono::{NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::datetime::{MICROS_PER_SEC, Micros, to_utc};
use crate::model::cdr::{Cdr, Period, Volumes};
use crate::pricing::options::SplitMode;
use crate::tariff::{Context, Range, Tariff};

/// One stretch of a charging period in which no restriction of its tariff changes.
#[derive(Debug, Clone)]
pub struct Piece {
    pub period: usize,
    pub tariff: usize,
    pub start: Micros,
    pub end: Micros,
    pub reservation: bool,
    pub energy: Decimal,
    /// Charging, parking and reservation time in seconds.
    pub time: Decimal,
    pub parking: Decimal,
    pub reservation_time: Decimal,
    pub context: Context,
}

/// Tolerance when deciding that a period's hours are its own duration written with 4 decimals
/// (4-decimal hours are off by up to 0.18 s; digest §4.7 "Precision").
const HOURS_MATCH_SECS: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

const SECS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

pub fn micros_to_secs(m: Micros) -> Decimal {
    Decimal::new(m, 6)
}

fn is_reservation(v: &Volumes) -> bool {
    let nonzero = |x: Option<Decimal>| x.is_some_and(|x| !x.is_zero());
    nonzero(v.reservation_time) && !nonzero(v.energy) && !nonzero(v.time) && !nonzero(v.parking_time)
}

/// Seconds of a time dimension: the period's own duration when the volume is that duration in
/// hours (pure charging or parking), else the volume in seconds rounded to whole seconds.
/// The duration only sharpens a stated volume: a stated 0 stays 0, however short the period
/// (§4.5 S1/S3 round the priced volume; a period's length is no volume of its own).
fn seconds(volume: Option<Decimal>, others_zero: bool, duration: Decimal) -> Decimal {
    match volume {
        None => Decimal::ZERO,
        Some(h) if h.is_zero() => Decimal::ZERO,
        Some(h) => {
            if let Some(s) = seconds_in_integers(h, others_zero, duration) {
                return s;
            }
            let s = h * SECS_PER_HOUR;
            if others_zero && (s - duration).abs() <= HOURS_MATCH_SECS {
                duration
            } else {
                s.round()
            }
        }
    }
}

/// `seconds` for the usual volume (non-negative, at most 12 decimals, mantissa below 2^64) in
/// integer arithmetic, giving the very Decimal the general path gives (`h * 3600` keeps h's
/// scale; `round` is to even); `None` for anything else.
fn seconds_in_integers(h: Decimal, others_zero: bool, duration: Decimal) -> Option<Decimal> {
    let k = h.scale();
    let m = h.mantissa();
    if m < 0 || k > 12 || m > i128::from(u64::MAX) {
        return None;
    }
    let s = m * 3600;
    if others_zero {
        if duration.scale() != 6 {
            return None;
        }
        // |s - duration| <= 0.5, at the larger of the two scales.
        let c = k.max(6);
        let diff = s * 10i128.pow(c - k) - duration.mantissa() * 10i128.pow(c - 6);
        if diff.abs() <= 5 * 10i128.pow(c - 1) {
            return Some(duration);
        }
    }
    let p = 10i128.pow(k);
    let (q, r) = (s / p, s % p);
    let up = r * 2 > p || (r * 2 == p && q % 2 == 1);
    Some(Decimal::from_i128_with_scale(q + i128::from(up), 0))
}

pub struct PieceInput<'c, 'a> {
    pub cdr: &'c Cdr<'a>,
    /// Tariff of each period (index into `tariffs`).
    pub period_tariff: &'c [usize],
    pub tariffs: &'c [&'c Tariff],
    pub tz: Tz,
    pub split: SplitMode,
}

/// Build the pieces, in time order. `periods` must be sorted by start.
pub fn build_pieces(inp: &PieceInput, periods: &[&Period]) -> Vec<Piece> {
    let cdr = inp.cdr;
    let charging_start = periods.iter().find(|p| !is_reservation(&p.volumes)).map_or(cdr.start, |p| p.start.max(cdr.start));
    let mut out = Vec::with_capacity(periods.len() + 2);
    let mut kwh = Decimal::ZERO;
    let mut edges: Vec<(Micros, Option<Decimal>)> = Vec::new();
    // Local-clock switch instants over the whole session, per tariff: computed once, not per period.
    let mut day_edges: Vec<Option<Vec<Micros>>> = vec![None; inp.tariffs.len()];
    let span_start = periods.first().map_or(cdr.start, |p| p.start.min(cdr.start));
    let span_end = cdr.end.max(periods.last().map_or(cdr.end, |p| p.start));
    for (i, p) in periods.iter().enumerate() {
        let start = p.start;
        let end = periods.get(i + 1).map_or(cdr.end, |n| n.start).max(start);
        let v = &p.volumes;
        let duration = micros_to_secs(end - start);
        let zero = |x: Option<Decimal>| x.is_none_or(|x| x.is_zero());
        let reservation = is_reservation(v);
        let energy = v.energy.unwrap_or_default();
        let time = seconds(v.time, zero(v.parking_time) && zero(v.reservation_time), duration);
        let parking = seconds(v.parking_time, zero(v.time) && zero(v.reservation_time), duration);
        let reservation_time = seconds(v.reservation_time, zero(v.time) && zero(v.parking_time), duration);
        let tariff = inp.tariffs[inp.period_tariff[i]];
        let base = if reservation { cdr.start } else { charging_start };

        edges.clear();
        if inp.split == SplitMode::AtBoundaries && end > start {
            let local = day_edges[inp.period_tariff[i]]
                .get_or_insert_with(|| local_edges(tariff, inp.tz, span_start, span_end));
            collect_edges(tariff, local, start, end, base, kwh, energy, &mut edges);
        }
        let current = Range { low: v.min_current.or(v.current), high: v.max_current.or(v.current) };
        let mut power = Range { low: v.min_power.or(v.power), high: v.max_power.or(v.power) };
        if power.low.is_none() && power.high.is_none() && time > Decimal::ZERO && !energy.is_zero() {
            // Average charging power, when the CDR gives none.
            let avg = energy * SECS_PER_HOUR / time;
            power = Range { low: Some(avg), high: Some(avg) };
        }

        let total = end - start;
        let mut at = start;
        let mut given = [Decimal::ZERO; 4];
        let whole = [energy, time, parking, reservation_time];
        let mut e_iter = edges.iter().copied().chain(std::iter::once((end, None))).peekable();
        while let Some((edge, kwh_target)) = e_iter.next() {
            let last = e_iter.peek().is_none();
            let mut share = [Decimal::ZERO; 4];
            for k in 0..4 {
                share[k] = if last {
                    whole[k] - given[k]
                } else if total == 0 || whole[k].is_zero() {
                    Decimal::ZERO
                } else {
                    whole[k] * Decimal::from(edge - at) / Decimal::from(total)
                };
            }
            if let Some(target) = kwh_target {
                // Land exactly on the threshold so `min_kwh` holds from the next piece on.
                share[0] = target - kwh - given[0];
            }
            let context = context_at(inp.tz, at, base, kwh + given[0], current, power);
            out.push(Piece {
                period: i,
                tariff: inp.period_tariff[i],
                start: at,
                end: edge,
                reservation,
                energy: share[0],
                time: share[1],
                parking: share[2],
                reservation_time: share[3],
                context,
            });
            if last {
                break;
            }
            for k in 0..4 {
                given[k] += share[k];
            }
            at = edge;
        }
        kwh += energy;
    }
    out
}

fn context_at(tz: Tz, at: Micros, base: Micros, kwh_before: Decimal, current: Range, power: Range) -> Context {
    let local = to_utc(at).with_timezone(&tz);
    Context {
        local_date: local.date_naive(),
        local_secs: local.num_seconds_from_midnight(),
        kwh_before,
        elapsed_micros: at - base,
        current,
        power,
    }
}

/// Every instant in [start, end] at which the local clock crosses a time-of-day edge of
/// `tariff` (or midnight, for date and weekday restrictions), sorted.
pub(crate) fn local_edges(tariff: &Tariff, tz: Tz, start: Micros, end: Micros) -> Vec<Micros> {
    let c = &tariff.compiled;
    let mut out = Vec::new();
    if c.day_edges.is_empty() {
        return out;
    }
    let first = to_utc(start).with_timezone(&tz).date_naive();
    let last = to_utc(end).with_timezone(&tz).date_naive();
    let mut day = first;
    while day <= last {
        for &secs in &c.day_edges {
            if let Some(t) = local_instant(tz, day, secs) {
                if start <= t && t <= end {
                    out.push(t);
                }
            }
        }
        match day.succ_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out.sort_unstable();
    out
}

/// Instants strictly inside (start, end) where a restriction of `tariff` may switch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn collect_edges(
    tariff: &Tariff,
    local: &[Micros],
    start: Micros,
    end: Micros,
    base: Micros,
    kwh_before: Decimal,
    energy: Decimal,
    out: &mut Vec<(Micros, Option<Decimal>)>,
) {
    let c = &tariff.compiled;
    let inside = |t: Micros| start < t && t < end;
    let from = local.partition_point(|&t| t <= start);
    out.extend(local[from..].iter().take_while(|&&t| t < end).map(|&t| (t, None)));
    for &d in &c.duration_edges {
        let t = base + d * MICROS_PER_SEC;
        if inside(t) {
            out.push((t, None));
        }
    }
    if energy > Decimal::ZERO {
        for &k in &c.kwh_edges {
            if kwh_before < k && k < kwh_before + energy {
                let frac = (k - kwh_before) / energy;
                let offset = (frac * Decimal::from(end - start)).round();
                let t = start + i64::try_from(offset.mantissa()).unwrap_or(0);
                if inside(t) {
                    out.push((t, Some(k)));
                }
            }
        }
    }
    out.sort_by_key(|e| (e.0, e.1.is_none()));
    out.dedup_by_key(|e| e.0);
}

/// The UTC instant of local `secs` after midnight on `day`. In a DST gap the clock jumps past
/// the wall time, so the switch happens at the end of the gap; in a repeated hour the first
/// occurrence is where the switch happens.
fn local_instant(tz: Tz, day: NaiveDate, secs: u32) -> Option<Micros> {
    let naive = day.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs % 86_400, 0)?);
    let naive = if secs >= 86_400 { naive + chrono::Duration::days(1) } else { naive };
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => Some(t.timestamp_micros()),
        chrono::LocalResult::Ambiguous(a, _) => Some(a.timestamp_micros()),
        chrono::LocalResult::None => {
            // Walk forward to the first existing minute (gaps are at most a few hours).
            let mut probe = naive;
            for _ in 0..(4 * 60) {
                probe += chrono::Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return Some(t.timestamp_micros());
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer path gives the general path's Decimal, scale included.
    #[test]
    fn seconds_in_integers_is_the_decimal_path() {
        let general = |h: Decimal, others_zero: bool, duration: Decimal| {
            let s = h * SECS_PER_HOUR;
            if others_zero && (s - duration).abs() <= HOURS_MATCH_SECS { duration } else { s.round() }
        };
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases = vec![];
        for _ in 0..50_000 {
            let (a, b) = (next(), next());
            let scale = (a % 14) as u32;
            let m = match b % 4 {
                0 => i64::try_from(a >> 1).unwrap(),
                1 => (a % 100_000_000) as i64,
                2 => (a % 1000) as i64,
                _ => -((a % 1_000_000) as i64),
            };
            let h = Decimal::new(m, scale);
            // Durations near h hours, and exact half-second ties.
            let secs = h * SECS_PER_HOUR;
            let near = Decimal::new(((secs * Decimal::from(1_000_000)).trunc().mantissa() as i64).saturating_add((b % 1_000_003) as i64 - 500_001), 6);
            cases.push((h, Decimal::new((b % 100_000_000_000) as i64, 6)));
            cases.push((h, near));
            cases.push((Decimal::new((a % 10_000) as i64 * 10 + 5, 4) / SECS_PER_HOUR * SECS_PER_HOUR, near));
        }
        cases.push((Decimal::new(5, 1) / SECS_PER_HOUR, Decimal::ZERO));
        cases.push((Decimal::new(1, 12), Decimal::new(500_000, 6)));
        for (h, duration) in cases {
            for others_zero in [false, true] {
                if let Some(got) = seconds_in_integers(h, others_zero, duration) {
                    let want = general(h, others_zero, duration);
                    assert_eq!((got, got.scale(), got.is_sign_negative()), (want, want.scale(), want.is_sign_negative()), "{h} {duration}");
                }
            }
        }
    }
}
