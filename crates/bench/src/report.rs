//! What every mode prints, in one shape: a [`Report`] of headline figures, targets and tables
//! of named columns, printed aligned for people and then, last on stdout, as one JSON line
//! with the same names and values for machines. Also the rounding and plan-line helpers.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A table: a name, column names, and rows of JSON values (numbers, text, `null` for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    name: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    /// An empty table called `name` with `columns`, separated by spaces (also the keys of
    /// its JSON rows).
    pub fn new(name: impl Into<String>, columns: &'static str) -> Self {
        Self {
            name: name.into(),
            columns: columns.split_whitespace().collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row; it must have one value per column.
    pub fn row(&mut self, cells: Vec<Value>) -> &mut Self {
        debug_assert_eq!(cells.len(), self.columns.len(), "{}", self.name);
        self.rows.push(cells);
        self
    }

    /// Appends `item` as one row, each column from the field of that name (`null` when it has
    /// none); an array's objects are merged first, so a row can join several structs.
    pub fn record(&mut self, item: impl Serialize) -> &mut Self {
        let mut fields = Map::new();
        match serde_json::to_value(item).unwrap_or(Value::Null) {
            Value::Array(parts) => parts.into_iter().for_each(|part| {
                if let Value::Object(part) = part {
                    fields.extend(part);
                }
            }),
            Value::Object(object) => fields = object,
            _ => {}
        }
        let cells = self
            .columns
            .iter()
            .map(|column| fields.get(*column).cloned());
        let cells = cells.map(Option::unwrap_or_default).collect();
        self.row(cells)
    }

    /// The value in `column` of the first row whose first cell is `key`.
    #[cfg(test)]
    pub fn get(&self, key: &str, column: &str) -> Option<&Value> {
        let at = self.columns.iter().position(|name| *name == column)?;
        let row = self.rows.iter().find(|row| row[0] == key)?;
        row.get(at)
    }

    /// The rows as JSON objects keyed by the column names.
    pub fn json(&self) -> Value {
        let rows = self.rows.iter().map(|row| {
            let pairs = self.columns.iter().zip(row);
            Value::Object(
                pairs
                    .map(|(name, cell)| ((*name).to_owned(), cell.clone()))
                    .collect(),
            )
        });
        Value::Array(rows.collect())
    }

    /// The table as aligned text: its name, the column names, one line per row; text to the
    /// left, everything else to the right.
    pub fn render(&self) -> String {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(cell_text).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|at| {
                let cells = texts.iter().map(|row| row[at].chars().count());
                cells.fold(self.columns[at].chars().count(), usize::max)
            })
            .collect();
        let line = |cells: Vec<(&str, bool)>| {
            let padded = cells.iter().zip(&widths).map(|((text, left), width)| {
                if *left {
                    format!("{text:<width$}")
                } else {
                    format!("{text:>width$}")
                }
            });
            format!("  {}", padded.collect::<Vec<_>>().join("  ").trim_end())
        };
        let mut out = vec![self.name.to_uppercase()];
        out.push(line(
            self.columns.iter().map(|name| (*name, true)).collect(),
        ));
        for (row, text) in self.rows.iter().zip(&texts) {
            let cells = text.iter().zip(row);
            out.push(line(
                cells
                    .map(|(text, value)| (text.as_str(), value.is_string()))
                    .collect(),
            ));
        }
        out.join("\n")
    }
}

/// One run's report: the mode, headline figures, target verdicts, tables and plans.
#[derive(Debug, Clone)]
pub struct Report {
    mode: &'static str,
    title: String,
    figures: Map<String, Value>,
    targets: Table,
    tables: Vec<Table>,
    plans: Vec<(String, String)>,
}

impl Report {
    /// An empty report of `mode`, headed by `title` (what was measured, at which sizes).
    pub fn new(mode: &'static str, title: impl Into<String>) -> Self {
        Self {
            mode,
            title: title.into(),
            figures: Map::new(),
            targets: Table::new("targets", "target value bound verdict"),
            tables: Vec::new(),
            plans: Vec::new(),
        }
    }

    /// A headline figure (a size, a setting, a single measurement).
    pub fn figure(&mut self, name: &str, value: impl Serialize) -> &mut Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.figures.insert(name.to_owned(), value);
        self
    }

    /// A target's verdict: `value` against `bound` (`>= 0.90`), met or missed, or not measured
    /// (`met` `None`).
    pub fn target(
        &mut self,
        name: &str,
        value: impl Serialize,
        bound: &str,
        met: Option<bool>,
    ) -> &mut Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let verdict = met.map_or("N/A", verdict);
        self.targets
            .row(vec![json!(name), value, json!(bound), json!(verdict)]);
        self
    }

    /// Adds a table.
    pub fn table(&mut self, table: Table) -> &mut Self {
        self.tables.push(table);
        self
    }

    /// Adds a query plan, printed with its vector literals shortened, kept out of the JSON.
    pub fn plan(&mut self, label: impl Into<String>, plan: impl Into<String>) -> &mut Self {
        self.plans.push((label.into(), plan.into()));
        self
    }

    /// The names of the targets that were missed.
    pub fn missed(&self) -> Vec<String> {
        let missed = self.targets.rows.iter().filter(|row| row[3] == "MISS");
        missed.map(|row| cell_text(&row[0])).collect()
    }

    /// The table called `name` (`"targets"` for the verdicts).
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Table> {
        std::iter::once(&self.targets)
            .chain(&self.tables)
            .find(|table| table.name == name)
    }

    /// Everything as one JSON object: `mode`, the figures, `targets` and each table by name.
    pub fn json(&self) -> Value {
        let mut object = Map::new();
        object.insert("mode".to_owned(), json!(self.mode));
        object.extend(self.figures.clone());
        for table in std::iter::once(&self.targets).chain(&self.tables) {
            if !table.rows.is_empty() {
                object.insert(table.name.replace(' ', "_"), table.json());
            }
        }
        Value::Object(object)
    }

    /// Prints the text form and, last, the JSON line to stdout.
    pub fn print(&self) {
        println!("\nembedstore-bench {}: {}", self.mode, self.title);
        let width = self.figures.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in &self.figures {
            println!("  {name:<width$}  {}", cell_text(value));
        }
        for table in self.tables.iter().chain(Some(&self.targets)) {
            if !table.rows.is_empty() {
                println!("\n{}", table.render());
            }
        }
        if !self.plans.is_empty() {
            println!("\nPLANS");
        }
        for (label, plan) in &self.plans {
            println!("  {label}:");
            for line in plan.lines() {
                println!("    {}", abbreviate_vectors(line));
            }
        }
        println!("\n{}", self.json());
    }
}

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

/// `numerator / denominator` rounded to three decimals, `None` when the denominator is not a
/// positive number.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator > 0.0 && numerator.is_finite() && denominator.is_finite())
        .then(|| round3(numerator / denominator))
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

/// A cell as text: `-` for none, numbers as the shortest form that reads back the same.
fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_rounding_and_ratios() {
        assert_eq!(verdict(true), "PASS");
        assert_eq!(verdict(false), "MISS");
        assert_eq!(round3(1.234_56), 1.235);
        assert_eq!(round4(0.987_65), 0.9877);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        for (numerator, denominator) in [
            (3.0, 0.0),
            (3.0, -1.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
        ] {
            assert_eq!(
                ratio(numerator, denominator),
                None,
                "{numerator}/{denominator}"
            );
        }
    }

    #[test]
    fn vector_literals_in_plans_are_abbreviated() {
        assert_eq!(
            abbreviate_vectors("Sort Key: (e <=> '[0.5,-1,2]'::vector) x '[3]'"),
            "Sort Key: (e <=> '[0.5,…]'::vector) x '[3,…]'"
        );
        assert_eq!(abbreviate_vectors("Seq Scan on t"), "Seq Scan on t");
    }

    #[test]
    fn tables_align_text_left_and_numbers_right_and_give_the_same_json() {
        let mut table = Table::new("sweep", "cell qps ratio");
        table.row(vec![json!("ef40"), json!(1200.5), json!(0.9)]);
        table.row(vec![json!("filter1"), json!(7), Value::Null]);
        assert_eq!(
            table.render(),
            "SWEEP\n  cell     qps     ratio\n  ef40     1200.5    0.9\n  filter1       7      -"
        );
        assert_eq!(table.get("filter1", "qps"), Some(&json!(7)));
        assert_eq!(table.get("nope", "qps"), None);
        let mut joined = Table::new("joined", "a b c");
        joined.record([json!({"a": 1}), json!({"b": "x", "d": 2})]);
        joined.record(json!({"c": 3}));
        let rows = json!([{"a": 1, "b": "x", "c": null}, {"a": null, "b": null, "c": 3}]);
        assert_eq!(
            joined.json(),
            rows,
            "fields by column name, missing ones null"
        );
        assert_eq!(
            table.json(),
            json!([{"cell": "ef40", "qps": 1200.5, "ratio": 0.9},
                   {"cell": "filter1", "qps": 7, "ratio": null}])
        );
    }

    #[test]
    fn reports_collect_figures_targets_and_tables_into_one_json_object() {
        let mut report = Report::new("quant", "3 indexes");
        report.figure("rows", 5000).figure("load_s", 1.5);
        report.target("insert_vs_copy", 0.95, ">= 0.90", Some(true));
        report.target("p50", 1.2, "<= 1.10", Some(false));
        report.target("single", Value::Null, "<= 1.05", None);
        report.table(Table::new("empty", "a"));
        report.plan("library", "Seq Scan");
        assert_eq!(report.missed(), ["p50"]);
        let json = report.json();
        assert_eq!(json["mode"], "quant");
        assert_eq!(json["rows"], 5000);
        assert_eq!(json["targets"][1]["verdict"], "MISS");
        assert_eq!(json["targets"][2]["verdict"], "N/A");
        assert!(json.get("empty").is_none(), "empty tables are left out");
        assert_eq!(
            report.get("targets").unwrap().get("p50", "value"),
            Some(&json!(1.2))
        );
        assert_eq!(json["load_s"], 1.5);
    }
}
