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
            let s = h * SECS_PER_HOUR;
            if others_zero && (s - duration).abs() <= HOURS_MATCH_SECS {
                duration
            } else {
                s.round()
            }
        }
    }
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
