//! What a scenario run reports: per step its outcome and what its expectations met, as text
//! (the story) and as JSON (one object per step, `trace --json`'s shape plus `step` and `at`).

use crate::pipeline::Verdict;
use crate::snapshot::{PortIdx, Snapshot};
use crate::trace::Trace;
use serde_json::{Map, Value, json};

/// What a step did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Packet(Trace),
    /// `Repeat: count`: how many packets met each verdict (in order of first sight), and the
    /// trace of the last one.
    Repeat {
        count: u64,
        summary: Vec<(Seen, u64)>,
        last: Trace,
    },
    /// A reload: the errors of an invalid config (the old one stays), none when it was taken.
    Reload {
        file: String,
        errors: Vec<String>,
    },
}

/// A verdict as an expectation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub verdict: &'static str,
    pub reason: Option<String>,
    pub egress: Option<String>,
}

impl Seen {
    pub(super) fn of(v: &Verdict, snap: &Snapshot) -> Seen {
        let port = |p: PortIdx| snap.ports.get(p).map(|p| p.id.clone());
        match *v {
            Verdict::Forward { egress, .. } => Seen {
                verdict: "ACCEPT",
                reason: None,
                egress: port(egress),
            },
            Verdict::Drop(r) => Seen {
                verdict: "DROP",
                reason: Some(r.to_string()),
                egress: None,
            },
            Verdict::Answer { egress, .. } => Seen {
                verdict: "ANSWER",
                reason: None,
                egress: port(egress),
            },
            Verdict::Reply { egress, reason, .. } => Seen {
                verdict: "DROP",
                reason: Some(reason.to_string()),
                egress: port(egress),
            },
        }
    }

    pub fn text(&self) -> String {
        let mut s = self.verdict.to_string();
        if let Some(r) = &self.reason {
            s += &format!(" reason={r}");
        }
        if let Some(e) = &self.egress {
            s += &format!(" egress={e}");
        }
        s
    }

    fn json(&self) -> Value {
        json!({"verdict": self.verdict, "reason": self.reason, "egress": self.egress})
    }
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub index: usize,
    pub at: f64,
    pub outcome: Outcome,
    /// Whether the step had an `Expect` (or is a reload, which must succeed unless it
    /// expects an error).
    pub checked: bool,
    /// What did not hold: `expected …, got …`.
    pub failures: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub steps: Vec<StepOutcome>,
    /// A step that could not run (a reply to a dropped packet, a packet that cannot be
    /// built): the run stopped there. An invalid scenario: exit 2.
    pub error: Option<String>,
}

impl Report {
    /// The first step whose expectations did not hold, as `step N: …`.
    pub fn first_failure(&self) -> Option<String> {
        self.steps
            .iter()
            .find(|s| !s.failures.is_empty())
            .map(|s| format!("step {}: {}", s.index, s.failures.join("; ")))
    }

    /// Steps with expectations, and how many of them held.
    pub fn expectations(&self) -> (usize, usize) {
        let checked = self.steps.iter().filter(|s| s.checked);
        let n = checked.clone().count();
        (n, checked.filter(|s| s.failures.is_empty()).count())
    }

    /// The story as text, then one summary line.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for st in &self.steps {
            s += &st.text();
        }
        if let Some(e) = &self.error {
            s += &format!("error      {e}\n");
        }
        let (n, held) = self.expectations();
        s += &match self.first_failure() {
            Some(f) => format!("scenario: FAILED ({held} of {n} expectations held); first: {f}\n"),
            None if self.error.is_some() => "scenario: stopped by an error\n".to_string(),
            None => format!(
                "scenario: {} steps, {n} expectations, all held\n",
                self.steps.len()
            ),
        };
        s
    }
}

impl StepOutcome {
    fn header(&self) -> String {
        let what = match &self.outcome {
            Outcome::Packet(_) => String::new(),
            Outcome::Repeat { count, .. } => format!(": {count} packets"),
            Outcome::Reload { file, .. } => format!(": reload {file}"),
        };
        format!("== step {} at {}s{what}\n", self.index, self.at)
    }

    /// The step as text: its header, the trace (or summary), then the expectation's result.
    pub fn text(&self) -> String {
        let mut s = self.header();
        match &self.outcome {
            Outcome::Packet(t) => s += &t.text_full(false),
            Outcome::Repeat { summary, last, .. } => {
                for (seen, n) in summary {
                    s += &format!("repeat     {n} x {}\n", seen.text());
                }
                s += "-- last packet --\n";
                s += &last.text_full(false);
            }
            Outcome::Reload { errors, .. } if errors.is_empty() => {
                s +=
                    "reload     taken: flows and NAT bindings kept, each kept ENI keeps its zone\n";
            }
            Outcome::Reload { errors, .. } => {
                s += "reload     REJECTED, the old config stays:\n";
                for e in errors {
                    s += &format!("reload       {e}\n");
                }
            }
        }
        if self.checked {
            if self.failures.is_empty() {
                s += "expect     held\n";
            } else {
                for f in &self.failures {
                    s += &format!("expect     FAILED: {f}\n");
                }
            }
        }
        s
    }

    /// The step as JSON: `step`, `at`, then the `trace --json` shape (with `leaves` /
    /// `reply`), a repeat's `repeat` and `summary`, or a reload's `reload`, `ok`, `errors`;
    /// `expect` when checked.
    pub fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("step".into(), json!(self.index));
        m.insert("at".into(), json!(self.at));
        let mut extend = |v: Value| {
            if let Value::Object(o) = v {
                m.extend(o);
            }
        };
        match &self.outcome {
            Outcome::Packet(t) => extend(t.json_full(false)),
            Outcome::Repeat {
                count,
                summary,
                last,
            } => {
                let sum: Vec<Value> = summary
                    .iter()
                    .map(|(s, n)| {
                        let mut v = s.json();
                        v["count"] = json!(n);
                        v
                    })
                    .collect();
                extend(json!({"repeat": count, "summary": sum}));
                extend(last.json_full(false));
            }
            Outcome::Reload { file, errors } => {
                extend(json!({"reload": file, "ok": errors.is_empty(), "errors": errors}))
            }
        }
        if self.checked {
            m.insert(
                "expect".into(),
                json!({"held": self.failures.is_empty(), "failures": self.failures}),
            );
        }
        Value::Object(m)
    }
}
