//! Which tariff prices which charging period (digest §4.2).
//!
//! A period's `tariff_id` names its tariff (looked up in the given set, then among the CDR's
//! own `tariffs`). Without any `tariff_id`, the session tariff is chosen from the CDR's own
//! tariffs (or, with a set, the set's tariffs that the CDR names, else the whole set): valid at
//! session start, of the session's type (typed match first, then untyped), most recent first.

use crate::error::InputError;
use crate::model::TariffType;
use crate::model::cdr::{Cdr, Period};
use crate::pricing::PricingOptions;
use crate::tariff::{Tariff, TariffSet};

pub struct Chosen<'t> {
    pub tariffs: Vec<&'t Tariff>,
    /// For each period (in the order given to `tariffs_for`), an index into `tariffs`.
    pub period_tariff: Vec<usize>,
}

pub fn tariffs_for<'t>(
    cdr: &'t Cdr,
    periods: &[&Period],
    set: Option<&'t TariffSet>,
    opts: &PricingOptions,
    warnings: &mut Vec<String>,
) -> Result<Chosen<'t>, InputError> {
    let cc = cdr.country_code.as_deref();
    let pid = cdr.party_id.as_deref();
    let lookup = |id: &str| -> Option<&'t Tariff> {
        set.and_then(|s| s.find(id, cc, pid).map(|i| s.get(i)))
            .or_else(|| cdr.tariffs.iter().find(|t| t.id.eq_ignore_ascii_case(id)))
    };

    let mut chosen = Chosen { tariffs: Vec::with_capacity(1), period_tariff: Vec::with_capacity(periods.len()) };
    let index_of = |t: &'t Tariff, chosen: &mut Chosen<'t>| -> usize {
        match chosen.tariffs.iter().position(|c| std::ptr::eq(*c, t)) {
            Some(i) => i,
            None => {
                chosen.tariffs.push(t);
                chosen.tariffs.len() - 1
            }
        }
    };

    // Periods usually all name the same tariff: look each distinct id up once.
    let mut named: Vec<Option<&'t Tariff>> = Vec::with_capacity(periods.len());
    let mut last: Option<(&str, &'t Tariff)> = None;
    for p in periods {
        let Some(id) = p.tariff_id.as_deref() else {
            named.push(None);
            continue;
        };
        let found = match last {
            Some((prev, t)) if prev == id => t,
            _ => lookup(id).ok_or_else(|| {
                let i = cdr.periods.iter().position(|q| std::ptr::eq(q, *p)).unwrap_or(0);
                InputError::new(
                    format!("charging_periods[{i}].tariff_id"),
                    format!("tariff {id:?} is neither in the tariff set nor in the CDR's tariffs"),
                )
            })?,
        };
        last = Some((id, found));
        named.push(Some(found));
    }

    let default = match named.iter().flatten().next() {
        Some(t) => *t,
        None => session_tariff(cdr, set, opts, warnings)?,
    };
    for t in &named {
        let t = t.unwrap_or(default);
        if !t.valid_at(cdr.start) {
            let w = format!("tariff {} is not valid at the session start (start_date_time/end_date_time)", t.id);
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let i = index_of(t, &mut chosen);
        chosen.period_tariff.push(i);
    }
    for t in &chosen.tariffs {
        if let Some(cur) = &cdr.currency {
            if !t.currency.eq_ignore_ascii_case(cur) {
                warnings.push(format!("tariff {} is in {} but the CDR is in {cur}", t.id, t.currency));
            }
        }
    }
    Ok(chosen)
}

fn session_tariff<'t>(cdr: &'t Cdr, set: Option<&'t TariffSet>, opts: &PricingOptions, warnings: &mut Vec<String>) -> Result<&'t Tariff, InputError> {
    let mut pool: Vec<&'t Tariff> = match set {
        Some(s) if !cdr.tariffs.is_empty() => cdr
            .tariffs
            .iter()
            .map(|own| s.find(&own.id, cdr.country_code.as_deref(), cdr.party_id.as_deref()).map_or(own, |i| s.get(i)))
            .collect(),
        Some(s) => s.iter().collect(),
        None => cdr.tariffs.iter().collect(),
    };
    if pool.is_empty() {
        return Err(InputError::new("tariffs", "no tariff to price with: give a tariff set or embed tariffs in the CDR"));
    }
    let owner = |t: &Tariff| {
        let same = |a: Option<&str>, b: Option<&str>| a.zip(b).is_none_or(|(a, b)| a.eq_ignore_ascii_case(b));
        same(t.country_code.as_deref(), cdr.country_code.as_deref()) && same(t.party_id.as_deref(), cdr.party_id.as_deref())
    };
    if pool.iter().any(|t| owner(t)) {
        pool.retain(|t| owner(t));
    }
    let valid: Vec<&'t Tariff> = pool.iter().copied().filter(|t| t.valid_at(cdr.start)).collect();
    if valid.is_empty() {
        return Err(InputError::new("tariffs", "no tariff is valid at the session start (start_date_time/end_date_time)"));
    }
    let wanted = opts.tariff_type.unwrap_or(TariffType::Regular);
    let rank = |t: &Tariff| match t.tariff_type {
        Some(ty) if ty == wanted => Some(0),
        None => Some(1),
        Some(_) => None,
    };
    let best = valid.iter().filter_map(|t| rank(t)).min().ok_or_else(|| {
        InputError::new("tariffs", format!("no tariff valid at the session start is of type {wanted:?} or untyped"))
    })?;
    let mut fitting = valid.into_iter().filter(|t| rank(t) == Some(best));
    let mut pick = fitting.next().expect("best rank exists");
    let mut several = false;
    for t in fitting {
        several = true;
        if t.start.unwrap_or(i64::MIN) > pick.start.unwrap_or(i64::MIN) {
            pick = t;
        }
    }
    if several {
        warnings.push(format!("several tariffs apply to this session; {} (the most recently started) is used", pick.id));
    }
    Ok(pick)
}
