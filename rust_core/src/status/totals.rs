//! Running totals of active sessions (count, energy, cost per currency), kept exact and
//! updated incrementally: a session's contribution is added when it arrives and subtracted when
//! it changes or ends, so no view ever re-sums sessions.

use rust_decimal::Decimal;
use std::fmt::Write;

use crate::pricing::output::write_str;

/// Cost so far of the sessions in one currency. An amount a session does not know (no cost
/// yet, or no VAT known) is counted, so the total is shown as unknown (null) while any is missing.
#[derive(Debug, Clone, PartialEq)]
struct CurrencyTotals {
    currency: String,
    sessions: u64,
    excl: Decimal,
    excl_unknown: u64,
    incl: Decimal,
    incl_unknown: u64,
}

/// What one session adds to the totals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Amounts<'a> {
    pub kwh: Decimal,
    pub excl: Option<Decimal>,
    pub incl: Option<Decimal>,
    pub currency: &'a str,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    pub sessions: u64,
    pub kwh: Decimal,
    /// Sorted by currency; a handful at most, so a sorted Vec beats a map.
    cost: Vec<CurrencyTotals>,
}

impl Totals {
    pub fn add(&mut self, s: Amounts<'_>) {
        self.sessions += 1;
        self.kwh += s.kwh;
        let i = match self.cost.binary_search_by(|c| c.currency.as_str().cmp(s.currency)) {
            Ok(i) => i,
            Err(i) => {
                let fresh = CurrencyTotals {
                    currency: s.currency.to_string(),
                    sessions: 0,
                    excl: Decimal::ZERO,
                    excl_unknown: 0,
                    incl: Decimal::ZERO,
                    incl_unknown: 0,
                };
                self.cost.insert(i, fresh);
                i
            }
        };
        let c = &mut self.cost[i];
        c.sessions += 1;
        match s.excl {
            Some(v) => c.excl += v,
            None => c.excl_unknown += 1,
        }
        match s.incl {
            Some(v) => c.incl += v,
            None => c.incl_unknown += 1,
        }
    }

    /// Take away what `add(s)` put in (`s` must have been added before).
    pub fn sub(&mut self, s: Amounts<'_>) {
        self.sessions -= 1;
        self.kwh -= s.kwh;
        let Ok(i) = self.cost.binary_search_by(|c| c.currency.as_str().cmp(s.currency)) else {
            debug_assert!(false, "amounts in {} were never added", s.currency);
            return;
        };
        let c = &mut self.cost[i];
        c.sessions -= 1;
        match s.excl {
            Some(v) => c.excl -= v,
            None => c.excl_unknown -= 1,
        }
        match s.incl {
            Some(v) => c.incl -= v,
            None => c.incl_unknown -= 1,
        }
        if c.sessions == 0 {
            self.cost.remove(i);
        }
    }

    /// Swap the contribution of `old` (added before) for that of `new`.
    pub fn replace(&mut self, old: Amounts<'_>, new: Amounts<'_>) {
        if old.currency == new.currency {
            // Same entry: adjust in place, so a currency is never dropped and re-inserted.
            self.kwh += new.kwh - old.kwh;
            let Ok(i) = self.cost.binary_search_by(|c| c.currency.as_str().cmp(new.currency)) else {
                debug_assert!(false, "amounts in {} were never added", old.currency);
                return;
            };
            let c = &mut self.cost[i];
            adjust(&mut c.excl, &mut c.excl_unknown, old.excl, new.excl);
            adjust(&mut c.incl, &mut c.incl_unknown, old.incl, new.incl);
        } else {
            self.sub(old);
            self.add(new);
        }
    }

    /// `"active_sessions":n,"kwh":x,"cost":[{"currency","excl_vat","incl_vat"}...]`
    pub fn write_fields(&self, out: &mut String) {
        let _ = write!(out, "\"active_sessions\":{},\"kwh\":", self.sessions);
        write_decimal(out, Some(self.kwh));
        out.push_str(",\"cost\":[");
        for (i, c) in self.cost.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"currency\":");
            write_str(out, &c.currency);
            out.push_str(",\"excl_vat\":");
            write_decimal(out, (c.excl_unknown == 0).then_some(c.excl));
            out.push_str(",\"incl_vat\":");
            write_decimal(out, (c.incl_unknown == 0).then_some(c.incl));
            out.push('}');
        }
        out.push(']');
    }
}

fn adjust(sum: &mut Decimal, unknown: &mut u64, old: Option<Decimal>, new: Option<Decimal>) {
    match old {
        Some(v) => *sum -= v,
        None => *unknown -= 1,
    }
    match new {
        Some(v) => *sum += v,
        None => *unknown += 1,
    }
}

/// An exact decimal as a JSON number, without trailing zeros (as the pricing output writes its
/// unrounded figures); `null` when unknown.
pub(crate) fn write_decimal(out: &mut String, v: Option<Decimal>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{}", v.normalize());
        }
        None => out.push_str("null"),
    }
}
