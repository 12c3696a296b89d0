//! The internal tariff model: a Tariff of any OCPI version compiled once into what evaluation
//! needs (per-dimension candidate lists, the instants where restrictions can switch).

pub mod restrictions;
mod set;

pub use restrictions::{Check, Context, Range, Restrictions};
pub use set::TariffSet;

use rust_decimal::Decimal;

use crate::datetime::Micros;
use crate::model::{ReservationKind, TariffDimension, TariffType, Version};

/// How a component's `price` relates to tax (2.3.0 `tax_included`; 2.2.1 prices exclude VAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxBasis {
    /// 2.2.1: price excludes VAT; an absent `vat` is read as the option
    /// `PricingOptions::missing_vat` says (no VAT, or not known; §4.6).
    ExcludedVatOptional,
    /// 2.1.1: price excludes VAT, and the version has no `vat` field (§7): without one the
    /// VAT is not known, whatever the option.
    ExcludedUnknownIfAbsent,
    /// 2.3.0 `tax_included: NO`: price excludes tax; absent `vat` = no tax applies.
    Excluded,
    /// 2.3.0 `tax_included: YES`: price includes tax.
    Included,
    /// 2.3.0 `tax_included: N/A`: no tax at all.
    NotApplicable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub dimension: TariffDimension,
    pub price: Decimal,
    /// Percent, e.g. 21.
    pub vat: Option<Decimal>,
    pub step_size: u32,
    pub tax: TaxBasis,
    /// Index in the element's `price_components` as the document lists them (a component of a
    /// dimension OCPI does not define is left out of `components`, not of the count).
    pub position: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub components: Vec<Component>,
    pub restrictions: Restrictions,
}

/// `min_price` / `max_price`: before and (optionally) after tax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceLimit {
    pub excl: Decimal,
    pub incl: Option<Decimal>,
}

/// Index of a component: (element, component) within its tariff.
pub type ComponentRef = (u16, u16);

#[derive(Debug, Clone)]
pub struct Tariff {
    pub id: String,
    pub country_code: Option<String>,
    pub party_id: Option<String>,
    pub currency: String,
    pub tariff_type: Option<TariffType>,
    pub min_price: Option<PriceLimit>,
    pub max_price: Option<PriceLimit>,
    pub start: Option<Micros>,
    pub end: Option<Micros>,
    pub elements: Vec<Element>,
    pub version: Version,
    /// Non-fatal remarks about the document (unknown fields, odd values).
    pub warnings: Vec<String>,
    pub compiled: Compiled,
}

/// Derived once per tariff, used per priced piece.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    /// For ENERGY, FLAT, PARKING_TIME, TIME (in `dim_slot` order): the first component of that
    /// dimension in each element that has one, in element order.
    pub candidates: [Vec<ComponentRef>; 4],
    /// Local seconds-of-day at which a time-of-day restriction opens or closes (0 included
    /// when a date or weekday restriction exists: those switch at local midnight).
    pub day_edges: Vec<u32>,
    /// Session durations (s) at which a duration restriction switches.
    pub duration_edges: Vec<i64>,
    /// Session energies (kWh) at which a kWh restriction switches.
    pub kwh_edges: Vec<Decimal>,
    /// Whether any restriction reads the local clock or calendar.
    pub needs_time_zone: bool,
    pub has_reservation_elements: bool,
    /// Per element: no restriction but (perhaps) `reservation`, so `check` always matches
    /// (pricing asks per piece and dimension; most elements are like this).
    pub unrestricted: Vec<bool>,
}

pub fn dim_slot(d: TariffDimension) -> usize {
    match d {
        TariffDimension::Energy => 0,
        TariffDimension::Flat => 1,
        TariffDimension::ParkingTime => 2,
        TariffDimension::Time => 3,
    }
}

impl Tariff {
    pub fn component(&self, r: ComponentRef) -> &Component {
        &self.elements[r.0 as usize].components[r.1 as usize]
    }

    pub fn reservation_of(&self, element: u16) -> Option<ReservationKind> {
        self.elements[element as usize].restrictions.reservation
    }

    /// Whether the tariff is valid at `t` (`start_date_time` ≤ t < `end_date_time`, §4.2).
    pub fn valid_at(&self, t: Micros) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t < e)
    }

    pub(crate) fn compile(&mut self) {
        let mut c = Compiled::default();
        for (ei, el) in self.elements.iter().enumerate() {
            let mut seen = [false; 4];
            for (ci, comp) in el.components.iter().enumerate() {
                let slot = dim_slot(comp.dimension);
                if !seen[slot] {
                    seen[slot] = true;
                    c.candidates[slot].push((ei as u16, ci as u16));
                }
            }
            let r = &el.restrictions;
            for t in [r.start_time, r.end_time].into_iter().flatten() {
                c.day_edges.push(t);
            }
            if r.has_calendar() {
                c.day_edges.push(0);
            }
            c.needs_time_zone |= r.has_time_of_day() || r.has_calendar();
            c.duration_edges.extend([r.min_duration, r.max_duration].into_iter().flatten());
            c.kwh_edges.extend([r.min_kwh, r.max_kwh].into_iter().flatten());
            c.has_reservation_elements |= r.reservation.is_some();
            c.unrestricted.push(*r == Restrictions { reservation: r.reservation, ..Restrictions::default() });
        }
        c.day_edges.sort_unstable();
        c.day_edges.dedup();
        c.duration_edges.sort_unstable();
        c.duration_edges.dedup();
        c.kwh_edges.sort_unstable();
        c.kwh_edges.dedup();
        self.compiled = c;
    }
}
