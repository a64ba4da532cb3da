use super::*;

#[test]
fn a_384_dimension_row_fills_a_page_four_times_as_measured() {
    // Measured on PostgreSQL 15: 100,000 rows, 12-byte ids, `{}`: 204,800,000 bytes.
    let plan = plan(&CapacityInput::dense(100_000, 384));
    assert_eq!(plan.table_bytes, 25_000 * PAGE_BYTES);
    assert_eq!(plan.toast_bytes, 0);
    // HNSW m 16: 4 nodes a page, and the metapage (measured 204,808,192).
    assert_eq!(plan.ann_index_bytes, 25_001 * PAGE_BYTES);
}

#[test]
fn key_indexes_and_rows_with_content_match_measured_sizes() {
    // Measured on PostgreSQL 15, 100,000 rows: ids 'doc-1' … 'doc-100000', 192 bytes of
    // content, metadata '{"category": "c12", "n": 12345}': heap 204,759,040 bytes, primary
    // key 3,178,496, unique external ids 4,710,400.
    let mut input = CapacityInput::dense(100_000, 384);
    input.external_id_bytes = 9;
    input.content_bytes = 192;
    input.metadata_bytes = 30;
    let plan = plan(&input);
    let near = |planned: u64, measured: f64| (planned as f64 / measured - 1.0).abs() < 0.05;
    assert!(near(plan.table_bytes, 204_759_040.0), "{plan:?}");
    assert!(
        near(plan.key_index_bytes, 3_178_496.0 + 4_710_400.0),
        "{plan:?}"
    );
}

#[test]
fn a_1536_dimension_vector_goes_to_toast() {
    // Measured on PostgreSQL 15, 10,000 rows: heap 1,089,536 bytes, TOAST 81,920,000 (a
    // page a vector) and its index 917,504.
    let mut input = CapacityInput::dense(10_000, 1536);
    input.external_id_bytes = 10; // 'item-1' … 'item-10000'
    let plan = plan(&input);
    assert_eq!(plan.table_bytes, 134 * PAGE_BYTES);
    assert_eq!(plan.toast_bytes, (10_000 + 111 + 1) * PAGE_BYTES);
    assert!(plan.notes[0].contains("TOAST"), "{:?}", plan.notes);
}

#[test]
fn quantized_indexes_pack_more_nodes_a_page() {
    let with = |quantization| {
        let mut input = CapacityInput::dense(100_000, 384);
        input.index = Some(IndexSpec::hnsw().quantization(quantization));
        plan(&input).ann_index_bytes
    };
    // Measured: half 117,039,104 bytes (7 a page), binary 34,873,344.
    assert_eq!(with(Quantization::Half), (14_286 + 1) * PAGE_BYTES);
    let binary = with(Quantization::Binary) as f64;
    assert!((binary / 34_873_344.0 - 1.0).abs() < 0.15, "{binary}");
}

#[test]
fn a_graph_beyond_the_build_memory_is_said_and_slower() {
    let mut input = CapacityInput::dense(1_000_000, 384);
    input.index = Some(IndexSpec::hnsw().maintenance_work_mem_mb(64));
    let small = plan(&input);
    input.index = Some(IndexSpec::hnsw().maintenance_work_mem_mb(8 << 10));
    let large = plan(&input);
    let (small, large) = (small.build.unwrap(), large.build.unwrap());
    assert!(!small.fits_in_memory && large.fits_in_memory);
    assert!(small.seconds > 2.0 * large.seconds);
}

#[test]
fn unset_build_memory_fits_the_graph_within_the_cap_and_never_below_the_server() {
    let memory = |rows| default_build_memory_mb(&CapacityInput::dense(rows, 384), 64);
    // 10,000 rows need about 25 MB: the server's 64 MB stands.
    assert_eq!(memory(10_000), 64);
    // 1,000,000 rows: the graph (2,536 bytes a row) and 10 %.
    assert_eq!(
        memory(1_000_000),
        (2_536_000_000_f64 * 1.1) as u64 / (1 << 20) + 1
    );
    assert_eq!(memory(10_000_000), BUILD_MEMORY_CAP_MB);
    let server = |mb| default_build_memory_mb(&CapacityInput::dense(1_000_000, 384), mb);
    assert_eq!(server(8 << 10), 8 << 10);
    // The planner's build runs with the memory the library would choose.
    let build = plan(&CapacityInput::dense(1_000_000, 384)).build.unwrap();
    assert!(build.fits_in_memory);
    assert_eq!(build.build_memory, memory(1_000_000) << 20);
}

#[test]
fn build_times_follow_the_measured_builds() {
    let seconds = |rows| {
        let mut input = CapacityInput::dense(rows, 384);
        input.index = Some(IndexSpec::hnsw().maintenance_work_mem_mb(4096));
        plan(&input).build.unwrap().seconds
    };
    // Measured with 2 parallel workers: 19.9 s at 100,000 rows, 587 s at 1,000,000.
    assert!((seconds(100_000) / 19.9 - 1.0).abs() < 0.05);
    assert!((seconds(1_000_000) / 587.0 - 1.0).abs() < 0.05);
}

#[test]
fn a_load_beyond_one_node_asks_for_replicas_and_memory_for_citus() {
    let mut input = CapacityInput::dense(1_000_000, 384);
    input.load = Some(Load {
        target_qps: 10_000.0,
        ef_search: 40,
        cores_per_node: 8,
        memory_per_node: 1 << 30,
    });
    let plan = plan(&input);
    let nodes = plan.nodes.unwrap();
    assert!(nodes.replicas >= 1, "{nodes:?}");
    assert!(nodes.citus_workers >= 4, "{nodes:?}");
    input.load = Some(Load {
        target_qps: 10.0,
        ef_search: 40,
        cores_per_node: 8,
        memory_per_node: 64 << 30,
    });
    let nodes = super::plan(&input).nodes.unwrap();
    assert_eq!((nodes.replicas, nodes.citus_workers), (0, 0));
}

#[test]
fn recall_targets_map_to_measured_ef_search() {
    assert_eq!(Load::ef_search_for(0.9), Some(40));
    assert_eq!(Load::ef_search_for(0.95), Some(100));
    assert_eq!(Load::ef_search_for(0.999), None);
}
