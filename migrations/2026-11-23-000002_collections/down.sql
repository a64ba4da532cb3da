DROP TABLE collections;
