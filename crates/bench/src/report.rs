//! Formatting shared by every mode's report: rounding, verdicts, plan lines.

/// `PASS` or `MISS`.
pub fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

/// Rounds to three decimals.
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Rounds to four decimals (recall).
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The plan line with every vector literal `'[…]'` shortened to its first value.
pub fn abbreviate_vectors(line: &str) -> String {
    let mut shortened = String::with_capacity(line.len().min(200));
    let mut rest = line;
    while let Some(start) = rest.find("'[") {
        let Some(length) = rest[start..].find("]'") else {
            break;
        };
        let literal = &rest[start + 2..start + length];
        let first = literal.split(',').next().unwrap_or("");
        shortened.push_str(&rest[..start]);
        shortened.push_str(&format!("'[{first},…]'"));
        rest = &rest[start + length + 2..];
    }
    shortened.push_str(rest);
    shortened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_rounding() {
        assert_eq!(verdict(true), "PASS");
        assert_eq!(verdict(false), "MISS");
        assert_eq!(round3(1.234_56), 1.235);
        assert_eq!(round4(0.987_65), 0.9877);
    }

    #[test]
    fn vector_literals_in_plans_are_abbreviated() {
        assert_eq!(
            abbreviate_vectors("Sort Key: (e <=> '[0.5,-1,2]'::vector) x '[3]'"),
            "Sort Key: (e <=> '[0.5,…]'::vector) x '[3,…]'"
        );
        assert_eq!(abbreviate_vectors("Seq Scan on t"), "Seq Scan on t");
    }
}
