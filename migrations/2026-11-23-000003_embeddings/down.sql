-- Dropping the partitioned table drops every collection's partition with it.
DROP TABLE embeddings;
