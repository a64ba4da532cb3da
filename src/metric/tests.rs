use super::*;

#[test]
fn names_round_trip() {
    for metric in Metric::EVERY {
        assert_eq!(metric.as_str().parse::<Metric>(), Ok(metric));
        let json = serde_json::to_string(&metric).unwrap();
        assert_eq!(json, format!("\"{}\"", metric.as_str()));
    }
    assert!(
        "dot"
            .parse::<Metric>()
            .unwrap_err()
            .to_string()
            .contains("inner_product")
    );
}

#[test]
fn expression_switches_to_halfvec_above_2000_dimensions() {
    assert_eq!(
        SearchExpression::for_dimension(384).column_sql(),
        "embedding::vector(384)"
    );
    assert_eq!(
        SearchExpression::for_dimension(384).parameter_sql("$2"),
        "$2"
    );
    let wide = SearchExpression::for_dimension(3072);
    assert_eq!(wide.column_sql(), "embedding::halfvec(3072)");
    assert_eq!(wide.parameter_sql("$2"), "$2::halfvec(3072)");
    assert_eq!(
        SearchExpression::for_dimension(8000).column_sql(),
        "embedding"
    );
}

#[test]
fn quantized_expressions_match_the_index_definitions() {
    let expression = SearchExpression::for_dimension(384);
    assert_eq!(
        expression.indexed_column_sql(Some(Quantization::Half)),
        "embedding::halfvec(384)"
    );
    assert_eq!(
        expression.indexed_parameter_sql("$1", Some(Quantization::Binary)),
        "binary_quantize($1)::bit(384)"
    );
    assert_eq!(expression.indexed_parameter_sql("$1", None), "$1");
    assert_eq!(
        Metric::Cosine.indexed_operator(Some(Quantization::Binary)),
        "<~>"
    );
    assert_eq!(
        Metric::InnerProduct.indexed_operator_class(Element::Vector, Some(Quantization::Half)),
        "halfvec_ip_ops"
    );
    for quantization in Quantization::ALL {
        assert_eq!(
            Quantization::from_name(quantization.as_str()),
            Some(quantization)
        );
    }
}

#[test]
fn sparse_and_bit_collections_search_their_own_columns() {
    let sparse = SearchExpression::for_collection(VectorKind::Sparse, 30522);
    assert_eq!(sparse.column_sql(), "sparse::sparsevec(30522)");
    assert_eq!(sparse.parameter_sql("$1"), "$1");
    assert_eq!(sparse.send_sql(Some("e")), "sparsevec_send(e.sparse)");
    let bits = SearchExpression::for_collection(VectorKind::Bit, 64);
    assert_eq!(bits.column_sql(), "bits::bit(64)");
    assert_eq!(bits.send_sql(None), "varbit_send(bits)");
    assert_eq!(
        Metric::Jaccard.operator_class(Element::Bit),
        "bit_jaccard_ops"
    );
    assert_eq!(
        Metric::Hamming.operator_class(Element::Bit),
        "bit_hamming_ops"
    );
    assert_eq!(
        Metric::InnerProduct.operator_class(Element::SparseVector),
        "sparsevec_ip_ops"
    );
    let (a, b) = ([1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]);
    assert_eq!(Metric::Hamming.distance(&a, &b), 2.0);
    assert!((Metric::Jaccard.distance(&a, &b) - 2.0 / 3.0).abs() < 1e-12);
    let (dense_a, dense_b) = ([0.0, 2.0, 0.0, -1.0, 0.5], [1.0, 2.0, 0.0, 0.0, -3.0]);
    let (sparse_a, sparse_b) = (
        VectorValue::Sparse(SparseVector::from_dense(&dense_a)),
        VectorValue::Sparse(SparseVector::from_dense(&dense_b)),
    );
    let (bits_a, bits_b): (VectorValue, VectorValue) = (
        VectorValue::Bit("1100110011".parse().unwrap()),
        VectorValue::Bit("1010101000".parse().unwrap()),
    );
    for metric in Metric::BIT {
        let expected = metric.distance(&bits_a.to_vec(), &bits_b.to_vec());
        assert_eq!(
            metric.value_distance(&bits_a, &bits_b),
            expected,
            "{metric}"
        );
    }
    for metric in Metric::FLOAT {
        let expected = metric.distance(&dense_a, &dense_b);
        let got = metric.value_distance(&sparse_a, &sparse_b);
        assert!(
            (expected - got).abs() < 1e-12,
            "{metric}: {expected} vs {got}"
        );
    }
}

#[test]
#[expect(
    deprecated,
    reason = "the deprecated constant must keep its old meaning"
)]
fn all_keeps_meaning_the_float_metrics_and_every_names_every_metric() {
    assert_eq!(Metric::ALL, Metric::FLOAT);
    for metric in Metric::ALL {
        assert!(
            Metric::of_kind(VectorKind::Dense).contains(&metric),
            "{metric}"
        );
    }
    let mut every = Metric::FLOAT.to_vec();
    every.extend(Metric::BIT);
    assert_eq!(Metric::EVERY.to_vec(), every);
    assert_eq!("hamming".parse::<Metric>(), Ok(Metric::Hamming));
    assert!(
        UnknownMetric("dot".into())
            .to_string()
            .ends_with("l2, cosine, inner_product, l1, hamming, jaccard")
    );
}

#[test]
fn scores_grow_with_similarity() {
    for metric in Metric::EVERY {
        assert!(metric.score(0.1) > metric.score(0.9), "{metric}");
    }
    assert_eq!(Metric::Cosine.score(0.25), 0.75);
    assert_eq!(Metric::InnerProduct.score(-3.0), 3.0);
}

#[test]
fn brute_force_distances_match_definitions() {
    let (a, b) = ([1.0, 0.0], [0.0, 2.0]);
    assert!((Metric::L2.distance(&a, &b) - 5f64.sqrt()).abs() < 1e-12);
    assert_eq!(Metric::L1.distance(&a, &b), 3.0);
    assert_eq!(Metric::InnerProduct.distance(&a, &b), 0.0);
    assert!((Metric::Cosine.distance(&a, &b) - 1.0).abs() < 1e-12);
}
