//! Recorded responses as the HTTP simulator serves them: each file at the request path its
//! name stands for, and each catalog, make, model or styles response also at the path the
//! recorded catalog gives it.
//!
//! The two can differ: the recorded `lexus__rx350.json` was asked for as `lexus/rx350`, while
//! the catalog names the model `rx-350`, and a client builds its paths from the catalog.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use carlambda_schemas::Scope;
use carlambda_schemas::edmunds::{ApiErrorBody, CatalogResponse, scope_of_body};

use crate::response::API_ROOT;

/// One recorded answer: its status and its body, as the file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canned {
    pub status: u16,
    pub body: String,
}

/// The recorded responses of a folder, by request path.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    by_path: HashMap<String, Canned>,
}

impl Recorded {
    /// Reads every `.json` file under `dir` (recursively). A file holding an Edmunds error
    /// body is served with the status its `status` names (400 for `BAD_REQUEST`).
    pub fn load(dir: &Path) -> io::Result<Recorded> {
        let mut files = BTreeMap::new();
        for path in json_files(dir)? {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            files.insert(path, text);
        }
        let catalog_paths = files
            .values()
            .find(|text| scope_of_body(text) == Some(Scope::Catalog))
            .map(|text| CatalogPaths::of(text))
            .unwrap_or_default();

        let mut by_path = HashMap::new();
        for (path, body) in files {
            let canned = Canned {
                status: status_of(&body),
                body,
            };
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let by_name = file_name.as_deref().map(path_of_file_name);
            let by_scope = scope_of_body(&canned.body).and_then(|s| catalog_paths.path_of(&s));
            for request_path in by_name.into_iter().chain(by_scope) {
                by_path.insert(request_path, canned.clone());
            }
        }
        Ok(Recorded { by_path })
    }

    /// The recorded answer at `path` (without query).
    pub fn get(&self, path: &str) -> Option<&Canned> {
        self.by_path.get(path)
    }

    /// How many request paths are answered.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether no path is answered.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

/// The request path a recorded file's name stands for: `lexus__rx350.json` is
/// `/api/vehicle/v2/lexus/rx350` (the inverse of [`crate::Response::file_name`]).
pub fn path_of_file_name(file_name: &str) -> String {
    let stem = file_name.strip_suffix(".json").unwrap_or(file_name);
    format!("{API_ROOT}/{}", stem.replace("__", "/"))
}

fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(json_files(&path)?);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            found.push(path);
        }
    }
    Ok(found)
}

fn status_of(body: &str) -> u16 {
    serde_json::from_str::<ApiErrorBody>(body)
        .ok()
        .and_then(|error| error.http_status())
        .unwrap_or(200)
}

/// The make and model nice names of each model id of a catalog.
#[derive(Default)]
struct CatalogPaths {
    models: HashMap<String, (String, String)>,
}

impl CatalogPaths {
    fn of(catalog: &str) -> CatalogPaths {
        let Ok(catalog) = serde_json::from_str::<CatalogResponse>(catalog) else {
            return CatalogPaths::default();
        };
        let mut models = HashMap::new();
        for make in &catalog.makes {
            let Some(make_name) = &make.nice_name else {
                continue;
            };
            for model in &make.models {
                if let Some(model_name) = &model.nice_name {
                    models.insert(
                        model.id.to_owned_string(),
                        (make_name.to_owned_string(), model_name.to_owned_string()),
                    );
                }
            }
        }
        CatalogPaths { models }
    }

    fn path_of(&self, scope: &Scope) -> Option<String> {
        match scope {
            Scope::Catalog => Some(format!("{API_ROOT}/makes")),
            Scope::Make(make) => Some(format!("{API_ROOT}/{make}")),
            Scope::Model(model_id) => {
                let (make, model) = self.models.get(model_id)?;
                Some(format!("{API_ROOT}/{make}/{model}"))
            }
            Scope::Styles { model_id, year } => {
                let (make, model) = self.models.get(model_id)?;
                Some(format!("{API_ROOT}/{make}/{model}/{year}/styles"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stand_for_paths() {
        assert_eq!(path_of_file_name("makes.json"), "/api/vehicle/v2/makes");
        assert_eq!(
            path_of_file_name("lexus__rx350__2011__styles.json"),
            "/api/vehicle/v2/lexus/rx350/2011/styles"
        );
    }

    #[test]
    fn responses_are_served_by_file_name_and_by_catalog_path() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
        write(
            "makes.json",
            r#"{"makes":[{"id":1,"name":"Lexus","niceName":"lexus","models":[
                {"id":"Lexus_RX_350","name":"RX 350","niceName":"rx-350","years":[]}]}]}"#,
        );
        write("lexus__rx350.json", r#"{"id":"Lexus_RX_350","years":[]}"#);
        write(
            "error__bad.json",
            r#"{"errorType":"INCORRECT_PARAMS","message":"x","status":"BAD_REQUEST"}"#,
        );
        write("README.md", "not served");

        let recorded = Recorded::load(dir.path()).unwrap();
        let model = recorded.get("/api/vehicle/v2/lexus/rx-350").unwrap();
        assert_eq!(model.status, 200);
        assert_eq!(recorded.get("/api/vehicle/v2/lexus/rx350"), Some(model));
        assert!(recorded.get("/api/vehicle/v2/makes").is_some());
        assert_eq!(
            recorded.get("/api/vehicle/v2/error/bad").unwrap().status,
            400
        );
        assert_eq!(recorded.len(), 4);
    }
}
