//! Latency distributions (hdrhistogram, nanosecond resolution, reported in µs) and their
//! percentile plot (plotters, SVG).

use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// A latency distribution.
#[derive(Clone)]
pub struct Latency {
    h: Histogram<u64>,
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Latency({})", self.to_json())
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    /// Empty; records 100 ns to 100 s with 3 significant digits.
    pub fn new() -> Latency {
        Latency {
            h: Histogram::new_with_bounds(100, 100_000_000_000, 3).expect("valid bounds"),
        }
    }

    /// Records one latency in nanoseconds (clamped into range).
    pub fn record_ns(&mut self, ns: u64) {
        self.h.saturating_record(ns.max(100));
    }

    /// Merges another distribution.
    pub fn add(&mut self, o: &Latency) {
        let _ = self.h.add(&o.h);
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// Quantile `q` (0..=1) in µs (`None` when empty).
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.h.is_empty()).then(|| self.h.value_at_quantile(q) as f64 / 1e3)
    }

    /// p50/p90/p99/p999/max/mean in µs and the count.
    pub fn to_json(&self) -> Value {
        if self.h.is_empty() {
            return json!({"count": 0});
        }
        let us = |v: u64| (v as f64 / 1e3 * 10.0).round() / 10.0;
        json!({
            "count": self.h.len(),
            "p50_us": us(self.h.value_at_quantile(0.50)),
            "p90_us": us(self.h.value_at_quantile(0.90)),
            "p99_us": us(self.h.value_at_quantile(0.99)),
            "p999_us": us(self.h.value_at_quantile(0.999)),
            "max_us": us(self.h.max()),
            "mean_us": (self.h.mean() / 1e3 * 10.0).round() / 10.0,
        })
    }

    /// (nines, µs) points of the percentile curve: x = -log10(1 - q).
    fn curve(&self) -> Vec<(f64, f64)> {
        let mut pts = Vec::new();
        if self.h.is_empty() {
            return pts;
        }
        let max_nines = (self.h.len() as f64).log10().clamp(1.0, 6.0);
        let steps = 200;
        for i in 0..=steps {
            let nines = max_nines * f64::from(i) / f64::from(steps);
            let q = 1.0 - 10f64.powf(-nines);
            pts.push((nines, self.h.value_at_quantile(q).max(1) as f64 / 1e3));
        }
        pts
    }
}

/// Draws the percentile curves of `series` (label, distribution) into an SVG file.
pub fn plot(
    path: &std::path::Path,
    title: &str,
    series: &[(String, Latency)],
) -> Result<(), String> {
    use plotters::prelude::*;
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(l, h)| (l.clone(), h.curve()))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if curves.is_empty() {
        return Err("no latency samples to plot".into());
    }
    let x_max = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let y_max = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let y_min = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(f64::MAX, f64::min)
        .max(0.1);
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, (y_min * 0.8..y_max * 1.25).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&|n| {
            let q = 100.0 * (1.0 - 10f64.powf(-n));
            let s = format!("{q:.4}");
            format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
        })
        .draw()
        .map_err(|e| e.to_string())?;
    let colors = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK];
    for (i, (label, pts)) in curves.into_iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_in_microseconds() {
        let mut l = Latency::new();
        for i in 1..=1000u64 {
            l.record_ns(i * 1000);
        }
        let p50 = l.quantile_us(0.5).unwrap();
        assert!((499.0..=501.0).contains(&p50), "{p50}");
        let j = l.to_json();
        assert_eq!(j["count"], 1000);
        assert!(j["p99_us"].as_f64().unwrap() >= 989.0);
    }

    #[test]
    fn plot_writes_an_svg() {
        let mut l = Latency::new();
        for i in 1..=10_000u64 {
            l.record_ns(10_000 + (i * 7919) % 90_000);
        }
        let p = std::env::temp_dir().join(format!("msrp-bench-plot-{}.svg", std::process::id()));
        plot(&p, "test", &[("a".into(), l.clone()), ("b".into(), l)]).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        assert!(s.contains("<svg") && s.contains("<polyline"));
    }
}
