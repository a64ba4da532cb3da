//! Payload indexes serve the rendered filters: a typed btree expression index and a GIN index.

use diesel::prelude::*;
use diesel::sql_types::Text;
use embedstore::internals::{PayloadLayout, SqlBuilder, render_filter};
use embedstore::{Collection, Error, Filter, Metric, NewEmbedding, ScrollRequest};
use embedstore_test_support::TestDatabase;
use serde_json::json;

use super::{ExternalId, rendered_ids};
use crate::support::with_collection;

/// 5,000 rows, 10 of them (`item-00000`, `item-00500`, …) with `lang` "de", tagged "rare".
fn rare_german_rows() -> (TestDatabase, Collection) {
    let (db, c) = with_collection("indexed", 2, Metric::L2);
    let items: Vec<NewEmbedding> = (0..5_000)
        .map(|index| {
            let (lang, tag) = match index {
                _ if index % 500 == 0 => ("de", "rare"),
                _ if index % 2 == 0 => ("en", "even"),
                _ => ("fr", "odd"),
            };
            NewEmbedding::new(format!("item-{index:05}"), vec![1.0, index as f32])
                .with_metadata(json!({ "lang": lang, "n": index, "tags": [tag] }))
        })
        .collect();
    db.store()
        .write(|uow| uow.embeddings().insert(&c, items))
        .unwrap();
    (db, c)
}

/// Creates `embeddings_<id>_<suffix>` on the collection's partition with the given (trusted,
/// test-constant) definition, then ANALYZEs; returns the index name.
fn indexed(db: &TestDatabase, collection: &Collection, suffix: &str, definition: &str) -> String {
    let partition = format!("embeddings_{}", collection.id.0);
    let index = format!("{partition}_{suffix}");
    let mut conn = db.raw_connection();
    diesel::sql_query(format!("CREATE INDEX {index} ON {partition} {definition}"))
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!("ANALYZE {partition}"))
        .execute(&mut conn)
        .unwrap();
    index
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[test]
fn a_gin_index_serves_the_containment_rendering() {
    let (db, c) = rare_german_rows();
    let index = indexed(
        &db,
        &c,
        "metadata_gin",
        "USING gin (metadata jsonb_path_ops)",
    );
    let layout = PayloadLayout {
        gin: true,
        typed: Vec::new(),
    };
    for filter in [Filter::eq("lang", "de"), Filter::contains("tags", "rare")] {
        let statement = |explain: bool| {
            let mut sql = SqlBuilder::new();
            sql.push(if explain { "EXPLAIN " } else { "" })
                .push("SELECT external_id FROM embeddings WHERE collection_id = ")
                .bind(c.id.0)
                .push(" AND (");
            render_filter(&filter, &mut sql, &layout).unwrap();
            sql.push(") ORDER BY external_id");
            sql.into_query()
        };
        let (plan, ids) = db
            .store()
            .read(|uow| {
                let plan: Vec<PlanLine> = statement(true).load(uow.connection())?;
                let ids: Vec<ExternalId> = statement(false).load(uow.connection())?;
                Ok::<_, Error>((plan, ids))
            })
            .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|line| line.line).collect();
        assert!(
            plan.iter().any(|line| line.contains(&index)),
            "{}",
            plan.join("\n")
        );
        let ids: Vec<String> = ids.into_iter().map(|row| row.external_id).collect();
        assert_eq!(ids.len(), 10, "{}", filter.to_json());
        assert_eq!(ids, rendered_ids(&db, &c, &filter, false));
    }
}

#[test]
fn a_typed_payload_index_serves_the_rendered_filter_also_after_many_executions() {
    let (db, c) = rare_german_rows();
    let index = indexed(
        &db,
        &c,
        "lang_text",
        "((embedstore_jsonb_text(metadata #> '{lang}'::text[])))",
    );

    let request = ScrollRequest::new(10).with_filter(Filter::eq("lang", "de"));
    let (plan, pages) = db
        .store()
        .read(|uow| {
            let mut pages = Vec::new();
            for _ in 0..12 {
                pages.push(uow.embeddings().scroll(&c, &request)?);
            }
            let plan = uow.embeddings().explain_scroll(&c, &request)?;
            Ok::<_, Error>((plan, pages))
        })
        .unwrap();
    assert!(plan.contains(&index), "{plan}");
    assert!(
        pages
            .iter()
            .all(|page| page.items.len() == 10 && page.items[0].external_id == "item-00000")
    );
    let count = db
        .store()
        .read(|uow| uow.embeddings().count_where(&c, &Filter::eq("lang", "de")))
        .unwrap();
    assert_eq!(count, 10);
}
