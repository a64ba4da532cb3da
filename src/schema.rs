// @generated automatically by Diesel CLI.

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::*;
    use crate::vector::sql_types::*;

    collections (id) {
        id -> Int4,
        name -> Text,
        dimension -> Int4,
        metric -> Text,
        model -> Text,
        description -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        kind -> Text,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use pgvector::sql_types::*;
    use crate::vector::sql_types::*;

    embeddings (collection_id, id) {
        collection_id -> Int4,
        id -> Int8,
        external_id -> Text,
        embedding -> Nullable<Vector>,
        content -> Nullable<Text>,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        tenant -> Nullable<Text>,
        sparse -> Nullable<Sparsevec>,
        bits -> Nullable<Varbit>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(collections, embeddings,);
