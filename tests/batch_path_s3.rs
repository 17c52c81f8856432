//! The batch path with the master dataset on S3, against the local S3 server that
//! `scripts/test` starts (its address in `AWS_ENDPOINT_URL`).

mod common;

use common::{carlambda, fresh_bucket, manifest, recorded_data};

/// The page with the time of the batch run taken out.
fn page_without_run_time(page: &str, created_at: &str) -> String {
    page.replace(created_at, "<run time>")
}

#[test]
#[ignore = "needs a local S3 server: run scripts/test"]
fn an_s3_store_gives_the_same_tables_and_page_as_a_folder() {
    let bucket = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fresh_bucket("carlambda-batch"));
    let dir = tempfile::tempdir().unwrap();
    let recorded = recorded_data();
    let local = dir.path().join("store").display().to_string();
    let s3 = format!("s3://{bucket}/master");

    let mut pages = Vec::new();
    for store in [&local, &s3] {
        carlambda(dir.path(), store, &["import", recorded.to_str().unwrap()]);
        carlambda(dir.path(), store, &["batch"]);
        carlambda(dir.path(), store, &["publish"]);
        let published = manifest(store);
        let page = tokio::runtime::Runtime::new().unwrap().block_on(async {
            let store = carlambda_store::Store::open(store).await.unwrap();
            store.get("site/index.html").await.unwrap()
        });
        let page = String::from_utf8(page.to_vec()).unwrap();
        pages.push((
            published.rows,
            page_without_run_time(&page, &published.created_at),
        ));
    }
    assert_eq!(pages[0].0["model_years"], 8101);
    assert_eq!(pages[0].0, pages[1].0, "the same row counts");
    assert_eq!(pages[0].1, pages[1].1, "the same page");
    assert_eq!(common::everything(&local), common::everything(&s3));
}
