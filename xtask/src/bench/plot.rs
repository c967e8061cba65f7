//! The execs/s plot: grouped bars (one group per storm workload, one bar per
//! configuration) at the median, with min-max whiskers. Plain SVG text.

use std::fmt::Write as _;

use super::model::ExecAggregate;

const COLORS: [&str; 6] = [
    "#4d4d4d", "#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" axis top and tick step above `max`.
fn axis(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let mag = 10f64.powf(max.log10().floor());
    let step = [0.1, 0.2, 0.25, 0.5, 1.0, 2.0]
        .iter()
        .map(|s| s * mag)
        .find(|s| max / s <= 6.0)
        .unwrap_or(2.0 * mag);
    ((max / step).ceil() * step, step)
}

/// The SVG for `aggs` in configuration order `configs`.
pub fn svg(aggs: &[ExecAggregate], configs: &[String], title: &str) -> String {
    let mut workloads: Vec<&str> = Vec::new();
    for a in aggs {
        if !workloads.contains(&a.workload.as_str()) {
            workloads.push(&a.workload);
        }
    }
    let present: Vec<&String> = configs
        .iter()
        .filter(|c| aggs.iter().any(|a| &a.config == *c))
        .collect();
    let (left, right, top, bottom) = (70.0, 20.0, 50.0, 60.0);
    let bar = 22.0;
    let gap = 26.0;
    let group_w = bar * present.len().max(1) as f64 + gap;
    let plot_w = group_w * workloads.len().max(1) as f64;
    let plot_h = 280.0;
    let w = left + plot_w + right + 140.0;
    let h = top + plot_h + bottom;
    let max = aggs
        .iter()
        .map(|a| a.rate_max.max(a.rate_median))
        .fold(0.0, f64::max);
    let (ymax, step) = axis(max);
    let y = |v: f64| top + plot_h - (v / ymax).clamp(0.0, 1.0) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="22" font-size="14" text-anchor="middle">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    // Grid and y labels.
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0
        );
        v += step;
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{:.0}) rotate(-90)" text-anchor="middle">execs/s (median, min-max)</text>"#,
        top + plot_h / 2.0
    );
    for (gi, wl) in workloads.iter().enumerate() {
        let gx = left + gi as f64 * group_w + gap / 2.0;
        for (ci, c) in present.iter().enumerate() {
            let Some(a) = aggs.iter().find(|a| &a.config == *c && a.workload == *wl) else {
                continue;
            };
            let x = gx + ci as f64 * bar;
            let color = COLORS[ci % COLORS.len()];
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {}: {:.0} execs/s ({:.0}-{:.0})</title></rect>"#,
                x + 2.0,
                y(a.rate_median),
                bar - 4.0,
                top + plot_h - y(a.rate_median),
                esc(c),
                esc(wl),
                a.rate_median,
                a.rate_min,
                a.rate_max
            );
            let cx = x + bar / 2.0;
            let _ = writeln!(
                s,
                r#"<path d="M{cx:.1} {:.1}V{:.1}M{:.1} {:.1}h8M{:.1} {:.1}h8" stroke="black" fill="none"/>"#,
                y(a.rate_max),
                y(a.rate_min),
                cx - 4.0,
                y(a.rate_max),
                cx - 4.0,
                y(a.rate_min)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
            gx + bar * present.len() as f64 / 2.0,
            top + plot_h + 18.0,
            esc(wl)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        top + plot_h,
        left + plot_w,
        top + plot_h
    );
    for (ci, c) in present.iter().enumerate() {
        let lx = left + plot_w + 16.0;
        let ly = top + 10.0 + ci as f64 * 18.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.0}" y="{:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{ly:.0}">{}</text>"#,
            ly - 10.0,
            COLORS[ci % COLORS.len()],
            lx + 18.0,
            esc(c)
        );
    }
    s.push_str("</svg>\n");
    s
}
