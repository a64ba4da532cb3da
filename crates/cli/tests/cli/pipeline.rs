//! The pipeline example end to end through the CLI: NumPy's file in, the same file out.

use std::path::Path;
use std::process::Command;

use embedstore::Metric;
use embedstore_test_support::{Scratch, example_fixture as fixture, with_collection};

use crate::support::{embedstore, stdout_of};

/// Ingest NumPy's file with the CLI, export it again, and get NumPy's file back byte for byte.
#[test]
fn cli_ingest_then_export_reproduces_numpys_file() {
    let (db, _) = with_collection("pipeline", 4, Metric::L2);
    let scratch = Scratch::new(&db);
    let out = scratch.path("export");
    let cli = |args: &[&std::ffi::OsStr]| stdout_of(embedstore(&db).args(args));
    // The float16 fixture: values widen exactly to float32.
    let vectors = fixture("f2_v1.npy");
    let records = fixture("records.jsonl");
    cli(&[
        "ingest".as_ref(),
        "pipeline".as_ref(),
        "--progress".as_ref(),
        "off".as_ref(),
        "--vectors".as_ref(),
        vectors.as_os_str(),
        "--records".as_ref(),
        records.as_os_str(),
    ]);
    let stdout = cli(&[
        "export".as_ref(),
        "pipeline".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(stdout.contains("exported 3 rows"), "{stdout}");
    let exported = std::fs::read(out.join("vectors.npy")).unwrap();
    assert_eq!(
        exported,
        std::fs::read(fixture("f4_v1.npy")).unwrap(),
        "byte-identical to numpy.save"
    );
    let lines = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert_eq!(
        lines,
        "{\"external_id\":\"r0\",\"metadata\":{\"row\":0}}\n{\"external_id\":\"r1\",\"metadata\":{\"row\":1}}\n{\"external_id\":\"r2\",\"metadata\":{\"row\":2}}\n"
    );
    check_with_numpy(&out.join("vectors.npy"));
}

/// Loads the export with NumPy itself when Python + NumPy are present (`EMBEDSTORE_PYTHON`
/// names the interpreter, default `python3`); otherwise says so on stderr.
fn check_with_numpy(path: &Path) {
    let python = std::env::var("EMBEDSTORE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python).args(["-c", "import numpy"]).output();
    if !probe.is_ok_and(|output| output.status.success()) {
        eprintln!(
            "notice: {python} with numpy not found; the export was checked against the committed NumPy fixtures only (set EMBEDSTORE_PYTHON to a Python with numpy to check it with numpy.load too)"
        );
        return;
    }
    let script = "import sys, numpy as np\n\
                  a = np.load(sys.argv[1])\n\
                  assert a.dtype == np.dtype('<f4') and a.shape == (3, 4) and a.flags.c_contiguous, (a.dtype, a.shape)\n\
                  assert np.array_equal(a, np.arange(12).reshape(3, 4) / 8 - 0.5)\n\
                  print('numpy ok')";
    let output = Command::new(&python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "numpy.load refused the export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "numpy ok");
    eprintln!("checked the export with {python}'s numpy.load");
}
