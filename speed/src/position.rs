//! Where the speed layer stands in the stream: per shard, the last sequence number read, and
//! the last one a batch version covers.

use carlambda_stream::{Position, SequenceNumber};

/// Where a record was read: its shard and its sequence number there.
pub(crate) type Place = (String, SequenceNumber);

/// Where an issue found in the record at `place` is listed in `data_quality` until a batch has
/// archived it: `stream/<shard>/<sequence>`, line 1.
pub(crate) fn location((shard, sequence): &Place) -> String {
    format!("stream/{shard}/{sequence}")
}

/// Whether `position` reaches `place`: the place's shard is at or past its sequence number.
pub(crate) fn covers(position: &Position, (shard, sequence): &Place) -> bool {
    position.get(shard).is_some_and(|last| sequence <= last)
}

/// Moves each shard of `position` forward to its sequence number in `later`, where that is
/// further.
pub(crate) fn advance(position: &mut Position, later: &Position) {
    for (shard, sequence) in later {
        match position.get_mut(shard) {
            Some(last) if *last >= *sequence => {}
            Some(last) => *last = sequence.clone(),
            None => {
                position.insert(shard.clone(), sequence.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(shards: &[(&str, u64)]) -> Position {
        shards
            .iter()
            .map(|&(shard, sequence)| (shard.to_owned(), SequenceNumber::from(sequence)))
            .collect()
    }

    fn place(shard: &str, sequence: u64) -> Place {
        (shard.to_owned(), SequenceNumber::from(sequence))
    }

    #[test]
    fn a_position_covers_its_shards_up_to_and_including_their_sequence() {
        let covered = position(&[("s0", 10)]);
        assert!(covers(&covered, &place("s0", 9)));
        assert!(covers(&covered, &place("s0", 10)));
        assert!(!covers(&covered, &place("s0", 11)));
        assert!(!covers(&covered, &place("s1", 1)));
    }

    #[test]
    fn advancing_never_moves_a_shard_back() {
        let mut at = position(&[("s0", 10), ("s1", 3)]);
        advance(&mut at, &position(&[("s0", 9), ("s1", 30), ("s2", 1)]));
        assert_eq!(at, position(&[("s0", 10), ("s1", 30), ("s2", 1)]));
    }
}
