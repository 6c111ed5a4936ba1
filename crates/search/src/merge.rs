//! The merge policy of every index writer: tantivy's [`LogMergePolicy`] (merge segments of
//! similar size, eight or more at a time) with a ceiling of [`MAX_MERGE_DOCS`] documents on
//! one merge.
//!
//! A merge reads its input segments through memory maps, and every page it reads counts in
//! the process's resident memory until the inputs are dropped. Unbounded, the last merges of
//! a rebuild at 5 million messages read well over half a gigabyte of index at once; with one
//! merge thread (see `SearchIndex`) and this ceiling, a merge reads a few hundred megabytes
//! at most. The index ends as several segments of up to [`MAX_MERGE_DOCS`] documents plus
//! smaller ones; searches cover every segment, so results do not depend on the merges.

use tantivy::index::SegmentMeta;
use tantivy::merge_policy::{LogMergePolicy, MergeCandidate, MergePolicy};

/// Most documents (alive) that one merge writes.
pub const MAX_MERGE_DOCS: u32 = 1_000_000;

/// [`LogMergePolicy`] whose merges write at most `max_docs` documents each.
#[derive(Debug)]
pub(crate) struct BoundedMergePolicy {
    log: LogMergePolicy,
    max_docs: u32,
}

impl BoundedMergePolicy {
    pub(crate) fn new(max_docs: u32) -> BoundedMergePolicy {
        let mut log = LogMergePolicy::default();
        // A segment over half the ceiling cannot be merged with one of similar size.
        log.set_max_docs_before_merge((max_docs / 2) as usize);
        BoundedMergePolicy { log, max_docs }
    }
}

impl Default for BoundedMergePolicy {
    fn default() -> Self {
        BoundedMergePolicy::new(MAX_MERGE_DOCS)
    }
}

impl MergePolicy for BoundedMergePolicy {
    /// The log policy's candidates, each cut into groups of at most `max_docs` documents
    /// (largest segments first); a group of one segment is left alone.
    fn compute_merge_candidates(&self, segments: &[SegmentMeta]) -> Vec<MergeCandidate> {
        let mut out = Vec::new();
        for candidate in self.log.compute_merge_candidates(segments) {
            let mut members: Vec<&SegmentMeta> = segments
                .iter()
                .filter(|s| candidate.0.contains(&s.id()))
                .collect();
            members.sort_by_key(|s| std::cmp::Reverse(s.num_docs()));
            let mut group = Vec::new();
            let mut docs: u64 = 0;
            for s in members {
                let n = u64::from(s.num_docs());
                if !group.is_empty() && docs + n > u64::from(self.max_docs) {
                    if group.len() > 1 {
                        out.push(MergeCandidate(std::mem::take(&mut group)));
                    }
                    group.clear();
                    docs = 0;
                }
                group.push(s.id());
                docs += n;
            }
            if group.len() > 1 {
                out.push(MergeCandidate(group));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::Index;
    use tantivy::index::SegmentId;
    use tantivy::schema::{INDEXED, Schema};

    fn metas(index: &Index, sizes: &[u32]) -> Vec<SegmentMeta> {
        sizes
            .iter()
            .map(|&n| index.new_segment_meta(SegmentId::generate_random(), n))
            .collect()
    }

    fn docs_of(c: &MergeCandidate, segments: &[SegmentMeta]) -> u64 {
        segments
            .iter()
            .filter(|s| c.0.contains(&s.id()))
            .map(|s| u64::from(s.num_docs()))
            .sum()
    }

    #[test]
    fn no_merge_writes_more_than_the_ceiling() {
        let mut schema = Schema::builder();
        schema.add_u64_field("n", INDEXED);
        let index = Index::create_in_ram(schema.build());
        let policy = BoundedMergePolicy::new(1_000);
        // Sixteen segments of similar size: the log policy would merge them all at once.
        let segments = metas(&index, &[300; 16]);
        let candidates = policy.compute_merge_candidates(&segments);
        assert!(!candidates.is_empty());
        for c in &candidates {
            assert!(c.0.len() > 1);
            assert!(docs_of(c, &segments) <= 1_000, "{}", docs_of(c, &segments));
        }
        // Small segments are still merged eight at a time, as by the log policy.
        let segments = metas(&index, &[50; 8]);
        let candidates = policy.compute_merge_candidates(&segments);
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].0.len(), 8);
        // Segments over half the ceiling are final.
        let segments = metas(&index, &[600; 10]);
        assert!(policy.compute_merge_candidates(&segments).is_empty());
    }
}
