//! Reading raw objects: every line of an object folded into one worker's partial result, the
//! winning snapshot per scope plus the faults found.

use carlambda_schemas::line::{Candidate, KnownBodies, LineOutcome, read_line};
use carlambda_views::{Category, Issue, Snapshot, Winners};
use serde::{Deserialize, Serialize};

use crate::layout::Counts;

/// What a share of the raw objects holds. Partials merge into the partial of their union.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Partial {
    pub winners: Winners,
    pub issues: Vec<Issue>,
    pub counts: Counts,
    /// Objects that could not be read, with why; the batch must not publish then.
    pub failures: Vec<String>,
    /// The bodies this share has read whole; not part of the result.
    #[serde(skip)]
    known: KnownBodies,
}

impl Partial {
    /// Folds every line of the object at `key` into this partial.
    pub fn read_object(&mut self, key: &str, bytes: &[u8]) {
        self.counts.objects += 1;
        self.counts.bytes += bytes.len() as u64;
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
        for (index, end) in ends.enumerate() {
            self.read_line(key, index as u64 + 1, &bytes[start..end]);
            start = (end + 1).min(bytes.len());
        }
    }

    fn read_line(&mut self, key: &str, line_number: u64, line: &[u8]) {
        let issue = |category, kind: &str, endpoint, record_id, detail| Issue {
            category,
            kind: kind.to_owned(),
            endpoint,
            record_id,
            object: key.to_owned(),
            line: line_number,
            detail,
        };
        let outcome = read_line(line, &mut self.known);
        if !matches!(outcome, LineOutcome::Blank) {
            self.counts.records += 1;
        }
        match outcome {
            LineOutcome::Blank => {}
            LineOutcome::Snapshot(candidate) => {
                self.counts.snapshots += 1;
                self.consider(candidate);
            }
            LineOutcome::Error(error) => {
                self.counts.errors += 1;
                let kind = error.kind.as_str();
                let endpoint = Some(error.endpoint);
                let found = issue(
                    Category::Error,
                    kind,
                    endpoint,
                    Some(error.record_id),
                    error.message,
                );
                self.issues.push(found);
            }
            LineOutcome::Rejected(rejection) => {
                self.counts.rejected += 1;
                self.issues.push(issue(
                    Category::Rejected,
                    rejection.kind.as_str(),
                    rejection.endpoint,
                    rejection.record_id,
                    rejection.reason,
                ));
            }
        }
    }

    /// Makes `candidate` its scope's winner if it is newer. A snapshot older than the winner
    /// needs neither its id nor its rows, which are most of the cost of a snapshot.
    fn consider(&mut self, candidate: Candidate<'_>) {
        let winner = self.winners.winner(&candidate.scope);
        if winner.is_some_and(|winner| candidate.fetched_at < winner.fetched_at) {
            return;
        }
        let record_id = candidate.record_id();
        if self
            .winners
            .would_win(&candidate.scope, (candidate.fetched_at, &record_id))
        {
            self.winners.offer(Snapshot {
                rows: candidate.rows().into(),
                scope: candidate.scope,
                record_id: record_id.into(),
                fetched_at: candidate.fetched_at,
            });
        }
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: Partial) {
        self.winners.merge(other.winners);
        self.issues.extend(other.issues);
        self.counts.add(&other.counts);
        self.failures.extend(other.failures);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str =
        r#"{"time_stamp": 1000.0, "id": "M_X", "years": [{"id": 1, "year": 2010, "styles": []}]}"#;
    const NEW: &str =
        r#"{"time_stamp": 2000.0, "id": "M_X", "years": [{"id": 2, "year": 2011, "styles": []}]}"#;

    #[test]
    fn an_object_of_mixed_lines_is_counted_line_by_line() {
        let object = format!("{OLD}\n\nnot json\n{NEW}\n{{\"time_stamp\": 3.0, \"id\": \"M_X\"");
        let mut partial = Partial::default();
        partial.read_object("raw/a", object.as_bytes());
        assert_eq!(partial.counts.records, 4);
        assert_eq!(partial.counts.snapshots, 2);
        assert_eq!(partial.counts.rejected, 2);
        let lines: Vec<u64> = partial.issues.iter().map(|i| i.line).collect();
        assert_eq!(lines, [3, 5], "issues carry their 1-based line");
        let winner = partial.winners.snapshots().next().unwrap();
        assert_eq!(winner.rows.model_years[0].year, 2011);
    }

    #[test]
    fn partials_merge_to_the_same_winner_in_either_order() {
        let (mut a, mut b) = (Partial::default(), Partial::default());
        a.read_object("raw/a", NEW.as_bytes());
        b.read_object("raw/b", OLD.as_bytes());
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(b);
        ba.merge(a);
        assert_eq!(ab.winners, ba.winners);
        assert_eq!(ab.counts, ba.counts);
    }
}
