use super::vectors::{finite, vector_fits, vector_plainly_fits};
use super::*;

fn rules(dimension: usize, metric: Metric) -> CollectionRules {
    CollectionRules {
        dimension,
        metric,
        kind: VectorKind::Dense,
    }
}

/// The slow, value-by-value verdict the one-pass check stands in for.
fn fits_value_by_value(vector: &[f32], rules: &CollectionRules) -> bool {
    vector_fits(vector, rules).is_ok() && vector.iter().all(|value| finite(value, rules).is_ok())
}

#[test]
fn the_one_pass_vector_check_never_passes_what_the_precise_one_refuses() {
    let tiny = f32::from_bits(1); // the smallest subnormal: its square underflows
    let cases: Vec<Vec<f32>> = vec![
        vec![0.0; 17],
        vec![tiny; 17],
        vec![-0.0; 17],
        [vec![0.0; 16], vec![1.0]].concat(),
        [vec![1.0; 16], vec![f32::NAN]].concat(),
        [vec![f32::INFINITY], vec![1.0; 16]].concat(),
        [vec![f32::NEG_INFINITY], vec![1.0; 16]].concat(),
        vec![f32::MAX; 17],
        vec![1e-20; 17],
        vec![1e-23; 17],
        vec![1e-19; 17],
        vec![0.25; 17],
        vec![0.25; 16],
    ];
    for metric in [Metric::Cosine, Metric::L2, Metric::InnerProduct] {
        for vector in &cases {
            let rules = rules(vector.len(), metric);
            let precise = fits_value_by_value(vector, &rules);
            if vector_plainly_fits(vector, &rules) {
                assert!(precise, "{metric:?} {vector:?}");
            }
            // Every ordinary vector takes the fast path (huge values, whose squares
            // overflow, are checked value by value).
            if vector
                .iter()
                .all(|value| (1e-15..1e15).contains(&value.abs()))
            {
                assert!(vector_plainly_fits(vector, &rules), "{metric:?} {vector:?}");
            }
        }
        let wrong_length = rules(3, metric);
        assert!(!vector_plainly_fits(&[1.0; 4], &wrong_length));
    }
    // The cases the one pass sends on, the precise check decides as before.
    let cosine = rules(17, Metric::Cosine);
    assert!(!fits_value_by_value(&[tiny; 17], &cosine));
    // Finite values whose norm overflows single precision: refused.
    assert!(!fits_value_by_value(&[f32::MAX; 17], &cosine));
    assert!(!fits_value_by_value(&[1e-23; 17], &cosine));
    assert!(fits_value_by_value(&[1e-20; 17], &cosine));
}

#[test]
fn metadata_checks_nesting_nul_and_size_in_one_walk() {
    let deep = (0..MAX_JSON_DEPTH).fold(
        serde_json::json!(1),
        |inner, _| serde_json::json!({ "k": inner }),
    );
    assert_eq!(nesting_and_nul(&deep), Nesting::TooDeep);
    let deepest_allowed = (1..MAX_JSON_DEPTH).fold(
        serde_json::json!(1),
        |inner, _| serde_json::json!({ "k": inner }),
    );
    assert_eq!(nesting_and_nul(&deepest_allowed), Nesting::Fine);
    assert_eq!(
        nesting_and_nul(&serde_json::json!({ "a": [1, { "b": "x\u{0}" }] })),
        Nesting::HasNul
    );
    assert_eq!(
        nesting_and_nul(&serde_json::json!({ "a\u{0}": 1 })),
        Nesting::HasNul
    );
    let value = serde_json::json!({ "text": "a \"quoted\" \\ line\n", "n": [1.5, -2] });
    let exact = serde_json::to_vec(&value).unwrap().len();
    assert!(json_object_within(&value, exact).is_ok());
    let refused = json_object_within(&value, exact - 1).unwrap_err();
    assert_eq!(
        refused.message(),
        format!("is {exact} bytes as JSON, at most {} allowed", exact - 1)
    );
}
