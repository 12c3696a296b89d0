//! Running totals of active sessions (count, energy, cost per currency), kept exact and
//! updated incrementally: a session's contribution is added when it arrives and subtracted when
//! it changes or ends, so no view ever re-sums sessions.

use rust_decimal::Decimal;
use std::fmt::Write;

use super::Session;
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

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    pub sessions: u64,
    pub kwh: Decimal,
    /// Sorted by currency; a handful at most, so a sorted Vec beats a map.
    cost: Vec<CurrencyTotals>,
}

impl Totals {
    pub fn add(&mut self, s: &Session) {
        self.sessions += 1;
        self.kwh += s.kwh;
        let i = match self.cost.binary_search_by(|c| c.currency.as_str().cmp(&s.currency)) {
            Ok(i) => i,
            Err(i) => {
                let fresh = CurrencyTotals {
                    currency: s.currency.clone(),
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
    pub fn sub(&mut self, s: &Session) {
        self.sessions -= 1;
        self.kwh -= s.kwh;
        let Ok(i) = self.cost.binary_search_by(|c| c.currency.as_str().cmp(&s.currency)) else {
            debug_assert!(false, "session {} was never added", s.id);
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
