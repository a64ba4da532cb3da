//! The human-readable table of an ingest run.

use crate::ingest::measure::IngestOutcome;
use crate::ingest::report::{
    BaselineFigures, CliFigures, IngestSummary, NAIVE_TARGET, RSS_LIMIT_BYTES, Verdict,
};

impl IngestSummary {
    /// Prints the human-readable table.
    pub fn print_table(&self, outcome: &IngestOutcome) {
        let checkpoint = if self.checkpointed {
            "CHECKPOINT before each timed write"
        } else {
            "CHECKPOINT not permitted, none"
        };
        println!();
        println!(
            "embedstore-bench ingest: {} rows x {} dimensions (cosine) with content and metadata",
            self.rows, self.dim
        );
        println!(
            "files: {:.1} MB .npy + JSONL, {:.1} MB binary COPY, {:.1} MB text COPY",
            mb(self.ingest_file_bytes),
            mb(self.binary_copy_bytes),
            mb(self.text_copy_bytes)
        );
        println!(
            "{} rounds on fresh collections, order reversed every other round, best of each \
             kept; {checkpoint}",
            self.rounds
        );
        println!("measured: {}", outcome.insert_command);
        println!("(a shared, noisy machine: read the ratios, not the absolute figures)");
        println!();
        println!(
            "  {:<36} {:>9} {:>10} {:>8} {:>8}  {:>10} {:>8} {:>9}",
            "path", "ms", "rows/s", "x ceil", "target", "CLI rows/s", "batches", "RSS MiB"
        );
        self.baseline_line("binary COPY via psql (the ceiling)", &self.binary_copy);
        self.baseline_line("text COPY via psql", &self.text_copy);
        self.baseline_line(
            &format!("naive INSERT+COMMIT ({} rows)", self.naive.rows),
            &self.naive,
        );
        cli_line(
            "embedstore ingest --mode insert",
            &self.insert,
            &self.insert_vs_binary_copy,
        );
        cli_line(
            "embedstore ingest --mode upsert",
            &self.upsert,
            &self.upsert_vs_binary_copy,
        );
        cli_line(
            "upsert re-run, every row unchanged",
            &self.unchanged,
            &self.unchanged_vs_binary_copy,
        );
        println!();
        println!(
            "  insert vs naive           {:>10.1}x   target >= {NAIVE_TARGET:.0}x   {}",
            self.insert_vs_naive.ratio,
            verdict(self.insert_vs_naive.met)
        );
        println!(
            "  peak RSS of the ingests   {:>10.1} MiB target < {} MiB  {}   (max of the CLI's \
             peak_rss_bytes and /proc VmHWM polling)",
            mib(self.peak_rss_bytes),
            RSS_LIMIT_BYTES >> 20,
            verdict(self.rss_met)
        );
        if let Some(run) = &self.rss_run {
            println!(
                "  at {} rows (insert):  {:>10.1} MiB, {:.0} rows/s   {}",
                run.rows,
                mib(run.figures.peak_rss_bytes),
                run.figures.rows_per_s,
                verdict(run.met)
            );
        }
        println!();
        println!(
            "  round  order      binary   insert   upsert unchanged    text    naive (ms)   \
             within the round: insert upsert unchanged x ceil, insert x naive"
        );
        for (index, round) in self.round_ms.iter().enumerate() {
            let order = if round.forward {
                "ceil first"
            } else {
                "ceil last"
            };
            println!(
                "  {:<5}  {order:<10} {:>7.0} {:>8.0} {:>8.0} {:>9.0} {:>7.0} {:>8.0}        \
                 {:>6.3} {:>6.3} {:>9.3} {:>9.1}",
                index + 1,
                round.binary_copy,
                round.insert,
                round.upsert,
                round.unchanged,
                round.text_copy,
                round.naive,
                round.insert_vs_binary_copy,
                round.upsert_vs_binary_copy,
                round.unchanged_vs_binary_copy,
                round.insert_vs_naive
            );
        }
        let median = &self.round_median;
        println!(
            "  median of the rounds{:>72.3} {:>6.3} {:>9.3} {:>9.1}",
            median.insert_vs_binary_copy,
            median.upsert_vs_binary_copy,
            median.unchanged_vs_binary_copy,
            median.insert_vs_naive
        );
        if !self.problems.is_empty() {
            println!();
            println!("PROBLEMS (the figures above are not trustworthy):");
            for problem in &self.problems {
                println!("  - {problem}");
            }
        }
        println!();
        println!("total {:.1} s", self.elapsed_s);
    }

    fn baseline_line(&self, label: &str, figures: &BaselineFigures) {
        let ratio = figures.rows_per_s / self.binary_copy.rows_per_s.max(f64::MIN_POSITIVE);
        println!(
            "  {label:<36} {:>9.1} {:>10.0} {:>7.3}x",
            figures.ms, figures.rows_per_s, ratio
        );
    }
}

fn cli_line(label: &str, figures: &CliFigures, verdict_of: &Verdict) {
    println!(
        "  {label:<36} {:>9.1} {:>10.0} {:>7.3}x {:>7} {}  {:>10.0} {:>8} {:>9.1}",
        figures.ms,
        figures.rows_per_s,
        verdict_of.ratio,
        format!(">={:.1}", verdict_of.target),
        verdict(verdict_of.met),
        figures.cli_rows_per_s,
        figures.batches,
        mib(figures.peak_rss_bytes)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "MISS" }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
