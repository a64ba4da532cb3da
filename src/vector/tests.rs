use super::*;

#[test]
fn json_forms_round_trip() {
    let dense: VectorValue = serde_json::from_str("[1, 2.5, -3]").unwrap();
    assert_eq!(dense, VectorValue::Dense(vec![1.0, 2.5, -3.0]));
    let sparse: VectorValue =
        serde_json::from_str(r#"{"indices": [0, 7], "values": [0.5, -1], "dim": 10}"#).unwrap();
    assert_eq!(
        sparse,
        VectorValue::Sparse(SparseVector::new(10, vec![0, 7], vec![0.5, -1.0]))
    );
    let bits: VectorValue = serde_json::from_str(r#""0110100111""#).unwrap();
    assert_eq!(bits.to_vec(), [0., 1., 1., 0., 1., 0., 0., 1., 1., 1.]);
    for value in [dense, sparse, bits] {
        let text = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<VectorValue>(&text).unwrap(), value);
    }
}

#[test]
fn hostile_json_is_refused_with_the_reason() {
    for (text, expected) in [
        (r#""01x1""#, "character 2 is neither 0 nor 1"),
        (r#"" 0101""#, "character 0 is neither 0 nor 1"),
        (
            r#"{"indices": [1], "values": [1], "dim": 3, "x": 1}"#,
            "unknown field `x`",
        ),
        (
            r#"{"indices": [-1], "values": [1], "dim": 3}"#,
            "invalid value",
        ),
        (r#"{"indices": [1], "values": [1]}"#, "missing field `dim`"),
        (r#"["1"]"#, "expected a number"),
        ("12", "expected a vector"),
        (r#""1012""#, "character 3 is neither 0 nor 1"),
        // A string that is no attempt at bits is told what a vector is.
        (
            r#""hello""#,
            "expected a vector (an array of numbers, {\"indices\": [...], \"values\": [...], \"dim\": N}, or a string of 0s and 1s), got the string \"hello\"",
        ),
        (
            r#""[1.5, 2]""#,
            "got the string \"[1.5, 2]\": JSON inside a string; write the array or object without the quotes",
        ),
    ] {
        let error = serde_json::from_str::<VectorValue>(text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{text}: {error}");
        if !expected.contains("neither 0 nor 1") {
            assert!(!error.contains("neither 0 nor 1"), "{text}: {error}");
        }
    }
}

#[test]
fn bits_pack_most_significant_first_and_clear_the_tail() {
    let bits: BitVector = "101000001".parse().unwrap();
    assert_eq!(bits.as_bytes(), [0b1010_0000, 0b1000_0000]);
    assert_eq!(bits.count_ones(), 3);
    assert_eq!(bits.to_string(), "101000001");
    let tail = BitVector::from_bytes(3, vec![0xFF]).unwrap();
    assert_eq!(tail.as_bytes(), [0b1110_0000]);
    assert!(BitVector::from_bytes(9, vec![0xFF]).is_none());
    let from_bools: BitVector = serde_json::from_str("[true, 0, 1]").unwrap();
    assert_eq!(from_bools.to_string(), "101");
    assert!(serde_json::from_str::<BitVector>("[0, 2]").is_err());
}

#[test]
fn send_bytes_read_back() {
    for value in [
        VectorValue::Dense(vec![1.5, -0.0, 3.0]),
        VectorValue::Sparse(SparseVector::new(30522, vec![2, 30521], vec![0.25, -7.0])),
        VectorValue::Bit("1100101".parse().unwrap()),
    ] {
        let mut bytes = Vec::new();
        value.write_send(&mut bytes).unwrap();
        assert_eq!(bytes.len(), value.send_len());
        assert_eq!(VectorValue::from_send(value.kind(), &bytes), Some(value));
    }
    assert_eq!(
        VectorValue::from_send(VectorKind::Sparse, &[0, 0, 0, 1]),
        None
    );
}

#[test]
fn sparse_and_dense_forms_agree() {
    let dense = [0.0, 2.0, 0.0, -1.0];
    let sparse = SparseVector::from_dense(&dense);
    assert_eq!(sparse, SparseVector::new(4, vec![1, 3], vec![2.0, -1.0]));
    assert_eq!(sparse.to_dense(), dense);
    for kind in VectorKind::ALL {
        assert_eq!(kind.as_str().parse::<VectorKind>(), Ok(kind));
    }
}

#[test]
fn values_change_in_place_and_come_out_without_a_copy() {
    let mut dense = VectorValue::Dense(vec![3.0, 4.0, 12.0]);
    let values = dense.as_dense_mut().unwrap();
    values.truncate(2);
    values.iter_mut().for_each(|value| *value /= 5.0);
    assert_eq!(dense.as_dense(), Some(&[0.6, 0.8][..]));
    assert_eq!(dense.as_sparse_mut(), None);
    assert_eq!(dense.as_bits_mut(), None);
    let pointer = dense.as_dense().unwrap().as_ptr();
    let owned = dense.into_dense().unwrap();
    assert_eq!(owned.as_ptr(), pointer, "into_dense must not copy");

    let mut sparse = VectorValue::Sparse(SparseVector::new(8, vec![1], vec![2.0]));
    sparse.as_sparse_mut().unwrap().values[0] = -2.0;
    assert_eq!(sparse.as_dense_mut(), None);
    let sparse = sparse.into_dense().unwrap_err();
    assert_eq!(
        sparse.into_sparse().unwrap(),
        SparseVector::new(8, vec![1], vec![-2.0])
    );

    let mut bits = VectorValue::Bit("1000000001".parse().unwrap());
    let inner = bits.as_bits_mut().unwrap();
    assert_eq!(inner.set(0, false), Some(true));
    assert_eq!(inner.set(8, true), Some(false));
    assert_eq!(inner.set(10, true), None, "past the end changes nothing");
    assert_eq!(bits.as_bits().unwrap().to_string(), "0000000011");
    let bits = bits.into_sparse().unwrap_err().into_bits().unwrap();
    assert_eq!(bits.into_bytes(), [0b0000_0000, 0b1100_0000]);
}
