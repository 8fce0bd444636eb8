//! The common output of every scenario: one JSON object on stdout (scenario, configuration,
//! results, CPU of the generator and of the target, versions, machine, date) and a one-line
//! human summary on stderr. The exit status says whether the generator's own checks held.

use serde_json::{json, Map, Value};

/// A scenario's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// `relay`, `limit`, `fanout`, `register`, `parse`, ...
    pub scenario: String,
    /// What was asked for and what was used (pinning, target, sizes).
    pub config: Value,
    /// Figures and counts.
    pub results: Value,
    /// CPU of the generator and of the target.
    pub cpu: Value,
    /// Problems found: counts that differ, failures. Non-empty means the run failed.
    pub errors: Vec<String>,
    /// One human line.
    pub summary: String,
    /// Extra software versions (e.g. `kamailio`), beside msrp-bench's own.
    pub versions: Map<String, Value>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.to_string(),
            config: json!({}),
            results: json!({}),
            cpu: json!({}),
            errors: Vec::new(),
            summary: String::new(),
            versions: Map::new(),
        }
    }

    /// Whether the generator's checks all held.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The JSON object, with versions, machine and date filled in.
    pub fn to_json(&self) -> Value {
        let mut versions = self.versions.clone();
        versions.insert(
            "msrp-bench".into(),
            Value::String(crate::sys::bench_version()),
        );
        json!({
            "scenario": self.scenario,
            "ok": self.ok(),
            "errors": self.errors,
            "config": self.config,
            "results": self.results,
            "cpu": self.cpu,
            "versions": versions,
            "machine": crate::sys::machine(),
            "date": crate::sys::utc_now(),
            "summary": self.summary,
        })
    }

    /// Prints the JSON object on stdout and the summary on stderr; returns the exit status.
    pub fn emit(&self) -> i32 {
        println!("{}", self.to_json());
        let mark = if self.ok() { "" } else { "FAILED: " };
        eprintln!("{mark}{}", self.summary);
        for e in &self.errors {
            eprintln!("  error: {e}");
        }
        i32::from(!self.ok())
    }
}

/// `a / b`, or `None` when `b` is zero or either is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// The median of some values (`None` when empty).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A number at `path` (dot-separated) in a JSON value.
pub fn get_f64(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for k in path.split('.') {
        cur = cur.get(k)?;
    }
    cur.as_f64()
}

/// Human formatting of a rate: `123.4k/s`.
pub fn human_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k/s", v / 1e3)
    } else {
        format!("{v:.1}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(ratio(Some(6.0), Some(3.0)), Some(2.0));
        assert_eq!(ratio(Some(6.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        let v = json!({"a": {"b": 2.5}});
        assert_eq!(get_f64(&v, "a.b"), Some(2.5));
        assert_eq!(get_f64(&v, "a.c"), None);
    }

    #[test]
    fn a_report_with_errors_fails() {
        let mut r = Report::new("x");
        assert!(r.ok());
        r.errors.push("lost 1 message".into());
        assert!(!r.ok());
        let j = r.to_json();
        assert_eq!(j["ok"], false);
        assert_eq!(j["scenario"], "x");
        assert!(j["versions"]["msrp-bench"].is_string());
        assert!(j["machine"]["nproc"].as_u64().unwrap() >= 1);
    }
}
