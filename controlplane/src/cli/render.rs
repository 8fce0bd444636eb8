//! Human-readable output of API answers: aligned tables and key/value lists.

use serde_json::Value;

/// A value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// An aligned table; numbers are right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.get(i)
                        .is_some_and(|c| c == "-" || c.parse::<f64>().is_ok())
                })
        })
        .collect();
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let width = w.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) {
                    format!("{c:>width$}")
                } else {
                    format!("{c:<width$}")
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        &mut out,
    );
    for r in rows {
        line(r, &mut out);
    }
    out
}

/// `key: value` lines for an object, nested objects indented.
pub fn kv(v: &Value) -> String {
    let mut out = String::new();
    kv_into(v, 0, &mut out);
    out
}

fn kv_into(v: &Value, depth: usize, out: &mut String) {
    let Value::Object(m) = v else {
        out.push_str(&cell(v));
        out.push('\n');
        return;
    };
    let width = m.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, val) in m {
        let pad = "  ".repeat(depth);
        match val {
            Value::Object(_) => {
                out.push_str(&format!("{pad}{k}:\n"));
                kv_into(val, depth + 1, out);
            }
            Value::Array(a) if a.iter().any(|x| x.is_object()) => {
                out.push_str(&format!("{pad}{k}:\n"));
                for x in a {
                    out.push_str(&format!("{pad}  - {}\n", cell(x)));
                }
            }
            _ => out.push_str(&format!("{pad}{k:<width$}  {}\n", cell(val))),
        }
    }
}

/// A list of objects as a table whose columns are the keys of the first object.
pub fn objects(list: &[Value]) -> String {
    let Some(Value::Object(first)) = list.first() else {
        return "(none)\n".into();
    };
    let cols: Vec<String> = first.keys().cloned().collect();
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|o| cols.iter().map(|c| cell(&o[c.as_str()])).collect())
        .collect();
    let headers: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(&h, &rows)
}

/// Any answer: a single array field becomes a table, anything else key/value lines.
pub fn generic(v: &Value) -> String {
    if let Value::Array(a) = v {
        return objects(a);
    }
    if let Value::Object(m) = v {
        if m.len() == 1 {
            if let Some(Value::Array(a)) = m.values().next() {
                return objects(a);
            }
        }
    }
    kv(v)
}

/// Bytes with a binary unit.
pub fn bytes(n: f64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n;
    let mut i = 0;
    while x >= 1024.0 && i + 1 < U.len() {
        x /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{x:.0}{}", U[i])
    } else {
        format!("{x:.1}{}", U[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_right_align_numbers() {
        let t = table(
            &["NAME", "N"],
            &[
                vec!["a".into(), "5".into()],
                vec!["long".into(), "123".into()],
            ],
        );
        assert_eq!(t, "NAME    N\na       5\nlong  123\n");
    }

    #[test]
    fn generic_turns_a_list_into_a_table() {
        let v = json!({"rooms": [{"id": "r1", "members": 3}, {"id": "r2", "members": 10}]});
        let t = generic(&v);
        assert!(t.starts_with("ID  MEMBERS\n"), "{t}");
        assert!(t.contains("r2       10"), "{t}");
        assert_eq!(generic(&json!({"rooms": []})), "(none)\n");
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(10.0), "10B");
        assert_eq!(bytes(1536.0), "1.5KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0MiB");
    }
}
