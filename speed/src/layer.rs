//! The speed layer: the dataflow of [`crate::dataflow`] on timely workers, fed batches of
//! stream records and told when a batch version covers some of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use carlambda_schemas::FetchedAt;
use carlambda_stream::{Position, SequenceNumber, StreamRecord};
use carlambda_views::{Issue, LayerView, Winners};
use serde::{Deserialize, Serialize};
use timely::communication::WorkerGuards;

use crate::SpeedError;
use crate::dataflow::{self, Delivery, Output};
use crate::position::{self, Place};

/// The speed view: what the records read since the batch watermark hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeedView {
    /// Per scope, the winning snapshot among those records, with its rows.
    pub winners: Winners,
    /// Their error and rejected records (and lines that are no raw record), each record once,
    /// listed at the place it was first read.
    pub issues: Vec<Issue>,
    /// The newest `fetched_at` of the winners.
    pub newest_fetched_at: Option<FetchedAt>,
    /// Records read from the stream after the watermark, each place in the stream once (a
    /// record delivered twice is read twice, and counted so, but changes the view once).
    pub records_since_watermark: u64,
    /// Per shard, the last sequence number read.
    pub positions: Position,
    /// Per shard, the last sequence number a batch version covers: the watermark the view is
    /// relative to.
    pub covered: Position,
}

impl SpeedView {
    /// The winners and issues, as serving merges them with the batch view's.
    pub fn into_layer(self) -> LayerView {
        LayerView {
            winners: self.winners,
            issues: self.issues,
        }
    }
}

/// A stream record the speed layer holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRecord {
    pub shard: String,
    pub sequence: SequenceNumber,
    pub arrived: FetchedAt,
    /// The record's line as read from the stream.
    pub line: String,
}

/// What a restart needs to resume without replaying the stream and without counting a record
/// twice: how far the stream was read, the watermark, the records the view rests on, and the
/// places read since the watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The stream read, by [`carlambda_stream::Stream::name`]; empty when the layer was not
    /// fed by a worker.
    #[serde(default)]
    pub stream: String,
    pub positions: Position,
    pub covered: Position,
    pub records: Vec<HeldRecord>,
    /// Per shard, the sequence numbers read after the watermark.
    pub read: BTreeMap<String, BTreeSet<SequenceNumber>>,
}

type Update = (Delivery, isize);

/// One worker's end of the driver: the steps it is sent, and its word that a step is done.
struct WorkerLink {
    steps: Sender<Vec<Update>>,
    done: Receiver<()>,
}

/// A stream record held in the computation: the record as read from the stream, and what it
/// entered the computation as (taking it out must name exactly that).
struct Held {
    record: StreamRecord,
    delivery: Delivery,
}

/// Reads `records` with [`dataflow::read`] on up to `threads` threads, in order.
fn read_all(records: &[StreamRecord], threads: usize) -> Vec<Option<Delivery>> {
    // Below this many records a thread costs more than it saves.
    const PER_THREAD: usize = 64;
    let read = |record: &StreamRecord| {
        let place = (record.shard.clone(), record.sequence.clone());
        dataflow::read(&place, &record.line)
    };
    let threads = threads.min(records.len() / PER_THREAD).max(1);
    if threads == 1 {
        return records.iter().map(read).collect();
    }
    let chunk = records.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let readers: Vec<_> = records
            .chunks(chunk)
            .map(|chunk| scope.spawn(move || chunk.iter().map(read).collect::<Vec<_>>()))
            .collect();
        readers
            .into_iter()
            .flat_map(|reader| reader.join().expect("reading a line never panics"))
            .collect()
    })
}

/// The speed layer's computation, running on its own timely workers.
///
/// Feeding and retracting are steps: each advances the dataflow's time by one and returns once
/// every worker has finished it, with the speed view as it then stands.
///
/// The computation holds only the deliveries the view rests on: each scope's winner and each
/// issue's first delivery. Any other delivery is a snapshot beaten by a winner W (or a second
/// delivery of a record), and it can never matter again: while W is held it keeps losing, and
/// once a batch covers W the batch view holds W, so the merge keeps beating it. Such
/// deliveries are taken out at the next step, which keeps the state to the number of scopes
/// and issues, however many snapshots arrive between two batches.
pub struct SpeedLayer {
    // Declared before `_guards`, so that on drop the workers' step channels close (and the
    // workers leave their loops) before the guards wait for the workers to finish.
    links: Vec<WorkerLink>,
    _guards: WorkerGuards<()>,
    output: Arc<Mutex<Output>>,
    /// Every stream record in the computation, by place.
    held: BTreeMap<Place, Held>,
    /// Per shard, the places read after the watermark, so that each counts once.
    read: BTreeMap<String, BTreeSet<SequenceNumber>>,
    positions: Position,
    covered: Position,
}

impl SpeedLayer {
    /// Starts the computation on `workers` threads (at least one), holding nothing.
    pub fn start(workers: usize) -> Result<SpeedLayer, SpeedError> {
        let workers = workers.max(1);
        let output = Arc::new(Mutex::new(Output::default()));
        let mut links = Vec::new();
        let mut ends = Vec::new();
        for _ in 0..workers {
            let (steps, worker_steps) = channel();
            let (worker_done, done) = channel();
            links.push(WorkerLink { steps, done });
            ends.push(Mutex::new(Some((worker_steps, worker_done))));
        }

        let sink = output.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let (steps, done) = ends[worker.index()]
                .lock()
                .expect("worker ends lock")
                .take()
                .expect("each worker takes its own ends once");
            let (mut input, probe) = worker.dataflow(|scope| dataflow::speed_view(scope, &sink));
            for updates in steps {
                for (delivery, diff) in updates {
                    input.update(delivery, diff);
                }
                input.advance_to(*input.time() + 1);
                input.flush();
                worker.step_while(|| probe.less_than(input.time()));
                if done.send(()).is_err() {
                    break;
                }
            }
        })
        .map_err(SpeedError::Timely)?;

        Ok(SpeedLayer {
            links,
            _guards: guards,
            output,
            held: BTreeMap::new(),
            read: BTreeMap::new(),
            positions: Position::new(),
            covered: Position::new(),
        })
    }

    /// Starts the computation on `workers` threads from a checkpoint: the records it held are
    /// held again, and reading resumes after its positions.
    pub fn resume(workers: usize, checkpoint: Checkpoint) -> Result<SpeedLayer, SpeedError> {
        let mut layer = SpeedLayer::start(workers)?;
        layer.positions = checkpoint.positions;
        layer.covered = checkpoint.covered;
        layer.read = checkpoint.read;
        let records = checkpoint.records.into_iter().map(|held| StreamRecord {
            shard: held.shard,
            sequence: held.sequence,
            arrived: held.arrived,
            line: held.line,
        });
        let updates = layer.take_in(records.collect());
        layer.step(updates)?;
        Ok(layer)
    }

    /// Adds records read from the stream. A record at a place already read, or covered by the
    /// batch watermark, is left out; a record redelivered at a new place is counted but changes
    /// nothing in the view.
    pub fn feed(
        &mut self,
        records: impl IntoIterator<Item = StreamRecord>,
    ) -> Result<SpeedView, SpeedError> {
        let mut new = Vec::new();
        for record in records {
            let place = (record.shard.clone(), record.sequence.clone());
            position::advance(&mut self.positions, &Position::from([place.clone()]));
            if position::covers(&self.covered, &place) {
                continue;
            }
            let (shard, sequence) = place;
            if self.read.entry(shard).or_default().insert(sequence) {
                new.push(record);
            }
        }
        // What the last step showed to be unneeded goes first: the new records are not in
        // that step's view yet.
        let mut updates = self.let_go_of_the_unneeded();
        updates.extend(self.take_in(new));
        self.step(updates)
    }

    /// Takes out every record a batch version covers (`covered`: per shard, the last sequence
    /// number the batch has seen, the manifest's `watermark.shards`), so that the state
    /// follows the records since the watermark, not the age of the stream.
    pub fn retract(&mut self, covered: &Position) -> Result<SpeedView, SpeedError> {
        position::advance(&mut self.covered, covered);
        for (shard, read) in &mut self.read {
            if let Some(last) = self.covered.get(shard) {
                *read = read
                    .split_off(last)
                    .into_iter()
                    .filter(|s| s > last)
                    .collect();
            }
        }
        let gone: Vec<Place> = self
            .held
            .keys()
            .filter(|place| position::covers(&self.covered, place))
            .cloned()
            .collect();
        let updates = self.let_go(gone);
        self.step(updates)
    }

    /// The speed view after the last step.
    pub fn view(&self) -> SpeedView {
        let output = self.output.lock().expect("output lock");
        let winners: Winners = output.winners.keys().map(|w| w.0.clone()).collect();
        SpeedView {
            newest_fetched_at: winners.snapshots().map(|s| s.fetched_at).max(),
            winners,
            issues: output.issues.keys().cloned().collect(),
            records_since_watermark: self.read.values().map(|read| read.len() as u64).sum(),
            positions: self.positions.clone(),
            covered: self.covered.clone(),
        }
    }

    /// The deliveries in the computation: the state that compaction and retraction keep small.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// What [`SpeedLayer::resume`] needs to continue from here.
    pub fn checkpoint(&self) -> Checkpoint {
        let kept = &self.output.lock().expect("output lock").kept;
        Checkpoint {
            stream: String::new(),
            positions: self.positions.clone(),
            covered: self.covered.clone(),
            records: self
                .held
                .iter()
                .filter(|(place, _)| kept.contains_key(*place))
                .map(|(_, Held { record, .. })| HeldRecord {
                    shard: record.shard.clone(),
                    sequence: record.sequence.clone(),
                    arrived: record.arrived,
                    line: record.line.clone(),
                })
                .collect(),
            read: self.read.clone(),
        }
    }

    /// Reads `records` (as the batch reads a line, on as many threads as the dataflow has
    /// workers), holds them, and returns the updates that add them to the computation. A blank
    /// line carries nothing and is not held.
    fn take_in(&mut self, records: Vec<StreamRecord>) -> Vec<Update> {
        let read = read_all(&records, self.links.len());
        let mut updates = Vec::with_capacity(records.len());
        for (record, delivery) in records.into_iter().zip(read) {
            let Some(delivery) = delivery else { continue };
            let place = (record.shard.clone(), record.sequence.clone());
            updates.push((delivery.clone(), 1));
            self.held.insert(place, Held { record, delivery });
        }
        updates
    }

    /// The updates that take out every held delivery the view does not rest on.
    fn let_go_of_the_unneeded(&mut self) -> Vec<Update> {
        let unneeded: Vec<Place> = {
            let kept = &self.output.lock().expect("output lock").kept;
            self.held
                .keys()
                .filter(|place| !kept.contains_key(*place))
                .cloned()
                .collect()
        };
        self.let_go(unneeded)
    }

    /// Stops holding the deliveries at `places` and returns the updates that take them out.
    fn let_go(&mut self, places: Vec<Place>) -> Vec<Update> {
        let mut updates = Vec::with_capacity(places.len());
        for place in places {
            let held = self
                .held
                .remove(&place)
                .expect("only held places are let go");
            updates.push((held.delivery, -1));
        }
        updates
    }

    /// Sends `updates` to the workers in equal shares (the dataflow routes each by key) and
    /// waits until every worker has completed the step.
    fn step(&mut self, updates: Vec<Update>) -> Result<SpeedView, SpeedError> {
        let mut shares = vec![Vec::new(); self.links.len()];
        for (index, update) in updates.into_iter().enumerate() {
            shares[index % self.links.len()].push(update);
        }
        for (link, share) in self.links.iter().zip(shares) {
            link.steps
                .send(share)
                .map_err(|_| SpeedError::WorkerStopped)?;
        }
        for link in &self.links {
            link.done.recv().map_err(|_| SpeedError::WorkerStopped)?;
        }
        Ok(self.view())
    }
}
