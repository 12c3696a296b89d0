//! Pricing one CDR: choose its tariff(s), split its periods into pieces, pick the active price
//! component per dimension (first match in element order, §4.3), apply step_size (§4.5), FLAT,
//! VAT and min/max price (§4.6), and total everything up (§4.7).

mod lines;
pub mod options;
pub mod output;
pub(crate) mod pieces;
pub(crate) mod select;
mod step_size;
#[cfg(test)]
mod tests;

use chrono_tz::Tz;
use rust_decimal::Decimal;

pub use lines::{Line, LineKind};
pub use options::{MissingVat, PricingOptions, SplitMode};
pub use pieces::Piece;

use crate::datetime::Micros;
use crate::error::InputError;
use crate::model::Version;
use crate::model::cdr::{Cdr, Period};
use crate::money::Money;
use crate::tariff::{Check, ComponentRef, Tariff, TariffSet, dim_slot};
use crate::model::{ReservationKind, TariffDimension};

/// The priced CDR: every `total_*` of an OCPI CDR, the lines behind them, and warnings.
#[derive(Debug, Clone)]
pub struct PricedCdr {
    /// The CDR's `id`; absent only when it had none (read leniently).
    pub id: Option<String>,
    /// The record's line in a batch, given when it has no `id` to be named by.
    pub line: Option<usize>,
    pub country_code: Option<String>,
    pub party_id: Option<String>,
    pub currency: String,
    pub version: Version,
    pub start: Micros,
    pub end: Micros,
    pub tariff_ids: Vec<String>,
    pub total_cost: Money,
    pub total_fixed_cost: Money,
    pub total_energy: Decimal,
    pub total_energy_cost: Money,
    /// Hours.
    pub total_time: Decimal,
    pub total_time_cost: Money,
    pub total_parking_time: Decimal,
    pub total_parking_cost: Money,
    pub total_reservation_cost: Money,
    pub min_price_applied: bool,
    pub max_price_applied: bool,
    pub credit: bool,
    pub pieces: Vec<Piece>,
    pub lines: Vec<Line>,
    pub warnings: Vec<String>,
}

const SECS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);

pub fn price(cdr: &Cdr, set: Option<&TariffSet>, opts: &PricingOptions) -> Result<PricedCdr, InputError> {
    let mut warnings = cdr.warnings.clone();

    // Periods in time order (they should be; tolerate and say so when they are not).
    let mut order: Vec<&Period> = cdr.periods.iter().collect();
    if order.windows(2).any(|w| w[1].start < w[0].start) {
        order.sort_by_key(|p| p.start);
        warnings.push("charging_periods are not in time order; priced in time order".into());
    }
    for (i, p) in cdr.periods.iter().enumerate() {
        if p.start < cdr.start || p.start > cdr.end {
            warnings.push(format!("charging_periods[{i}] starts outside the session ({} .. {})", fmt_t(cdr.start), fmt_t(cdr.end)));
        }
    }

    let chosen = select::tariffs_for(cdr, &order, set, opts, &mut warnings)?;
    let tariffs: Vec<&Tariff> = chosen.tariffs;
    let tz = time_zone(cdr, opts, &tariffs, &mut warnings)?;

    let pieces = pieces::build_pieces(
        &pieces::PieceInput { cdr, period_tariff: &chosen.period_tariff, tariffs: &tariffs, tz, split: opts.split },
        &order,
    );

    let expired_reservation = pieces.iter().all(|p| p.reservation);
    let mut lines: Vec<Line> = Vec::with_capacity(pieces.len() * 3 + 2);
    let mut unknown_reported = false;
    let mut session_flat: Option<(usize, ComponentRef)> = None;
    let mut reservation_flat: Option<(usize, ComponentRef)> = None;
    for (pi, piece) in pieces.iter().enumerate() {
        let t = tariffs[piece.tariff];
        let mut find = |dim: TariffDimension, kinds: &[Option<ReservationKind>]| {
            let (found, unknown) = first_match(t, piece, dim, kinds);
            if let Some(what) = unknown.filter(|_| !unknown_reported) {
                unknown_reported = true;
                warnings.push(format!(
                    "tariff {} restricts {what} but charging period {} has no {what} dimension; that restriction is taken as not met",
                    t.id, piece.period
                ));
            }
            found
        };
        let reservation_kinds: &[Option<ReservationKind>] = if expired_reservation {
            &[Some(ReservationKind::ReservationExpires), Some(ReservationKind::Reservation)]
        } else {
            &[Some(ReservationKind::Reservation)]
        };
        if piece.reservation {
            if !piece.reservation_time.is_zero() {
                if let Some(c) = find(TariffDimension::Time, reservation_kinds) {
                    lines.push(Line::new(pi, LineKind::Reservation, piece.tariff, c, piece.reservation_time));
                }
            }
            if reservation_flat.is_none() {
                reservation_flat = find(TariffDimension::Flat, reservation_kinds).map(|c| (pi, c));
            }
            continue;
        }
        for (kind, dim, volume) in [
            (LineKind::Energy, TariffDimension::Energy, piece.energy),
            (LineKind::Time, TariffDimension::Time, piece.time),
            (LineKind::Parking, TariffDimension::ParkingTime, piece.parking),
        ] {
            if !volume.is_zero() {
                if let Some(c) = find(dim, &[None]) {
                    lines.push(Line::new(pi, kind, piece.tariff, c, volume));
                }
            }
        }
        // Digest §4.6 / A-5: one session FLAT, the first that is active; later different ones are reported.
        match (session_flat, find(TariffDimension::Flat, &[None])) {
            (None, Some(c)) => session_flat = Some((pi, c)),
            (Some((first_piece, first)), Some(c))
                if (pieces[first_piece].tariff, first) != (piece.tariff, c)
                    && !warnings.iter().any(|w| w.starts_with("several session FLAT")) =>
            {
                warnings.push(format!(
                    "several session FLAT fees become active (tariff {} element {}); only the first (element {}) is billed",
                    t.id, c.0, first.0
                ));
            }
            _ => {}
        }
    }
    for (flat, kind) in [(session_flat, LineKind::Flat), (reservation_flat, LineKind::ReservationFlat)] {
        if let Some((pi, c)) = flat {
            lines.push(Line::new(pi, kind, pieces[pi].tariff, c, Decimal::ONE));
        }
    }

    step_size::apply(&mut lines, &tariffs);

    let mut total_energy_cost = Money::ZERO;
    let mut total_time_cost = Money::ZERO;
    let mut total_parking_cost = Money::ZERO;
    let mut total_reservation_cost = Money::ZERO;
    let mut total_fixed_cost = Money::ZERO;
    for line in &mut lines {
        line.price_with(tariffs[line.tariff].component(line.component), opts.missing_vat);
        let bucket = match line.kind {
            LineKind::Energy => &mut total_energy_cost,
            LineKind::Time => &mut total_time_cost,
            LineKind::Parking => &mut total_parking_cost,
            LineKind::Reservation | LineKind::ReservationFlat => &mut total_reservation_cost,
            LineKind::Flat => &mut total_fixed_cost,
        };
        bucket.add(&line.cost);
    }
    let mut total_cost = Money::ZERO;
    for m in [&total_fixed_cost, &total_energy_cost, &total_time_cost, &total_parking_cost, &total_reservation_cost] {
        total_cost.add(m);
    }

    // min/max price of the session's tariff (the one of its first charging piece), §4.6.
    let session_tariff = pieces.iter().find(|p| !p.reservation).or(pieces.first()).map_or(tariffs[0], |p| tariffs[p.tariff]);
    let (min_applied, max_applied) = clamp(&mut total_cost, session_tariff, &mut warnings);

    let total_energy: Decimal = cdr.periods.iter().filter_map(|p| p.volumes.energy).sum();
    let total_parking_time: Decimal = cdr.periods.iter().filter_map(|p| p.volumes.parking_time).sum();
    let total_time = Decimal::from(cdr.end - cdr.start) / Decimal::from(1_000_000i64) / SECS_PER_HOUR;

    for t in &tariffs {
        for w in &t.warnings {
            warnings.push(format!("tariff {}: {w}", t.id));
        }
    }
    let credit = cdr.credit;
    let sign = |m: Money| if credit { m.negated() } else { m };
    let currency = session_tariff.currency.clone();
    Ok(PricedCdr {
        id: cdr.id.as_deref().map(str::to_string),
        line: None,
        country_code: cdr.country_code.as_deref().map(str::to_string),
        party_id: cdr.party_id.as_deref().map(str::to_string),
        currency,
        version: opts.version.unwrap_or(if tariffs.iter().any(|t| t.version == Version::V230) { Version::V230 } else { cdr.version }),
        start: cdr.start,
        end: cdr.end,
        tariff_ids: tariffs.iter().map(|t| t.id.clone()).collect(),
        total_cost: sign(total_cost),
        total_fixed_cost: sign(total_fixed_cost),
        total_energy,
        total_energy_cost: sign(total_energy_cost),
        total_time,
        total_time_cost: sign(total_time_cost),
        total_parking_time,
        total_parking_cost: sign(total_parking_cost),
        total_reservation_cost: sign(total_reservation_cost),
        min_price_applied: min_applied,
        max_price_applied: max_applied,
        credit,
        pieces: if opts.breakdown { pieces } else { Vec::new() },
        lines: if opts.breakdown { lines } else { Vec::new() },
        warnings,
    })
}

/// First element (in order) with a component of `dim` whose restrictions hold, among elements
/// whose `reservation` restriction is in `kinds` (tried kind by kind: an expired reservation
/// looks at RESERVATION_EXPIRES elements first, then RESERVATION ones, §4.8).
fn first_match(t: &Tariff, piece: &Piece, dim: TariffDimension, kinds: &[Option<ReservationKind>]) -> (Option<ComponentRef>, Option<&'static str>) {
    let mut unknown = None;
    for kind in kinds {
        for &c in &t.compiled.candidates[dim_slot(dim)] {
            if t.reservation_of(c.0) != *kind {
                continue;
            }
            if t.compiled.unrestricted.get(c.0 as usize) == Some(&true) {
                return (Some(c), unknown);
            }
            match t.elements[c.0 as usize].restrictions.check(&piece.context) {
                Check::Match => return (Some(c), unknown),
                Check::NoMatch => {}
                Check::Unknown(what) => unknown = unknown.or(Some(what)),
            }
        }
    }
    (None, unknown)
}

/// Clamp excl and incl independently (§4.6); returns (min applied, max applied).
fn clamp(total: &mut Money, t: &Tariff, warnings: &mut Vec<String>) -> (bool, bool) {
    let (mut min_applied, mut max_applied) = (false, false);
    let mut excl = total.excl;
    let mut incl = total.incl();
    if let Some(min) = t.min_price {
        if excl < min.excl {
            excl = min.excl;
            min_applied = true;
        }
        match (min.incl, incl) {
            (Some(floor), Some(v)) if v < floor => {
                incl = Some(floor);
                min_applied = true;
            }
            (None, Some(_)) if min_applied => warnings.push("min_price has no incl_vat; the amount incl. VAT is not raised".into()),
            _ => {}
        }
    }
    if let Some(max) = t.max_price {
        if excl > max.excl {
            excl = max.excl;
            max_applied = true;
        }
        match (max.incl, incl) {
            (Some(cap), Some(v)) if v > cap => {
                incl = Some(cap);
                max_applied = true;
            }
            (None, Some(_)) if max_applied => warnings.push("max_price has no incl_vat; the amount incl. VAT is not capped".into()),
            _ => {}
        }
    }
    total.excl = excl;
    if let Some(v) = incl {
        total.set_incl(v);
    }
    (min_applied, max_applied)
}

fn time_zone(cdr: &Cdr, opts: &PricingOptions, tariffs: &[&Tariff], warnings: &mut Vec<String>) -> Result<Tz, InputError> {
    if let Some(name) = &cdr.time_zone {
        return parse_tz(name).ok_or_else(|| {
            let field = if cdr.version == Version::V211 { "location.time_zone" } else { "cdr_location.time_zone" };
            InputError::new(field, format!("unknown IANA time zone {name:?}"))
        });
    }
    if let Some(tz) = opts.time_zone {
        return Ok(tz);
    }
    if tariffs.iter().any(|t| t.compiled.needs_time_zone) {
        warnings.push("no time zone given (option time_zone) nor in the CDR; time restrictions evaluated in UTC".into());
    }
    Ok(Tz::UTC)
}

pub fn parse_tz(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

fn fmt_t(t: Micros) -> String {
    let mut s = String::new();
    crate::datetime::format_datetime(t, &mut s);
    s
}
