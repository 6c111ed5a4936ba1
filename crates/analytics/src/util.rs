//! Small internal helpers: a fast hasher for integer keys used when grouping identical rows.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hasher (the FxHash scheme) for integer keys, with a MurmurHash3 finaliser so
/// that keys whose low bits are all zero (the bit patterns of round floating-point numbers) still
/// spread over the table. Not DoS-resistant, which is fine for grouping numbers we computed.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(SEED);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Index of each distinct f64 (by bit pattern, with -0.0 folded into 0.0) in first-seen order.
pub(crate) struct Interner {
    map: FxMap<u64, u32>,
    pub values: Vec<f64>,
}

impl Interner {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            map: FxMap::with_capacity_and_hasher(n, Default::default()),
            values: Vec::new(),
        }
    }

    pub fn intern(&mut self, v: f64) -> u32 {
        let v = if v == 0.0 { 0.0 } else { v };
        let next = self.values.len() as u32;
        let idx = *self.map.entry(v.to_bits()).or_insert(next);
        if idx == next {
            self.values.push(v);
        }
        idx
    }
}
