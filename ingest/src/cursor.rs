//! The work list (every model of the latest catalog) and the round-robin cursor over it, kept
//! in the store so that a restart continues with the model it had not fetched yet.

use std::time::Duration;

use carlambda_schemas::FetchedAt;
use carlambda_schemas::edmunds::{CatalogResponse, Text};
use carlambda_store::Store;
use serde::{Deserialize, Serialize};

use crate::client::Endpoint;
use crate::state::{self, StateError};

/// Where the work list is kept; replaced when a new catalog arrives.
pub const WORK_LIST_KEY: &str = "ingest/work-list.json";
/// Where the cursor is kept; replaced after every call whose records were appended.
pub const CURSOR_KEY: &str = "ingest/cursor.json";

/// One model to poll, as the catalog names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// The API's model id, like `Lexus_RX_350`.
    pub model_id: String,
    /// The make's nice name, like `lexus`.
    pub make: String,
    /// The model's nice name, like `rx-350`.
    pub model: String,
}

impl WorkItem {
    /// The model endpoint of this model.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::model(&self.make, &self.model, &self.model_id)
    }
}

/// The models of a catalog response, sorted by model id, each once. Models or makes without
/// a nice name cannot be asked for and are left out.
pub fn work_list_of_catalog(body: &str) -> Result<Vec<WorkItem>, String> {
    let catalog: CatalogResponse =
        serde_json::from_str(body).map_err(|e| format!("not a makes catalog: {e}"))?;
    let mut items: Vec<WorkItem> = catalog
        .makes
        .iter()
        .filter_map(|make| Some((make.nice_name.as_ref()?, &make.models)))
        .flat_map(|(make, models)| {
            models.iter().filter_map(move |model| {
                Some(WorkItem {
                    model_id: model.id.to_owned_string(),
                    make: make.to_owned_string(),
                    model: model.nice_name.as_ref().map(Text::to_owned_string)?,
                })
            })
        })
        .collect();
    items.sort_by(|a, b| a.model_id.cmp(&b.model_id));
    items.dedup_by(|a, b| a.model_id == b.model_id);
    Ok(items)
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct WorkList {
    /// `fetched_at` of the catalog record the list was built from.
    catalog_fetched_at: Option<FetchedAt>,
    /// The base URL of the API that gave the catalog.
    #[serde(default)]
    api: Option<String>,
    models: Vec<WorkItem>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Position {
    /// The model id to fetch next.
    next: Option<String>,
    /// When the catalog was last asked for, whatever the answer.
    catalog_checked_at: Option<FetchedAt>,
}

/// The work list and where the round robin stands in it.
#[derive(Debug)]
pub struct Cursor {
    list: WorkList,
    position: Position,
    index: usize,
}

impl Cursor {
    /// The cursor kept in `store`, or an empty one.
    pub async fn load(store: &Store) -> Result<Cursor, StateError> {
        let list = state::load(store, WORK_LIST_KEY).await?.unwrap_or_default();
        let position = state::load(store, CURSOR_KEY).await?.unwrap_or_default();
        let mut cursor = Cursor {
            list,
            position,
            index: 0,
        };
        cursor.index = cursor.index_of_next();
        Ok(cursor)
    }

    /// How many models the work list holds.
    pub fn len(&self) -> usize {
        self.list.models.len()
    }

    /// Whether there is no work list yet.
    pub fn is_empty(&self) -> bool {
        self.list.models.is_empty()
    }

    /// Drops a work list that came from another API than the one at `api` (a list kept
    /// before lists knew their API is kept), so that the catalog of `api` is asked for first.
    /// Returns the other API's base URL.
    pub fn drop_list_of_another_api(&mut self, api: &str) -> Option<String> {
        let other = self.list.api.take_if(|other| other != api)?;
        self.list = WorkList::default();
        self.index = 0;
        Some(other)
    }

    /// Whether the catalog should be asked for at `now`: there is no work list, or it was
    /// last asked for `period` or more ago.
    pub fn catalog_due(&self, now: FetchedAt, period: Duration) -> bool {
        let period = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        self.is_empty()
            || self.position.catalog_checked_at.is_none_or(|checked| {
                now.unix_millis().saturating_sub(checked.unix_millis()) >= period
            })
    }

    /// `fetched_at` of the catalog the work list was built from.
    pub fn catalog_fetched_at(&self) -> Option<FetchedAt> {
        self.list.catalog_fetched_at
    }

    /// The model to fetch next.
    pub fn current(&self) -> Option<&WorkItem> {
        self.list.models.get(self.index)
    }

    /// Notes that the catalog was asked for at `at` (answered well or not).
    pub async fn catalog_checked(
        &mut self,
        store: &Store,
        at: FetchedAt,
    ) -> Result<(), StateError> {
        self.position.catalog_checked_at = Some(at);
        state::save(store, CURSOR_KEY, &self.position).await
    }

    /// Replaces the work list with `models` from the catalog the API at `api` gave at
    /// `fetched_at`. The round robin goes on with the first model at or after the one it was
    /// due to fetch.
    pub async fn replace_list(
        &mut self,
        store: &Store,
        api: &str,
        models: Vec<WorkItem>,
        fetched_at: FetchedAt,
    ) -> Result<(), StateError> {
        self.list = WorkList {
            catalog_fetched_at: Some(fetched_at),
            api: Some(api.to_owned()),
            models,
        };
        state::save(store, WORK_LIST_KEY, &self.list).await?;
        self.index = self.index_of_next();
        self.position.next = self.current().map(|item| item.model_id.clone());
        state::save(store, CURSOR_KEY, &self.position).await
    }

    /// Moves to the next model, round robin, and keeps the position in the store.
    pub async fn advance(&mut self, store: &Store) -> Result<(), StateError> {
        if self.is_empty() {
            return Ok(());
        }
        self.index = (self.index + 1) % self.len();
        self.position.next = self.current().map(|item| item.model_id.clone());
        state::save(store, CURSOR_KEY, &self.position).await
    }

    /// The index of the first model at or after `position.next` (the list is sorted by id),
    /// wrapping to the start.
    fn index_of_next(&self) -> usize {
        let Some(next) = &self.position.next else {
            return 0;
        };
        let index = self
            .list
            .models
            .partition_point(|item| item.model_id.as_str() < next.as_str());
        if index >= self.len() { 0 } else { index }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"{"makes":[
        {"id":2,"name":"Lexus","niceName":"lexus","models":[
            {"id":"Lexus_RX_350","name":"RX 350","niceName":"rx-350","years":[]},
            {"id":"Lexus_GX_460","name":"GX 460","niceName":"gx-460","years":[]}]},
        {"id":1,"name":"Acura","niceName":"acura","models":[
            {"id":"Acura_CL","name":"CL","niceName":"cl","years":[]},
            {"id":"Acura_X","name":"X"}]},
        {"id":3,"name":"No Nice Name","models":[{"id":"N_M","niceName":"m"}]}],
        "makesCount":3}"#;

    const API: &str = "https://api.edmunds.com/";

    #[test]
    fn the_work_list_is_every_model_that_can_be_asked_for_by_id() {
        let items = work_list_of_catalog(CATALOG).unwrap();
        let ids: Vec<&str> = items.iter().map(|i| i.model_id.as_str()).collect();
        assert_eq!(ids, ["Acura_CL", "Lexus_GX_460", "Lexus_RX_350"]);
        assert_eq!(items[2].endpoint().path(), "/api/vehicle/v2/lexus/rx-350");
        assert!(work_list_of_catalog(r#"{"styles":[]}"#).is_err());
    }

    #[tokio::test]
    async fn a_restart_continues_where_it_stopped_and_a_new_catalog_keeps_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).await.unwrap();
        let at: FetchedAt = "2017-03-02T05:00:00.000Z".parse().unwrap();

        let mut cursor = Cursor::load(&store).await.unwrap();
        assert!(cursor.catalog_due(at, Duration::from_secs(3600)));
        let items = work_list_of_catalog(CATALOG).unwrap();
        cursor
            .replace_list(&store, API, items.clone(), at)
            .await
            .unwrap();
        cursor.catalog_checked(&store, at).await.unwrap();
        cursor.advance(&store).await.unwrap();

        let mut restarted = Cursor::load(&store).await.unwrap();
        assert_eq!(restarted.current().unwrap().model_id, "Lexus_GX_460");
        let later = FetchedAt::from_unix_millis(at.unix_millis() + 1000);
        assert!(!restarted.catalog_due(later, Duration::from_secs(3600)));
        assert_eq!(restarted.drop_list_of_another_api(API), None);

        let without_gx: Vec<WorkItem> = items
            .into_iter()
            .filter(|i| i.model_id != "Lexus_GX_460")
            .collect();
        restarted
            .replace_list(&store, API, without_gx, later)
            .await
            .unwrap();
        assert_eq!(restarted.current().unwrap().model_id, "Lexus_RX_350");
        restarted.advance(&store).await.unwrap();
        assert_eq!(
            restarted.current().unwrap().model_id,
            "Acura_CL",
            "round robin"
        );

        let elsewhere = "http://127.0.0.1:9/";
        assert_eq!(
            restarted.drop_list_of_another_api(elsewhere).as_deref(),
            Some(API)
        );
        assert!(restarted.is_empty());
        assert!(restarted.catalog_due(later, Duration::from_secs(3600)));
    }
}
