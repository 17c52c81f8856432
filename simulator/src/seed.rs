//! Stable seeds for the parts of a catalog, so that one part (a model year's styles, a later
//! poll) can be generated alone, without replaying the random draws of everything before it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A 64-bit FNV-1a hash of `text`. Unlike `std`'s hasher it is the same on every platform and
/// Rust release, which byte-identical output needs.
pub(crate) fn hash_str(text: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    text.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Folds `parts` into one seed, each part spread over all 64 bits (the SplitMix64 finalizer),
/// so that seeds differing in one part give unrelated streams.
pub(crate) fn combine(parts: &[u64]) -> u64 {
    parts.iter().fold(0x9e37_79b9_7f4a_7c15, |acc: u64, &part| {
        let mut z = acc.rotate_left(23) ^ part.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A random stream seeded from `parts`, see [`combine`].
// LIMITATION: ChaCha8's stream is fixed, but how `rand` turns it into ranges, shuffles and
// samples may change in a new minor version of `rand`; upgrading it can change every catalog.
pub(crate) fn rng(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(combine(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_published_fnv1a() {
        assert_eq!(hash_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_str("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn combine_depends_on_every_part_and_its_position() {
        let base = combine(&[1, 2, 3]);
        assert_ne!(base, combine(&[1, 2, 4]));
        assert_ne!(base, combine(&[3, 2, 1]));
        assert_ne!(base, combine(&[1, 2]));
    }
}
