//! The batch dataflow on timely: each worker reads its share of the raw objects and folds them
//! into a partial result; the partials meet at worker 0.
//!
//! Objects are dealt to workers round-robin by their position in the sorted key list, so every
//! process of a cluster, listing the same store, agrees on the deal without talking.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use carlambda_store::Store;
use indicatif::ProgressBar;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Exchange, ToStream};
use tokio::runtime::Handle;

use crate::read::Partial;

// LIMITATION: the workers are threads of one process. Timely's cluster mode (several
// processes over TCP) needs a host list the command line does not take yet; the dataflow is
// already written for it (objects dealt by worker index, partials exchanged to worker 0).

/// Reads every object of `keys` from `store` on `workers` timely worker threads and returns
/// what they hold. Store reads run on `runtime`; `progress` advances once per object.
pub fn read_objects(
    keys: Arc<Vec<String>>,
    store: Arc<Store>,
    runtime: Handle,
    workers: usize,
    progress: ProgressBar,
) -> Result<Partial, String> {
    let guards = timely::execute(timely::Config::process(workers.max(1)), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        // Newest objects first: a snapshot that cannot win costs no rows, and in a master
        // dataset written in time order most older snapshots then cannot.
        let mine: Vec<String> = keys
            .iter()
            .rev()
            .skip(index)
            .step_by(peers)
            .cloned()
            .collect();
        let (store, runtime, progress) = (store.clone(), runtime.clone(), progress.clone());
        let collected = Rc::new(RefCell::new(Partial::default()));
        let sink = collected.clone();

        worker.dataflow::<u64, _, _>(|scope| {
            mine.to_stream(scope)
                .container::<Vec<String>>()
                .unary_frontier(Pipeline, "ReadRawObjects", |capability, _info| {
                    let mut capability = Some(capability);
                    let mut partial = Partial::default();
                    move |(input, frontier), output| {
                        input.for_each(|_time, keys| {
                            for key in keys.drain(..) {
                                match runtime.block_on(store.get(&key)) {
                                    Ok(bytes) => read_guarded(&mut partial, &key, &bytes),
                                    Err(e) => partial.failures.push(e.to_string()),
                                }
                                progress.inc(1);
                            }
                        });
                        if frontier.frontier().is_empty()
                            && let Some(capability) = capability.take()
                        {
                            output
                                .session(&capability)
                                .give(std::mem::take(&mut partial));
                        }
                    }
                })
                .container::<Vec<Partial>>()
                .exchange(|_| 0)
                .sink(Pipeline, "CollectPartials", move |(input, _frontier)| {
                    input.for_each(|_time, partials| {
                        for partial in partials.drain(..) {
                            sink.borrow_mut().merge(partial);
                        }
                    });
                });
        });
        while worker.step_or_park(None) {}
        collected.take()
    })?;

    let mut all = Partial::default();
    for result in guards.join() {
        all.merge(result?);
    }
    Ok(all)
}

/// Reads one object into `partial`; a panic (a broken invariant) fails the batch with the
/// object's key instead of leaving the other workers waiting forever for this one. What the
/// object half-added stays, harmlessly: a batch with a failure publishes nothing.
fn read_guarded(partial: &mut Partial, key: &str, bytes: &[u8]) {
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        partial.read_object(key, bytes);
    }));
    if read.is_err() {
        let failure = format!("{key}: reading it panicked (a bug; see the log)");
        partial.failures.push(failure);
    }
}
