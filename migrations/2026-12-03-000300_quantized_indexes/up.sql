-- A quantized ANN index (issue 13) indexes binary_quantize(embedding)::bit(N): the catalog
-- records its element as 'bit'. The quantization itself is in `parameters` ('half' or
-- 'binary'), read back by a rebuild that keeps the spec.
ALTER TABLE ann_indexes DROP CONSTRAINT ann_indexes_element_check;
ALTER TABLE ann_indexes ADD CONSTRAINT ann_indexes_element_check
    CHECK (element IN ('vector', 'halfvec', 'bit'));
COMMENT ON COLUMN ann_indexes.element IS
    'Element type of the indexed expression: vector (up to 2000 dimensions), halfvec (up to 4000; also a half-quantized index) or bit (a binary-quantized index).';
COMMENT ON COLUMN ann_indexes.parameters IS
    'Build parameters as a JSON object: m, ef_construction and quantization (hnsw) or lists (ivfflat).';
