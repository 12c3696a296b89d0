//! The fold: meter readings → charging periods, cut wherever the active price component of the
//! session's tariff can change (contract "Periods"): charging ↔ suspended, a power or current
//! restriction threshold crossed, and inside an interval at the tariff's local time-of-day,
//! weekday and date edges, its duration edges and its kWh edges.
//!
//! Energy between two readings is linear in time. At a time cut the energy is interpolated and
//! rounded to whole Wh (so the parts add up to the exact meter difference); at a kWh cut it is the
//! exact threshold, the time interpolated and rounded to whole seconds.

use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::VecDeque;

use super::event::ChargeState;
use crate::datetime::{MICROS_PER_SEC, Micros};
use crate::pricing::pieces::{collect_edges, local_edges};
use crate::tariff::Tariff;

const WH_PER_KWH: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// One meter reading; its state, power and current hold until the next reading.
#[derive(Debug, Clone)]
pub struct Reading {
    pub time: Micros,
    pub wh: Decimal,
    pub state: ChargeState,
    /// W and A, when measured.
    pub power: Option<Decimal>,
    pub current: Option<Decimal>,
}

/// Lowest and highest value measured in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Span {
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

impl Span {
    fn of(v: Option<Decimal>) -> Self {
        Self { min: v, max: v }
    }

    fn extend(&mut self, v: Option<Decimal>) {
        if let Some(v) = v {
            self.min = Some(self.min.map_or(v, |m| m.min(v)));
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }
}

/// A stretch with one set of price-relevant conditions, from `start` to `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub start: Micros,
    pub end: Micros,
    pub start_wh: Decimal,
    pub end_wh: Decimal,
    pub charging: bool,
    /// W and A.
    pub power: Span,
    pub current: Span,
}

impl Period {
    pub fn kwh(&self) -> Decimal {
        ((self.end_wh - self.start_wh) / WH_PER_KWH).normalize()
    }
}

/// The period being built: from `start` up to the last folded reading (`at`).
#[derive(Debug, Clone)]
pub struct Open {
    pub start: Micros,
    pub start_wh: Decimal,
    pub at: Micros,
    pub at_wh: Decimal,
    pub charging: bool,
    /// Which side of every power/current threshold the readings are on.
    pub class: u64,
    pub power: Span,
    pub current: Span,
}

impl Open {
    /// Time or energy (a meter step within one instant is energy all the same).
    fn has_extent(&self) -> bool {
        self.at > self.start || self.at_wh > self.start_wh
    }

    fn as_period(&self) -> Period {
        Period {
            start: self.start,
            end: self.at,
            start_wh: self.start_wh,
            end_wh: self.at_wh,
            charging: self.charging,
            power: self.power,
            current: self.current,
        }
    }
}

/// What is fixed for a session and decides where periods are cut.
#[derive(Debug, Clone)]
pub struct Cutter {
    pub tz: Tz,
    /// Session start (the base of duration restrictions) and its meter reading.
    pub start: Micros,
    pub start_wh: Decimal,
    /// Thresholds of the session tariff's power (W) and current (A) restrictions, sorted.
    pub power_thresholds: Vec<Decimal>,
    pub current_thresholds: Vec<Decimal>,
}

impl Cutter {
    pub fn new(tariff: &Tariff, tz: Tz, start: Micros, start_wh: Decimal) -> Self {
        let mut power = Vec::new();
        let mut current = Vec::new();
        for el in &tariff.elements {
            let r = &el.restrictions;
            power.extend([r.min_power, r.max_power].into_iter().flatten().map(|kw| kw * WH_PER_KWH));
            current.extend([r.min_current, r.max_current].into_iter().flatten());
        }
        for v in [&mut power, &mut current] {
            v.sort();
            v.dedup();
            v.truncate(31);
        }
        Self { tz, start, start_wh, power_thresholds: power, current_thresholds: current }
    }

    /// Bits: for each threshold, whether the value reaches it; bit 31 (63) = not measured.
    fn class(&self, r: &Reading) -> u64 {
        fn bits(th: &[Decimal], v: Option<Decimal>, shift: u32) -> u64 {
            if th.is_empty() {
                return 0;
            }
            match v {
                None => 1 << (shift + 31),
                Some(v) => th.iter().enumerate().filter(|(_, t)| v >= **t).fold(0, |acc, (i, _)| acc | 1 << (shift + i as u32)),
            }
        }
        bits(&self.power_thresholds, r.power, 0) | bits(&self.current_thresholds, r.current, 32)
    }
}

/// The fold state right before a reading's own conditions are applied.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub closed: usize,
    pub open: Open,
}

/// Closed periods, the open one, and the readings a late event may still fall between.
#[derive(Debug, Clone)]
pub struct Fold {
    pub closed: Vec<Period>,
    pub open: Open,
    /// Readings from the last one before the reorder window on, each with its checkpoint.
    pub readings: VecDeque<(Reading, Checkpoint)>,
}

impl Fold {
    /// A session started with `first` (a CHARGING reading without power or current).
    pub fn new(cutter: &Cutter, first: Reading) -> Self {
        let open = Open {
            start: first.time,
            start_wh: first.wh,
            at: first.time,
            at_wh: first.wh,
            charging: first.state.is_charging(),
            class: cutter.class(&first),
            power: Span::of(first.power),
            current: Span::of(first.current),
        };
        let cp = Checkpoint { closed: 0, open: open.clone() };
        let mut readings = VecDeque::with_capacity(4);
        readings.push_back((first, cp));
        Self { closed: Vec::new(), open, readings }
    }

    pub fn latest(&self) -> &Reading {
        &self.readings.back().expect("a session has its start reading").0
    }

    /// The position a reading at `time` takes (readings of one instant in meter order), and whether
    /// its meter value fits between its neighbours: Err((neighbour time, neighbour Wh, later)).
    pub fn place(&self, time: Micros, wh: Decimal) -> Result<usize, (Micros, Decimal, bool)> {
        let pos = self.readings.partition_point(|(r, _)| (r.time, r.wh) <= (time, wh));
        if pos > 0 {
            let prev = &self.readings[pos - 1].0;
            if wh < prev.wh {
                return Err((prev.time, prev.wh, false));
            }
        }
        if let Some((next, _)) = self.readings.get(pos) {
            if wh > next.wh {
                return Err((next.time, next.wh, true));
            }
        }
        Ok(pos)
    }

    /// Fold `r` in at position `pos` (from `place`, ≥ 1): O(1) at the end, else a refold from
    /// the reading before it.
    pub fn insert(&mut self, cutter: &Cutter, tariff: &Tariff, pos: usize, r: Reading) {
        debug_assert!(pos >= 1);
        let placeholder = Checkpoint { closed: 0, open: self.open.clone() };
        self.readings.insert(pos, (r, placeholder));
        let from = pos - 1;
        let cp = self.readings[from].1.clone();
        self.closed.truncate(cp.closed);
        self.open = cp.open;
        self.apply_reading(cutter, from);
        for k in from + 1..self.readings.len() {
            let (a, b) = (self.readings[k - 1].0.clone(), self.readings[k].0.clone());
            self.segment(cutter, tariff, &a, &b);
            self.readings[k].1 = Checkpoint { closed: self.closed.len(), open: self.open.clone() };
            self.apply_reading(cutter, k);
        }
    }

    /// The stop reading: fold the last interval and close the open period.
    pub fn finish(&mut self, cutter: &Cutter, tariff: &Tariff, stop: &Reading) {
        let last = self.latest().clone();
        self.segment(cutter, tariff, &last, stop);
        if self.open.has_extent() || self.closed.is_empty() {
            let p = self.open.as_period();
            self.closed.push(p);
        }
        self.open.start = self.open.at;
        self.open.start_wh = self.open.at_wh;
    }

    /// The open period as it stands (None when it has neither length nor energy and periods exist).
    pub fn open_period(&self) -> Option<Period> {
        (self.open.has_extent() || self.closed.is_empty()).then(|| self.open.as_period())
    }

    /// Forget readings no late event can fall before: keep the last one at or before `horizon`.
    pub fn prune(&mut self, horizon: Micros) {
        while self.readings.len() > 1 && self.readings[1].0.time <= horizon {
            self.readings.pop_front();
        }
    }

    /// Apply reading `k`'s conditions (the open period is at its time).
    fn apply_reading(&mut self, cutter: &Cutter, k: usize) {
        let r = &self.readings[k].0;
        let class = cutter.class(r);
        let charging = r.state.is_charging();
        let o = &mut self.open;
        if !o.has_extent() {
            // Nothing measured yet under the old conditions: they never held.
            o.charging = charging;
            o.class = class;
            o.power = Span::of(r.power);
            o.current = Span::of(r.current);
        } else if o.charging != charging || o.class != class {
            let (t, wh, p, c) = (r.time, r.wh, r.power, r.current);
            self.close_at(t, wh);
            let o = &mut self.open;
            o.charging = charging;
            o.class = class;
            o.power = Span::of(p);
            o.current = Span::of(c);
        } else {
            o.power.extend(r.power);
            o.current.extend(r.current);
        }
    }

    fn close_at(&mut self, t: Micros, wh: Decimal) {
        let mut p = self.open.as_period();
        p.end = t;
        p.end_wh = wh;
        self.closed.push(p);
        self.open.start = t;
        self.open.start_wh = wh;
    }

    /// Fold the interval a → b: cut inside it where the tariff says, then extend to b.
    fn segment(&mut self, cutter: &Cutter, tariff: &Tariff, a: &Reading, b: &Reading) {
        if b.time > a.time {
            for (t, wh) in cuts(cutter, tariff, a, b) {
                self.close_at(t, wh);
                self.open.power = Span::of(a.power);
                self.open.current = Span::of(a.current);
            }
        }
        self.open.at = b.time;
        self.open.at_wh = b.wh;
    }
}

/// Cut points strictly inside (a.time, b.time), in time order, with the meter value at each.
fn cuts(cutter: &Cutter, tariff: &Tariff, a: &Reading, b: &Reading) -> Vec<(Micros, Decimal)> {
    let c = &tariff.compiled;
    if c.day_edges.is_empty() && c.duration_edges.is_empty() && c.kwh_edges.is_empty() {
        return Vec::new();
    }
    let local = if c.day_edges.is_empty() { Vec::new() } else { local_edges(tariff, cutter.tz, a.time, b.time) };
    let kwh_before = (a.wh - cutter.start_wh) / WH_PER_KWH;
    let energy = (b.wh - a.wh) / WH_PER_KWH;
    let mut edges = Vec::new();
    collect_edges(tariff, &local, a.time, b.time, cutter.start, kwh_before, energy, &mut edges);
    if edges.is_empty() {
        return Vec::new();
    }
    let span = Decimal::from(b.time - a.time);
    let diff = b.wh - a.wh;
    let inside = |t: Micros| a.time < t && t < b.time;
    let mut out: Vec<(Micros, Decimal, bool)> = edges
        .into_iter()
        .filter_map(|(t, kwh)| match kwh {
            Some(k) => {
                // The nearest whole second strictly inside; none (a sub-second interval): no cut
                // here, pricing splits the period at the threshold itself.
                let down = t.div_euclid(MICROS_PER_SEC) * MICROS_PER_SEC;
                let up = down + MICROS_PER_SEC;
                let near = if t - down < up - t { [down, up] } else { [up, down] };
                let t = near.into_iter().find(|&w| inside(w))?;
                Some((t, cutter.start_wh + k * WH_PER_KWH, true))
            }
            None => {
                let share = (diff * Decimal::from(t - a.time) / span).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
                Some((t, a.wh + share, false))
            }
        })
        .collect();
    out.sort_by_key(|e| (e.0, !e.2));
    out.dedup_by_key(|e| e.0);
    // Energy never runs backwards: interpolated values yield to exact thresholds on either side.
    let mut low = a.wh;
    for e in &mut out {
        e.1 = e.1.max(low).min(b.wh);
        low = e.1;
    }
    let mut high = b.wh;
    for e in out.iter_mut().rev() {
        e.1 = e.1.min(high);
        high = e.1;
    }
    out.into_iter().map(|(t, wh, _)| (t, wh)).collect()
}
