//! Session status aggregation: the live state of many charging sessions, folded from charging
//! events into OCPI charging periods and priced as they run by the same `pricing::price` that
//! prices CDRs; a stop yields the CDR.
//!
//! `SessionEngine::apply` takes a validated batch; each session's events of the batch are applied
//! in time order, sessions in parallel (rayon).

pub mod event;
pub mod output;
pub mod periods;
pub mod state;
#[cfg(test)]
mod tests;

use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::datetime::{MICROS_PER_SEC, Micros, format_datetime};
use crate::error::InputError;
use crate::model::Version;
use crate::money::Rounding;
use crate::pricing::{MissingVat, PricedCdr, PricingOptions, price};
use event::{Event, EventType, ParsedBatch};
use periods::Reading;
use state::{Header, Interner, Session, Status, TariffList};

/// Engine options (contract §2).
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Seconds an event may be older than its session's latest event.
    pub reorder_window: i64,
    pub rounding: Rounding,
    pub missing_vat: MissingVat,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { reorder_window: 900, rounding: Rounding::default(), missing_vat: MissingVat::NoVat }
    }
}

/// A session after a batch changed it.
#[derive(Debug, Clone)]
pub struct SessionUpdate {
    pub session_id: String,
    pub status: &'static str,
    pub json: String,
    pub closed_periods: usize,
    pub kwh: String,
    pub cost_excl: Option<String>,
    pub cost_incl: Option<String>,
    pub last_event_time: String,
    pub status_changed: bool,
}

#[derive(Debug, Default)]
pub struct ApplyResult {
    /// (index, field, message).
    pub errors: Vec<(usize, String, String)>,
    pub accepted: Vec<usize>,
    pub sessions: Vec<SessionUpdate>,
    /// (session_id, CDR JSON, breakdown JSON).
    pub cdrs: Vec<(String, String, String)>,
}

#[derive(Debug, Default)]
pub struct SessionEngine {
    sessions: HashMap<String, Session>,
    /// Ids of sessions completed while this engine ran (refused later; forgotten by `drop`).
    completed: HashSet<String>,
    tariffs: Interner,
    pub opts: EngineOptions,
}

/// One session's share of a batch.
struct Work<'b> {
    session_id: &'b str,
    session: Option<Session>,
    completed_before: bool,
    events: Vec<&'b Event>,
    /// The header of a start in this batch, read (or the reason it could not be).
    header: Option<Result<(Header, Arc<TariffList>), InputError>>,
}

struct Outcome {
    session_id: String,
    session: Option<Session>,
    completed: bool,
    errors: Vec<(usize, InputError)>,
    accepted: Vec<usize>,
    update: Option<SessionUpdate>,
    cdr: Option<(String, String, String)>,
}

impl SessionEngine {
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts, ..Self::default() }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn session_ids(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }

    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Forget sessions (active or completed), e.g. to reload them after a failed commit.
    pub fn drop_sessions<S: AsRef<str>>(&mut self, ids: &[S]) {
        for id in ids {
            self.sessions.remove(id.as_ref());
            self.completed.remove(id.as_ref());
        }
        self.tariffs.collect();
    }

    fn pricing_options(&self, session: &Session, breakdown: bool) -> PricingOptions {
        PricingOptions {
            time_zone: Some(session.header.time_zone),
            rounding: self.opts.rounding,
            breakdown,
            version: Some(Version::V221),
            missing_vat: self.opts.missing_vat,
            ..PricingOptions::default()
        }
    }

    /// Apply a batch. `headers`: session_id → header JSON for sessions started in it; `skip`:
    /// indices the caller already answered; `now`: the `last_updated` written.
    pub fn apply(&mut self, batch: &ParsedBatch, headers: &HashMap<String, Vec<u8>>, skip: &HashSet<usize>, now: Micros) -> ApplyResult {
        // Group by session, in order of first appearance.
        let mut order: Vec<&str> = Vec::new();
        let mut groups: HashMap<&str, Vec<&Event>> = HashMap::new();
        for e in batch.events.iter().filter(|e| !skip.contains(&e.index)) {
            groups
                .entry(e.session_id.as_str())
                .or_insert_with(|| {
                    order.push(e.session_id.as_str());
                    Vec::new()
                })
                .push(e);
        }
        let mut work: Vec<Work> = Vec::with_capacity(order.len());
        for sid in order {
            let mut events = groups.remove(sid).unwrap_or_default();
            // The start first: an event of the batch timed before it is then refused on its `time`, not taken
            // for an event of an unknown session.
            events.sort_by_key(|e| (e.kind != EventType::Started, e.time, e.kind.rank(), e.meter_wh, e.index));
            let session = self.sessions.remove(sid);
            let completed_before = self.completed.contains(sid);
            let starts = session.is_none() && !completed_before && events.iter().any(|e| e.kind == EventType::Started);
            // Headers are read here, one thread: tariffs are interned engine-wide.
            let header = if starts { headers.get(sid).map(|h| self.tariffs.header(h)) } else { None };
            work.push(Work { session_id: sid, session, completed_before, events, header });
        }

        let engine = &*self;
        let outcomes: Vec<Outcome> = work
            .into_par_iter()
            .map(|w| {
                let ids: Vec<usize> = w.events.iter().map(|e| e.index).collect();
                let sid = w.session_id.to_string();
                catch_unwind(AssertUnwindSafe(|| engine.apply_session(w, now))).unwrap_or_else(|_| Outcome {
                    session_id: sid,
                    session: None,
                    completed: false,
                    errors: ids.iter().map(|&i| (i, InputError::new("", "internal error while applying this event"))).collect(),
                    accepted: Vec::new(),
                    update: None,
                    cdr: None,
                })
            })
            .collect();

        let mut result = ApplyResult::default();
        for o in outcomes {
            result.errors.extend(o.errors.into_iter().map(|(i, e)| (i, e.field, e.message)));
            result.accepted.extend(o.accepted);
            if o.completed {
                self.completed.insert(o.session_id.clone());
            }
            if let Some(s) = o.session {
                self.sessions.insert(o.session_id, s);
            }
            result.sessions.extend(o.update);
            result.cdrs.extend(o.cdr);
        }
        result.errors.sort_by_key(|e| e.0);
        result.accepted.sort_unstable();
        if !result.cdrs.is_empty() {
            self.tariffs.collect();
        }
        result
    }

    fn apply_session(&self, w: Work, now: Micros) -> Outcome {
        let Work { session_id, mut session, completed_before, events, mut header } = w;
        let mut out = Outcome { session_id: session_id.to_string(), session: None, completed: false, errors: Vec::new(), accepted: Vec::new(), update: None, cdr: None };
        let was_active = session.is_some();
        let mut changed = false;
        let window = self.opts.reorder_window * MICROS_PER_SEC;
        for e in events {
            match self.apply_event(&mut session, completed_before, &mut header, e, window) {
                Ok(()) => {
                    out.accepted.push(e.index);
                    changed = true;
                }
                Err(err) => out.errors.push((e.index, err)),
            }
        }
        let Some(mut s) = session else { return out };
        if changed {
            let completed = s.status == Status::Completed;
            let status_changed = !was_active || completed;
            let priced = self.price_session(&s, completed);
            let r = self.opts.rounding;
            let json = output::session_json(&s, priced.as_ref(), now, r);
            if completed {
                if let Some(p) = &priced {
                    let cdr = output::cdr_json(&s, p, now, r);
                    let mut breakdown = String::with_capacity(4096);
                    crate::pricing::output::write_result(p, &self.pricing_options(&s, true), &mut breakdown);
                    out.cdr = Some((session_id.to_string(), cdr, breakdown));
                }
            }
            let mut last = String::with_capacity(24);
            format_datetime(s.latest, &mut last);
            out.update = Some(SessionUpdate {
                session_id: session_id.to_string(),
                status: s.status.as_str(),
                json,
                closed_periods: s.fold.closed.len(),
                kwh: r.apply(s.kwh()).to_string(),
                cost_excl: priced.as_ref().map(|p| r.apply(p.total_cost.excl).to_string()),
                cost_incl: priced.as_ref().and_then(|p| p.total_cost.incl()).map(|v| r.apply(v).to_string()),
                last_event_time: last,
                status_changed,
            });
            out.completed = completed;
            // Readings no late event can reach are dropped: memory stays bounded per session.
            s.fold.prune(s.latest - window);
        }
        if s.status == Status::Active {
            out.session = Some(s);
        }
        out
    }

    /// Price the session so far (the CDR when completed) with the CDR pricing.
    fn price_session(&self, s: &Session, breakdown: bool) -> Option<PricedCdr> {
        let model = s.priced_model();
        price(&model, Some(&s.tariffs.set), &self.pricing_options(s, breakdown)).ok()
    }

    fn apply_event(
        &self,
        session: &mut Option<Session>,
        completed_before: bool,
        header: &mut Option<Result<(Header, Arc<TariffList>), InputError>>,
        e: &Event,
        window: i64,
    ) -> Result<(), InputError> {
        let sid = &e.session_id;
        let reading = Reading { time: e.time, wh: e.meter_wh, state: e.state, power: e.power_w, current: e.current_a };
        if completed_before || session.as_ref().is_some_and(|s| s.status == Status::Completed) {
            return Err(match e.kind {
                EventType::Started => InputError::new("session_id", format!("session {sid:?} was already started")),
                _ => InputError::new("session_id", format!("session {sid:?} is completed")),
            });
        }
        if e.kind == EventType::Started {
            if session.is_some() {
                return Err(InputError::new("session_id", format!("session {sid:?} was already started")));
            }
            let h = match header.take() {
                None => return Err(InputError::new("session_id", "not authorized")),
                Some(Err(err)) => return Err(InputError::new("session_id", format!("session header: {err}"))),
                Some(Ok(v)) => v,
            };
            if h.0.id != *sid {
                return Err(InputError::new("session_id", format!("session header: id {:?} is not this session", h.0.id)));
            }
            let opts = PricingOptions { missing_vat: self.opts.missing_vat, ..PricingOptions::default() };
            let reading = Reading { state: event::ChargeState::Charging, power: None, current: None, ..reading };
            let s = Session::start(h.0, h.1, reading, &opts).map_err(|err| InputError::new("session_id", format!("cannot be priced: {err}")))?;
            *session = Some(s);
            return Ok(());
        }
        let Some(s) = session.as_mut() else {
            return Err(InputError::new("session_id", format!("unknown session {sid:?}")));
        };
        if e.time < s.start_time() {
            return Err(InputError::new("time", format!("is before the session start ({})", text(s.start_time()))));
        }
        if e.time < s.latest - window {
            return Err(InputError::new(
                "time",
                format!("is more than {} s before the session's latest event ({}): outside the reorder window", self.opts.reorder_window, text(s.latest)),
            ));
        }
        if e.kind == EventType::Stopped && e.time < s.latest {
            return Err(InputError::new("time", format!("a stop cannot come before the session's latest event ({})", text(s.latest))));
        }
        let pos = s.fold.place(e.time, e.meter_wh).map_err(|(t, wh, later)| {
            if later {
                InputError::new("meter_wh", format!("is above the later reading at {} ({wh} Wh): the meter decreases", text(t)))
            } else {
                InputError::new("meter_wh", format!("decreases: {} Wh is below the reading at {} ({wh} Wh)", e.meter_wh, text(t)))
            }
        })?;
        let tariffs = s.tariffs.clone();
        let tariff = tariffs.set.get(s.tariff);
        if e.kind == EventType::Stopped {
            s.fold.finish(&s.cutter, tariff, &reading);
            s.status = Status::Completed;
            s.end = Some(e.time);
        } else {
            s.fold.insert(&s.cutter, tariff, pos, reading);
        }
        s.latest = s.latest.max(e.time);
        Ok(())
    }
}

fn text(t: Micros) -> String {
    let mut s = String::new();
    format_datetime(t, &mut s);
    s
}
